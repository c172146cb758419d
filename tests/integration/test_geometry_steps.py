"""The geometry steps simplify, centroid, make_valid and segmentize against
SpatiaLite's answers (ST_Simplify, ST_SimplifyPreserveTopology, ST_Centroid,
ST_PointOnSurface, ST_MakeValid, ST_Segmentize through ogr2ogr's SQLite
dialect) on data/sids.shp in UTM 17N, and against their own promises on
hand-made broken geometries."""
import json
import math
import os
import shutil
import sqlite3
import struct
import tempfile
import unittest

import gptest

SIDS = gptest.data("sids.shp")
UTM = "EPSG:32617"

# Hand-made geometries for make_valid (and the NULL / failure tests).  The
# first five are invalid; GEOS cannot even read the unclosed and two-point
# rings.
BROKEN = [
    ("bowtie", "POLYGON((0 0,10 10,10 0,0 10,0 0))"),
    ("selfint", "POLYGON((0 0,10 0,10 10,5 10,5 -5,0 -5,0 0))"),
    ("spike", "POLYGON((0 0,10 0,10 10,5 10,5 20,5 10,0 10,0 0))"),
    ("fewpoints", "POLYGON((0 0,10 0,0 0))"),
    ("unclosed", "POLYGON((0 0,10 0,10 10))"),
    ("twopoints", "POLYGON((0 0,10 0))"),
    ("holeout", "POLYGON((0 0,10 0,10 10,0 10,0 0),(20 20,21 20,21 21,20 20))"),
    ("empty", "POLYGON EMPTY"),
    ("null", ""),
    ("valid", "POLYGON((0 0,10 0,10 10,0 10,0 0))"),
    ("validmulti", "MULTIPOLYGON(((0 0,10 0,10 10,0 10,0 0)),((20 20,30 20,30 30,20 20)))"),
]
VALID_KINDS = ("empty", "valid", "validmulti")


def sql(path, query):
    return gptest.ogr_sql(path, query)


def make_layer(path, rows, nlt=None, name="t"):
    """A GeoPackage layer in UTM 17N from (kind, WKT) rows, through a CSV."""
    csv = path + ".csv"
    with open(csv, "w") as f:
        f.write("id,kind,WKT\n")
        for i, (kind, wkt) in enumerate(rows, 1):
            f.write('%d,%s,"%s"\n' % (i, kind, wkt))
    args = ["-f", "GPKG", path, csv, "-nln", name, "-a_srs", UTM, "-oo", "GEOM_POSSIBLE_NAMES=WKT",
            "-oo", "KEEP_GEOM_COLUMNS=NO", "-oo", "AUTODETECT_TYPE=YES"]
    if nlt:
        args += ["-nlt", nlt]
    gptest.ogr2ogr(*args)
    return path


def parts(geom):
    """The point sequences (lines, rings) of a GeoJSON geometry."""
    if geom is None:
        return []
    t, c = geom["type"], geom.get("coordinates")
    if t == "GeometryCollection":
        return [s for g in geom["geometries"] for s in parts(g)]
    if t in ("Point", "MultiPoint"):
        return []
    if t == "LineString":
        return [c]
    if t in ("Polygon", "MultiLineString"):
        return list(c)
    return [ring for poly in c for ring in poly]  # MultiPolygon


def near(a, b, tol=1e-6):
    return abs(a[0] - b[0]) <= tol and abs(a[1] - b[1]) <= tol


class GeometrySteps(gptest.TempDirTest):
    @classmethod
    def setUpClass(cls):
        # The reference: data/sids.shp in UTM 17N, reprojected by ogr2ogr.
        cls.refdir = tempfile.mkdtemp(prefix="gispipe-geo-ref-")
        cls.ref = os.path.join(cls.refdir, "sids_utm.gpkg")
        gptest.ogr2ogr("-f", "GPKG", cls.ref, SIDS, "-t_srs", UTM, "-nln", "sids", "-nlt",
                       "PROMOTE_TO_MULTI")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.refdir, ignore_errors=True)

    def ours(self, step, src=SIDS, reproject=True, out="out.gpkg", code=0):
        """Run read [reproject] STEP write; the output path (None on failure)."""
        middle = '  - reproject: { to: "%s" }\n' % UTM if reproject else ""
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: "{src}" }}
{middle}  - {step}
  - write: {{ path: {out}, layer: t, mode: overwrite }}
