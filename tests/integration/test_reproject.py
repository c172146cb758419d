"""Reprojection against ogr2ogr -t_srs: same features, same attributes, the
same coordinates to within a millimetre, for CRS pairs with and without a
datum shift; the source CRS override; and the failures (no CRS, a
coordinate PROJ cannot transform)."""
import json
import os
import re
import subprocess

import gptest

TOL = 0.001  # metres: every pair below ends in a projected CRS


class Reproject(gptest.TempDirTest):
    def reproject(self, src, to, frm=None, out="out.gpkg", name="p.yaml"):
        frm_opt = ', from: "%s"' % frm if frm else ""
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: "{src}" }}
  - reproject: {{ to: "{to}"{frm_opt} }}
  - write: {{ path: {out} }}
""", name)
        self.gp_ok("run", "-q", p)
        return self.path(out)

    def reference(self, src, to, frm=None, out="ref.gpkg"):
        args = ["-t_srs", to, "-lco", "FID=fid"]  # keep a source 'id' field a field
        if frm:
            args += ["-s_srs", frm]
        gptest.ogr2ogr(*args, self.path(out), src)
        return self.path(out)

    def assertSameAsOgr2ogr(self, src, to, frm=None, min_features=1):
        got = self.geojson(self.reproject(src, to, frm))
        want = self.geojson(self.reference(src, to, frm))
        self.assertGreaterEqual(len(want["features"]), min_features)
        self.assertEqual(len(got["features"]), len(want["features"]))
        self.assertEqual(gptest.properties(got), gptest.properties(want))
        worst = 0.0
        for i, (fg, fw) in enumerate(zip(got["features"], want["features"])):
            self.assertIsNotNone(fg["geometry"], "feature %d lost its geometry" % i)
            worst = max(worst, gptest.max_coord_diff(fg["geometry"], fw["geometry"]))
        self.assertLess(worst, TOL, "gispipe and ogr2ogr differ by %.6f m" % worst)
        # The output layer says it is in the target CRS.
        code = to.split(":")[1]
        info = gptest.ogr_info(self.path("out.gpkg"), gptest.layer_names(self.path("out.gpkg"))[0])
        self.assertRegex(info, r'ID\["EPSG",%s\]\]\s*Data axis' % code)
        return got

    def reject_run(self, geoms, bad, memory=""):
        """`geoms` as features n = 1, 2, ... through reproject to EPSG:3035
        with on_error: reject: the features not in `bad` (indexes) come out
        in order, as many as ogr2ogr makes of them.  (written, ogr2ogr's,
        rejects)"""
        def collection(keep):
            return {"type": "FeatureCollection", "features": [
                {"type": "Feature", "id": i + 1, "properties": {"n": i + 1}, "geometry": g}
                for i, g in enumerate(geoms) if keep(i)]}
        src, good = self.path("mixed.geojson"), self.path("good.geojson")
        with open(src, "w") as f:
            json.dump(collection(lambda i: True), f)
        with open(good, "w") as f:
            json.dump(collection(lambda i: i not in bad), f)
        p = self.pipeline(f"""version: 1
on_error: reject
rejects: {{ path: rejects.gpkg }}
{memory}
steps:
  - read: {{ path: {src} }}
  - reproject: {{ to: "EPSG:3035" }}
  - write: {{ path: out.gpkg }}
