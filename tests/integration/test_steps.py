"""The vector steps against GDAL's own answers: filter (where, bbox), select,
read (layer, where, bbox, lists, globs, /vsizip/) and the synthetic source."""
import json
import os
import shutil
import unittest
import zipfile

import gptest

SIDS = gptest.data("sids.shp")
WORLD = gptest.data("world.gpkg")
TRACTS = gptest.data("boston_tracts.shp")


def names(gj, key="NAME"):
    return [f["properties"][key] for f in gj["features"]]


class Steps(gptest.TempDirTest):
    def run_steps(self, read, middle="", out="out.gpkg", extra_args=(), name="p.yaml"):
        p = self.pipeline(f"""version: 1
steps:
  - read: {read}
{middle}  - write: {{ path: {out}, mode: overwrite }}
""", name)
        r = self.gp("run", "-q", p, *extra_args)
        self.assertExit(r, 0)
        return self.path(out)

    def ogr_names(self, src, *args, key="NAME"):
        self.nref = getattr(self, "nref", 0) + 1
        ref = self.path("ref%d.gpkg" % self.nref)
        gptest.ogr2ogr(ref, src, *args)
        return names(self.geojson(ref), key)

    # -- filter -----------------------------------------------------------------

    def test_filter_where_matches_ogr(self):
        for where in gptest.valgrind_sample(
                ["BIR74 > 5000", "NAME LIKE 'C%'", "SID79 = 0 OR NWBIR74 < 10",
                 "FIPS IN ('37009', '37005', '37171')", "CRESS_ID BETWEEN 10 AND 20",
                 "NAME IS NULL"], 1, 2, 5):
            with self.subTest(where=where):
                out = self.run_steps(f"{{ path: {SIDS} }}",
                                     f'  - filter: {{ where: "{where}" }}\n')
                want = self.ogr_names(SIDS, "-where", where)
                n = int(gptest.ogr_sql(SIDS, "SELECT count(*) AS n FROM sids WHERE " + where,
                                       dialect="OGRSQL")[0]["n"])
                self.assertEqual(len(want), n)
                got = names(self.geojson(out)) if n else []
                if n == 0:
                    self.assertEqual(gptest.feature_count(out), 0)
                self.assertEqual(got, want)
        self.assertEqual(self.leftovers(), [])

    def test_filter_bbox_matches_ogr2ogr_spat(self):
        # ogr2ogr -spat keeps features whose geometry intersects the box, as
        # gispipe does; the boxes cut through counties' envelopes.
        # Boxes of no area (a point, a segment) are boxes too.
        for box in [(-80, 35, -78, 36), (-84.1, 35.05, -83.9, 35.15), (-81, 35, -80.7, 35.2),
                    (-77, 34.5, -76.7, 34.7), (-79.5, 35.5, -79.5, 35.5),
                    (-79.5, 35.0, -79.5, 36.0), (-81, 35.5, -78, 35.5), (0, 0, 1, 1)]:
            with self.subTest(box=box):
                b = ", ".join(str(v) for v in box)
                out = self.run_steps(f"{{ path: {SIDS} }}", f"  - filter: {{ bbox: [{b}] }}\n")
                want = self.ogr_names(SIDS, "-spat", *box)
                got = names(self.geojson(out)) if want else []
                self.assertEqual(gptest.feature_count(out), len(want))
                self.assertEqual(got, want)

    def test_filter_bbox_exact_not_envelope(self):
        # A box that meets some counties' envelopes but not the counties: an
        # envelope-only test would keep more than ogr2ogr does.
        box = (-81, 35, -80.7, 35.2)
        out = self.run_steps(f"{{ path: {SIDS} }}", "  - filter: { bbox: [%s] }\n" %
                             ", ".join(map(str, box)))
        env = gptest.ogr_sql(SIDS, "SELECT count(*) AS n FROM sids WHERE "
                             "MbrIntersects(geometry, BuildMbr(%s))" % ", ".join(map(str, box)))
        exact = gptest.ogr_sql(SIDS, "SELECT count(*) AS n FROM sids WHERE "
                               "ST_Intersects(geometry, BuildMbr(%s))" % ", ".join(map(str, box)))
        self.assertGreater(int(env[0]["n"]), int(exact[0]["n"]))
        self.assertEqual(gptest.feature_count(out), int(exact[0]["n"]))

    def test_filter_bbox_after_reproject_is_in_the_new_crs(self):
        out = self.run_steps(f"{{ path: {SIDS} }}",
                             '  - reproject: { to: "EPSG:32617" }\n'
                             "  - filter: { bbox: [600000, 3900000, 700000, 4000000] }\n")
        utm = self.path("utm.gpkg")
        gptest.ogr2ogr(utm, SIDS, "-t_srs", "EPSG:32617")
        want = self.ogr_names(utm, "-spat", "600000", "3900000", "700000", "4000000")
        self.assertTrue(0 < len(want) < 100)
        self.assertEqual(names(self.geojson(out)), want)

    def test_filter_where_and_bbox_together(self):
        out = self.run_steps(f"{{ path: {SIDS} }}",
                             '  - filter: { where: "BIR74 > 2000", bbox: [-80, 35, -78, 36.6] }\n')
        want = self.ogr_names(SIDS, "-where", "BIR74 > 2000", "-spat", "-80", "35", "-78", "36.6")
        self.assertTrue(0 < len(want) < 100)
        self.assertEqual(names(self.geojson(out)), want)

    def test_filter_where_after_rename(self):
        out = self.run_steps(f"{{ path: {SIDS} }}",
                             "  - select: { rename: { NAME: county } }\n"
                             "  - filter: { where: \"county LIKE 'A%'\" }\n")
        want = self.ogr_names(SIDS, "-where", "NAME LIKE 'A%'")
        self.assertEqual(len(want), 6)
        self.assertEqual(names(self.geojson(out), "county"), want)

    def test_filter_where_after_select_dropped_fields(self):
        # select keeps 2 of world's 10 fields; filter still sees whole source
        # features and must map every one of their fields (a map sized to the
        # kept fields only was read past its end: valgrind's "uninitialised").
        for sel in ["keep: [name_long, pop], rename: { pop: population }",
                    "drop: [iso_a2, continent, region_un, subregion, type, area_km2, lifeExp, "
                    "gdpPercap], rename: { pop: population }"]:
            with self.subTest(sel=sel):
                out = self.run_steps(f"{{ path: {WORLD} }}",
                                     f"  - select: {{ {sel} }}\n"
                                     '  - filter: { where: "population >= 50000000" }\n')
                want = self.ogr_names(WORLD, "-where", "pop >= 50000000", key="name_long")
                self.assertTrue(5 < len(want) < 177)
                got = self.geojson(out)
                self.assertEqual(names(got, "name_long"), want)
                self.assertEqual([list(f["properties"]) for f in got["features"][:1]],
                                 [["name_long", "population"]])
                for f in got["features"]:
                    self.assertGreaterEqual(f["properties"]["population"], 50000000)

    def test_filter_where_on_a_missing_field_is_an_error(self):
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: {SIDS} }}
  - filter: {{ where: "NOSUCHFIELD > 1" }}
  - write: {{ path: out.gpkg }}
