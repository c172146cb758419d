"""Every example pipeline in pipelines/ validates, explains and runs, and
writes what an oracle writes for the same job.

The oracle of each example is the method oracle_<name> below (dashes become
underscores), run after the example: ogr2ogr for vector pipelines (-t_srs
for reproject, OGR SQL for where and select, -explodecollections for
explode, and the SQLite dialect with SpatiaLite's functions for filter
valid / intersects, clip, buffer, point on surface, make_valid, simplify
and areas; segments are split in Python, see oracle_geometry_steps);
gdalwarp for raster cutlines, warps and resamples; Python for raster
arithmetic, computed pixel by pixel from the source.  Each oracle opens
every output the example wrote and compares its feature count, CRS,
geometry type and fields (vector), or its size, geotransform, CRS, bands
and data types (raster), with the oracle's, then its values: every
feature's attributes, geometry type, vertex count, area and centroid, and
every pixel.  An example without an oracle fails, and so does an output
its oracle did not look at.
"""
import array
import glob
import json
import math
import os
import re
import shutil
import struct
import sqlite3
import subprocess
import sys

import gptest

PIPELINES = sorted(glob.glob(os.path.join(gptest.SRC, "pipelines", "*.yaml")))

# GDAL tools must not leave .aux.xml files beside the data.
GDAL_ENV = dict(os.environ, GDAL_PAM_ENABLED="NO")


def tool(*args):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True,
                          env=GDAL_ENV).stdout


def ogr2ogr(*args):
    """gptest.ogr2ogr, with ogr2ogr's message when it fails."""
    p = subprocess.run(["ogr2ogr"] + [str(a) for a in args], capture_output=True, text=True,
                       env=GDAL_ENV)
    if p.returncode != 0:
        raise AssertionError("ogr2ogr %s: exit %d\n%s" % (" ".join(map(str, args)),
                                                          p.returncode, p.stderr))


def oracle_name(pipeline):
    stem = os.path.splitext(os.path.basename(pipeline))[0]
    return "oracle_" + re.sub(r"[^0-9A-Za-z]", "_", stem)


# -- what a dataset holds --------------------------------------------------------


def crs_id(wkt):
    """The authority and code of a WKT2 CRS ("EPSG:32617"): the ID of its
    root node, not one of its components'.  None when it has none."""
    if not wkt:
        return None
    depth, i, n = 0, 0, len(wkt)
    while i < n:
        c = wkt[i]
        if c == '"':
            i = wkt.index('"', i + 1) + 1
            continue
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        elif depth == 1 and wkt.startswith("ID[", i) and not wkt[i - 1].isalnum():
            m = re.match(r'ID\["([^"]+)",\s*(\d+)', wkt[i:])
            if m:
                return "%s:%s" % m.groups()
        i += 1
    return None


def layer_meta(path, layer):
    """Feature count, declared geometry type, CRS, field names and
    geometry column of a vector layer: from a GeoPackage's own tables (a
    GDAL start less), else from ogrinfo -so."""
    if path.endswith(".gpkg"):
        return gpkg_meta(path, layer)
    out = gptest.ogr_info(path, layer)
    meta = {"count": None, "geometry": None, "crs": None, "fields": [], "geom": "GEOMETRY"}
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Feature Count: "):
            meta["count"] = int(line.split(": ", 1)[1])
        elif line.startswith("Geometry: "):
            meta["geometry"] = line.split(": ", 1)[1]
        elif line == "Layer SRS WKT:":
            end = next(j for j in range(i + 1, len(lines))
                       if lines[j].startswith("Data axis") or lines[j] == "(unknown)")
            meta["crs"] = crs_id("\n".join(lines[i + 1:end]))
        elif line.startswith("Geometry Column = "):
            meta["geom"] = line.split(" = ", 1)[1]
        else:
            m = re.match(r"^(.+?): (\S+) \(\d+\.\d+\)$", line)
            if m:
                meta["fields"].append(m.group(1))
    return meta


def gpkg_meta(path, layer):
    """layer_meta of a GeoPackage layer, read with SQLite: the geometry type
    as the GeoPackage declares it ("MULTIPOLYGON")."""
    con = sqlite3.connect("file:%s?mode=ro&immutable=1" % path, uri=True)
    try:
        row = con.execute("SELECT column_name, geometry_type_name, srs_id FROM "
                          "gpkg_geometry_columns WHERE table_name = ?", (layer,)).fetchone()
        assert row is not None, "no layer %s in %s" % (layer, path)
        geom, gtype, srs = row
        org = con.execute("SELECT organization, organization_coordsys_id FROM "
                          "gpkg_spatial_ref_sys WHERE srs_id = ?", (srs,)).fetchone()
        # table_info: (cid, name, type, notnull, default, pk)
        cols = con.execute('PRAGMA table_info("%s")' % layer).fetchall()
        count = con.execute('SELECT count(*) FROM "%s"' % layer).fetchone()[0]
    finally:
        con.close()
    return {"count": count, "geometry": gtype, "geom": geom,
            "crs": "%s:%d" % (org[0].upper(), org[1]) if org and org[1] > 0 else None,
            "fields": [c[1] for c in cols if not c[5] and c[1] != geom]}


