"""PostGIS as a source and a target, against a real PostgreSQL/PostGIS that
this file starts in a temporary directory (pgcluster.py) and stops at the
end: reading and writing compared with ogr2ogr into and out of the same
server, where/bbox seen in the server's log, the write modes, the atomic
overwrite (a failure, a signal, a reader polling during the swap), a lost
connection, the lock, and passwords never shown."""
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import unittest

import gptest
import pgcluster

C = None


def setUpModule():
    global C
    C = pgcluster.Cluster()


def tearDownModule():
    if C:
        C.stop()


def tables_like(prefix):
    return C.psql("SELECT relname FROM pg_class WHERE relname LIKE '%s%%' ORDER BY 1" % prefix)


class PostGIS(gptest.TempDirTest):
    def write_pg(self, src, table, mode, extra_steps="", conn=None, args=(), wait=True):
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: "{src}" }}
{extra_steps}  - write: {{ path: "{conn or C.conn()}", layer: {table}, mode: {mode} }}
""", name=table + ".yaml")
        if not wait:
            return subprocess.Popen([gptest.GISPIPE, "run", "-q", p] + list(args), cwd=self.dir,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return self.gp("run", "-q", p, *args)

    def synth_yaml(self, n):
        return ("  - read: { synthetic: { geometry: polygon, count: %d, vertices: 12 } }\n" % n)

    def load_synth(self, table, n, mode="overwrite", wait=True, args=()):
        p = self.pipeline("version: 1\nsteps:\n" + self.synth_yaml(n) +
                          '  - write: { path: "%s", layer: %s, mode: %s }\n'
                          % (C.conn(), table, mode), name="synth-%s.yaml" % table)
        if not wait:
            return subprocess.Popen([gptest.GISPIPE, "run", "-q", p] + list(args), cwd=self.dir,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return self.gp("run", "-q", p, *args)

    def rows_digest(self, table, cols, fid="ogc_fid", geom="wkb_geometry"):
        return C.psql("SELECT md5(string_agg(concat_ws('|', %s, %s, "
                      "encode(ST_AsEWKB(%s), 'hex')), ';' ORDER BY %s)), count(*) "
                      "FROM %s" % (fid, cols, geom, fid, table))[0]

    def columns(self, table):
        return C.psql("SELECT column_name, data_type, coalesce(character_maximum_length, 0), "
                      "coalesce(numeric_precision, 0), coalesce(numeric_scale, 0), column_default "
                      "FROM information_schema.columns WHERE table_name = '%s' "
                      "ORDER BY ordinal_position" % table)

    # Reading and writing against ogr2ogr

    def test_write_matches_ogr2ogr(self):
        sids = os.path.join(gptest.DATA, "sids.shp")
        r = self.write_pg(sids, "w_sids", "create")
        self.assertExit(r, gptest.EX_OK)
        gptest.ogr2ogr("-f", "PostgreSQL", C.conn(), sids, "-nln", "o_sids",
                       "-nlt", "PROMOTE_TO_MULTI")
        mine = [c.replace("w_sids", "T") for c in self.columns("w_sids")]
        theirs = [c.replace("o_sids", "T") for c in self.columns("o_sids")]
        self.assertEqual(mine, theirs)
        self.assertEqual(C.psql("SELECT type, srid, f_geometry_column FROM geometry_columns "
                                "WHERE f_table_name = 'w_sids'"),
                         C.psql("SELECT type, srid, f_geometry_column FROM geometry_columns "
                                "WHERE f_table_name = 'o_sids'"))
        cols = "name, fips, bir74, sid79, area"
        self.assertEqual(self.rows_digest("w_sids", cols), self.rows_digest("o_sids", cols))
        self.assertEqual(self.rows_digest("w_sids", cols).split("|")[1], "100")
        # The index ogr2ogr makes, under the name it gives it.
        self.assertEqual(C.psql("SELECT indexname FROM pg_indexes WHERE tablename = 'w_sids' "
                                "ORDER BY 1"),
                         ["w_sids_pkey", "w_sids_wkb_geometry_geom_idx"])

    def test_write_from_a_geopackage_names_columns_as_ogr2ogr(self):
        """ogr2ogr names the table's FID and geometry columns after the
        source's (fid, geom from a GeoPackage); an overwrite keeps them."""
        world = os.path.join(gptest.DATA, "world.gpkg")
        self.assertExit(self.write_pg(world, "w_world", "create"), gptest.EX_OK)
        self.assertExit(self.write_pg(world, "w_world", "overwrite"), gptest.EX_OK)
        gptest.ogr2ogr("-f", "PostgreSQL", C.conn(), world, "-nln", "o_world")
        mine = [c.replace("w_world", "T") for c in self.columns("w_world")]
        theirs = [c.replace("o_world", "T") for c in self.columns("o_world")]
        self.assertEqual(mine, theirs)
        self.assertEqual(mine[0].split("|")[0], "fid")
        self.assertEqual(C.psql("SELECT type, srid, f_geometry_column FROM geometry_columns "
                                "WHERE f_table_name = 'w_world'"), ["MULTIPOLYGON|4326|geom"])
        text = [c.split("|")[0] for c in mine[1:-1] if "character" in c]
        reals = [c.split("|")[0] for c in mine[1:-1] if "double" in c]
        self.assertEqual(len(text) + len(reals), len(mine) - 2)
        self.assertEqual(self.rows_digest("w_world", ", ".join(text), "fid", "geom"),
                         self.rows_digest("o_world", ", ".join(text), "fid", "geom"))
        # Doubles are the GeoPackage's to the last bit (binary COPY); GDAL's
        # text COPY, which ogr2ogr uses, keeps 15 significant digits.
        with sqlite3.connect(world) as db:
            exact = [tuple(None if v is None else float(v) for v in r) for r in db.execute(
                "SELECT fid, %s FROM world ORDER BY fid" % ", ".join(reals))]
        mine = [tuple(float(v) if v else None for v in r.split("|")) for r in C.psql(
            "SELECT concat_ws('|', fid, %s) FROM w_world ORDER BY fid"
            % ", ".join("coalesce(%s::text, '')" % r for r in reals))]
        self.assertEqual(len(mine), 177)
        self.assertEqual(mine, exact)
        self.assertEqual(C.psql("SELECT count(*) FROM w_world a JOIN o_world b USING (fid) "
                                "WHERE %s" % " AND ".join(
                                    "(a.{0} IS NULL AND b.{0} IS NULL OR abs(a.{0} - b.{0}) "
                                    "<= 1e-14 * abs(b.{0}))".format(r) for r in reals)),
                         ["177"])
        self.assertEqual(C.psql("SELECT indexname FROM pg_indexes WHERE tablename = 'w_world' "
                                "ORDER BY 1"), C.psql(
            "SELECT replace(indexname, 'o_world', 'w_world') FROM pg_indexes "
            "WHERE tablename = 'o_world' ORDER BY 1"))

    def test_read_matches_ogr2ogr(self):
        gptest.ogr2ogr("-f", "PostgreSQL", C.conn(), os.path.join(gptest.DATA, "lux.shp"),
                       "-nln", "r_lux", "-nlt", "PROMOTE_TO_MULTI")
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: "{C.conn()}", layer: public.r_lux }}
  - write: {{ path: out.gpkg, layer: lux }}