""")
        r = self.gp("run", "-q", p)
        self.assertIn(r.code, (gptest.EX_CONFIG, gptest.EX_DATAERR), repr(r))
        self.assertIn("NOSUCHFIELD", r.err)
        self.assertFalse(os.path.exists(self.path("out.gpkg")))

    # -- select -------------------------------------------------------------------

    def test_select_keep_in_the_order_asked(self):
        out = self.run_steps(f"{{ path: {SIDS} }}",
                             "  - select: { keep: [SID79, NAME, FIPS] }\n")
        got, src = self.geojson(out), self.geojson(SIDS)
        self.assertEqual(len(got["features"]), 100)
        for fg, fs in zip(got["features"], src["features"]):
            self.assertEqual(list(fg["properties"].items()),
                             [(k, fs["properties"][k]) for k in ("SID79", "NAME", "FIPS")])

    def test_select_drop(self):
        out = self.run_steps(f"{{ path: {SIDS} }}",
                             "  - select: { drop: [NAME, BIR74, lat] }\n")
        got, src = self.geojson(out), self.geojson(SIDS)
        for fg, fs in zip(got["features"], src["features"]):
            want = [(k, v) for k, v in fs["properties"].items() if k not in ("NAME", "BIR74", "lat")]
            self.assertEqual(list(fg["properties"].items()), want)

    def test_select_rename_keeps_values_and_order(self):
        out = self.run_steps(f"{{ path: {SIDS} }}",
                             "  - select: { keep: [NAME, BIR74, FIPS], "
                             "rename: { BIR74: births74, NAME: county } }\n")
        got, src = self.geojson(out), self.geojson(SIDS)
        for fg, fs in zip(got["features"], src["features"]):
            p = fs["properties"]
            self.assertEqual(list(fg["properties"].items()),
                             [("county", p["NAME"]), ("births74", p["BIR74"]), ("FIPS", p["FIPS"])])

    def test_select_errors(self):
        cases = [("keep: [NAME, NMAE]", "no field 'NMAE'"),
                 ("drop: [GEOM]", "no field 'GEOM'"),
                 ("rename: { NAME: FIPS }", "two fields named 'FIPS'")]
        for opt, needle in cases:
            with self.subTest(opt=opt):
                p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: {SIDS} }}
  - select: {{ {opt} }}
  - write: {{ path: out.gpkg }}
""")
                r = self.gp("run", "-q", p)
                self.assertExit(r, gptest.EX_DATAERR)
                self.assertIn(needle, r.err)
        self.assertFalse(os.path.exists(self.path("out.gpkg")))

    def test_select_keep_and_drop_together_is_invalid(self):
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: {SIDS} }}
  - select: {{ keep: [NAME], drop: [FIPS] }}
  - write: {{ path: out.gpkg }}
