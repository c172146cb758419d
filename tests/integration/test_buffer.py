"""buffer against SpatiaLite's ST_Buffer (GEOS through ogr2ogr's SQLite
dialect) on real data, and against geometry for points and lines."""
import math
import re

import gptest


def total_area(path, layer):
    out = gptest.ogrinfo("-q", "-dialect", "SQLite", "-sql",
                         'SELECT sum(ST_Area(geom)) AS a, count(*) AS n FROM "%s"' % layer, path)
    a = float(re.search(r"a \(Real\) = ([-0-9.e+]+)", out).group(1))
    n = int(re.search(r"n \(Integer\) = (\d+)", out).group(1))
    return a, n


def areas(path, layer):
    """Each feature's area, in FID order (totals would let errors cancel)."""
    out = gptest.ogrinfo("-q", "-dialect", "SQLite", "-sql",
                         'SELECT ST_Area(geom) AS a FROM "%s" ORDER BY fid' % layer, path)
    return [float(v) for v in re.findall(r"a \(Real\) = ([-0-9.e+]+)", out)]


class Buffer(gptest.TempDirTest):
    def assertEachClose(self, ours, theirs, rel):
        self.assertEqual(len(ours), len(theirs))
        for i, (a, b) in enumerate(zip(ours, theirs)):
            self.assertAlmostEqual(a, b, delta=rel * abs(b), msg="feature %d" % i)

    def ours(self, opts, src=None, to="EPSG:32617", name="ours.gpkg"):
        src = src or gptest.data("sids.shp")
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: "{src}" }}
  - reproject: {{ to: "{to}" }}
  - buffer: {opts}
  - write: {{ path: {name}, layer: b, mode: overwrite }}
""", name + ".yaml")
        r = self.gp("run", "-q", p, "--report", "r.json")
        self.assertExit(r, 0)
        return total_area(self.path(name), "b")

    def spatialite(self, sql_expr, name="ref.gpkg", src=None, layer="sids"):
        src = src or gptest.data("sids.shp")
        gptest.ogr2ogr("-f", "GPKG", "-nln", "b", self.path(name), src, "-dialect", "SQLite",
                       "-sql", "SELECT %s AS geom FROM \"%s\"" % (sql_expr, layer))
        return total_area(self.path(name), "b")

    def test_positive_distance_matches_spatialite(self):
        # SpatiaLite's ST_Buffer uses 30 segments a quadrant.
        a, n = self.ours("{ distance: 1000, segments: 30 }")
        ra, rn = self.spatialite("ST_Buffer(ST_Transform(geometry, 32617), 1000)")
        self.assertEqual(n, 100)
        self.assertEqual(rn, 100)
        self.assertEachClose(areas(self.path("ours.gpkg"), "b"),
                             areas(self.path("ref.gpkg"), "b"), 0.001)

    def test_negative_distance_shrinks(self):
        a, n = self.ours("{ distance: -500, segments: 30 }")
        ra, _ = self.spatialite("ST_Buffer(ST_Transform(geometry, 32617), -500)")
        orig, _ = self.spatialite("ST_Transform(geometry, 32617)", "orig.gpkg")
        self.assertEqual(n, 100)
        self.assertLess(a, orig)
        self.assertEachClose(areas(self.path("ours.gpkg"), "b"),
                             areas(self.path("ref.gpkg"), "b"), 0.001)

    def test_points_become_discs(self):
        a, n = self.ours("{ distance: 50, segments: 64 }", src=gptest.data("cycle_hire.geojson"),
                         to="EPSG:27700")
        self.assertEqual(n, 742)
        # A 256-gon of radius 50 is within 0.01 % of the circle.
        self.assertEachClose(areas(self.path("ours.gpkg"), "b"), [math.pi * 50 ** 2] * 742,
                             0.0002)

    def test_end_caps(self):
        lines = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: line, count: 50, vertices: 2, crs: "EPSG:3035",
                         extent: [4000000, 3000000, 4100000, 3100000] } }
  - write: { path: lines.gpkg, layer: l }
""", "lines.yaml")
        self.assertExit(self.gp("run", "-q", lines), 0)
        src = self.path("lines.gpkg")
        flat, _ = self.ours("{ distance: 10, end_cap: flat }", src=src, to="EPSG:3035",
                            name="flat.gpkg")
        rnd, _ = self.ours("{ distance: 10, end_cap: round, segments: 64 }", src=src,
                           to="EPSG:3035", name="round.gpkg")
        sq, _ = self.ours("{ distance: 10, end_cap: square }", src=src, to="EPSG:3035",
                          name="square.gpkg")
        # Two half discs (round) or two half squares (square) beyond flat.
        self.assertAlmostEqual((rnd - flat) / (50 * math.pi * 100), 1.0, delta=0.001)
        self.assertAlmostEqual((sq - flat) / (50 * 4 * 100), 1.0, delta=1e-6)

    def test_bad_options(self):
        p = self.pipeline("version: 1\nsteps:\n  - read: { synthetic: {} }\n"
                          "  - buffer: { distance: 1, end_cap: butt }\n"
                          "  - write: { path: o.gpkg }\n")
        r = self.gp("validate", p)
        self.assertExit(r, gptest.EX_CONFIG)
        self.assertIn("'end_cap' in step 'buffer' must be one of: round, flat, square", r.err)
        r = self.gp("validate", self.pipeline(
            "version: 1\nsteps:\n  - read: { synthetic: {} }\n"
            "  - buffer: { distnace: 1 }\n  - write: { path: o.gpkg }\n", "q.yaml"))
        self.assertExit(r, gptest.EX_CONFIG)
        self.assertIn("did you mean 'distance'?", r.err)


if __name__ == "__main__":
    gptest.main()
