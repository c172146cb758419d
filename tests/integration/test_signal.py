"""SIGTERM, SIGINT and SIGHUP stop a run at the next batch: exit 128+N, the
target absent (or as it was), no temporary directory, and the report says
so.  Once the commit has begun, signals wait for it: the exit status always
matches what is on disk."""
import hashlib
import json
import os
import random
import signal
import subprocess
import time
import unittest

import gptest

COUNT = 3000000  # about a minute of work: the signal always comes mid-run
LOOP_COUNT = 20000  # short runs, signalled over their second half


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

    def test_sighup_exits_129_and_leaves_nothing(self):
        # A cron shell or an ssh session gone: a clean stop, like SIGTERM.
        self.interrupt(signal.SIGHUP, 129)
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


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class SignalsDuringCommit(gptest.TempDirTest):
    """The commit renames every output into place; a signal that comes
    while it does must neither stop it half-way nor make the exit status
    say that nothing was written."""

    def small_run(self, count, extra=(), env=None):
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ synthetic: {{ geometry: point, count: {count}, seed: 5 }} }}
  - write: {{ path: out/t.gpkg, mode: overwrite }}
""")
        cmd = gptest.WRAPPER + [gptest.GISPIPE, "run", "-q", p] + list(extra)
        return subprocess.Popen(cmd, cwd=self.dir, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)

    def previous(self):
        os.makedirs(self.path("out"), exist_ok=True)
        gptest.ogr2ogr(self.path("out", "t.gpkg"), gptest.data("sids.shp"), "-nln", "t")
        return sha(self.path("out", "t.gpkg"))

    def test_two_signals_inside_the_commit_wait_for_it(self):
        # A test knob holds the commit open (signals blocked) for a while:
        # both signals land inside it, the commit finishes, exit 0.
        before = self.previous()
        proc = self.small_run(1000, ["--config", "GISPIPE_TEST_COMMIT_PAUSE", "1.5"])
        try:
            line = proc.stderr.readline()
            self.assertIn("commit paused", line, "the test knob did not pause the commit")
            proc.send_signal(signal.SIGINT)
            time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, err)
        self.assertNotEqual(sha(self.path("out", "t.gpkg")), before)
        self.assertEqual(gptest.feature_count(self.path("out", "t.gpkg")), 1000)
        self.assertEqual(self.leftovers(), [])

    def test_signal_before_the_commit_keeps_the_previous_version(self):
        before = self.previous()
        proc = self.small_run(1000, ["--config", "GISPIPE_TEST_COMMIT_PAUSE", "1.5"])
        try:
            # Stopped while the run is still reading: nothing is committed
            # and the pause is never reached.
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertIn(proc.returncode, (143, -signal.SIGTERM), err)
        self.assertEqual(sha(self.path("out", "t.gpkg")), before)

    @unittest.skipIf(gptest.UNDER_VALGRIND, "40 runs; the knob test above covers valgrind")
    def test_exit_status_always_matches_the_target(self):
        # SIGINT at random moments over the whole run, the commit
        # included: 0 exactly when the new version is in place, 130 (or
        # killed before the handler was installed) exactly when the previous
        # one is.
        rng = random.Random(8)
        self.previous()
        t0 = time.monotonic()
        proc = self.small_run(LOOP_COUNT)
        proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0)
        length = time.monotonic() - t0
        agreed = {0: 0, 130: 0}
        for trial in range(25):
            before = self.previous()  # GeoPackages carry a timestamp
            proc = self.small_run(LOOP_COUNT)
            time.sleep(rng.uniform(0.5, 1.05) * length)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=120)
            now = sha(self.path("out", "t.gpkg"))
            state = "new" if now != before else "previous"
            with self.subTest(trial=trial):
                if proc.returncode == 0:
                    self.assertEqual(state, "new", err)
                    self.assertEqual(gptest.feature_count(self.path("out", "t.gpkg")), LOOP_COUNT)
                else:
                    self.assertIn(proc.returncode, (130, -signal.SIGINT), err)
                    self.assertEqual(state, "previous", "exit %d but the target was replaced: %s"
                                     % (proc.returncode, err))
                self.assertEqual(self.leftovers(), [])
            agreed[0 if proc.returncode == 0 else 130] += 1
        # The moments spread over the run: some runs finished, some stopped.
        self.assertGreater(agreed[130], 0)


if __name__ == "__main__":
    gptest.main()
