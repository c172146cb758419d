"""A run that fails leaves every target as it was: absent, or its previous
version byte for byte, and no temporary .gispipe-* directory anywhere."""
import hashlib
import json
import os

import gptest

SIDS = gptest.data("sids.shp")
TRACTS = gptest.data("boston_tracts.shp")


def digest_tree(d):
    """name -> sha256 of every file under d."""
    out = {}
    for root, _, files in os.walk(d):
        for n in files:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, d)] = hashlib.sha256(f.read()).hexdigest()
    return out


class Atomic(gptest.TempDirTest):
    def run_fail(self, inputs, out, code, extra="", steps='  - reproject: { to: "EPSG:3035" }\n'):
        srcs = ", ".join('"%s"' % s for s in inputs)
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: [{srcs}] }}
{steps}  - write: {{ path: "{out}"{extra} }}
""")
        r = self.gp("run", "-q", p, "--report", self.path("report.json"))
        self.assertExit(r, code)
        with open(self.path("report.json")) as f:
            self.report = json.load(f)
        self.assertEqual(self.report["exit_code"], code)
        self.assertEqual(self.report["totals"]["outputs"], 0)
        return r

    def written(self):
        """Features the write stage took before the run failed."""
        return [s for s in self.report["stages"] if s["step"] == "write"][0]["items_out"]

    def assertNoTemp(self):
        self.assertEqual(self.leftovers(), [])

    def test_failing_feature_in_the_second_input_templates(self):
        good = self.points("good.geojson", 50)
        bad = self.points("bad.geojson", 50, bad_at=30)
        self.run_fail([good, bad], "out/{stem}.gpkg", gptest.EX_DATAERR)
        self.assertEqual(self.written(), 50)
        # The first output was complete, but the run failed: nothing is kept.
        self.assertEqual(os.listdir(self.path("out")) if os.path.isdir(self.path("out")) else [],
                         [])
        self.assertNoTemp()

    def test_failure_after_several_batches_were_written(self):
        # Well past the first batches (1024 features each by default).
        bad = self.points("late.geojson", 5000, bad_at=4500)
        r = self.run_fail([bad], "out/late.gpkg", gptest.EX_DATAERR, steps=(
            '  - reproject: { to: "EPSG:3035" }\n'))
        self.assertIn("feature 4500", r.err)
        self.assertGreaterEqual(self.written(), 1024)
        self.assertFalse(os.path.exists(self.path("out", "late.gpkg")))
        self.assertNoTemp()

    def test_failure_merging_into_a_fixed_path(self):
        good = self.points("good.geojson", 2000)
        bad = self.points("bad.geojson", 10, bad_at=10)
        for ext in ("gpkg", "fgb", "shp", "geojson"):
            with self.subTest(ext=ext):
                self.run_fail([good, bad], "out/merged." + ext, gptest.EX_DATAERR,
                              extra=", layer: merged")
                self.assertEqual(self.written(), 2000)  # the failing batch never reaches write
                self.assertFalse(os.path.exists(self.path("out", "merged." + ext)))
                if os.path.isdir(self.path("out")):
                    self.assertEqual(os.listdir(self.path("out")), [])
                self.assertNoTemp()

    def test_missing_layer_named_in_read(self):
        a = self.path("in", "a.gpkg")
        b = self.path("in", "b.gpkg")
        os.makedirs(self.path("in"))
        gptest.ogr2ogr(a, SIDS, "-nln", "counties")
        gptest.ogr2ogr(b, SIDS, "-nln", "other")
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: [{a}, {b}], layer: counties }}
  - write: {{ path: "out/{{stem}}.gpkg" }}
""")
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_NOINPUT)
        self.assertIn("layer 'counties' not found in '%s' (layers: other)" % b, r.err)
        self.assertFalse(os.path.exists(self.path("out", "a.gpkg")))
        self.assertNoTemp()

    def test_select_fails_on_the_second_input(self):
        # The first input has the field, the second does not: the failure
        # comes when the first output is already being written.
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: [{SIDS}, {TRACTS}] }}
  - select: {{ keep: [NAME, FIPS] }}
  - write: {{ path: out/merged.gpkg }}