""")
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_OK)
        gptest.ogr2ogr("-f", "GPKG", self.path("ref.gpkg"), C.conn(), "r_lux", "-nln", "lux")
        mine = gptest.as_geojson(self.path("out.gpkg"), "lux", self.dir)
        ref = gptest.as_geojson(self.path("ref.gpkg"), "lux", self.dir)
        self.assertEqual(len(mine["features"]), 12)
        self.assertEqual([f["properties"] for f in mine["features"]],
                         [f["properties"] for f in ref["features"]])
        self.assertEqual([f["geometry"] for f in mine["features"]],
                         [f["geometry"] for f in ref["features"]])

    def test_where_and_bbox_are_pushed_to_the_server(self):
        gptest.ogr2ogr("-f", "PostgreSQL", C.conn(), os.path.join(gptest.DATA, "sids.shp"),
                       "-nln", "f_sids", "-nlt", "PROMOTE_TO_MULTI")
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: "{C.conn()}", layer: f_sids, where: "bir74 > 4321", bbox: [-80, 34, -76, 37] }}
  - write: {{ path: out.gpkg, layer: f }}
""")
        before = len(C.log_text())
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_OK)
        log = C.log_text()[before:]
        fetch = [l for l in log.splitlines() if "DECLARE" in l and "f_sids" in l]
        self.assertTrue(fetch, log[-2000:])
        self.assertTrue(any("bir74 > 4321" in l and "&&" in l for l in fetch), fetch)
        gptest.ogr2ogr("-f", "GPKG", self.path("ref.gpkg"), C.conn(), "f_sids", "-nln", "f",
                       "-where", "bir74 > 4321", "-spat", "-80", "34", "-76", "37")
        n = lambda f: gptest.ogrinfo("-so", "-al", f).split("Feature Count: ")[1].split()[0]
        self.assertEqual(n(self.path("out.gpkg")), n(self.path("ref.gpkg")))
        self.assertGreater(int(n(self.path("out.gpkg"))), 0)

    def test_named_sql_query_runs_on_the_server(self):
        gptest.ogr2ogr("-f", "PostgreSQL", C.conn(), os.path.join(gptest.DATA, "sids.shp"),
                       "-nln", "q_sids", "-nlt", "PROMOTE_TO_MULTI")
        q = ("SELECT ogc_fid, name, bir74, ST_PointOnSurface(wkb_geometry) AS g FROM q_sids "
             "WHERE sid79 >= 10 ORDER BY name")
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: "{C.conn()}", sql: {{ query: "{q}", name: busy }} }}
  - write: {{ path: "out/{{layer}}.gpkg" }}
""")
        before = len(C.log_text())
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_OK)
        log = C.log_text()[before:]
        self.assertTrue(any("DECLARE" in l and "sid79 >= 10" in l for l in log.splitlines()),
                        log[-2000:])
        gptest.ogr2ogr("-f", "GPKG", self.path("ref.gpkg"), C.conn(), "-sql", q, "-nln", "busy")
        mine = gptest.as_geojson(self.path("out", "busy.gpkg"), "busy", self.dir)
        ref = gptest.as_geojson(self.path("ref.gpkg"), "busy", self.dir)
        self.assertGreater(len(mine["features"]), 10)
        # ogr2ogr keeps ogc_fid as the GeoPackage's FID; gispipe writes the
        # rows in the query's order.
        names = [f["properties"]["name"] for f in mine["features"]]
        self.assertEqual(names, sorted(names))
        key = lambda f: f["properties"]["name"]
        self.assertEqual([(f["properties"], f["geometry"]) for f in sorted(mine["features"], key=key)],
                         [(f["properties"], f["geometry"]) for f in sorted(ref["features"], key=key)])
        # A query the server refuses is the pipeline's fault, at its place.
        bad = self.pipeline(f"""version: 1
steps:
  - read: {{ path: "{C.conn()}", sql: {{ query: "SELECT nosuchcolumn FROM q_sids" }} }}
  - write: {{ path: out/bad.gpkg }}