""")
        self.gp_ok("run", "-q", p)
        got = self.geojson(self.path("out.gpkg"))["features"]
        want = self.geojson(self.reference(good, "EPSG:3035"))["features"]
        self.assertEqual([f["properties"]["n"] for f in got],
                         [i + 1 for i in range(len(geoms)) if i not in bad])
        self.assertEqual(len(got), len(want))
        rej = sorted(self.geojson(self.path("rejects.gpkg"))["features"],
                     key=lambda f: f["properties"]["n"])
        return got, want, rej

    # -- CRS pairs ---------------------------------------------------------

    def test_world_wgs84_to_laea_europe(self):
        got = self.assertSameAsOgr2ogr(gptest.data("world.gpkg"), "EPSG:3035", min_features=177)
        # Projected metres, not degrees.
        xs = [abs(x) for f in got["features"] for x, _ in gptest.coords(f["geometry"])]
        self.assertGreater(max(xs), 1e6)

    def test_europe_subset_to_laea(self):
        # Europe only (ogr2ogr -spat), the area EPSG:3035 is meant for.
        eu = self.path("europe.gpkg")
        gptest.ogr2ogr("-spat", "-25", "34", "45", "72", eu, gptest.data("world.gpkg"))
        self.assertGreater(gptest.feature_count(eu), 30)
        self.assertSameAsOgr2ogr(eu, "EPSG:3035")

    def test_cycle_hire_wgs84_to_british_national_grid(self):
        # Datum shift WGS 84 -> OSGB36 (Helmert, or OSTN15 where the grid is installed).
        got = self.assertSameAsOgr2ogr(gptest.data("cycle_hire.geojson"), "EPSG:27700",
                                       min_features=742)
        # Central London in BNG metres.
        for f in got["features"]:
            (x, y), = gptest.coords(f["geometry"])
            self.assertTrue(500000 < x < 560000 and 160000 < y < 200000, (x, y))

    def test_sids_nad27_to_utm17n_wgs84(self):
        # Datum shift NAD27 -> WGS 84.
        self.assertSameAsOgr2ogr(gptest.data("sids.shp"), "EPSG:32617", min_features=100)

    def test_sids_nad27_to_web_mercator(self):
        self.assertSameAsOgr2ogr(gptest.data("sids.shp"), "EPSG:3857", min_features=100)

    def test_boston_nad27_to_massachusetts_mainland_nad83(self):
        # Datum shift NAD27 -> NAD83.
        self.assertSameAsOgr2ogr(gptest.data("boston_tracts.shp"), "EPSG:26986",
                                 min_features=506)

    def test_same_crs_leaves_coordinates_alone(self):
        out = self.reproject(gptest.data("world.gpkg"), "EPSG:4326")
        got, src = self.geojson(out), self.geojson(gptest.data("world.gpkg"))
        self.assertEqual(len(got["features"]), 177)
        for fg, fs in zip(got["features"], src["features"]):
            self.assertEqual(gptest.coords(fg["geometry"]), gptest.coords(fs["geometry"]))

    # -- from: ---------------------------------------------------------------

    def nocrs_copy(self):
        # sids without its .prj: a layer with no CRS.
        dst = self.path("nocrs", "counties.shp")
        gptest.copy_shapefile(gptest.data("sids.shp"), dst)
        os.unlink(self.path("nocrs", "counties.prj"))
        self.assertNotIn("PROJCRS", gptest.ogr_info(dst, "counties"))
        self.assertNotIn("GEOGCRS", gptest.ogr_info(dst, "counties"))
        return dst

    def test_from_gives_a_missing_crs(self):
        src = self.nocrs_copy()
        self.assertSameAsOgr2ogr(src, "EPSG:32617", frm="EPSG:4267", min_features=100)

    def test_from_overrides_a_wrong_crs(self):
        # The stations declared as WGS 84 but read as OSGB36 lon/lat: the
        # override must change the result (by the datum shift, ~100 m).
        src = gptest.data("cycle_hire.geojson")
        got = self.assertSameAsOgr2ogr(src, "EPSG:27700", frm="EPSG:4277")
        plain = self.geojson(self.reproject(src, "EPSG:27700", out="plain.gpkg",
                                            name="plain.yaml"))
        shift = gptest.max_coord_diff(got["features"][0]["geometry"],
                                      plain["features"][0]["geometry"])
        self.assertGreater(shift, 20.0)
        self.assertLess(shift, 500.0)

    def test_no_crs_and_no_from_is_a_data_error(self):
        src = self.nocrs_copy()
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: {src} }}
  - reproject: {{ to: "EPSG:32617" }}
  - write: {{ path: out/x.gpkg }}
""")
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_DATAERR)
        self.assertIn("no CRS", r.err)
        self.assertIn("from:", r.err)
        self.assertIn("counties", r.err)
        self.assertFalse(os.path.exists(self.path("out", "x.gpkg")))
        self.assertEqual(self.leftovers(), [])

    # -- coordinates PROJ cannot transform ----------------------------------

    def test_untransformable_coordinate_fails_the_run(self):
        # (-170, -52) is the antipode of EPSG:3035's projection centre
        # (10E, 52N): the Lambert azimuthal equal-area has no image for it.
        src = self.path("pts.geojson")
        feats = [{"type": "Feature", "id": i, "properties": {"n": "p%d" % i},
                  "geometry": {"type": "Point", "coordinates": c}}
                 for i, c in [(1, [10, 50]), (2, [12, 48]), (7, [-170, -52]), (8, [11, 51])]]
        with open(src, "w") as f:
            json.dump({"type": "FeatureCollection", "features": feats}, f)
        # A real failure, not a gispipe quirk: ogr2ogr cannot do it either.
        ref = subprocess.run(["ogr2ogr", "-t_srs", "EPSG:3035", self.path("ref.gpkg"), src],
                             capture_output=True, text=True)
        self.assertNotEqual(ref.returncode, 0)
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: {src} }}
  - reproject: {{ to: "EPSG:3035" }}
  - write: {{ path: out/pts.gpkg }}