""")
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_DATAERR)
        self.assertIn("no field 'NAME'", r.err)
        self.assertFalse(os.path.exists(self.path("out", "merged.gpkg")))
        self.assertNoTemp()

    def test_overwrite_keeps_the_previous_version_on_failure(self):
        os.makedirs(self.path("out"))
        gptest.ogr2ogr(self.path("out", "prev.gpkg"), TRACTS)
        gptest.ogr2ogr(self.path("out", "prev.shp"), TRACTS)
        with open(self.path("out", "prev.cpg"), "w") as f:
            f.write("UTF-8")
        before = digest_tree(self.path("out"))
        good = self.points("good.geojson", 3000)
        bad = self.points("bad.geojson", 3000, bad_at=2999)
        for ext in ("gpkg", "shp"):
            with self.subTest(ext=ext):
                self.run_fail([good, bad], "out/prev." + ext, gptest.EX_DATAERR,
                              extra=", mode: overwrite, layer: prev")
                self.assertEqual(digest_tree(self.path("out")), before)
                self.assertNoTemp()

    def test_append_keeps_the_previous_version_on_failure(self):
        os.makedirs(self.path("out"))
        gptest.ogr2ogr(self.path("out", "base.gpkg"), TRACTS, "-nln", "pts")
        before = digest_tree(self.path("out"))
        bad = self.points("bad.geojson", 3000, bad_at=2500)
        self.run_fail([bad], "out/base.gpkg", gptest.EX_DATAERR, extra=", mode: append, layer: pts")
        self.assertEqual(digest_tree(self.path("out")), before)
        self.assertNoTemp()

    def test_create_conflict_on_a_later_output_keeps_nothing(self):
        # out/{stem}: the second target exists; the first must not appear.
        os.makedirs(self.path("out"))
        with open(self.path("out", "b.gpkg"), "w") as f:
            f.write("keep")
        a = self.points("a.geojson", 20)
        b = self.points("b.geojson", 20)
        self.run_fail([a, b], "out/{stem}.gpkg", gptest.EX_CANTCREAT)
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["b.gpkg"])
        with open(self.path("out", "b.gpkg")) as f:
            self.assertEqual(f.read(), "keep")
        self.assertNoTemp()

    def test_success_leaves_no_temporary_files(self):
        good = self.points("good.geojson", 100)
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: [{good}, {SIDS}] }}
  - write: {{ path: "out/{{stem}}.shp" }}
""")
        self.gp_ok("run", "-q", p)
        self.assertEqual(sorted(os.listdir(self.path("out"))),
                         sorted(["good.shp", "good.shx", "good.dbf", "good.prj",
                                 "sids.shp", "sids.shx", "sids.dbf", "sids.prj"]))
        self.assertNoTemp()


# Points over the North Pole: those above latitude 90 cannot go to Web
# Mercator; they become rejects.
POLAR = "  - read: { synthetic: { geometry: point, count: 400, extent: [-10, 80, 10, 95] } }\n"


class CollidingOutputs(gptest.TempDirTest):
    """Two outputs, the rejects included, can never resolve to one file."""

    def rejects_pipeline(self, rejects, out, read=POLAR):
        return self.pipeline("version: 1\non_error: reject\nrejects: { path: %s }\nsteps:\n"
                             "%s  - reproject: { to: \"EPSG:3857\" }\n"
                             "  - write: { path: %s }\n" % (rejects, read, out))

    def test_rejects_on_the_output_path_are_refused_up_front(self):
        os.makedirs(self.path("out"))
        for rejects, out in gptest.valgrind_sample(
                (("out/rs.gpkg", "out/rs.gpkg"),
                 ("./out/rs.gpkg", "out/rs.gpkg"),
                 (self.path("out", "rs.gpkg"), "out/../out/rs.gpkg"),
                 ("new/rs.gpkg", "new/./rs.gpkg")), 2, 3):
            with self.subTest(rejects=rejects, out=out):
                p = self.rejects_pipeline(rejects, out)
                r = self.gp("validate", p)
                self.assertExit(r, gptest.EX_CONFIG)
                self.assertIn("same file", r.err)
                r = self.gp("run", "-q", p, "--report", "r.json")
                self.assertExit(r, gptest.EX_CONFIG)
                self.assertIn("same file", r.err)
                self.assertEqual(os.listdir(self.path("out")), [])
                self.assertFalse(os.path.exists(self.path("new")))
                self.assertEqual(self.leftovers(), [])

    def test_rejects_beside_the_output_still_work(self):
        p = self.rejects_pipeline("out/rs.gpkg", "out/good.gpkg")
        self.gp_ok("validate", p)
        r = self.gp_ok("run", p)
        good = gptest.feature_count(self.path("out", "good.gpkg"))
        bad = gptest.feature_count(self.path("out", "rs.gpkg"))
        self.assertGreater(bad, 0)
        self.assertEqual(good + bad, 400)
        # The table on stderr counts them.
        self.assertIn("%d rejected" % bad, r.err)

    def test_template_meeting_the_rejects_at_run_time_is_73(self):
        a = self.path("a.geojson")
        gptest.ogr2ogr(a, gptest.data("sids.shp"))
        os.makedirs(self.path("out"))
        read = "  - read: { path: %s }\n" % a
        p = self.rejects_pipeline("out/a.gpkg", '"out/{stem}.gpkg"', read=read)
        # Not known from the file: validate passes, the run refuses the
        # second output before beginning it.
        self.gp_ok("validate", p)
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_CANTCREAT)
        self.assertIn("'out/a.gpkg'", r.err)
        self.assertIn("same file", r.err)
        self.assertEqual(os.listdir(self.path("out")), [])
        self.assertEqual(self.leftovers(), [])


if __name__ == "__main__":
    gptest.main()