""", out + ".yaml")
        r = self.gp("run", "-q", p, "--report", self.path("report.json"))
        self.assertExit(r, code)
        with open(self.path("report.json")) as f:
            rep = json.load(f)
        for st in rep["stages"]:
            self.assertEqual(sum(st["live"].values()), 0, st)
        self.last = r
        return self.path(out) if code == 0 else None

    def broken(self, nlt="MULTIPOLYGON"):
        return make_layer(self.path("broken.gpkg"), BROKEN, nlt=nlt)

    def declared(self, path, layer="t"):
        for line in gptest.ogr_info(path, layer).splitlines():
            if line.startswith("Geometry: "):
                return line[len("Geometry: "):]
        return None

    # -- simplify ----------------------------------------------------------------

    def test_simplify_matches_spatialite(self):
        # Same algorithms (GEOS through SpatiaLite): the same vertices,
        # feature by feature.
        for tol in gptest.valgrind_sample((2000, 10000), 0):
            for preserve, fn in (("true", "ST_SimplifyPreserveTopology"),
                                 ("false", "ST_Simplify")):
                with self.subTest(tolerance=tol, preserve_topology=preserve):
                    out = self.ours("simplify: { tolerance: %d, preserve_topology: %s }"
                                    % (tol, preserve))
                    got = sql(out, "SELECT ST_NPoints(geom) AS n, ST_Area(geom) AS a FROM t")
                    want = sql(self.ref, "SELECT ST_NPoints(%s(geom, %d)) AS n, "
                                         "ST_Area(%s(geom, %d)) AS a FROM sids"
                               % (fn, tol, fn, tol))
                    self.assertEqual(len(got), 100)
                    self.assertEqual(len(want), 100)
                    self.assertEqual([int(r["n"]) for r in got], [int(r["n"]) for r in want])
                    ga = sum(float(r["a"]) for r in got)
                    wa = sum(float(r["a"]) for r in want)
                    self.assertAlmostEqual(ga / wa, 1.0, delta=1e-9)
                    self.assertEqual(self.declared(out), "Multi Polygon")

    def test_simplify_removes_vertices_and_defaults_to_preserving(self):
        before = int(sql(self.ref, "SELECT sum(ST_NPoints(geom)) AS n FROM sids")[0]["n"])
        n = {}
        for opts in ("tolerance: 10000", "tolerance: 10000, preserve_topology: true",
                     "tolerance: 10000, preserve_topology: false"):
            out = self.ours("simplify: { %s }" % opts)
            n[opts] = int(sql(out, "SELECT sum(ST_NPoints(geom)) AS n FROM t")[0]["n"])
        plain = n["tolerance: 10000, preserve_topology: false"]
        self.assertLess(n["tolerance: 10000"], before / 2)
        self.assertEqual(n["tolerance: 10000"], n["tolerance: 10000, preserve_topology: true"])
        self.assertNotEqual(n["tolerance: 10000"], plain)

    # -- centroid ----------------------------------------------------------------

    def test_centroid_and_point_on_surface_match_spatialite(self):
        for opts, fn in (("", "ST_Centroid"), ("{ point_on_surface: true }",
                                               "ST_PointOnSurface")):
            with self.subTest(fn=fn):
                out = self.ours("centroid: %s" % opts)
                got = sql(out, "SELECT ST_X(geom) AS x, ST_Y(geom) AS y FROM t")
                want = sql(self.ref, "SELECT ST_X(%s(geom)) AS x, ST_Y(%s(geom)) AS y "
                                     "FROM sids" % (fn, fn))
                self.assertEqual(len(got), 100)
                self.assertEqual(len(want), 100)
                for g, w in zip(got, want):
                    self.assertLess(abs(float(g["x"]) - float(w["x"])), 0.001)
                    self.assertLess(abs(float(g["y"]) - float(w["y"])), 0.001)
                self.assertEqual(self.declared(out), "Point")
        # Points on surface are inside their county; centroids need not be.
        inside = sql(self.ref, "SELECT sum(ST_Within(ST_PointOnSurface(geom), geom)) AS n "
                               "FROM sids")
        self.assertEqual(int(inside[0]["n"]), 100)

    def test_centroid_keeps_the_z_flag(self):
        src = make_layer(self.path("z.gpkg"), [
            ("poly", "POLYGON Z ((0 0 1,10 0 2,10 10 3,0 10 4,0 0 1))"),
            ("line", "LINESTRING Z (0 0 1,10 0 2,10 10 3)")], nlt="GEOMETRYZ")
        out = self.ours("centroid: { point_on_surface: true }", src=src, reproject=False)
        self.assertEqual(self.declared(out), "3D Point")
        gj = self.geojson(out)
        self.assertEqual(gj["features"][0]["geometry"]["coordinates"][:2], [5, 5])
        # A point on a line is one of its vertices, Z and all.
        self.assertEqual(gj["features"][1]["geometry"]["coordinates"], [10, 0, 2])
        out = self.ours("centroid:", src=src, reproject=False, out="c.gpkg")
        self.assertEqual(self.declared(out), "3D Point")

    # -- make_valid --------------------------------------------------------------

    def test_make_valid_repairs_everything(self):
        src = self.broken()
        invalid_before = sql(src, "SELECT count(*) AS n FROM t WHERE ST_IsValid(geom) = 0 "
                                  "AND kind NOT IN ('empty')")
        self.assertGreaterEqual(int(invalid_before[0]["n"]), 5)
        out = self.ours("make_valid:", src=src, reproject=False)
        self.assertEqual(gptest.feature_count(out), len(BROKEN))
        self.assertEqual(self.declared(out), "Multi Polygon")
        gj = self.geojson(out)
        kinds = [f["properties"]["kind"] for f in gj["features"]]
        self.assertEqual(kinds, [k for k, _ in BROKEN])
        geoms = {f["properties"]["kind"]: f["geometry"] for f in gj["features"]}
        # NULL stays NULL; what collapsed entirely is empty.
        self.assertIsNone(geoms["null"])
        empty = {k for k, g in geoms.items() if g is not None and not parts(g)}
        self.assertEqual(empty, {"fewpoints", "twopoints", "empty"})
        # SpatiaLite finds every other geometry valid (it calls empty ones
        # invalid, and NULL -1).
        bad = sql(out, "SELECT kind FROM t WHERE ST_IsValid(geom) != 1")
        self.assertEqual({r["kind"] for r in bad} - empty, {"null"})
        # Valid geometries are untouched, byte for byte.
        q = "SELECT kind, hex(ST_AsBinary(geom)) AS b FROM t WHERE kind IN ('valid', 'validmulti')"
        self.assertEqual(sql(out, q), sql(src, q))
        self.assertEqual(geoms["valid"], self.geojson(src)["features"][9]["geometry"])
        # Areas: the bow-tie is two triangles, as SpatiaLite makes it; the
        # spike is cut off; the unclosed ring was closed.
        q = "SELECT kind, ST_Area(geom) AS a FROM t"
        area = {r["kind"]: float(r["a"] or 0) for r in sql(out, q)}
        ref = float(sql(src, "SELECT ST_Area(ST_MakeValid(geom)) AS a FROM t "
                             "WHERE kind = 'bowtie'")[0]["a"])
        self.assertAlmostEqual(ref, 50.0)
        self.assertAlmostEqual(area["bowtie"] / ref, 1.0, delta=0.001)
        self.assertAlmostEqual(area["selfint"], 75.0)
        self.assertAlmostEqual(area["spike"], 100.0)
        self.assertAlmostEqual(area["unclosed"], 50.0)
        self.assertAlmostEqual(area["holeout"], 100.5)

    def test_make_valid_keep_collapsed(self):
        src = self.broken(nlt=None)
        out = self.ours("make_valid: { keep_collapsed: true }", src=src, reproject=False)
        self.assertEqual(self.declared(out), "Unknown (any)")
        geoms = {f["properties"]["kind"]: f["geometry"] for f in self.geojson(out)["features"]}
        self.assertEqual(geoms["fewpoints"]["type"], "LineString")
        self.assertEqual(geoms["twopoints"]["type"], "LineString")
        self.assertEqual(geoms["bowtie"]["type"], "MultiPolygon")
        self.assertIsNone(geoms["null"])
        bad = sql(out, "SELECT kind FROM t WHERE ST_IsValid(geom) != 1")
        self.assertEqual({r["kind"] for r in bad}, {"null", "empty"})

    def test_make_valid_drops_non_finite_coordinates(self):
        # WKT cannot say NaN: the blobs are written into the GeoPackage
        # directly (standard GeoPackage header, no envelope, then WKB).
        src = make_layer(self.path("nan.gpkg"), [("nan", BROKEN[9][1]), ("inf", BROKEN[9][1])])
        db = sqlite3.connect(src)
        for fn in ("ST_IsEmpty", "ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):
            db.create_function(fn, 1, lambda g: 0)  # used by the R-tree triggers
        for kind, bad in (("nan", float("nan")), ("inf", float("inf"))):
            pts = [(0, 0), (10, 0), (bad, 10), (0, 10), (0, 0)]
            wkb = struct.pack("<BIII", 1, 3, 1, len(pts)) + b"".join(
                struct.pack("<dd", x, y) for x, y in pts)
            blob = b"GP\x00\x01" + struct.pack("<i", 32617) + wkb
            db.execute("UPDATE t SET geom = ? WHERE kind = ?", (blob, kind))
        db.commit()
        db.close()
        out = self.ours("make_valid:", src=src, reproject=False)
        for f in self.geojson(out)["features"]:
            ring = parts(f["geometry"])
            self.assertEqual(len(ring), 1)
            self.assertEqual(sorted(map(tuple, ring[0][:-1])), [(0, 0), (0, 10), (10, 0)])
        self.assertEqual(sql(out, "SELECT kind FROM t WHERE ST_IsValid(geom) != 1"), [])

    def test_make_valid_leaves_valid_data_alone(self):
        out = self.ours("make_valid:")
        q = "SELECT hex(ST_AsBinary(geom)) AS b FROM t"
        ref = self.ours("select: { keep: [NAME] }", out="plain.gpkg")
        self.assertEqual(sql(out, q), sql(ref, q))
        self.assertEqual(len(sql(out, q)), 100)

    # -- segmentize --------------------------------------------------------------

    def test_segmentize_properties_and_spatialite(self):
        step = 1000.0
        out = self.ours("segmentize: { max_length: %g }" % step)
        got, ref = self.geojson(out)["features"], self.geojson(self.ref)["features"]
        self.assertEqual(len(got), 100)
        longest = 0.0
        for g, r in zip(got, ref):
            gp, rp = parts(g["geometry"]), parts(r["geometry"])
            self.assertEqual(len(gp), len(rp))
            for gs, rs in zip(gp, rp):
                self.assertGreaterEqual(len(gs), len(rs))
                # The input's vertices are all there, in order.
                it = iter(gs)
                self.assertTrue(all(any(near(v, w) for w in it) for v in rs))
                for a, b in zip(gs, gs[1:]):
                    longest = max(longest, math.hypot(b[0] - a[0], b[1] - a[1]))
        self.assertLessEqual(longest, step * (1 + 1e-9))
        self.assertGreater(longest, step * 0.9)
        got_a = sql(out, "SELECT ST_Area(geom) AS a, ST_NPoints(geom) AS n FROM t")
        want = sql(self.ref, "SELECT ST_Area(geom) AS a, ST_NPoints(geom) AS n, "
                             "ST_Area(ST_Segmentize(geom, %g)) AS sa FROM sids" % step)
        self.assertEqual(len(got_a), len(want))
        for g, w in zip(got_a, want):
            self.assertAlmostEqual(float(g["a"]) / float(w["a"]), 1.0, delta=1e-9)
            self.assertAlmostEqual(float(g["a"]) / float(w["sa"]), 1.0, delta=1e-9)
        total = sum(int(g["n"]) for g in got_a)
        self.assertGreater(total, 2 * sum(int(w["n"]) for w in want))

    def test_segmentize_interpolates_z_and_does_not_mend(self):
        src = make_layer(self.path("s.gpkg"), [
            ("line", "LINESTRING Z (0 0 0,10 0 10)"),
            ("bowtie", "POLYGON((0 0,10 10,10 0,0 10,0 0))")], nlt="GEOMETRYZ")
        out = self.ours("segmentize: { max_length: 3 }", src=src, reproject=False)
        f = self.geojson(out)["features"]
        self.assertEqual(f[0]["geometry"]["coordinates"],
                         [[0, 0, 0], [2.5, 0, 2.5], [5, 0, 5], [7.5, 0, 7.5], [10, 0, 10]])
        # GEOS's Densify would have mended the bow-tie into one triangle.
        ring = parts(f[1]["geometry"])
        self.assertEqual(len(ring), 1)
        # Diagonals of 14.1 in 5 parts, sides of 10 in 4, and the closing point.
        self.assertEqual(len(ring[0]), 5 + 4 + 5 + 4 + 1)
        for v in ([0, 0], [10, 10], [10, 0], [0, 10]):
            self.assertIn(v, [c[:2] for c in ring[0]])

    # -- all four ----------------------------------------------------------------

    STEPS = ("simplify: { tolerance: 1 }", "centroid:", "make_valid:",
             "segmentize: { max_length: 3 }")

    def test_null_geometries_pass(self):
        src = make_layer(self.path("n.gpkg"), [("null", ""), ("valid", BROKEN[9][1]),
                                               ("null", "")])
        for step in self.STEPS:
            with self.subTest(step=step):
                out = self.ours(step, src=src, reproject=False)
                gj = self.geojson(out)
                self.assertEqual([f["geometry"] is None for f in gj["features"]],
                                 [True, False, True])

    def test_a_geometry_geos_cannot_process_fails_its_feature(self):
        # GEOS cannot read an unclosed ring (make_valid closes it).
        src = make_layer(self.path("u.gpkg"), [("valid", BROKEN[9][1]),
                                               ("unclosed", BROKEN[4][1])])
        for step in self.STEPS:
            if step == "make_valid:":
                continue
            with self.subTest(step=step):
                self.ours(step, src=src, reproject=False, code=gptest.EX_DATAERR)
                self.assertIn("on feature 2 of layer 't'", self.last.err)
                self.assertIn("Points of LinearRing do not form a closed linestring",
                              self.last.err)
                self.assertEqual(self.leftovers(), [])
                self.assertFalse(os.path.exists(self.path("out.gpkg")))
        # A line of one repeated point: GEOS's Densify refuses it.
        src = make_layer(self.path("l.gpkg"), [("line", "LINESTRING(0 0,0 0)")])
        self.ours("segmentize: { max_length: 3 }", src=src, reproject=False,
                  code=gptest.EX_DATAERR)
        self.assertIn("point array must contain 0 or >1 elements", self.last.err)
        # A result too big for one geometry is refused before GEOS makes it.
        self.ours("segmentize: { max_length: 0.001 }", code=gptest.EX_DATAERR)
        self.assertIn("the memory plan allows one geometry", self.last.err)

    def test_with_on_error_reject_only_that_feature_goes(self):
        src = self.broken()
        p = self.pipeline(f"""version: 1