def feature_rows(path, layer, geom):
    """Every feature's fields and measures of its geometry (_type, _npts,
    _area, _x and _y of its centroid or point), as strings, in FID order."""
    return gptest.ogr_sql(path, 'SELECT *, GeometryType("{g}") AS _type, '
                          'ST_NPoints("{g}") AS _npts, ST_Area("{g}") AS _area, '
                          'ST_X(ST_Centroid("{g}")) AS _x, ST_Y(ST_Centroid("{g}")) AS _y '
                          'FROM "{l}" ORDER BY rowid'.format(g=geom, l=layer))


def raster_meta(path):
    i = gptest.raster_info(path)
    return {"size": i["size"], "geotransform": i["geoTransform"],
            "crs": crs_id(i.get("coordinateSystem", {}).get("wkt")),
            "types": [b["type"] for b in i["bands"]],
            "nodata": [b.get("noDataValue") for b in i["bands"]],
            "blocks": [b["block"] for b in i["bands"]],
            "layout": i.get("metadata", {}).get("IMAGE_STRUCTURE", {}).get("LAYOUT"),
            "compression": i.get("metadata", {}).get("IMAGE_STRUCTURE", {}).get("COMPRESSION")}


_ENVI_TYPES = {1: "B", 2: "h", 3: "i", 4: "f", 5: "d", 12: "H", 13: "I"}


def raster_bands(path, workdir):
    """Every band of a raster, row by row, as a list of array.array: one
    gdal_translate to raw ENVI for all bands (gptest.raster_values costs two
    GDAL starts a band)."""
    out = os.path.join(workdir, "bands-%d.bin" % len(os.listdir(workdir)))
    tool("gdal_translate", "-q", "-of", "ENVI", "-co", "INTERLEAVE=BSQ", path, out)
    with open(os.path.splitext(out)[0] + ".hdr") as f:
        hdr = dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
    hdr = {k.strip(): v.strip() for k, v in hdr.items()}
    a = array.array(_ENVI_TYPES[int(hdr["data type"])])
    with open(out, "rb") as f:
        a.frombytes(f.read())
    if int(hdr["byte order"]) != (sys.byteorder == "big"):
        a.byteswap()
    n = int(hdr["samples"]) * int(hdr["lines"])
    assert len(a) == n * int(hdr["bands"])
    return [a[i * n:(i + 1) * n] for i in range(int(hdr["bands"]))]


def envelope(path, layer, geom, where=None):
    """(xmin, ymin, xmax, ymax) of the features' geometries, at full precision."""
    q = ('SELECT printf(\'%.17g %.17g %.17g %.17g\', MbrMinX(e), MbrMinY(e), MbrMaxX(e), '
         'MbrMaxY(e)) AS env FROM (SELECT Extent("{g}") AS e FROM "{l}"{w})'
         .format(g=geom, l=layer, w=" WHERE " + where if where else ""))
    return tuple(float(v) for v in gptest.ogr_sql(path, q)[0]["env"].split())


def centre_window(gt, size, env):
    """The pixels of a north-up grid whose centre is in `env`, as (col,
    row, width, height), cut to the raster: the grid clip crops a raster to."""
    x0, y0, x1, y1 = env
    c0 = math.ceil((x0 - gt[0]) / gt[1] - 0.5)
    c1 = math.floor((x1 - gt[0]) / gt[1] - 0.5) + 1
    r0 = math.ceil((y1 - gt[3]) / gt[5] - 0.5)
    r1 = math.floor((y0 - gt[3]) / gt[5] - 0.5) + 1
    c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, size[0]), min(r1, size[1])
    return c0, r0, c1 - c0, r1 - r0


def warp_pinned(src, out, gt, size, *args):
    """gdalwarp onto exactly the grid (gt, size)."""
    w, h = size
    te = (gt[0], gt[3] + h * gt[5], gt[0] + w * gt[1], gt[3])
    tool("gdalwarp", "-q", "-overwrite", "-te", *[repr(v) for v in te], "-ts", w, h, *args,
         src, out)


def densify(ring, max_length):
    """A ring with each segment longer than max_length split into the
    fewest equal parts no longer than it."""
    out = [ring[0]]
    for (x0, y0), (x1, y1) in zip(ring, ring[1:]):
        n = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / max_length))
        out += [[x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n] for k in range(1, n)]
        out.append([x1, y1])
    return out


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def round_half_away(x):
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def rel_close(a, b, rel, floor=0.0):
    return abs(a - b) <= max(rel * abs(b), floor)


