"""clip (bbox and polygons of a dataset) and filter's intersects / valid,
against SpatiaLite through ogrinfo's SQLite dialect."""
import re

import gptest

MASK_CSV = ('id,WKT\n'
            '1,"POLYGON((-81 34,-78 34,-78 37,-81 37,-81 34))"\n'
            '2,"POLYGON((-79 35,-76 35,-76 36,-79 36,-79 35))"\n')


def sql(path, q):
    out = gptest.ogrinfo("-q", "-dialect", "SQLite", "-sql", q, path)
    return [float(v) for v in re.findall(r"\) = ([-0-9.e+]+)", out)]


def areas_by_county(path, query):
    """{CNTY_ID: area} from a query giving (id, area) rows."""
    return {round(float(r["id"])): float(r["a"]) for r in gptest.ogr_sql(path, query)}


class ClipFilter(gptest.TempDirTest):
    def assertAreasClose(self, ours, theirs, rel):
        """Each county's clipped area, not only the sum: errors of opposite
        signs must not cancel."""
        self.assertEqual(sorted(ours), sorted(theirs))
        for k, a in ours.items():
            self.assertAlmostEqual(a, theirs[k], delta=rel * abs(theirs[k]), msg="county %d" % k)

    def setUp(self):
        super().setUp()
        with open(self.path("m.csv"), "w") as f:
            f.write(MASK_CSV)
        # The mask is in WGS 84; the features will be in UTM 17N: gispipe
        # must transform the mask.
        gptest.ogr2ogr("-a_srs", "EPSG:4326", "-oo", "GEOM_POSSIBLE_NAMES=WKT",
                       "-oo", "KEEP_GEOM_COLUMNS=NO", "-nln", "mask", self.path("mask.gpkg"),
                       self.path("m.csv"))
        # Reference: features and mask in UTM in one file for SpatiaLite.
        gptest.ogr2ogr("-t_srs", "EPSG:32617", "-nln", "sids", self.path("ref.gpkg"),
                       gptest.data("sids.shp"))
        gptest.ogr2ogr("-update", "-t_srs", "EPSG:32617", "-nln", "mask", self.path("ref.gpkg"),
                       self.path("mask.gpkg"))

    def run_steps(self, steps, out="o.gpkg"):
        p = self.pipeline("version: 1\nsteps:\n  - read: { path: %s }\n"
                          "  - reproject: { to: \"EPSG:32617\" }\n%s"
                          "  - write: { path: %s, layer: t }\n" % (gptest.data("sids.shp"),
                                                                 steps, out), out + ".yaml")
        self.assertExit(self.gp("run", "-q", p, "--report", "r.json"), 0)
        return sql(self.path(out), "SELECT sum(ST_Area(geom)), count(*) FROM t")

    def test_clip_by_dataset(self):
        area, n = self.run_steps("  - clip: { by: mask.gpkg }\n")
        ra, rn = sql(self.path("ref.gpkg"),
                     "SELECT sum(ST_Area(ST_Intersection(s.geom, (SELECT ST_Union(geom) FROM "
                     "mask)))), count(*) FROM sids s WHERE ST_Intersects(s.geom, (SELECT "
                     "ST_Union(geom) FROM mask))")
        self.assertEqual(n, rn)
        self.assertAlmostEqual(area / ra, 1.0, delta=0.001)
        self.assertAreasClose(
            areas_by_county(self.path("o.gpkg"), "SELECT CNTY_ID AS id, ST_Area(geom) AS a "
                                                 "FROM t"),
            areas_by_county(self.path("ref.gpkg"),
                            "SELECT s.CNTY_ID AS id, ST_Area(ST_Intersection(s.geom, (SELECT "
                            "ST_Union(geom) FROM mask))) AS a FROM sids s WHERE "
                            "ST_Intersects(s.geom, (SELECT ST_Union(geom) FROM mask))"), 0.001)

    def test_clip_by_bbox(self):
        box = (600000, 3850000, 800000, 4000000)
        area, n = self.run_steps("  - clip: { bbox: [%d, %d, %d, %d] }\n" % box)
        ra, rn = sql(self.path("ref.gpkg"),
                     "SELECT sum(ST_Area(ST_Intersection(geom, BuildMbr(%d, %d, %d, %d)))), "
                     "count(*) FROM sids WHERE ST_Area(ST_Intersection(geom, "
                     "BuildMbr(%d, %d, %d, %d))) > 0" % (box + box))
        self.assertEqual(n, rn)
        self.assertAlmostEqual(area / ra, 1.0, delta=0.001)
        self.assertAreasClose(
            areas_by_county(self.path("o.gpkg"), "SELECT CNTY_ID AS id, ST_Area(geom) AS a "
                                                 "FROM t"),
            areas_by_county(self.path("ref.gpkg"),
                            "SELECT CNTY_ID AS id, ST_Area(ST_Intersection(geom, BuildMbr(%d, "
                            "%d, %d, %d))) AS a FROM sids WHERE a > 0" % box), 0.001)

    def test_filter_intersects(self):
        _, n = self.run_steps("  - filter: { intersects: mask.gpkg }\n")
        (rn,) = sql(self.path("ref.gpkg"),
                    "SELECT count(*) FROM sids s WHERE ST_Intersects(s.geom, (SELECT "
                    "ST_Union(geom) FROM mask))")
        self.assertEqual(n, rn)
        self.assertGreater(n, 0)
        self.assertLess(n, 100)

    def test_filter_valid(self):
        with open(self.path("bad.csv"), "w") as f:
            f.write('id,WKT\n1,"POLYGON((0 0,10 10,10 0,0 10,0 0))"\n'
                    '2,"POLYGON((0 0,10 0,10 10,0 10,0 0))"\n'
                    '3,"POLYGON((0 0,10 0,5 0,5 10,0 0))"\n'
                    '4,"POLYGON((0 0,4 0,4 4,0 4,0 0))"\n')
        gptest.ogr2ogr("-a_srs", "EPSG:3857", "-oo", "GEOM_POSSIBLE_NAMES=WKT",
                       "-oo", "KEEP_GEOM_COLUMNS=NO", "-nln", "bad", self.path("bad.gpkg"),
                       self.path("bad.csv"))
        for valid, ids in (("true", [2, 4]), ("false", [1, 3])):
            p = self.pipeline("version: 1\nsteps:\n  - read: { path: bad.gpkg }\n"
                              "  - filter: { valid: %s }\n"
                              "  - write: { path: v%s.gpkg }\n" % (valid, valid), "v.yaml")
            self.assertExit(self.gp("run", "-q", p), 0)
            got = sorted(int(f["properties"]["id"]) for f in gptest.as_geojson(
                self.path("v%s.gpkg" % valid), workdir=self.dir)["features"])
            self.assertEqual(got, ids)

    def test_bad_options(self):
        for steps, code, msg in [
                ("  - clip: {}\n", gptest.EX_CONFIG, "takes 'bbox' or 'by'"),
                ("  - clip: { by: nowhere.gpkg }\n", gptest.EX_NOINPUT, "cannot open"),
                ("  - filter: { valid: true, intersects_layer: x }\n", gptest.EX_CONFIG,
                 "'intersects_layer' goes with 'intersects'")]:
            with self.subTest(steps=steps):
                p = self.pipeline("version: 1\nsteps:\n  - read: { path: %s }\n%s"
                                  "  - write: { path: o.gpkg }\n" % (gptest.data("sids.shp"),
                                                                     steps), "b.yaml")
                r = self.gp("run", "-q", p)
                self.assertExit(r, code)
                self.assertIn(msg, r.err)


if __name__ == "__main__":
    gptest.main()
