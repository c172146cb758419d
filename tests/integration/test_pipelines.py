"""Every example pipeline in pipelines/ validates, explains and runs, and
writes what it says it writes."""
import glob
import json
import os

import gptest

PIPELINES = sorted(glob.glob(os.path.join(gptest.SRC, "pipelines", "*.yaml")))


class ExamplePipelines(gptest.TempDirTest):
    def setUp(self):
        super().setUp()
        # Pipelines use paths relative to the repository root.
        os.symlink(os.path.abspath(gptest.DATA), self.path("data"))

    def test_there_are_examples(self):
        names = [os.path.basename(p) for p in PIPELINES]
        self.assertIn("quickstart.yaml", names)
        self.assertGreaterEqual(len(names), 4)

    def test_each_validates_explains_and_runs(self):
        for p in PIPELINES:
            with self.subTest(pipeline=os.path.basename(p)):
                args = []
                if "synthetic" in os.path.basename(p) or "bench" in os.path.basename(p):
                    args = ["--set", "count=2000"]
                if not gptest.MEMORY_MEASURED:
                    # The examples' limits are for gispipe alone, not for
                    # valgrind's or ASan's memory beside it.
                    args += ["--memory-limit", "16GiB"]
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


if __name__ == "__main__":
    gptest.main()
