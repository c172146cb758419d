"""explode against ogr2ogr -explodecollections; set_field values against
SpatiaLite's (ogrinfo with the SQLite dialect)."""
import gptest


class Explode(gptest.TempDirTest):
    def test_parts_keep_attributes_and_match_ogr2ogr(self):
        p = self.pipeline("""version: 1
steps:
  - read: { path: %s }
  - explode: {}
  - write: { path: ours.gpkg, layer: sids }
""" % gptest.data("sids.shp"))
        self.assertExit(self.gp("run", "-q", p), 0)
        gptest.ogr2ogr("-explodecollections", "-nlt", "POLYGON", self.path("ref.gpkg"),
                       gptest.data("sids.shp"))
        ours = gptest.as_geojson(self.path("ours.gpkg"), workdir=self.dir)["features"]
        ref = gptest.as_geojson(self.path("ref.gpkg"), workdir=self.dir)["features"]
        self.assertGreater(len(ours), 100)           # sids has 6 multipolygons
        self.assertEqual(len(ours), len(ref))
        for a, b in zip(ours, ref):                  # same order: parts in place
            self.assertEqual(a["properties"], b["properties"])
            self.assertEqual(a["geometry"]["type"], "Polygon")
            self.assertEqual(a["geometry"]["coordinates"], b["geometry"]["coordinates"])
        info = gptest.ogrinfo("-so", self.path("ours.gpkg"), "sids")
        self.assertIn("Geometry: Polygon", info)

    def test_points_pass_through(self):
        p = self.pipeline("""version: 1
steps:
  - read: { path: %s }
  - explode: {}
  - write: { path: o.gpkg }
""" % gptest.data("cycle_hire.geojson"))
        self.assertExit(self.gp("run", "-q", p), 0)
        self.assertEqual(len(gptest.as_geojson(self.path("o.gpkg"),
                                               workdir=self.dir)["features"]), 742)


class SetField(gptest.TempDirTest):
    def sql_values(self, path, layer, expr):
        out = gptest.ogrinfo("-q", "-dialect", "SQLite", "-sql",
                             'SELECT FIPSNO AS k, %s AS v FROM "%s"' % (expr, layer), path)
        vals, key = {}, None
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("k ("):
                key = int(float(line.split("=")[1]))
            elif line.startswith("v ("):
                vals[key] = float(line.split("=")[1])
        return vals

    def test_measures_and_sources(self):
        p = self.pipeline("""version: 1
steps:
  - read: { path: %s }
  - reproject: { to: "EPSG:32617" }
  - set_field: { name: a, value: area }
  - set_field: { name: per, value: perimeter }
  - set_field: { name: len, value: length }
  - set_field: { name: cx, value: x }
  - set_field: { name: cy, value: y }
  - set_field: { name: src, value: source_path }
  - set_field: { name: ofid, value: source_fid }
  - set_field: { name: tag, constant: "nc" }
  - set_field: { name: ten, constant: "10", type: integer }
  - set_field: { name: half, constant: "0.5", type: real }
  - write: { path: o.gpkg, layer: t }
""" % gptest.data("sids.shp"))
        self.assertExit(self.gp("run", "-q", p), 0)
        gptest.ogr2ogr("-t_srs", "EPSG:32617", "-nln", "t", self.path("ref.gpkg"),
                       gptest.data("sids.shp"))
        ours = gptest.as_geojson(self.path("o.gpkg"), workdir=self.dir)["features"]
        area = self.sql_values(self.path("ref.gpkg"), "t", "ST_Area(geom)")
        per = self.sql_values(self.path("ref.gpkg"), "t", "ST_Perimeter(geom)")
        cx = self.sql_values(self.path("ref.gpkg"), "t", "ST_X(ST_Centroid(geom))")
        cy = self.sql_values(self.path("ref.gpkg"), "t", "ST_Y(ST_Centroid(geom))")
        self.assertEqual(len(ours), 100)
        for i, f in enumerate(ours):
            p = f["properties"]
            k = int(p["FIPSNO"])
            self.assertAlmostEqual(p["a"] / area[k], 1.0, delta=1e-9)
            self.assertAlmostEqual(p["per"] / per[k], 1.0, delta=1e-9)
            self.assertEqual(p["len"], 0.0)              # areas have no length
            self.assertAlmostEqual(p["cx"], cx[k], delta=1e-3)
            self.assertAlmostEqual(p["cy"], cy[k], delta=1e-3)
            self.assertEqual(p["src"], gptest.data("sids.shp"))
            self.assertEqual(p["ofid"], i)               # shapefile FIDs from 0
            self.assertEqual(p["tag"], "nc")
            self.assertEqual(p["ten"], 10)
            self.assertEqual(p["half"], 0.5)

    def test_replaces_an_existing_field_and_filters_on_it(self):
        p = self.pipeline("""version: 1
steps:
  - read: { path: %s }
  - set_field: { name: NAME, constant: "x" }
  - set_field: { name: n, value: source_fid }
  - filter: { where: "n < 10" }
  - write: { path: o.gpkg, layer: t }
""" % gptest.data("sids.shp"))
        self.assertExit(self.gp("run", "-q", p), 0)
        ours = gptest.as_geojson(self.path("o.gpkg"), workdir=self.dir)["features"]
        self.assertEqual(len(ours), 10)
        self.assertEqual({f["properties"]["NAME"] for f in ours}, {"x"})
        names = list(ours[0]["properties"])
        self.assertEqual(names.count("NAME"), 1)

    def test_bad_options(self):
        for opts, msg in [("{ name: a }", "needs 'value' or 'constant'"),
                          ("{ name: a, value: constant }", "'value: constant' needs 'constant'"),
                          ("{ name: a, value: area, constant: 1 }", "goes with 'value: constant'"),
                          ("{ name: a, constant: x1, type: integer }", "'x1' is not an integer"),
                          ("{ name: a, value: aera }", "did you mean 'area'?")]:
            with self.subTest(opts=opts):
                p = self.pipeline("version: 1\nsteps:\n  - read: { synthetic: {} }\n"
                                  "  - set_field: %s\n  - write: { path: o.gpkg }\n" % opts)
                r = self.gp("validate", p)
                self.assertExit(r, gptest.EX_CONFIG)
                self.assertIn(msg, r.err)


if __name__ == "__main__":
    gptest.main()
