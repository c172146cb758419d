"""on_error: reject puts every failed feature in the rejects dataset, with
its original attributes and geometry and why; nothing is dropped without a
count; max_rejects turns too many into exit 65."""
import json
import os

import gptest

# Points over the North Pole: those above latitude 90 cannot go to Web
# Mercator, the others can.
SOURCE = "  - read: { synthetic: { geometry: point, count: 400, extent: [-10, 80, 10, 95] } }\n"


class Rejects(gptest.TempDirTest):
    def pipeline_text(self, extra=""):
        return ("version: 1\non_error: reject\nrejects: { path: out/rejects.gpkg }\n" + extra +
                "steps:\n" + SOURCE +
                "  - reproject: { to: \"EPSG:3857\" }\n"
                "  - write: { path: out/good.gpkg }\n")

    def features(self, path):
        return gptest.as_geojson(self.path(path), workdir=self.dir)["features"]

    def test_every_feature_is_written_or_rejected(self):
        p = self.pipeline(self.pipeline_text())
        r = self.gp("run", p, "--report", "r.json")
        self.assertExit(r, 0)
        good, bad = self.features("out/good.gpkg"), self.features("out/rejects.gpkg")
        self.assertGreater(len(good), 0)
        self.assertGreater(len(bad), 0)
        self.assertEqual(len(good) + len(bad), 400)
        ids = sorted([f["properties"]["id"] for f in good] + [f["properties"]["id"] for f in bad])
        self.assertEqual(ids, list(range(1, 401)))
        with open(self.path("r.json")) as f:
            rep = json.load(f)
        self.assertEqual(rep["totals"]["rejects"], len(bad))
        per_step = {s["name"]: s["rejects"] for s in rep["stages"]}
        self.assertEqual(per_step, {"read": 0, "reproject": len(bad), "write": 0})
        self.assertEqual(rep["totals"]["features_out"], len(good))
        for st in rep["stages"]:
            self.assertEqual(sum(st["live"].values()), 0, st)

    def test_rejects_carry_original_attributes_geometry_and_reason(self):
        # The same points without reprojection: the originals.
        src = self.pipeline("version: 1\nsteps:\n" + SOURCE +
                            "  - write: { path: out/all.gpkg }\n", "all.yaml")
        self.assertExit(self.gp("run", "-q", src), 0)
        orig = {f["properties"]["id"]: f for f in self.features("out/all.gpkg")}
        self.assertExit(self.gp("run", "-q", self.pipeline(self.pipeline_text())), 0)
        for f in self.features("out/rejects.gpkg"):
            p = f["properties"]
            o = orig[p["id"]]
            self.assertEqual(p["_step"], "reproject")
            self.assertIn("cannot be transformed to EPSG:3857", p["_reason"])
            self.assertEqual(p["_source"], "synthetic")
            self.assertEqual(p["_fid"], p["id"])
            for k in ("id", "code", "name"):
                self.assertEqual(p[k], o["properties"][k])
            self.assertEqual(f["geometry"]["coordinates"], o["geometry"]["coordinates"])
            self.assertGreater(f["geometry"]["coordinates"][1], 85)

    def test_max_rejects_exceeded_is_65_and_writes_nothing(self):
        p = self.pipeline(self.pipeline_text("max_rejects: 5\n"))
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_DATAERR)
        self.assertIn("more than max_rejects (5)", r.err)
        self.assertFalse(os.path.exists(self.path("out", "good.gpkg")))
        self.assertFalse(os.path.exists(self.path("out", "rejects.gpkg")))
        self.assertEqual(self.leftovers(), [])

    def test_failed_run_removes_the_directory_it_made(self):
        # out/ holds both outputs' temporaries; whichever is aborted first
        # cannot remove it, the other must.
        p = self.pipeline(self.pipeline_text("max_rejects: 0\n"))
        self.assertExit(self.gp("run", "-q", p), gptest.EX_DATAERR)
        self.assertFalse(os.path.exists(self.path("out")))

    def test_max_rejects_not_exceeded(self):
        p = self.pipeline(self.pipeline_text("max_rejects: 400\n"))
        self.assertExit(self.gp("run", "-q", p), 0)

    def test_no_failures_gives_an_empty_rejects_dataset(self):
        p = self.pipeline("version: 1\non_error: reject\nrejects: { path: out/rejects.gpkg }\n"
                          "steps:\n  - read: { path: %s }\n"
                          "  - reproject: { to: \"EPSG:32617\" }\n"
                          "  - write: { path: out/good.gpkg }\n" % gptest.data("sids.shp"))
        self.assertExit(self.gp("run", "-q", p), 0)
        self.assertEqual(len(self.features("out/good.gpkg")), 100)
        self.assertEqual(len(self.features("out/rejects.gpkg")), 0)

    def test_on_error_fail_names_the_feature(self):
        p = self.pipeline(self.pipeline_text().replace("on_error: reject\nrejects: "
                                                       "{ path: out/rejects.gpkg }\n", ""))
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_DATAERR)
        self.assertRegex(r.err, r"step 'reproject': failed on feature \d+ of layer 'synthetic'")
        self.assertFalse(os.path.exists(self.path("out")))


if __name__ == "__main__":
    gptest.main()