""", name="bad.yaml")
        r = self.gp("run", "-q", bad)
        self.assertExit(r, gptest.EX_CONFIG)
        self.assertIn("bad.yaml:3:", r.err)
        self.assertIn("nosuchcolumn", r.err)
        self.assertFalse(os.path.exists(self.path("out", "bad.gpkg")))

    # Write modes and atomicity

    def test_create_on_an_existing_table_is_73(self):
        src = self.points("p.json", 5)
        self.assertExit(self.write_pg(src, "c_pts", "create"), gptest.EX_OK)
        r = self.write_pg(src, "c_pts", "create")
        self.assertExit(r, gptest.EX_CANTCREAT)
        self.assertIn("table 'c_pts'", r.err)
        self.assertIn("exists", r.err)
        self.assertEqual(C.psql("SELECT count(*) FROM c_pts"), ["5"])

    def test_failed_overwrite_leaves_the_old_table_and_no_stray_table(self):
        old = self.points("old.json", 7)
        self.assertExit(self.write_pg(old, "ow_pts", "create"), gptest.EX_OK)
        digest = self.rows_digest("ow_pts", "i")
        bad = self.points("bad.json", 500, bad_at=500)
        r = self.write_pg(bad, "ow_pts", "overwrite", '  - reproject: { to: "EPSG:3035" }\n')
        self.assertExit(r, gptest.EX_DATAERR)
        self.assertEqual(self.rows_digest("ow_pts", "i"), digest)
        self.assertEqual(tables_like("gispipe_tmp"), [])
        # A good overwrite then replaces it, twice (names of the index, key
        # and sequence are free again each time).
        for n in (9, 11):
            self.assertExit(self.write_pg(self.points("n.json", n), "ow_pts", "overwrite"),
                            gptest.EX_OK)
            self.assertEqual(C.psql("SELECT count(*), max(ogc_fid) FROM ow_pts"),
                             ["%d|%d" % (n, n)])
        self.assertEqual(tables_like("ow_pts"), ["ow_pts", "ow_pts_ogc_fid_seq", "ow_pts_pkey",
                                                 "ow_pts_wkb_geometry_geom_idx"])
        self.assertEqual(tables_like("gispipe_tmp"), [])

    def test_overwrite_in_another_schema(self):
        C.psql("CREATE SCHEMA IF NOT EXISTS land")
        for n in (3, 5, 8):
            self.assertExit(self.write_pg(self.points("s.json", n), "land.Parcels", "overwrite"),
                            gptest.EX_OK)
        # Laundered to lower case as ogr2ogr does, in its schema only.
        self.assertEqual(C.psql("SELECT count(*) FROM land.parcels"), ["8"])
        self.assertEqual(C.psql("SELECT schemaname || '.' || indexname FROM pg_indexes "
                                "WHERE tablename = 'parcels' ORDER BY 1"),
                         ["land.parcels_pkey", "land.parcels_wkb_geometry_geom_idx"])
        self.assertEqual(C.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'parcels' "
                                "AND schemaname <> 'land'"), ["0"])
        self.assertEqual(tables_like("gispipe_tmp"), [])
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: "{C.conn()}", layer: land.parcels }}
  - write: {{ path: out.gpkg, layer: p }}
""", name="back.yaml")
        self.assertExit(self.gp("run", "-q", p), gptest.EX_OK)
        self.assertIn("Feature Count: 8", gptest.ogrinfo("-so", "-al", self.path("out.gpkg")))

    def test_append_is_one_transaction(self):
        self.assertExit(self.write_pg(self.points("a.json", 4), "ap_pts", "create"),
                        gptest.EX_OK)
        r = self.write_pg(self.points("bad.json", 3000, bad_at=3000), "ap_pts", "append",
                          '  - reproject: { to: "EPSG:4326" }\n  - reproject: { to: "EPSG:3035" }\n'
                          '  - reproject: { to: "EPSG:4326" }\n')
        self.assertExit(r, gptest.EX_DATAERR)
        self.assertEqual(C.psql("SELECT count(*) FROM ap_pts"), ["4"])
        self.assertExit(self.write_pg(self.points("b.json", 6), "ap_pts", "append"),
                        gptest.EX_OK)
        self.assertEqual(C.psql("SELECT count(*) FROM ap_pts"), ["10"])

    def test_key_and_sequence_are_built_after_the_load(self):
        """A table gispipe creates (fresh, or the new table of an overwrite)
        is loaded without its primary key and with the FIDs its sequence
        would give, so that the server inserts into no B-tree and calls no
        nextval() per row; the key is built after the load and the sequence
        goes on from the last FID, as if the rows had taken it."""
        for mode, n in (("create", 40), ("overwrite", 30)):
            before = len(C.log_text())
            self.assertExit(self.load_synth("k_poly", n, mode), gptest.EX_OK)
            log = C.log_text()[before:].splitlines()
            copy = [i for i, l in enumerate(log) if "COPY" in l and "FROM STDIN" in l]
            key = [i for i, l in enumerate(log) if "ADD PRIMARY KEY" in l]
            self.assertEqual(len(copy), 1, log[-30:])
            self.assertIn('"ogc_fid"', log[copy[0]])
            self.assertEqual(len(key), 1, log[-30:])
            self.assertGreater(key[0], copy[0])
            self.assertEqual(C.psql("SELECT count(*), min(ogc_fid), max(ogc_fid) FROM k_poly"),
                             ["%d|1|%d" % (n, n)])
            self.assertEqual(C.psql("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                                    "WHERE conrelid = 'k_poly'::regclass AND contype = 'p'"),
                             ["k_poly_pkey|PRIMARY KEY (ogc_fid)"])
        self.assertExit(self.load_synth("k_poly", 5, "append"), gptest.EX_OK)
        self.assertEqual(C.psql("SELECT count(DISTINCT ogc_fid), min(ogc_fid), max(ogc_fid) "
                                "FROM k_poly"), ["35|1|35"])
        self.assertEqual(tables_like("gispipe_tmp"), [])

    def test_reader_polling_during_an_overwrite_sees_whole_tables(self):
        self.assertExit(self.load_synth("poll", 1000, "create"), gptest.EX_OK)
        seen, errors, stop = [], [], threading.Event()

        def poll():
            while not stop.is_set():
                p = subprocess.run([pgcluster.BIN + "/psql", "-X", "-At", "-h", C.dir, "-U",
                                    C.user, "-d", "gis", "-c", "SELECT count(*) FROM poll"],
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    errors.append(p.stderr)
                else:
                    seen.append(int(p.stdout.strip()))
        t = threading.Thread(target=poll)
        t.start()
        try:
            r = self.load_synth("poll", 60000)
        finally:
            time.sleep(0.3)
            stop.set()
            t.join()
        self.assertExit(r, gptest.EX_OK)
        self.assertEqual(errors, [])
        self.assertEqual(set(seen), {1000, 60000}, seen[:5])
        self.assertEqual(seen[-1], 60000)
        self.assertEqual(seen, sorted(seen))

    def test_sigterm_during_the_load_keeps_the_old_table(self):
        self.assertExit(self.load_synth("sig", 10, "create"), gptest.EX_OK)
        p = self.load_synth("sig", 2000000, wait=False)
        deadline = time.time() + 30
        while time.time() < deadline and not C.psql(
                "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'COPY %gispipe_tmp%'"):
            time.sleep(0.05)
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 143, err)
        self.assertEqual(C.psql("SELECT count(*) FROM sig"), ["10"])
        self.assertEqual(tables_like("gispipe_tmp"), [])

    def test_connection_killed_mid_run_is_74(self):
        p = self.load_synth("killed", 2000000, "create", wait=False)
        deadline = time.time() + 30
        pid = []
        while time.time() < deadline and not pid:
            pid = C.psql("SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY %killed%' "
                         "AND pid <> pg_backend_pid()")
            time.sleep(0.05)
        self.assertTrue(pid, "gispipe's COPY never showed")
        C.psql("SELECT pg_terminate_backend(%s)" % pid[0])
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, gptest.EX_IOERR, err)
        self.assertIn("'killed'", err)
        self.assertEqual(tables_like("killed"), [])

    def test_second_writer_of_a_table_is_75(self):
        p = self.load_synth("locked", 2000000, "overwrite", wait=False)
        deadline = time.time() + 30
        while time.time() < deadline and not C.psql(
                "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'COPY %'"):
            time.sleep(0.05)
        try:
            r = self.write_pg(self.points("l.json", 3), "locked", "overwrite")
            self.assertExit(r, gptest.EX_TEMPFAIL)
            self.assertIn("being written by another run (server process", r.err)
            # --lock-wait waits that long for the lock, then gives up.
            t = time.monotonic()
            r = self.write_pg(self.points("l.json", 3), "locked", "overwrite",
                              args=("--lock-wait", "2"))
            self.assertExit(r, gptest.EX_TEMPFAIL)
            self.assertGreaterEqual(time.monotonic() - t, 2.0)
            self.assertEqual(p.poll(), None, "the first writer ended too soon for this test")
        finally:
            p.send_signal(signal.SIGTERM)
            p.communicate(timeout=60)

    def test_table_without_privilege_is_73(self):
        C.psql("CREATE TABLE IF NOT EXISTS priv (i int); REVOKE ALL ON priv FROM secret")
        conn = C.conn(user="secret", extra="password=" + pgcluster.PASSWORD)
        r = self.write_pg(self.points("p.json", 3), "priv", "append", conn=conn)
        self.assertExit(r, gptest.EX_CANTCREAT)
        self.assertIn("permission denied", r.err)
        self.assertNotIn(pgcluster.PASSWORD, r.err + r.out)
        # A new table, on the binary COPY route, in a schema the role may
        # not create in.
        C.psql("CREATE SCHEMA IF NOT EXISTS shut")
        r = self.write_pg(self.points("p.json", 3), "shut.t", "create", conn=conn)
        self.assertExit(r, gptest.EX_CANTCREAT)
        self.assertIn("permission denied for schema shut", r.err)
        self.assertIn("password=***", r.err)
        self.assertNotIn(pgcluster.PASSWORD, r.err + r.out)

    # Binary COPY (pg_copy.c)

    def copy_format(self, table, before):
        """How the rows of `table` reached the server: 'binary' or 'text'."""
        copy = [l for l in C.log_text()[before:].splitlines()
                if "COPY" in l and "FROM STDIN" in l and table in l]
        self.assertEqual(len(copy), 1, copy)
        return "binary" if "FORMAT binary" in copy[0] else "text"

    def table_shape(self, table):
        """What a reader sees of a table, its own name made T: columns,
        geometry column, constraints, indexes, the FID sequence's state."""
        shape = [c.replace(table, "T") for c in self.columns(table)]
        shape += C.psql("SELECT type, srid, coord_dimension, f_geometry_column FROM "
                        "geometry_columns WHERE f_table_name = '%s'" % table) or []
        shape += [c.replace(table, "T") for c in C.psql(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
            "'%s'::regclass ORDER BY 1" % table)]
        shape += [c.replace(table, "T") for c in C.psql(
            "SELECT indexdef FROM pg_indexes WHERE tablename = '%s' ORDER BY 1" % table)]
        seq = C.psql("SELECT pg_get_serial_sequence('%s', a.attname) FROM pg_attribute a "
                     "JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                     "WHERE a.attrelid = '%s'::regclass" % (table, table))
        self.assertEqual(len(seq), 1, seq)
        shape.append(seq[0].replace(table, "T"))
        shape += C.psql("SELECT last_value, is_called FROM %s" % seq[0])
        return shape

    def test_binary_copy_keeps_every_type(self):
        """Every attribute type the binary route sends, with NULLs and edge
        values, and geometries of every dimension, empty and multi: the
        same table and the same rows as ogr2ogr's load and as GDAL's text
        COPY (the route gispipe took before, GISPIPE_PG_BINARY_COPY NO)."""
        with open(self.path("types.csvt"), "w") as f:
            f.write('"Integer","Integer64","Real","Real","Real(Float32)","Integer(Boolean)",'
                    '"Integer(Int16)","String","String(5)","Date","DateTime","Time","String"\n')
        rows = [
            (0, 9007199254740993, -0.5, "0.30000000000000004", 1.5, 1, -32768,
             "Zürich – 東京 🌍", "äöüßéx", "2024/02/29", "2024/02/29 12:34:56.789+0530",
             "12:34:56.5", "MULTIPOLYGON (((0 0,1 0,1 1,0 0)),((2 2,3 2,3 3,2 2)))"),
            (-2147483648, -9223372036854775808, 1e308, "1e-300", -3.25, 0, 32767,
             "tab\there, \"quoted\", back\\slash", "abc", "1900/01/01",
             "1900/01/01 00:00:00", "00:00:00", "POLYGON EMPTY"),
            (2147483647, 9223372036854775807, 123456789.125, "-0", 0, 1, 0, "", "",
             "2100/12/31", "2100/12/31 23:59:59-08", "23:59:59", "GEOMETRYCOLLECTION (POINT (1 2),LINESTRING (0 0,1 1))"),
            ("", "", "", "", "", "", "", "", "", "", "", "", ""),
            (7, -1, 1e-300, "5e-324", "", "", 1, "x", "0123456789", "0001/01/01",
             "1970/01/01 00:00:00.001+00", "", "POINT (1 2)"),
        ]
        with open(self.path("types.csv"), "w") as f:
            f.write("i,i64,r,exact,f32,b,s16,t,t5,d,dt,tm,wkt\n")
            for r in rows:
                f.write(",".join('"%s"' % str(v).replace('"', '""') for v in r) + "\n")
        src = self.path("types.csv")

        def load(table, tz, args=()):
            """Load with gispipe in a session of TimeZone tz (libpq's PGTZ);
            how its rows went."""
            p = self.pipeline('version: 1\nsteps:\n  - read: { path: "%s" }\n  - write: '
                              '{ path: "%s", layer: %s, mode: create }\n' % (src, C.conn(), table),
                              name=table + ".yaml")
            before = len(C.log_text())
            self.assertExit(self.gp("run", "-q", p, *args, env={"PGTZ": tz}), gptest.EX_OK)
            how = self.copy_format(table, before)
            subprocess.run(["ogr2ogr", "-f", "PostgreSQL", C.conn(), src, "-nln", table + "_o"],
                           check=True, capture_output=True, env=dict(os.environ, PGTZ=tz))
            return how
        self.assertEqual(load("bt_types", "UTC"), "binary")
        self.assertEqual(load("bt_text", "UTC", ("--config", "GISPIPE_PG_BINARY_COPY", "NO")),
                         "text")
        # A date-time of no known zone is the session's local time, as the
        # server reads it.
        self.assertEqual(load("bt_paris", "Europe/Paris"), "binary")
        for other in ("bt_text", "bt_types_o", "bt_paris"):
            self.assertEqual(self.table_shape("bt_types"), self.table_shape(other))
        cols = "i, i64, r, f32, b, s16, t, t5, d, dt, tm, wkt"
        digest = self.rows_digest("bt_types", cols)
        self.assertEqual(digest.split("|")[1], "5")
        self.assertEqual(digest, self.rows_digest("bt_text", cols))
        self.assertEqual(digest, self.rows_digest("bt_types_o", cols))
        self.assertEqual(self.rows_digest("bt_paris", cols), self.rows_digest("bt_paris_o", cols))
        self.assertNotEqual(self.rows_digest("bt_paris", cols), digest)
        self.assertEqual(C.psql("SET TimeZone = 'UTC'; SELECT dt, tm FROM bt_types "
                                "ORDER BY ogc_fid"),
                         ["2024-02-29 07:04:56.789+00|12:34:56.5", "1900-01-01 00:00:00+00|00:00:00",
                          "2101-01-01 07:59:59+00|23:59:59", "|", "1970-01-01 00:00:00.001+00|"])
        # Text COPY prints a double with 15 digits; binary sends its bits.
        self.assertEqual(C.psql("SELECT exact::text FROM bt_types ORDER BY ogc_fid"),
                         ["0.30000000000000004", "1e-300", "-0", "5e-324"])
        self.assertEqual(C.psql("SELECT exact::text FROM bt_types_o ORDER BY ogc_fid"),
                         ["0.3", "1e-300", "-0", "5e-324"])
        self.assertEqual(C.psql("SELECT t5, i64, d, ST_AsText(wkb_geometry) FROM bt_types "
                                "WHERE ogc_fid = 1"),
                         ["äöüßé|9007199254740993|2024-02-29|MULTIPOLYGON(((0 0,1 0,1 1,0 0)),"
                          "((2 2,3 2,3 3,2 2)))"])
        self.assertEqual(C.psql("SELECT count(*) FROM bt_types WHERE i IS NULL AND i64 IS NULL "
                                "AND r IS NULL AND b IS NULL AND d IS NULL AND "
                                "wkb_geometry IS NULL"), ["1"])
        # Geometries with Z, M and both, empty ones, in their CRS.
        for nlt, wkts in (("MULTIPOLYGON25D", ["MULTIPOLYGON Z (((0 0 1,1 0 2,1 1 3,0 0 1)))",
                                              "POLYGON Z ((5 5 -1,6 5 -2,6 6 -3,5 5 -1))",
                                              "MULTIPOLYGON Z EMPTY",
                                              # an open ring, closed as GDAL closes it
                                              "POLYGON Z ((7 7 1,8 7 1,8 8 1,7 8 2))"]),
                          ("POINTM", ["POINT M (1 2 3)", "POINT M (-1 -2 -3)"]),
                          ("LINESTRINGZM", ["LINESTRING ZM (1 2 3 4,5 6 7 8)",
                                            "LINESTRING ZM EMPTY"])):
            name = "bt_" + nlt.lower()
            with open(self.path(name + ".csv"), "w") as f:
                f.write("k,wkt\n" + "".join('%d,"%s"\n' % (k, w) for k, w in enumerate(wkts)))
            gpkg = self.path(name + ".gpkg")
            gptest.ogr2ogr("-f", "GPKG", gpkg, self.path(name + ".csv"), "-nlt", nlt,
                           "-a_srs", "EPSG:3035", "-nln", name)
            before = len(C.log_text())
            self.assertExit(self.write_pg(gpkg, name, "create"), gptest.EX_OK)
            self.assertEqual(self.copy_format(name, before), "binary")
            gptest.ogr2ogr("-f", "PostgreSQL", C.conn(), gpkg, "-nln", name + "_ogr",
                           "-nlt", nlt if nlt.startswith("POINT") else "PROMOTE_TO_MULTI")
            self.assertEqual(self.table_shape(name), self.table_shape(name + "_ogr"))
            ewkt = "SELECT fid, k, ST_AsEWKT(geom) FROM %s ORDER BY fid"
            self.assertEqual(C.psql(ewkt % name), C.psql(ewkt % (name + "_ogr")))
            self.assertEqual(self.rows_digest(name, "k", "fid", "geom"),
                             self.rows_digest(name + "_ogr", "k", "fid", "geom"))
            self.assertEqual(self.rows_digest(name, "k", "fid", "geom").split("|")[1],
                             str(len(wkts)))

    def test_binary_copy_matches_the_text_route(self):
        """20,000 rows reprojected, loaded by binary COPY and by GDAL's text
        COPY: the same rows, FIDs, keys, index and sequence, and an
        overwrite by either swaps in the same table."""
        n = 20000
        for table, args in (("bm_binary", ()),
                            ("bm_text", ("--config", "GISPIPE_PG_BINARY_COPY", "NO"))):
            p = self.pipeline("version: 1\nsteps:\n" + self.synth_yaml(n) +
                              '  - reproject: { to: "EPSG:3035" }\n'
                              '  - write: { path: "%s", layer: %s, mode: %s }\n'
                              % (C.conn(), table, "overwrite"), name=table + ".yaml")
            for _ in range(2):  # a create, then the swap of an overwrite
                before = len(C.log_text())
                self.assertExit(self.gp("run", "-q", p, *args), gptest.EX_OK)
                self.assertEqual(self.copy_format("gispipe_tmp" if _ else table, before),
                                 "binary" if table == "bm_binary" else "text")
        self.assertEqual(self.table_shape("bm_binary"), self.table_shape("bm_text"))
        cols = "id, code, name"
        digest = self.rows_digest("bm_binary", cols)
        self.assertEqual(digest.split("|")[1], str(n))
        self.assertEqual(digest, self.rows_digest("bm_text", cols))
        self.assertEqual(tables_like("gispipe_tmp"), [])

    def test_binary_copy_numeric_matches_the_text_route(self):
        """Numbers with a width (every shapefile's) make NUMERIC(w,p)
        columns: binary COPY holds the values GDAL's text COPY holds, from
        a real shapefile and on edge values (negative, zero, ties, many
        decimals, large, NaN); a value the column cannot hold fails the run
        with 65 and the server's reason, and leaves no table."""
        sids = os.path.join(gptest.DATA, "sids.shp")
        with open(self.path("e.geojson"), "w") as f:
            f.write('{"type":"FeatureCollection","features":[%s]}' % ",".join(
                '{"type":"Feature","properties":{"i":%s,"i64":%s,"r3":%s,"r10":%s},'
                '"geometry":null}' % r for r in (
                    ("-5", "-123456789012", "-0.0625", "-1e19"),
                    ("0", "0", "0.0005", "123456789.123456789"),
                    ("999999999", "999999999999", "1.0005", "1e-11"),
                    ("null", "null", "null", "null"),
                    ("7", "5", "NaN", "0.00000000005"),
                    ("-1", "-1", "-0.0001", "-0.000000000049"))))
        vrt = ('<OGRVRTDataSource><OGRVRTLayer name="e"><SrcDataSource>%s</SrcDataSource>'
               '%s</OGRVRTLayer></OGRVRTDataSource>')
        fields = ('<Field name="i" type="Integer" width="9"/>'
                  '<Field name="i64" type="Integer64" width="12"/>'
                  '<Field name="r3" type="Real" width="10" precision="3"/>'
                  '<Field name="r10" type="Real" width="30" precision="10"/>')
        with open(self.path("e.vrt"), "w") as f:
            f.write(vrt % (self.path("e.geojson"), fields))
        text = ("--config", "GISPIPE_PG_BINARY_COPY", "NO")
        for src, cols, n in ((sids, "cnty_id, area, perimeter, cress_id, bir74, lat, name", 100),
                             (self.path("e.vrt"), "i, i64, r3, r10", 6)):
            tables = {}
            for how, args in (("binary", ()), ("text", text)):
                t = "num_%s_%s" % (n, how)
                before = len(C.log_text())
                self.assertExit(self.write_pg(src, t, "create", args=args), gptest.EX_OK)
                self.assertEqual(self.copy_format(t, before), how)
                tables[how] = t
            gptest.ogr2ogr("-f", "PostgreSQL", C.conn(), src, "-nln", "num_%s_o" % n,
                           "-nlt", "PROMOTE_TO_MULTI")
            shape = self.table_shape(tables["binary"])
            self.assertIn("numeric", " ".join(shape))
            self.assertEqual(shape, self.table_shape(tables["text"]))
            digest = self.rows_digest(tables["binary"], cols)
            self.assertEqual(digest.split("|")[1], str(n))
            self.assertEqual(digest, self.rows_digest(tables["text"], cols))
            self.assertEqual(digest, self.rows_digest("num_%s_o" % n, cols))
        self.assertEqual(C.psql("SELECT concat_ws('|', i, i64, r3, r10) FROM num_6_binary "
                                "WHERE i IS NOT NULL ORDER BY ogc_fid"),
                         ["-5|-123456789012|-0.062|-10000000000000000000.0000000000",
                          "0|0|0.001|123456789.1234567910",
                          "999999999|999999999999|1.000|0.0000000000",
                          "7|5|NaN|0.0000000001", "-1|-1|0.000|0.0000000000"])
        # Too wide for the column: the server refuses the row, on either
        # route (GDAL's text COPY says so only when the load ends).
        for i, r3 in (("1000000000", "1"), ("1", "1e7"), ("1", "Infinity")):
            with open(self.path("e.geojson"), "w") as f:
                f.write('{"type":"FeatureCollection","features":[{"type":"Feature",'
                        '"properties":{"i":%s,"r3":%s},"geometry":null}]}' % (i, r3))
            for args in ((), text):
                r = self.write_pg(self.path("e.vrt"), "num_over", "create", args=args)
                self.assertExit(r, gptest.EX_DATAERR)
                self.assertIn("numeric field overflow", r.err)
                self.assertEqual(tables_like("num_over"), [])
        self.assertEqual(tables_like("gispipe_tmp"), [])

    def test_binary_copy_lists_json_uuid_match_the_text_route(self):
        """Lists (arrays), JSON (json, or jsonb by OGR_PG_JSON_TYPE) and
        UUID fields go by binary COPY into the columns GDAL makes, with the
        values GDAL's text COPY gives (reals at 16 digits, empty strings as
        NULL items, backslashes as the server's array parser reads them);
        a bad UUID, or an item GDAL's array text cannot hold, fails with 65
        and leaves no table."""
        feats = [
            {"il": [1, -2, 3], "bl": [True, False], "i64l": [1, 9007199254740993],
             "rl": [1.5, -0.1, 1e300, 0.30000000000000004, -0.0],
             "sl": ["a", 'b"c', "", "d,e", "x\\y", "p\\\\q", " sp ", "NULL", "é東"],
             "js": {"a": [1, 2], "b": "x"}, "u": "{A0EEBC99-9C0B4EF8-BB6D6BB9BD380A11}"},
            {"il": [], "bl": [], "i64l": None, "rl": [], "sl": [], "js": [1, 2],
             "u": "a0eebc999c0b4ef8bb6d6bb9bd380a11"},
            {"il": None, "bl": None, "i64l": [], "rl": None, "sl": None, "js": None,
             "u": None},
            {"il": [7], "bl": [True], "i64l": [-9223372036854775808], "rl": [5e-324],
             "sl": ["only"], "js": "\"quoted\"", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
        ]

        def source(name, rows):
            """The rows as GeoJSON, seen through a VRT that makes `u` a
            UUID (GDAL 3.6 reads no UUID subtype from a file) and keeps the
            other fields as GeoJSON gives them (a union layer)."""
            with open(self.path(name + ".json"), "w") as f:
                json.dump({"type": "FeatureCollection", "features": [
                    {"type": "Feature", "properties": dict(r, k=k), "geometry": None}
                    for k, r in enumerate(rows)]}, f)
            with open(self.path(name + ".vrt"), "w") as f:
                f.write('<OGRVRTDataSource><OGRVRTLayer name="%s_u"><SrcDataSource>%s'
                        '</SrcDataSource><SrcLayer>%s</SrcLayer><Field name="u" type="String" '
                        'subtype="UUID"/></OGRVRTLayer></OGRVRTDataSource>'
                        % (name, self.path(name + ".json"), name))
            return self.path(name + ".json"), self.path(name + ".vrt")
        src, uuid_src = source("lj", feats)
        text = ("--config", "GISPIPE_PG_BINARY_COPY", "NO")

        def same_three_ways(src, stem, cols, conf, kind, fid="ogc_fid"):
            """Loaded by binary COPY, by GDAL's text COPY and by ogr2ogr:
            the same table and rows."""
            tables = []
            for how, args in (("binary", conf), ("text", text + conf)):
                t = "%s_%s" % (stem, how)
                before = len(C.log_text())
                self.assertExit(self.write_pg(src, t, "create", args=args), gptest.EX_OK)
                self.assertEqual(self.copy_format(t, before), how)
                tables.append(t)
            subprocess.run(["ogr2ogr", "-f", "PostgreSQL", C.conn(), src, "-nln", stem + "_o"]
                           + list(conf), check=True, capture_output=True)
            tables.append(stem + "_o")
            shape = self.table_shape(tables[0])
            for k in kind:
                self.assertIn(k, " ".join(shape))
            digest = self.rows_digest(tables[0], cols, fid, "NULL::geometry")
            self.assertEqual(digest.split("|")[1], "4")
            for t in tables[1:]:
                self.assertEqual(shape, self.table_shape(t))
                self.assertEqual(digest, self.rows_digest(t, cols, fid, "NULL::geometry"))
        for jt in ("json", "jsonb"):
            same_three_ways(src, "lj_" + jt, "k, il, bl, i64l, rl, sl, js::text",
                            ("--config", "OGR_PG_JSON_TYPE", jt.upper()),
                            ("ARRAY", "|" + jt + "|"))
        same_three_ways(uuid_src, "lj_uuid", "u", (), ("|uuid|",))
        # int16 and float32 lists (INT2[], REAL[]), from a table of the server's.
        C.psql("CREATE TABLE lj_src (id serial PRIMARY KEY, s smallint[], r real[], k int); "
               "INSERT INTO lj_src (s, r, k) VALUES ('{1,-32768,32767}', "
               "'{0.1,-1.5,3.4028235e38,1e-45,NaN,-Infinity}', 0), ('{}', '{}', 1), "
               "(NULL, NULL, 2), ('{0}', '{-0}', 3)")
        with open(self.path("lj_src.vrt"), "w") as f:
            f.write('<OGRVRTDataSource><OGRVRTLayer name="lj_src"><SrcDataSource>%s'
                    '</SrcDataSource><SrcLayer>lj_src</SrcLayer></OGRVRTLayer>'
                    '</OGRVRTDataSource>' % C.conn())
        same_three_ways(self.path("lj_src.vrt"), "lj_small", "k, s, r", (), ("ARRAY",), "id")
        self.assertEqual(C.psql("SELECT concat_ws('|', s, r, pg_typeof(s), pg_typeof(r)) "
                                "FROM lj_small_binary WHERE k = 0"),
                         ["{1,-32768,32767}|{0.1,-1.5,3.4028235e+38,1e-45,NaN,-Infinity}|"
                          "smallint[]|real[]"])
        self.assertEqual(C.psql("SELECT concat_ws('|', il, bl, i64l, rl, sl) FROM "
                                "lj_json_binary WHERE k = 0"),
                         ['{1,-2,3}|{t,f}|{1,9007199254740993}|{1.5,-0.1,1e+300,0.3,-0}|'
                          '{a,"b\\"c",NULL,"d,e",xy,"p\\\\q"," sp ","NULL",é東}'])
        self.assertEqual(C.psql("SELECT u FROM lj_uuid_binary ORDER BY 1"),
                         ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"] * 3)
        # What the server cannot read: a bad UUID; an item ending in a
        # backslash (GDAL's text route fails on it too).
        for bad, which in (({"u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1"}, 1),
                           ({"sl": ["ok", "end\\"]}, 0)):
            src = source("lj_bad", [dict(feats[3], **bad)])[which]
            r = self.write_pg(src, "lj_bad", "create")
            self.assertExit(r, gptest.EX_DATAERR)
            self.assertIn("feature 0:", r.err)  # GeoJSON's first FID
            self.assertEqual(tables_like("lj_bad"), [])
            r = self.write_pg(src, "lj_bad", "create", args=text)
            self.assertExit(r, gptest.EX_DATAERR)
            self.assertEqual(tables_like("lj_bad"), [])

    def test_later_stream_brings_local_date_times_in_a_zoned_session(self):
        """Two GeoPackages read by a glob into one table, in a session whose
        TimeZone is not UTC (a half-hour DST, a historical offset): the
        second brings a date-time field of no known zone (and a layer with
        another new field).  The binary route adds the columns and reads the local times as the
        server reads GDAL's text of them, across the zone's transitions:
        the same table and rows as GDAL's text route and ogr2ogr."""
        tz = "Australia/Lord_Howe"
        local = ["2024/10/06 01:59:59", "2024/10/06 02:00:00", "2024/10/06 02:15:00",
                 "2024/10/06 02:45:00.250", "2024/04/07 01:15:00", "2024/04/07 01:45:00",
                 "2024/04/07 02:10:00", "1890/01/01 12:00:00", "2024/07/01 12:00:00",
                 "2024/07/01 12:30:00"]
        os.makedirs(self.path("in"))
        with open(self.path("a.csv"), "w") as f:
            f.write("k,wkt\n1,POINT (1 2)\n2,POINT (3 4)\n")
        with open(self.path("b.csv"), "w") as f:
            f.write("k,t,wkt\n" + "".join('%d,%s,"POINT (%d 0)"\n' % (10 + j, t, j)
                                         for j, t in enumerate(local)) + '99,,"POINT (0 0)"\n')
        with open(self.path("b.csvt"), "w") as f:
            f.write("Integer,DateTime,String\n")
        for n in ("a", "b"):
            gptest.ogr2ogr("-f", "GPKG", self.path("in", n + ".gpkg"), self.path(n + ".csv"),
                           "-nln", "pts", "-a_srs", "EPSG:4326", "-nlt", "POINT")
        with open(self.path("l.json"), "w") as f:
            f.write('{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
                    '{"k":5,"tags":["x","y"]},"geometry":{"type":"Point","coordinates":[5,5]}}]}')
        gptest.ogr2ogr("-f", "GPKG", "-append", self.path("in", "b.gpkg"), self.path("l.json"),
                       "-nln", "pts2")
        env = {"PGTZ": tz}
        for table, args in (("ls_binary", ()),
                            ("ls_text", ("--config", "GISPIPE_PG_BINARY_COPY", "NO"))):
            p = self.pipeline('version: 1\nsteps:\n  - read: { path: "in/*.gpkg" }\n'
                              '  - write: { path: "%s", layer: %s, mode: create }\n'
                              % (C.conn(), table), name=table + ".yaml")
            before = len(C.log_text())
            self.assertExit(self.gp("run", "-q", p, *args, env=env), gptest.EX_OK)
            copies = [l for l in C.log_text()[before:].splitlines()
                      if "FROM STDIN" in l and table in l]
            # binary: one COPY a stream (a.gpkg, b.gpkg's two layers)
            self.assertEqual(len(copies), 3 if table == "ls_binary" else len(copies), copies)
            self.assertEqual(["FORMAT binary" in l for l in copies],
                             [table == "ls_binary"] * len(copies))
        for n, layer in (("a", "pts"), ("b", "pts"), ("b", "pts2")):
            subprocess.run(["ogr2ogr", "-f", "PostgreSQL", "-append", "-addfields", C.conn(),
                            self.path("in", n + ".gpkg"), layer, "-nln", "ls_o"],
                           check=True, capture_output=True, env=dict(os.environ, **env))
        shape = self.table_shape("ls_binary")
        self.assertIn("t|timestamp with time zone|0|0|0|", shape)
        self.assertEqual(shape, self.table_shape("ls_text"))
        cols = "k, t, tags"
        digest = self.rows_digest("ls_binary", cols, "fid", "geom")
        self.assertEqual(digest.split("|")[1], "14")
        self.assertEqual(digest, self.rows_digest("ls_text", cols, "fid", "geom"))
        self.assertEqual(C.psql("SELECT md5(string_agg(concat_ws('|', k, t, tags), ';' "
                                "ORDER BY k)) FROM ls_binary"),
                         C.psql("SELECT md5(string_agg(concat_ws('|', k, t, tags), ';' "
                                "ORDER BY k)) FROM ls_o"))
        # The instants, in UTC: offsets +11, +10:30 and the 1890 one of +10:36:20.
        self.assertEqual(C.psql("SET TimeZone = 'UTC'; SELECT t FROM ls_binary WHERE k::int IN "
                                "(10, 13, 17, 18) ORDER BY k::int"),
                         ["2024-10-05 15:29:59+00", "2024-10-05 15:45:00.25+00",
                          "1890-01-01 01:23:40+00", "2024-07-01 01:30:00+00"])

    # Bad connections and passwords

    def test_bad_password_and_unknown_database(self):
        bad = C.conn(user="secret", extra="password=wrong-Pa55word")
        p = self.pipeline(f'version: 1\nsteps:\n  - read: {{ path: "{bad}" }}\n'
                          '  - write: { path: out.gpkg }\n')
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_NOINPUT)
        self.assertIn("password authentication failed", r.err)
        self.assertNotIn("wrong-Pa55word", r.err + r.out)
        self.assertIn("password=***", r.err)
        r = self.write_pg(self.points("p.json", 3), "t", "create", conn=bad)
        self.assertExit(r, gptest.EX_CANTCREAT)
        self.assertNotIn("wrong-Pa55word", r.err + r.out)
        p = self.pipeline(f'version: 1\nsteps:\n  - read: {{ path: "{C.conn(db="nosuchdb")}" }}\n'
                          '  - write: { path: out.gpkg }\n')
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_NOINPUT)
        self.assertIn('database "nosuchdb" does not exist', r.err)
        self.assertFalse(os.path.exists(self.path("out.gpkg")))

    def test_password_absent_from_explain_stderr_and_report(self):
        conn = C.conn(user="secret", extra="password=" + pgcluster.PASSWORD)
        self.assertExit(self.write_pg(self.points("p.json", 4), "pw", "overwrite", conn=conn),
                        gptest.EX_OK)
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: "{conn}", layer: pw }}
  - write: {{ path: "{conn}", layer: pw_copy, mode: overwrite }}
""")
        for args in (("explain", p), ("run", p, "--report", self.path("r.json")),
                     ("run", p, "--report", self.path("r.prom"))):
            r = self.gp(*args)
            self.assertExit(r, gptest.EX_OK)
            self.assertNotIn(pgcluster.PASSWORD, r.out + r.err)
        self.assertIn("password=***", self.gp("explain", p).out)
        for f in ("r.json", "r.prom"):
            with open(self.path(f)) as fh:
                self.assertNotIn(pgcluster.PASSWORD, fh.read())
        self.assertEqual(C.psql("SELECT count(*) FROM pw_copy"), ["4"])


if __name__ == "__main__":
    gptest.main()
