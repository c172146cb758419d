"""SIGTERM and SIGINT stop a run at the next batch: exit 128+N, the target
absent (or as it was), no temporary directory, and the report says so."""
import json
import os
import signal
import subprocess
import time
import unittest

import gptest

COUNT = 3000000  # about a minute of work: the signal always comes mid-run


@unittest.skipIf(gptest.UNDER_VALGRIND, "signal timing under valgrind is not meaningful")
class Signals(gptest.TempDirTest):
    def start(self, out="out/big.gpkg", mode="create"):
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ synthetic: {{ geometry: point, count: {COUNT}, seed: 3 }} }}
  - write: {{ path: {out}, mode: {mode} }}
""")
        cmd = gptest.WRAPPER + [gptest.GISPIPE, "run", "-q", p, "--report",
                                self.path("report.json")]
        return subprocess.Popen(cmd, cwd=self.dir, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def wait_for_temp(self, proc, d):
        """Poll until the run has started writing (its temporary directory
        exists), then give it about a second more."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.fail("gispipe ended before the signal: %s" % (proc.communicate(),))
            if os.path.isdir(d) and any(n.startswith(".gispipe-") for n in os.listdir(d)):
                time.sleep(1.0)
                return
            time.sleep(0.05)
        proc.kill()
        self.fail("no temporary directory appeared")

    def interrupt(self, sig, expect, out="out/big.gpkg", mode="create"):
        proc = self.start(out, mode)
        try:
            self.wait_for_temp(proc, os.path.dirname(self.path(out)))
            self.assertIsNone(proc.poll(), "the run finished too soon for the test")
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, expect, err)
        self.assertIn("interrupted by signal %d" % sig, err)
        self.assertEqual(self.leftovers(), [])
        with open(self.path("report.json")) as f:
            rep = json.load(f)
        self.assertEqual(rep["status"], "failed")
        self.assertEqual(rep["exit_code"], expect)
        # Stopped mid-way, not at the end.
        self.assertGreater(rep["totals"]["features_in"], 0)
        self.assertLess(rep["totals"]["features_in"], COUNT)
        self.assertEqual(rep["totals"]["outputs"], 0)
        return rep

    def test_sigterm_exits_143_and_leaves_nothing(self):
        self.interrupt(signal.SIGTERM, 143)
        # The directory gispipe made for the output goes too.
        self.assertFalse(os.path.exists(self.path("out")))

    def test_sigint_exits_130_and_leaves_nothing(self):
        self.interrupt(signal.SIGINT, 130)
        # The directory gispipe made for the output goes too.
        self.assertFalse(os.path.exists(self.path("out")))

    def test_sigterm_during_overwrite_keeps_the_previous_version(self):
        os.makedirs(self.path("out"))
        gptest.ogr2ogr(self.path("out", "big.gpkg"), gptest.data("sids.shp"))
        with open(self.path("out", "big.gpkg"), "rb") as f:
            before = f.read()
        self.interrupt(signal.SIGTERM, 143, mode="overwrite")
        with open(self.path("out", "big.gpkg"), "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(os.listdir(self.path("out")), ["big.gpkg"])


if __name__ == "__main__":
    gptest.main()