""")
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_DATAERR)
        self.assertIn("step 'reproject'", r.err)
        self.assertRegex(r.err, r"\bfeature 7\b")
        self.assertIn("EPSG:3035", r.err)
        self.assertFalse(os.path.exists(self.path("out", "pts.gpkg")))
        self.assertEqual(self.leftovers(), [])

    def test_latitude_beyond_the_pole_fails(self):
        # Bad data: a latitude of 95 degrees has no Web Mercator image; the
        # second point of a line fails its feature.
        src = self.path("far.geojson")
        with open(src, "w") as f:
            json.dump({"type": "FeatureCollection", "features": [
                {"type": "Feature", "id": 1, "properties": {"n": "ok"},
                 "geometry": {"type": "LineString", "coordinates": [[10, 50], [11, 51]]}},
                {"type": "Feature", "id": 3, "properties": {"n": "far"},
                 "geometry": {"type": "LineString", "coordinates": [[10, 50], [10, 95]]}}]}, f)
        ref = subprocess.run(["ogr2ogr", "-t_srs", "EPSG:3857", self.path("ref.gpkg"), src],
                             capture_output=True, text=True)
        self.assertNotEqual(ref.returncode, 0)
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: {src} }}
  - reproject: {{ to: "EPSG:3857" }}
  - write: {{ path: far.gpkg }}
""")
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_DATAERR)
        self.assertRegex(r.err, r"step 'reproject': failed on feature 3\b")
        self.assertIn("coordinate 2", r.err)
        self.assertFalse(os.path.exists(self.path("far.gpkg")))
        self.assertEqual(self.leftovers(), [])


    def test_mixed_batch_with_a_reject(self):
        # One batch of points, lines and polygons, 2D and Z, around a point
        # PROJ cannot transform: with on_error: reject, that one is rejected
        # as it was read and every other is transformed as ogr2ogr does, Z
        # kept as given (the Z array starts part-way through the batch).
        geoms = [{"type": "Point", "coordinates": [10, 50]},
                 {"type": "LineString", "coordinates": [[10, 50], [11, 51], [12, 50.5]]},
                 {"type": "Point", "coordinates": [12, 48, 250.5]},
                 {"type": "Point", "coordinates": [-170, -52]},
                 {"type": "Polygon", "coordinates": [[[5, 45], [6, 45], [6, 46], [5, 45]]]},
                 {"type": "LineString", "coordinates": [[1, 40, 7], [2, 41, -3]]},
                 {"type": "MultiPoint", "coordinates": [[3, 42], [4, 43]]}]
        bad = 3
        got, want, rej = self.reject_run(geoms, {bad})

        def flat(c):
            return [c] if isinstance(c[0], (int, float)) else [p for x in c for p in flat(x)]
        for fg, fw in zip(got, want):
            cg, cw = flat(fg["geometry"]["coordinates"]), flat(fw["geometry"]["coordinates"])
            self.assertEqual(len(cg), len(cw))
            for a, b in zip(cg, cw):
                self.assertEqual(len(a), len(b), (fg, fw))
                self.assertLess(max(abs(a[0] - b[0]), abs(a[1] - b[1])), TOL, (fg, fw))
                if len(a) > 2:
                    self.assertEqual(a[2], b[2])
        self.assertEqual(len(rej), 1)
        self.assertEqual(rej[0]["geometry"]["coordinates"], [-170, -52])
        self.assertIn("coordinate 1 cannot be transformed to EPSG:3035",
                      rej[0]["properties"]["_reason"])

    def test_chunks_of_a_large_batch(self):
        # One batch of 1000 features goes through PROJ in chunks of a few
        # hundred points: a line longer than a chunk, features on either
        # side of chunk ends, and two failures in later chunks (a point, and
        # the second part of a multi-line): with on_error: reject, exactly
        # those two are rejected as read, every other is transformed as
        # ogr2ogr does.
        geoms = []
        for i in range(1000):
            x, y = round(-5 + (i % 37) * 0.9, 6), round(36 + (i % 23) * 1.1, 6)
            if i == 300:
                geoms.append({"type": "LineString",
                              "coordinates": [[x + k * 0.01, y + k * 0.005] for k in range(700)]})
            elif i == 450:
                geoms.append({"type": "MultiLineString",
                              "coordinates": [[[x, y], [x + 1, y + 1]], [[x, y], [-170, -52]]]})
            elif i == 620:
                geoms.append({"type": "Point", "coordinates": [-170, -52]})
            elif i % 50 == 7:
                geoms.append({"type": "Polygon", "coordinates": [[[x, y, 3], [x + 1, y, 4],
                                                                  [x + 1, y + 1, 5], [x, y, 3]]]})
            elif i % 50 == 8:
                geoms.append({"type": "MultiPoint", "coordinates": [[x, y], [x + 0.5, y + 0.5]]})
            else:
                geoms.append({"type": "Point", "coordinates": [x, y]})
        bad = {450, 620}
        got, want, rej = self.reject_run(geoms, bad, "memory: { batch: 1000 }")
        worst = max(gptest.max_coord_diff(fg["geometry"], fw["geometry"])
                    for fg, fw in zip(got, want))
        self.assertLess(worst, TOL)
        self.assertEqual([f["properties"]["n"] for f in rej], [451, 621])
        self.assertEqual(rej[0]["geometry"]["coordinates"], geoms[450]["coordinates"])
        self.assertEqual(rej[1]["geometry"]["coordinates"], [-170, -52])
        self.assertIn("coordinate 4 cannot be transformed", rej[0]["properties"]["_reason"])
        self.assertIn("coordinate 1 cannot be transformed", rej[1]["properties"]["_reason"])


if __name__ == "__main__":
    gptest.main()