class ExamplePipelines(gptest.TempDirTest):
    def setUp(self):
        super().setUp()
        # Pipelines use paths relative to the repository root.
        os.symlink(os.path.abspath(gptest.DATA), self.path("data"))

    def test_there_are_examples(self):
        names = [os.path.basename(p) for p in PIPELINES]
        self.assertIn("quickstart.yaml", names)
        self.assertGreaterEqual(len(names), 4)

    def test_every_example_has_an_oracle(self):
        # A new example without an oracle must not slip in unchecked, and an
        # oracle whose example is gone is dead code.
        have = {n for n in dir(self) if n.startswith("oracle_")}
        want = {oracle_name(p) for p in PIPELINES}
        self.assertEqual(sorted(want - have), [], "examples without an oracle")
        self.assertEqual(sorted(have - want), [], "oracles without an example")

    def test_each_validates_explains_and_runs(self):
        for p in PIPELINES:
            with self.subTest(pipeline=os.path.basename(p)):
                self.check_pipeline(p)

    def check_pipeline(self, p):
        args = []
        if "synthetic" in os.path.basename(p) or "bench" in os.path.basename(p):
            args = ["--set", "count=2000"]
        with open(p) as f:
            own_limit = re.search(r"^\s*limit:", f.read(), re.M) is not None
        if not gptest.MEMORY_MEASURED and own_limit:
            # The examples' limits are for gispipe alone, not for
            # valgrind's or ASan's memory beside it.  (Only where an example
            # sets one: a limit changes what a run may do, FlatGeobuf's
            # in-memory index for one.)
            args += ["--memory-limit", "16GiB"]
        # Each example starts in an empty directory (but for data/), so that
        # what is there after the run is what this one wrote.
        for n in os.listdir(self.dir):
            if os.path.isdir(self.path(n)) and n != "data":
                shutil.rmtree(self.path(n))
            elif n != "data":
                os.unlink(self.path(n))
        if not gptest.UNDER_VALGRIND:
            # Under valgrind only the runs: validate and explain take the
            # same paths as the runs' set-up, and have valgrind tests of
            # their own (test_exit_codes, test_raster's Explain).
            r = self.gp("validate", p, *args)
            self.assertExit(r, 0)
            r = self.gp("explain", p, *args)
            self.assertExit(r, 0)
            self.assertIn("memory plan", r.out)
        rep = self.path("report.json")
        r = self.gp("run", p, "--report", rep, *args)
        self.assertExit(r, 0)
        with open(rep) as f:
            report = json.load(f)
        self.assertEqual(report["status"], "ok")
        # Features for vector pipelines, pixels for raster ones.
        self.assertGreater(report["totals"]["features_out"] +
                           report["totals"].get("pixels_out", 0), 0)
        self.assertGreaterEqual(report["totals"]["outputs"], 1)
        for st in report["stages"]:
            self.assertEqual(sum(st["live"].values()), 0, st)
        self.assertEqual(self.leftovers(), [])
        written = {os.path.relpath(os.path.join(d, n), self.dir)
                   for d, _, names in os.walk(self.dir) for n in names} - {"report.json"}

        oracle = getattr(self, oracle_name(p), None)
        self.assertIsNotNone(oracle, "no oracle for %s" % os.path.basename(p))
        self.work = self.path("oracle", os.path.splitext(os.path.basename(p))[0])
        os.makedirs(self.work)
        self.checked = set()
        self.pixels = {}
        oracle()
        self.assertEqual(sorted(written - self.checked), [], "outputs no oracle looked at")
        self.assertEqual(sorted(self.checked - written), [], "outputs not written")

    # -- comparing -----------------------------------------------------------------

    def ref(self, name):
        return os.path.join(self.work, name)

    def output(self, rel):
        """An output of the example, marked as checked."""
        self.checked.add(rel)
        self.assertTrue(os.path.exists(self.path(rel)), rel)
        return self.path(rel)

    def assertSameLayer(self, ours, layer, ref, ref_layer=None, added=()):
        """Same count, declared geometry type, CRS and fields (ours may have
        `added`, fields the oracle computes in the comparison instead)."""
        a, b = layer_meta(ours, layer), layer_meta(ref, ref_layer or layer)
        self.assertEqual(a["count"], b["count"], "feature count of %s" % ours)
        self.assertGreater(a["count"], 0)
        self.assertEqual(a["geometry"], b["geometry"], "geometry type of %s" % ours)
        self.assertIsNotNone(a["crs"], "CRS of %s" % ours)
        self.assertEqual(a["crs"], b["crs"], "CRS of %s" % ours)
        self.assertEqual(a["fields"], b["fields"] + list(added), "fields of %s" % ours)
        return a, b

    def assertRows(self, ours, ref, key=None, close=(), rel=1e-9):
        """Rows of feature_rows: the same features (by `key`, else in order)
        with equal fields, geometry types and vertex counts; areas,
        centroids and the `close` fields within `rel` of the oracle's (on
        the scale of the value: 4 mm on a UTM northing, 1e-7 degree on a
        longitude).  Both sides compute with GEOS and PROJ on the same
        input: what they give differs in the last bits, if at all."""
        self.assertEqual(len(ours), len(ref))
        if key:
            ours = sorted(ours, key=lambda r: r[key])
            ref = sorted(ref, key=lambda r: r[key])
            self.assertEqual([r[key] for r in ours], [r[key] for r in ref])
        measures = {"_area", "_x", "_y", "_npts", "_type"}
        for i, (a, b) in enumerate(zip(ours, ref)):
            what = "feature %d (%s)" % (i, a.get(key, "") if key else "")
            plain = [k for k in b if k not in measures and k not in close]
            self.assertEqual({k: a.get(k) for k in plain}, {k: b[k] for k in plain}, what)
            self.assertEqual(a["_type"], b["_type"], what)
            self.assertEqual(a["_npts"], b["_npts"], what)
            for k in ("_area", "_x", "_y") + tuple(close):
                if b[k] == "" or a[k] == "":
                    self.assertEqual(a[k], b[k], "%s: %s" % (what, k))
                    continue
                self.assertTrue(rel_close(float(a[k]), float(b[k]), rel),
                                "%s: %s %s, oracle %s" % (what, k, a[k], b[k]))

    def assertSameGrid(self, ours, ref, types=None):
        """Same size, geotransform, CRS, band count and band types."""
        a, b = raster_meta(ours), raster_meta(ref)
        self.assertEqual(a["size"], b["size"], "size of %s" % ours)
        for x, y in zip(a["geotransform"], b["geotransform"]):
            self.assertAlmostEqual(x, y, delta=1e-9 * abs(b["geotransform"][1]),
                                   msg="geotransform of %s" % ours)
        self.assertIsNotNone(a["crs"], "CRS of %s" % ours)
        self.assertEqual(a["crs"], b["crs"], "CRS of %s" % ours)
        self.assertEqual(a["types"], types or b["types"], "band types of %s" % ours)
        return a, b

    # -- the oracles, one per example ---------------------------------------------

    def oracle_quickstart(self):
        ours = self.output("out/quickstart.gpkg")
        ref = self.ref("ref.gpkg")
        # geometry_type auto: a shapefile's Polygon layer (holding
        # MultiPolygons too) is declared MultiPolygon.
        ogr2ogr("-f", "GPKG", ref, gptest.data("sids.shp"), "-t_srs", "EPSG:32617",
                "-nlt", "PROMOTE_TO_MULTI", "-nln", "sids")
        a, b = self.assertSameLayer(ours, "sids", ref)
        self.assertEqual(a["crs"], "EPSG:32617")
        self.assertRows(feature_rows(ours, "sids", a["geom"]),
                        feature_rows(ref, "sids", b["geom"]))

    def oracle_shapefiles_to_gpkg(self):
        ours = self.output("out/shapefiles.gpkg")
        ref = self.ref("ref.gpkg")
        # One layer per input, named after its stem; no reprojection.
        for i, stem in enumerate(("sids", "boston_tracts")):
            ogr2ogr("-f", "GPKG", *(["-update"] if i else []), ref,
                    gptest.data(stem + ".shp"), "-nlt", "PROMOTE_TO_MULTI", "-nln", stem)
        self.assertEqual(gptest.layer_names(ours), ["sids", "boston_tracts"])
        for stem in ("sids", "boston_tracts"):
            a, b = self.assertSameLayer(ours, stem, ref)
            self.assertEqual(a["crs"], "EPSG:4267")
            self.assertRows(feature_rows(ours, stem, a["geom"]),
                            feature_rows(ref, stem, b["geom"]), rel=0)

    def oracle_tracts_per_file(self):
        # Every shapefile the glob matches, one GeoJSON each, in RFC 7946
        # (7 decimals): the oracle writes the same options.
        stems = sorted(os.path.splitext(os.path.basename(s))[0]
                       for s in glob.glob(os.path.join(gptest.DATA, "*.shp")))
        self.assertGreaterEqual(len(stems), 3)
        for stem in stems:
            ours = self.output("out/tracts/%s.geojson" % stem)
            ref = self.ref(stem + ".geojson")
            ogr2ogr("-f", "GeoJSON", ref, gptest.data(stem + ".shp"), "-t_srs",
                    "EPSG:4326", "-nlt", "PROMOTE_TO_MULTI", "-nln", stem,
                    "-lco", "RFC7946=YES", "-lco", "COORDINATE_PRECISION=7")
            a, b = self.assertSameLayer(ours, stem, ref)
            self.assertEqual(a["crs"], "EPSG:4326")
            self.assertRows(feature_rows(ours, stem, a["geom"]),
                            feature_rows(ref, stem, b["geom"]))

    def oracle_world_to_laea(self):
        ours = self.output("out/europe-laea.gpkg")
        ref = self.ref("ref.gpkg")
        ogr2ogr("-f", "GPKG", ref, gptest.data("world.gpkg"), "-dialect", "OGRSQL", "-sql",
                "SELECT iso_a2, name_long AS name, pop AS population, area_km2 "
                "FROM world WHERE continent = 'Europe' AND pop >= 1000000",
                "-t_srs", "EPSG:3035", "-nln", "europe")
        a, b = self.assertSameLayer(ours, "europe", ref)
        self.assertEqual(a["crs"], "EPSG:3035")
        self.assertRows(feature_rows(ours, "europe", a["geom"]),
                        feature_rows(ref, "europe", b["geom"]))
        # Not vacuous: the filter dropped some of Europe's countries.
        europe = gptest.ogr_sql(gptest.data("world.gpkg"), "SELECT count(*) AS n FROM world "
                                "WHERE continent = 'Europe'")
        self.assertLess(a["count"], int(europe[0]["n"]))

    def oracle_cycle_hire_to_bng(self):
        ours = self.output("out/cycle_hire_bng.fgb")
        ref = self.ref("ref.fgb")
        ogr2ogr("-f", "FlatGeobuf", ref, gptest.data("cycle_hire.geojson"), "-sql",
                "SELECT id, name, area, nbikes AS bikes, nempty AS empty_docks "
                "FROM cycle_hire", "-t_srs", "EPSG:27700", "-nln", "cycle_hire",
                "-lco", "SPATIAL_INDEX=YES")
        a, b = self.assertSameLayer(ours, "cycle_hire", ref)
        self.assertEqual(a["crs"], "EPSG:27700")
        # FlatGeobuf's index stores features in its own order: by id.
        self.assertRows(feature_rows(ours, "cycle_hire", a["geom"]),
                        feature_rows(ref, "cycle_hire", b["geom"]), key="id")

    def oracle_county_labels(self):
        ours = self.output("out/county-labels.geojson")
        wgs, ref = self.ref("wgs84.gpkg"), self.ref("ref.geojson")
        ogr2ogr("-f", "GPKG", wgs, gptest.data("sids.shp"), "-t_srs", "EPSG:4326",
                "-nln", "sids")
        ogr2ogr("-f", "GeoJSON", ref, wgs, "-dialect", "SQLite", "-sql",
                "SELECT NAME, FIPS, ST_X(p) AS lon, ST_Y(p) AS lat, p AS geom FROM "
                "(SELECT NAME, FIPS, ST_PointOnSurface(geom) AS p FROM sids)",
                "-nln", "sids")
        a, b = self.assertSameLayer(ours, "sids", ref)
        self.assertEqual(a["crs"], "EPSG:4326")
        self.assertEqual(a["geometry"], "Point")   # GeoJSON: as ogrinfo says it
        rows = feature_rows(ours, "sids", a["geom"])
        self.assertRows(rows, feature_rows(ref, "sids", b["geom"]), close=("lon", "lat"))
        # The fields are the point's own coordinates.
        for r in rows:
            self.assertEqual((float(r["lon"]), float(r["lat"])), (float(r["_x"]), float(r["_y"])))
        # Points on the surface, not centroids: each is inside its county.
        inside = gptest.ogr_sql(wgs, "SELECT sum(ST_Within(ST_PointOnSurface(geom), geom)) "
                                     "AS n FROM sids")
        self.assertEqual(int(inside[0]["n"]), a["count"])

    def oracle_docks_catchment(self):
        ours = self.output("out/docks-catchment.gpkg")
        rejects = self.output("out/docks-catchment-rejects.gpkg")
        bng, ref = self.ref("bng.gpkg"), self.ref("ref.gpkg")
        ogr2ogr("-f", "GPKG", bng, gptest.data("cycle_hire.geojson"), "-t_srs",
                "EPSG:27700", "-nln", "docks", "-lco", "FID=fid")
        # SpatiaLite's ST_Buffer takes the segments a quadrant; the clip box
        # is BuildMbr; features left with nothing are dropped.
        ogr2ogr("-f", "GPKG", ref, bng, "-dialect", "SQLite", "-sql",
                "SELECT id, name, area, nbikes, nempty, ST_Area(g) AS catchment_m2, "
                "'data/cycle_hire.geojson' AS source, g AS geom FROM (SELECT *, "
                "ST_Intersection(ST_Buffer(geom, 300, 16), "
                "BuildMbr(522000, 175000, 539000, 186000)) AS g FROM docks) "
                "WHERE ST_Area(g) > 0", "-nlt", "MULTIPOLYGON", "-nln", "cycle_hire")
        a, b = self.assertSameLayer(ours, "cycle_hire", ref)
        self.assertEqual(a["crs"], "EPSG:27700")
        rows = feature_rows(ours, "cycle_hire", a["geom"])
        self.assertRows(rows, feature_rows(ref, "cycle_hire", b["geom"]), key="id",
                        close=("catchment_m2",))
        # The field is the area of the geometry written.
        for r in rows:
            self.assertTrue(rel_close(float(r["catchment_m2"]), float(r["_area"]), 1e-9), r)
        # Not vacuous: some docks were dropped by the clip, some cut by it.
        self.assertLess(a["count"], gptest.feature_count(gptest.data("cycle_hire.geojson")))
        full = math.pi * 300 ** 2
        self.assertTrue(any(float(r["_area"]) < 0.9 * full for r in rows))
        # Nothing failed: the rejects dataset is there, empty, with the
        # input's fields and the reason.
        m = layer_meta(rejects, gptest.layer_names(rejects)[0])
        self.assertEqual(m["count"], 0)
        for f in ("id", "name", "area", "nbikes", "nempty", "_step", "_reason"):
            self.assertIn(f, m["fields"])

    def oracle_counties_parts(self):
        ours = self.output("out/counties-parts.gpkg")
        work, utm, ref = self.ref("work.gpkg"), self.ref("utm.gpkg"), self.ref("ref.gpkg")
        # The outlines in the counties' CRS (NAD27), as clip and filter
        # transform them.
        ogr2ogr("-f", "GPKG", work, gptest.data("world.gpkg"), "world", "-t_srs",
                "EPSG:4267", "-nln", "world")
        # Valid counties only, their parts apart; the shapefile's FIDs (from
        # 0) are source_fid.
        ogr2ogr("-update", work, gptest.data("sids.shp"), "-dialect", "SQLite", "-sql",
                "SELECT rowid AS county_fid, NAME, FIPS, geometry FROM sids "
                "WHERE ST_IsValid(geometry)", "-explodecollections", "-nlt", "POLYGON",
                "-nln", "parts", "-lco", "GEOMETRY_NAME=geom")
        ogr2ogr("-update", work, work, "-dialect", "SQLite", "-sql",
                "SELECT NAME, FIPS, county_fid, ST_Intersection(p.geom, w.u) AS geom "
                "FROM parts p, (SELECT ST_Union(geom) AS u FROM world) w "
                "WHERE ST_Intersects(p.geom, w.u) ORDER BY p.fid",
                "-nlt", "MULTIPOLYGON", "-nln", "clipped")
        ogr2ogr("-f", "GPKG", utm, work, "clipped", "-t_srs", "EPSG:32617", "-nln", "utm")
        ogr2ogr("-f", "GPKG", ref, utm, "-dialect", "SQLite", "-sql",
                "SELECT NAME, FIPS, county_fid, ST_Area(geom) AS part_area_m2, geom "
                "FROM utm", "-nlt", "MULTIPOLYGON", "-nln", "parts")
        a, b = self.assertSameLayer(ours, "parts", ref)
        self.assertEqual(a["crs"], "EPSG:32617")
        rows = feature_rows(ours, "parts", a["geom"])
        self.assertRows(rows, feature_rows(ref, "parts", b["geom"]), close=("part_area_m2",))
        for r in rows:
            self.assertTrue(rel_close(float(r["part_area_m2"]), float(r["_area"]), 1e-9), r)
        # Not vacuous: more parts than counties, and some were cut.
        self.assertGreater(a["count"], 100)
        self.assertLess(len({r["county_fid"] for r in rows}), a["count"])

    def oracle_geometry_steps(self):
        ours = self.output("out/europe-generalised.gpkg")
        valid, dense = self.ref("valid.geojson"), self.ref("dense.geojson")
        laea, ref = self.ref("laea.gpkg"), self.ref("ref.gpkg")
        ogr2ogr("-f", "GeoJSON", valid, gptest.data("world.gpkg"), "-dialect", "SQLite",
                "-sql", "SELECT iso_a2, name_long AS name, pop AS population, "
                "ST_MakeValid(geom) AS geom FROM world WHERE continent = 'Europe'",
                "-nlt", "MULTIPOLYGON", "-lco", "RFC7946=NO", "-lco", "COORDINATE_PRECISION=15")
        # segmentize splits each segment longer than 0.5 into the fewest
        # equal parts no longer than 0.5 (GEOS's Densifier), and so does
        # this.  Neither tool here does the same: SpatiaLite's ST_Segmentize
        # (librttopo) puts a vertex every 0.5 from the segment's start and
        # leaves the remainder last, and ogr2ogr -segmentize lets segments
        # up to 1 % longer than asked stay whole.
        with open(valid) as f:
            gj = json.load(f)
        for ft in gj["features"]:
            ft["geometry"]["coordinates"] = [[densify(ring, 0.5) for ring in poly]
                                             for poly in ft["geometry"]["coordinates"]]
        with open(dense, "w") as f:
            json.dump(gj, f)
        ogr2ogr("-f", "GPKG", laea, dense, "-s_srs", "EPSG:4326", "-t_srs", "EPSG:3035",
                "-nln", "laea")
        ogr2ogr("-f", "GPKG", ref, laea, "-dialect", "SQLite", "-sql",
                "SELECT iso_a2, name, population, "
                "ST_SimplifyPreserveTopology(geom, 1000) AS geom FROM laea",
                "-nlt", "MULTIPOLYGON", "-nln", "europe")
        a, b = self.assertSameLayer(ours, "europe", ref)
        self.assertEqual(a["crs"], "EPSG:3035")
        self.assertRows(feature_rows(ours, "europe", a["geom"]),
                        feature_rows(ref, "europe", b["geom"]))

    def oracle_lux_elevation(self):
        ours = self.output("out/lux-elevation.gpkg")
        ref, zones = self.ref("ref.gpkg"), self.ref("zones.tif")
        stats = ("count", "min", "max", "mean", "std")
        ogr2ogr("-f", "GPKG", ref, gptest.data("lux.shp"), "-t_srs", "EPSG:3035",
                "-nlt", "PROMOTE_TO_MULTI", "-select", "NAME_1,NAME_2,POP", "-nln", "lux")
        a, b = self.assertSameLayer(ours, "lux", ref,
                                    added=["area_m2"] + ["elev_" + s for s in stats])
        self.assertEqual(a["crs"], "EPSG:3035")
        rows = feature_rows(ours, "lux", a["geom"])
        for r in rows:
            self.assertTrue(rel_close(float(r["area_m2"]), float(r["_area"]), 1e-9), r)
        self.assertRows(rows, feature_rows(ref, "lux", b["geom"]))
        # The DEM's pixels under each canton, by pixel centre: the cantons'
        # ID_2 burnt on the DEM's own grid, and the statistics of the
        # elevations under each value computed here, nodata left out.
        dem = gptest.raster_info(gptest.data("lux_elev.tif"))
        (w, h), gt = dem["size"], dem["geoTransform"]
        tool("gdal_rasterize", "-q", "-a", "ID_2", "-ot", "Int16", "-init", 0,
             "-te", gt[0], gt[3] + h * gt[5], gt[0] + w * gt[1], gt[3], "-ts", w, h,
             gptest.data("lux.shp"), zones)
        ids, = self.bands(zones)
        elev, = self.bands(gptest.data("lux_elev.tif"))
        nodata = dem["bands"][0]["noDataValue"]
        under = {}
        for z, v in zip(ids, elev):
            if z and v != nodata:
                under.setdefault(z, []).append(float(v))
        names = {int(float(r["ID_2"])): r["NAME_2"]
                 for r in gptest.ogr_sql(gptest.data("lux.shp"), "SELECT ID_2, NAME_2 FROM lux")}
        self.assertEqual(len(names), 12)
        by_name = {r["NAME_2"]: r for r in rows}
        for z, name in names.items():
            v = under[z]
            n, mean = len(v), math.fsum(v) / len(v)
            want = {"count": n, "min": min(v), "max": max(v), "mean": mean,
                    "std": math.sqrt(math.fsum((x - mean) ** 2 for x in v) / n)}
            got = by_name[name]
            self.assertEqual(int(got["elev_count"]), n, name)
            for s in stats[1:]:
                self.assertTrue(rel_close(float(got["elev_" + s]), want[s], 1e-9),
                                "%s: elev_%s %s, oracle %r" % (name, s, got["elev_" + s],
                                                               want[s]))

    def oracle_synthetic_benchmark(self):
        ours = self.output("out/synthetic-3035.gpkg")
        # The oracle of the reprojection: the same synthetic features,
        # written as they are generated by the same pipeline without its
        # reproject step, then reprojected by ogr2ogr.
        with open(os.path.join(gptest.SRC, "pipelines", "synthetic-benchmark.yaml")) as f:
            text, n = re.subn(r'\n  - reproject:\n      to: "EPSG:3035"\n', "\n", f.read())
        self.assertEqual(n, 1, "the example's reproject step, to take out")
        wgs, ref = self.ref("wgs84.gpkg"), self.ref("ref.gpkg")
        p = gptest.write_pipeline(self.work, text)
        # The oracle's run is not the one under test: no valgrind.
        r = self.gp("run", "-q", p, "--set", "count=2000", "--set", "out=" + wgs, wrap=False)
        self.assertExit(r, 0)
        ogr2ogr("-f", "GPKG", ref, wgs, "-t_srs", "EPSG:3035")
        a, b = self.assertSameLayer(ours, "synthetic", ref)
        self.assertEqual(a["crs"], "EPSG:3035")
        self.assertEqual(a["count"], 2000)
        self.assertRows(feature_rows(ours, "synthetic", a["geom"]),
                        feature_rows(ref, "synthetic", b["geom"]))
        # Polygons of 24 points (test_steps checks the rest of what the
        # source promises), with distinct ids.
        src = feature_rows(wgs, "synthetic", layer_meta(wgs, "synthetic")["geom"])
        self.assertEqual({(r["_type"], r["_npts"]) for r in src}, {("POLYGON", "24")})
        self.assertEqual(len({r["id"] for r in src}), 2000)

    # -- rasters -------------------------------------------------------------------

    def cutline_oracle(self, out, where=None):
        """lux_elev.tif clipped by the cantons of lux.shp (those `where`
        picks) as clip does it: cropped to the pixels whose centre is in the
        cantons' envelope, on the DEM's own grid, then gdalwarp -cutline on
        exactly that grid."""
        dem = gptest.raster_info(gptest.data("lux_elev.tif"))
        env = envelope(gptest.data("lux.shp"), "lux", "GEOMETRY", where)
        c, r, w, h = centre_window(dem["geoTransform"], dem["size"], env)
        g = dem["geoTransform"]
        gt = [g[0] + c * g[1], g[1], 0.0, g[3] + r * g[5], 0.0, g[5]]
        warp_pinned(gptest.data("lux_elev.tif"), out, gt, (w, h), "-cutline",
                    gptest.data("lux.shp"), *(["-cwhere", where] if where else []))
        return out

    def bands(self, path):
        """raster_bands, read once per example."""
        if path not in self.pixels:
            self.pixels[path] = raster_bands(path, self.work)
        return self.pixels[path]

    def assertPixels(self, ours, ref, nodata=None):
        """Every band the same, pixel for pixel (NaN and nodata included)."""
        a, b = self.bands(ours), self.bands(ref)
        self.assertEqual(len(a), len(b), "bands of %s" % ours)
        for band, (x, y) in enumerate(zip(a, b), 1):
            n, mean, worst, mismatch = gptest.compare_rasters(x, y, nodata)
            self.assertGreater(n, 0)
            self.assertEqual(worst, 0, "band %d of %s" % (band, ours))
            self.assertEqual(mismatch, 0, "nodata pixels of band %d of %s" % (band, ours))

    def oracle_lux_canton_dem(self):
        ours = self.output("out/dem-Clervaux.tif")
        ref = self.cutline_oracle(self.ref("ref.tif"), "NAME_2 = 'Clervaux'")
        a, b = self.assertSameGrid(ours, ref)
        self.assertEqual(a["types"], ["Int16"])
        self.assertEqual(a["crs"], "EPSG:4326")
        self.assertEqual(a["nodata"], [-32768])
        self.assertEqual(a["compression"], "DEFLATE")
        self.assertPixels(ours, ref)
        # Not vacuous: some pixels kept, some cut away.
        v, = self.bands(ours)
        self.assertLess(0, sum(x != -32768 for x in v))
        self.assertLess(sum(x != -32768 for x in v), len(v))

    def oracle_lux_dem_laea(self):
        ours = self.output("out/lux-dem-laea-feet.tif")
        clip, warp = self.cutline_oracle(self.ref("clip.tif")), self.ref("warp.tif")
        tool("gdalwarp", "-q", "-t_srs", "EPSG:3035", "-r", "bilinear", "-tr", 250, 250,
             "-tap", clip, warp)
        a, b = self.assertSameGrid(ours, warp, types=["Float32"])
        self.assertEqual(a["crs"], "EPSG:3035")
        self.assertEqual(a["layout"], "COG")
        self.assertEqual(a["nodata"], [-32768])
        # calc in doubles, written as Float32, nodata left as it is.  The
        # raster is small enough for both tools to warp it in one piece, with
        # the same approximation of the transformation: the same pixels.
        metres, = self.bands(warp)
        want = array.array("f", (v if v == -32768 else v * 3.28084 for v in metres))
        n, mean, worst, mismatch = gptest.compare_rasters(self.bands(ours)[0], want, -32768)
        self.assertGreater(n, 1000)
        self.assertEqual((worst, mismatch), (0.0, 0))

    def oracle_lux_elevation_feet(self):
        ours = self.output("out/lux_elev_ft.tif")
        src = gptest.data("lux_elev.tif")
        a, b = self.assertSameGrid(ours, src)
        self.assertEqual(a["types"], ["Int16"])
        self.assertEqual(a["nodata"], [None])
        # metres * 3.28084 in doubles, stored as Float32, rounded to the
        # nearest (halves away from zero) in Int16; nodata becomes 0.
        want = [0 if v == -32768 else round_half_away(f32(v * 3.28084))
                for v in self.bands(src)[0]]
        got = list(self.bands(ours)[0])
        self.assertEqual(len(got), len(want))
        diff = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
        self.assertEqual(diff[:10], [], "%d pixels differ (index, ours, oracle)" % len(diff))
        self.assertEqual(max(got), round_half_away(f32(547 * 3.28084)))

    def oracle_olinda_ndvi(self):
        ours = self.output("out/olinda_ndvi.tif")
        src = gptest.data("olinda_l7.tif")
        a, b = self.assertSameGrid(ours, src, types=["Float32"])
        self.assertEqual(a["compression"], "DEFLATE")
        red, nir = self.bands(src)[2:4]
        nan = float("nan")
        want = array.array("f", ((n - r) / (n + r) if n + r else nan for n, r in zip(nir, red)))
        n, mean, worst, mismatch = gptest.compare_rasters(self.bands(ours)[0], want)
        self.assertEqual(n + sum(x != x for x in want), len(want))
        self.assertEqual((worst, mismatch), (0.0, 0))
        # Not vacuous: vegetation and water both.
        self.assertGreater(max(want), 0.3)
        self.assertLess(min(x for x in want if x == x), 0)

    def oracle_olinda_dem_wgs84(self):
        ours = self.output("out/olinda-dem-wgs84.tif")
        ref = self.ref("ref.tif")
        tool("gdalwarp", "-q", "-t_srs", "EPSG:4326", "-r", "bilinear", "-tr", 0.0008, 0.0008,
             "-tap", "-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "PREDICTOR=YES",
             gptest.data("olinda_dem.tif"), ref)
        a, b = self.assertSameGrid(ours, ref, types=["Float32"])
        self.assertEqual(a["crs"], "EPSG:4326")
        self.assertEqual((a["layout"], a["compression"]), ("COG", "DEFLATE"))
        self.assertEqual(a["nodata"], b["nodata"])
        # The same warp kernel with the same approximation of the
        # transformation, on a raster small enough for one piece: the same
        # pixels.
        self.assertPixels(ours, ref, nodata=b["nodata"][0])

    def oracle_olinda_l7_coarse(self):
        ours = self.output("out/olinda-l7-90m.tif")
        bands, ref = self.ref("bands.vrt"), self.ref("ref.tif")
        tool("gdal_translate", "-q", "-of", "VRT", "-b", 4, "-b", 3, "-b", 2,
             gptest.data("olinda_l7.tif"), bands)
        # olinda_l7.tif has overviews, and gdalwarp by default (-ovr AUTO)
        # averages the pixels of the overview nearest the target resolution
        # (57 m) rather than the source's own: up to 55 apart in a Byte
        # band.  resample averages the source's pixels, as -ovr NONE does.
        tool("gdalwarp", "-q", "-tr", 90, 90, "-r", "average", "-ovr", "NONE", bands, ref)
        a, b = self.assertSameGrid(ours, ref, types=["Byte"] * 3)
        self.assertEqual(a["crs"], "EPSG:31985")
        self.assertEqual(a["blocks"], [[128, 128]] * 3)
        self.assertEqual(a["compression"], "LZW")
        self.assertPixels(ours, ref)


if __name__ == "__main__":
    gptest.main()
