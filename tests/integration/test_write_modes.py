"""The write step: modes (create, overwrite, append), templates, merging,
formats by extension and by name, mixed single/multi polygons, layer
creation options, and attribute values carried unchanged."""
import filecmp
import os
import sqlite3
import subprocess

import gptest

SIDS = gptest.data("sids.shp")
TRACTS = gptest.data("boston_tracts.shp")
HIRE = gptest.data("cycle_hire.geojson")
WORLD = gptest.data("world.gpkg")


def rtree_tables(path):
    db = sqlite3.connect(path)
    try:
        return [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rtree%' "
            "AND name NOT LIKE '%\\_node' ESCAPE '\\' AND name NOT LIKE '%\\_parent' ESCAPE '\\' "
            "AND name NOT LIKE '%\\_rowid' ESCAPE '\\'")]
    finally:
        db.close()


class WriteModes(gptest.TempDirTest):
    def write(self, src, path, extra="", name="p.yaml", code=0):
        srcs = "[%s]" % ", ".join('"%s"' % s for s in src) if isinstance(src, list) else '"%s"' % src
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: {srcs} }}
  - write: {{ path: "{path}"{extra} }}
""", name)
        r = self.gp("run", "-q", p)
        self.assertExit(r, code)
        return r

    def assertSameAttributes(self, got_path, want_path, key=None, got_layer=None):
        got, want = self.geojson(got_path, got_layer), self.geojson(want_path)
        gp, wp = gptest.properties(got), gptest.properties(want)
        if key:  # formats that reorder features (FlatGeobuf's packed index)
            gp.sort(key=lambda items: dict(items)[key])
            wp.sort(key=lambda items: dict(items)[key])
        self.assertEqual(len(gp), len(wp))
        self.assertEqual(gp, wp)

    # -- create ---------------------------------------------------------------

    def test_create_refuses_an_existing_target(self):
        with open(self.path("out.gpkg"), "w") as f:
            f.write("precious")
        r = self.write(SIDS, "out.gpkg", code=gptest.EX_CANTCREAT)
        self.assertIn("exists", r.err)
        with open(self.path("out.gpkg")) as f:
            self.assertEqual(f.read(), "precious")
        self.assertEqual(self.leftovers(), [])

    def test_create_refuses_an_existing_templated_target(self):
        # One output per input; the second one exists: nothing is written,
        # the first output is not left behind either.
        os.makedirs(self.path("out"))
        with open(self.path("out", "boston_tracts.gpkg"), "w") as f:
            f.write("precious")
        r = self.write([SIDS, TRACTS], "out/{stem}.gpkg", code=gptest.EX_CANTCREAT)
        self.assertIn("boston_tracts.gpkg", r.err)
        self.assertEqual(self.files(self.path("out")), ["boston_tracts.gpkg"])
        with open(self.path("out", "boston_tracts.gpkg")) as f:
            self.assertEqual(f.read(), "precious")
        self.assertEqual(self.leftovers(), [])

    def test_create_is_the_default_and_makes_directories(self):
        self.write(SIDS, "a/b/c/out.gpkg")
        self.assertEqual(gptest.feature_count(self.path("a/b/c/out.gpkg")), 100)

    # -- overwrite --------------------------------------------------------------

    def test_overwrite_replaces_a_geopackage(self):
        # Relative path without a directory part: the old file and the new
        # one have the same name in different spellings ("x" and "./x").
        gptest.ogr2ogr(self.path("out.gpkg"), HIRE)
        self.write(SIDS, "out.gpkg", ", mode: overwrite")
        self.assertEqual(gptest.layer_names(self.path("out.gpkg")), ["sids"])
        self.assertEqual(gptest.feature_count(self.path("out.gpkg"), "sids"), 100)
        # Again, over gispipe's own output.
        self.write(TRACTS, "out.gpkg", ", mode: overwrite", name="q.yaml")
        self.assertEqual(gptest.layer_names(self.path("out.gpkg")), ["boston_tracts"])
        self.assertEqual(gptest.feature_count(self.path("out.gpkg")), 506)
        self.assertEqual(self.leftovers(), [])

    def test_overwrite_when_absent_creates(self):
        self.write(SIDS, "new.fgb", ", mode: overwrite")
        self.assertEqual(gptest.feature_count(self.path("new.fgb")), 100)

    def test_overwrite_shapefile_removes_stale_side_files(self):
        os.makedirs(self.path("out"))
        gptest.ogr2ogr(self.path("out", "t.shp"), TRACTS)
        gptest.ogrinfo(self.path("out", "t.shp"), "-sql", "CREATE SPATIAL INDEX ON t")
        # Side files of the old dataset the new one will not have.
        with open(self.path("out", "t.cpg"), "w") as f:
            f.write("CP1252")
        for ext in ("sbn", "sbx"):
            open(self.path("out", "t." + ext), "wb").close()
        with open(self.path("out", "t.shp.xml"), "w") as f:
            f.write("<metadata/>")
        with open(self.path("out", "unrelated.txt"), "w") as f:
            f.write("keep me")
        self.assertIn("t.qix", self.files(self.path("out")))
        self.write(SIDS, "out/t.shp", ", mode: overwrite")
        self.assertEqual(self.files(self.path("out")),
                         ["t.dbf", "t.prj", "t.shp", "t.shx", "unrelated.txt"])
        self.assertEqual(gptest.feature_count(self.path("out", "t.shp")), 100)
        self.assertSameAttributes(self.path("out", "t.shp"), SIDS)
        self.assertEqual(self.leftovers(), [])

    # -- append ---------------------------------------------------------------

    def test_append_to_a_geopackage_layer(self):
        gptest.ogr2ogr(self.path("out.gpkg"), HIRE, "-nln", "stations")
        self.write(SIDS, "out.gpkg", ', mode: append, layer: counties')
        self.write(SIDS, "out.gpkg", ', mode: append, layer: counties', name="q.yaml")
        self.assertEqual(sorted(gptest.layer_names(self.path("out.gpkg"))),
                         ["counties", "stations"])
        self.assertEqual(gptest.feature_count(self.path("out.gpkg"), "counties"), 200)
        self.assertEqual(gptest.feature_count(self.path("out.gpkg"), "stations"), 742)
        # The appended features are the input's, twice, in order.
        got = gptest.properties(self.geojson(self.path("out.gpkg"), "counties"))
        want = gptest.properties(self.geojson(SIDS))
        self.assertEqual(got, want + want)
        self.assertEqual(self.leftovers(), [])

    def test_append_to_an_existing_layer_of_the_same_name(self):
        self.write(SIDS, "out/s.gpkg", ", mode: append")
        self.write(SIDS, "out/s.gpkg", ", mode: append", name="q.yaml")
        self.write(SIDS, "out/s.gpkg", ", mode: append", name="r.yaml")
        self.assertEqual(gptest.layer_names(self.path("out", "s.gpkg")), ["sids"])
        self.assertEqual(gptest.feature_count(self.path("out", "s.gpkg")), 300)

    def test_append_to_a_shapefile(self):
        self.write(SIDS, "out/s.shp")
        self.write(SIDS, "out/s.shp", ", mode: append", name="q.yaml")
        # Appended to s.shp, not written beside it as sids.shp.
        self.assertEqual(self.files(self.path("out")), ["s.dbf", "s.prj", "s.shp", "s.shx"])
        self.assertEqual(gptest.feature_count(self.path("out", "s.shp")), 200)
        got = gptest.properties(self.geojson(self.path("out", "s.shp")))
        want = gptest.properties(self.geojson(SIDS))
        self.assertEqual(got, want + want)

    # -- templates and merging ----------------------------------------------

    def test_templates_with_a_list(self):
        self.write([SIDS, TRACTS, HIRE], "out/{index}_{stem}.gpkg", ', layer: "{name}"')
        self.assertEqual(self.files(self.path("out")),
                         ["0_sids.gpkg", "1_boston_tracts.gpkg", "2_cycle_hire.gpkg"])
        for f, layer, n in [("0_sids.gpkg", "sids.shp", 100),
                            ("1_boston_tracts.gpkg", "boston_tracts.shp", 506),
                            ("2_cycle_hire.gpkg", "cycle_hire.geojson", 742)]:
            self.assertEqual(gptest.layer_names(self.path("out", f)), [layer])
            self.assertEqual(gptest.feature_count(self.path("out", f), layer), n)

    def test_templates_with_a_glob(self):
        for n in ("c", "a", "b"):
            gptest.copy_shapefile(SIDS, self.path("in", n + ".shp"))
        self.write(self.path("in", "*.shp"), "out/{layer}-{index}.fgb")
        # Glob matches are sorted: a, b, c.
        self.assertEqual(self.files(self.path("out")), ["a-0.fgb", "b-1.fgb", "c-2.fgb"])
        for f in self.files(self.path("out")):
            self.assertEqual(gptest.feature_count(self.path("out", f)), 100)

    def test_fixed_path_merges_inputs(self):
        a, b = self.path("in", "a", "sids.shp"), self.path("in", "b", "sids.shp")
        gptest.copy_shapefile(SIDS, a)
        gptest.copy_shapefile(SIDS, b)
        # Same layer name: one layer.
        self.write([a, b], "merged.gpkg")
        self.assertEqual(gptest.layer_names(self.path("merged.gpkg")), ["sids"])
        self.assertEqual(gptest.feature_count(self.path("merged.gpkg")), 200)
        # Different inputs into one named layer.
        self.write([SIDS, self.path("in", "*", "*.shp")], "all.fgb",
                   ", layer: all, options: { SPATIAL_INDEX: NO }", name="q.yaml")
        self.assertEqual(gptest.feature_count(self.path("all.fgb"), "all"), 300)
        got = gptest.properties(self.geojson(self.path("all.fgb")))
        want = gptest.properties(self.geojson(SIDS))
        self.assertEqual(got, want * 3)

    def test_fixed_shapefile_path_merges_into_one_file(self):
        gptest.copy_shapefile(SIDS, self.path("in", "other.shp"))
        self.write([SIDS, self.path("in", "other.shp")], "out/m.shp")
        self.assertEqual(self.files(self.path("out")), ["m.dbf", "m.prj", "m.shp", "m.shx"])
        self.assertEqual(gptest.feature_count(self.path("out", "m.shp")), 200)

    def test_merging_different_layers_into_a_geopackage(self):
        self.write([SIDS, TRACTS], "both.gpkg")
        names = gptest.layer_names(self.path("both.gpkg"))
        self.assertEqual(sorted(names), ["boston_tracts", "sids"])
        self.assertEqual(gptest.feature_count(self.path("both.gpkg"), "sids"), 100)
        self.assertEqual(gptest.feature_count(self.path("both.gpkg"), "boston_tracts"), 506)

    # -- formats --------------------------------------------------------------

    def test_formats_by_extension(self):
        for ext, drv in [("gpkg", "GPKG"), ("fgb", "FlatGeobuf"), ("shp", "ESRI Shapefile"),
                         ("geojson", "GeoJSON"), ("csv", "CSV")]:
            with self.subTest(ext=ext):
                out = self.path("out", "s." + ext)
                self.write(SIDS, out, name="p-%s.yaml" % ext)
                self.assertEqual(gptest.driver_name(out), drv)
                self.assertEqual(gptest.feature_count(out), 100)
                if ext == "csv":
                    # Exactly what ogr2ogr writes.
                    gptest.ogr2ogr(self.path("ref.csv"), SIDS)
                    self.assertTrue(filecmp.cmp(out, self.path("ref.csv"), shallow=False))
                else:
                    self.assertSameAttributes(out, SIDS, key="FIPS" if ext == "fgb" else None)

    def test_format_by_name(self):
        self.write(SIDS, "out/data.txt", ", format: GeoJSON")
        self.assertEqual(gptest.driver_name(self.path("out", "data.txt")), "GeoJSON")
        self.write(SIDS, "out/noext", ", format: FlatGeobuf", name="q.yaml")
        self.assertEqual(gptest.driver_name(self.path("out", "noext")), "FlatGeobuf")
        self.assertEqual(gptest.feature_count(self.path("out", "noext")), 100)
        # A shapefile directory, one file set per layer.
        self.write([SIDS, TRACTS], "shapes", ', format: "ESRI Shapefile"', name="r.yaml")
        self.assertEqual(self.files(self.path("shapes")),
                         sorted(["sids.shp", "sids.shx", "sids.dbf", "sids.prj",
                                 "boston_tracts.shp", "boston_tracts.shx", "boston_tracts.dbf",
                                 "boston_tracts.prj"]))
        self.assertEqual(self.leftovers(), [])

    def test_unknown_format_or_extension_is_a_config_error(self):
        r = self.write(SIDS, "out/x.gpkg", ", format: NoSuchDriver", code=gptest.EX_CONFIG)
        self.assertIn("NoSuchDriver", r.err)
        r = self.write(SIDS, "out/x.nosuchext", name="q.yaml", code=gptest.EX_CONFIG)
        self.assertIn("format", r.err)
        r = self.write(SIDS, "out/noextension", name="r.yaml", code=gptest.EX_CONFIG)
        self.assertIn("format", r.err)
        self.assertFalse(os.path.exists(self.path("out")))

    def test_mixed_polygons_and_multipolygons_lose_nothing(self):
        # sids.shp: 94 Polygons and 6 MultiPolygons in a "Polygon" layer.
        src = self.geojson(SIDS)
        types = [f["geometry"]["type"] for f in src["features"]]
        self.assertEqual(types.count("MultiPolygon"), 6)
        self.assertEqual(types.count("Polygon"), 94)
        area = float(gptest.ogr_sql(SIDS, "SELECT sum(ST_Area(geometry)) AS a FROM sids")[0]["a"])
        for ext, geom in [("fgb", "geometry"), ("gpkg", "geom"), ("shp", "geometry")]:
            with self.subTest(ext=ext):
                out = self.path("mixed." + ext)
                self.write(SIDS, out, ", options: { SPATIAL_INDEX: NO }" if ext == "fgb" else "",
                           name="p-%s.yaml" % ext)
                self.assertEqual(gptest.feature_count(out), 100)
                got = self.geojson(out)
                self.assertEqual(len(got["features"]), 100)
                for fg, fs in zip(got["features"], src["features"]):
                    self.assertEqual(gptest.coords(fg["geometry"]), gptest.coords(fs["geometry"]))
                    self.assertEqual(fg["properties"]["NAME"], fs["properties"]["NAME"])
                layer = gptest.layer_names(out)[0]
                rows = gptest.ogr_sql(out, 'SELECT count(*) AS n, sum(ST_Area(%s)) AS a FROM "%s"'
                                      % (geom, layer))
                self.assertEqual(int(rows[0]["n"]), 100)
                self.assertAlmostEqual(float(rows[0]["a"]), area, places=9)

    # -- options ----------------------------------------------------------------

    def test_gpkg_spatial_index_option(self):
        self.write(SIDS, "idx.gpkg")
        self.assertEqual(rtree_tables(self.path("idx.gpkg")), ["rtree_sids_geom"])
        self.write(SIDS, "noidx.gpkg", ", options: { SPATIAL_INDEX: NO }", name="q.yaml")
        self.assertEqual(rtree_tables(self.path("noidx.gpkg")), [])
        self.assertEqual(gptest.feature_count(self.path("noidx.gpkg")), 100)

    def test_gpkg_layer_options_pass_through(self):
        self.write(SIDS, "o.gpkg", ", options: { FID: my_id, GEOMETRY_NAME: shape }")
        info = gptest.ogr_info(self.path("o.gpkg"), "sids")
        self.assertIn("FID Column = my_id", info)
        self.assertIn("Geometry Column = shape", info)

    def test_flatgeobuf_spatial_index_option(self):
        self.write(SIDS, "idx.fgb")
        self.write(SIDS, "noidx.fgb", ", options: { SPATIAL_INDEX: NO }", name="q.yaml")
        # Without the packed R-tree the file is smaller and keeps input order;
        # with it, features come back in the index's (Hilbert) order.
        self.assertLess(os.path.getsize(self.path("noidx.fgb")),
                        os.path.getsize(self.path("idx.fgb")))
        want = gptest.properties(self.geojson(SIDS))
        self.assertEqual(gptest.properties(self.geojson(self.path("noidx.fgb"))), want)
        self.assertNotEqual(gptest.properties(self.geojson(self.path("idx.fgb"))), want)

    def test_attribute_values_identical(self):
        for src, out in [(TRACTS, "t.gpkg"), (HIRE, "h.geojson"), (WORLD, "w.gpkg")]:
            with self.subTest(src=src):
                self.write(src, out, name="p-%s.yaml" % out)
                self.assertSameAttributes(self.path(out), src)


if __name__ == "__main__":
    gptest.main()