on_error: reject
rejects: {{ path: rejects.gpkg }}
steps:
  - read: {{ path: "{src}" }}
  - simplify: {{ tolerance: 1 }}
  - write: {{ path: out.gpkg, layer: t }}
""")
        self.assertExit(self.gp("run", "-q", p), 0)
        self.assertEqual(gptest.feature_count(self.path("out.gpkg")), len(BROKEN) - 2)
        rej = self.geojson(self.path("rejects.gpkg"))["features"]
        self.assertEqual([f["properties"]["kind"] for f in rej], ["unclosed", "twopoints"])
        for f in rej:
            self.assertEqual(f["properties"]["_step"], "simplify")
            self.assertIn("do not form a closed linestring", f["properties"]["_reason"])
            self.assertIsNotNone(f["geometry"])

    def test_stages_lists_the_options(self):
        for step, opts in (("simplify", ["tolerance", "preserve_topology", "[default: true]"]),
                           ("centroid", ["point_on_surface", "[default: false]"]),
                           ("make_valid", ["keep_collapsed", "[default: false]"]),
                           ("segmentize", ["max_length", "(required)"])):
            with self.subTest(step=step):
                r = self.gp("stages", step)
                self.assertExit(r, 0)
                for o in opts:
                    self.assertIn(o, r.out)
        r = self.gp("stages")
        self.assertExit(r, 0)
        for step in ("simplify", "centroid", "make_valid", "segmentize"):
            self.assertIn("\n  %s " % step, r.out)

    def test_bad_option_values(self):
        for step, msg in (
                ("simplify: { tolerance: -1 }", "'tolerance' in step 'simplify' must not be"),
                ("simplify: { preserve_topology: true }", "needs 'tolerance'"),
                ("simplify: { tolerance: 1, preserve_topology: maybe }", "preserve_topology"),
                ("simplify: { tolerence: 1 }", "did you mean 'tolerance'?"),
                ("centroid: { point_on_surface: 2 }", "point_on_surface"),
                ("make_valid: { keep_colapsed: true }", "did you mean 'keep_collapsed'?"),
                ("segmentize: { max_length: 0 }", "must be greater than 0"),
                ("segmentize:", "needs options")):
            with self.subTest(step=step):
                p = self.pipeline("version: 1\nsteps:\n  - read: { path: \"%s\" }\n  - %s\n"
                                  "  - write: { path: o.gpkg }\n" % (SIDS, step))
                r = self.gp("validate", p)
                self.assertExit(r, gptest.EX_CONFIG)
                self.assertIn(msg, r.err)
                r = self.gp("run", "-q", p)
                self.assertExit(r, gptest.EX_CONFIG)
                self.assertFalse(os.path.exists(self.path("o.gpkg")))


if __name__ == "__main__":
    gptest.main()