""")
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_CONFIG)
        self.assertIn("not both", r.err)

    # -- read ---------------------------------------------------------------------

    def two_layers(self):
        p = self.path("two.gpkg")
        gptest.ogr2ogr(p, SIDS, "-nln", "counties")
        gptest.ogr2ogr("-update", p, TRACTS, "-nln", "tracts")
        return p

    def test_read_every_layer_by_default(self):
        src = self.two_layers()
        out = self.run_steps(f"{{ path: {src} }}", out="all.gpkg")
        self.assertEqual(sorted(gptest.layer_names(out)), ["counties", "tracts"])
        self.assertEqual(gptest.feature_count(out, "counties"), 100)
        self.assertEqual(gptest.feature_count(out, "tracts"), 506)

    def test_read_layer(self):
        src = self.two_layers()
        out = self.run_steps(f"{{ path: {src}, layer: tracts }}")
        self.assertEqual(gptest.layer_names(out), ["tracts"])
        self.assertEqual(gptest.feature_count(out), 506)
        out = self.run_steps(f"{{ path: {src}, layer: [tracts, counties] }}", out="both.gpkg",
                             name="q.yaml")
        self.assertEqual(sorted(gptest.layer_names(out)), ["counties", "tracts"])

    def test_read_where_is_pushed_down(self):
        where = "BIR74 > 5000 AND SID74 > 5"
        out = self.run_steps(f'{{ path: {SIDS}, where: "{where}" }}',
                             extra_args=("--report", self.path("r.json")))
        want = self.ogr_names(SIDS, "-where", where)
        self.assertTrue(0 < len(want) < 100)
        self.assertEqual(names(self.geojson(out)), want)
        with open(self.path("r.json")) as f:
            rep = json.load(f)
        # Only the matching features ever left the driver.
        self.assertEqual(rep["stages"][0]["items_out"], len(want))
        self.assertEqual(rep["totals"]["filtered"], 0)

    def test_read_bbox_matches_ogr2ogr_spat(self):
        out = self.run_steps(f"{{ path: {WORLD}, bbox: [-10, 35, 30, 60] }}",
                             extra_args=("--report", self.path("r.json")))
        want = self.ogr_names(WORLD, "-spat", "-10", "35", "30", "60", key="name_long")
        self.assertTrue(10 < len(want) < 177)
        # GeoPackage returns spatially filtered features in its R-tree's
        # order, ogr2ogr (through its Arrow path) in FID order: same set.
        self.assertEqual(sorted(names(self.geojson(out), "name_long")), sorted(want))
        # A shapefile keeps FID order both ways.
        out = self.run_steps(f"{{ path: {SIDS}, bbox: [-80, 35, -78, 36] }}", out="s.gpkg",
                             name="q.yaml")
        self.assertEqual(names(self.geojson(out)), self.ogr_names(SIDS, "-spat", "-80", "35",
                                                                  "-78", "36"))
        with open(self.path("r.json")) as f:
            self.assertEqual(json.load(f)["stages"][0]["items_out"], len(want))

    def test_read_list_and_glob(self):
        for n in ("b", "a"):
            gptest.copy_shapefile(SIDS, self.path("in", n + ".shp"))
        out = self.run_steps(f"{{ path: [{SIDS}, {TRACTS}] }}", out="list.gpkg")
        self.assertEqual(gptest.feature_count(out, "sids"), 100)
        self.assertEqual(gptest.feature_count(out, "boston_tracts"), 506)
        out = self.run_steps('{ path: "in/*.shp" }', '  - select: { keep: [NAME] }\n',
                             out="glob.gpkg", name="q.yaml")
        self.assertEqual(sorted(gptest.layer_names(out)), ["a", "b"])
        for layer in ("a", "b"):
            self.assertEqual(gptest.feature_count(out, layer), 100)
        # A glob and a path in one list; glob matches sorted, list order kept.
        out = self.run_steps('{ path: ["in/*.shp", "in/a.shp"] }', "",
                             out='"out/{index}-{stem}.gpkg"', name="r.yaml")
        self.assertEqual(sorted(os.listdir(self.path("out"))),
                         ["0-a.gpkg", "1-b.gpkg", "2-a.gpkg"])

    def test_read_from_vsizip(self):
        z = self.path("sids.zip")
        with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
            for ext in ("shp", "shx", "dbf", "prj"):
                zf.write(gptest.data("sids." + ext), "sub/sids." + ext)
        out = self.run_steps(f"{{ path: /vsizip/{z}/sub/sids.shp }}")
        self.assertEqual(gptest.feature_count(out), 100)
        got, src = self.geojson(out), self.geojson(SIDS)
        self.assertEqual(gptest.properties(got), gptest.properties(src))
        # A missing member is a missing input.
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: /vsizip/{z}/sub/nope.shp }}
  - write: {{ path: nope.gpkg }}
""", "nope.yaml")
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_NOINPUT)
        self.assertFalse(os.path.exists(self.path("nope.gpkg")))

    # -- synthetic ------------------------------------------------------------------

    def synth(self, out, **kw):
        opts = ", ".join("%s: %s" % (k, v) for k, v in kw.items())
        return self.run_steps("{ synthetic: { %s } }" % opts, out=out, name=out + ".yaml")

    def test_synthetic_is_deterministic(self):
        a = self.geojson(self.synth("a.gpkg", geometry="polygon", count=500, seed=11))
        b = self.geojson(self.synth("b.gpkg", geometry="polygon", count=500, seed=11))
        c = self.geojson(self.synth("c.gpkg", geometry="polygon", count=500, seed=12))
        self.assertEqual(a, b)
        self.assertNotEqual([f["geometry"] for f in a["features"]],
                            [f["geometry"] for f in c["features"]])
        self.assertEqual(len(a["features"]), 500)
        self.assertEqual([list(f["properties"]) for f in a["features"][:1]],
                         [["id", "code", "name"]])
        self.assertEqual([f["properties"]["id"] for f in a["features"]], list(range(1, 501)))
        for f in a["features"]:
            self.assertTrue(0 <= f["properties"]["code"] <= 99)

    def test_synthetic_geometry_types_count_and_extent(self):
        for geom, gtype, npts in [("point", "Point", 1), ("line", "LineString", 7),
                                  ("polygon", "Polygon", 7)]:
            with self.subTest(geom=geom):
                out = self.synth(geom + ".gpkg", geometry=geom, count=321, vertices=7, seed=5,
                                 extent="[100, 10, 101, 11]", crs='"EPSG:4326"')
                gj = self.geojson(out)
                self.assertEqual(len(gj["features"]), 321)
                self.assertEqual(gptest.feature_count(out), 321)
                for f in gj["features"]:
                    self.assertEqual(f["geometry"]["type"], gtype)
                    pts = gptest.coords(f["geometry"])
                    self.assertEqual(len(pts), npts)
                    for x, y in pts:
                        self.assertTrue(99.9 < x < 101.1 and 9.9 < y < 11.1, (x, y))
                    if geom == "polygon":
                        self.assertEqual(pts[0], pts[-1])
                if geom == "point":
                    for f in gj["features"]:
                        (x, y), = gptest.coords(f["geometry"])
                        self.assertTrue(100 <= x <= 101 and 10 <= y <= 11)

    def test_synthetic_crs(self):
        out = self.synth("crs.gpkg", geometry="point", count=10, crs='"EPSG:32632"',
                         extent="[300000, 5600000, 310000, 5610000]")
        self.assertRegex(gptest.ogr_info(out, "synthetic"), r'ID\["EPSG",32632\]\]\s*Data axis')

    def test_synthetic_polygons_are_valid(self):
        out = self.synth("valid.gpkg", geometry="polygon", count=5000, vertices=24, seed=3)
        # SpatiaLite comes with Debian's GDAL: an error here is a failure.
        rows = gptest.ogr_sql(out, "SELECT count(*) AS bad FROM synthetic "
                                   "WHERE NOT ST_IsValid(geom)")
        self.assertEqual(int(rows[0]["bad"]), 0)
        n = gptest.ogr_sql(out, "SELECT count(*) AS n FROM synthetic WHERE ST_Area(geom) > 0")
        self.assertEqual(int(n[0]["n"]), 5000)

    def test_synthetic_count_zero(self):
        out = self.synth("none.gpkg", geometry="point", count=0)
        self.assertEqual(gptest.feature_count(out), 0)


if __name__ == "__main__":
    gptest.main()
