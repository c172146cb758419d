"""Runs side by side on one target: every target is locked while a run
writes it (a second run exits 75 naming the holder, or waits with
--lock-wait), `mode: create` commits with an atomic no-replace (of two
runs exactly one wins), appends add up, a shapefile is never a mix of two
runs, and temporaries left by a killed run are removed by the next run in
that directory, never those of a live run."""
import json
import os
import re
import signal
import struct
import subprocess
import time
import unittest

import gptest

# Under valgrind (about 2 s a start, and far slower runs) only the cheap
# cases run: the option's range and one create race on a small output.
HEAVY = unittest.skipIf(gptest.UNDER_VALGRIND, "many long runs; too slow under valgrind")
SMALL = 3000 if gptest.UNDER_VALGRIND else 30000


class Concurrent(gptest.TempDirTest):
    def start(self, out, count, mode="create", seed=1, extra=(), name=None):
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ synthetic: {{ geometry: point, count: {count}, seed: {seed} }} }}
  - write: {{ path: {out}, mode: {mode}, layer: pts }}
""", name=name or "p-%d-%d.yaml" % (seed, count))
        cmd = gptest.WRAPPER + [gptest.GISPIPE, "run", "-q", p] + list(extra)
        return subprocess.Popen(cmd, cwd=self.dir, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def finish(self, *procs):
        out = []
        for p in procs:
            _, err = p.communicate(timeout=300)
            out.append((p.returncode, err))
        return out

    def wait_for_temp(self, proc, d):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.fail("gispipe ended too soon: %s" % (proc.communicate(),))
            if os.path.isdir(d) and any(n.startswith(".gispipe-") for n in os.listdir(d)):
                return [n for n in os.listdir(d) if n.startswith(".gispipe-")]
            time.sleep(0.02)
        proc.kill()
        self.fail("no temporary directory appeared")

    def base10(self, path):
        feats = [{"type": "Feature", "properties": {"i": i},
                  "geometry": {"type": "Point", "coordinates": [i, i]}} for i in range(10)]
        src = self.path("ten.geojson")
        with open(src, "w") as f:
            json.dump({"type": "FeatureCollection", "features": feats}, f)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        gptest.ogr2ogr(path, src, "-nln", "pts")

    def test_two_creates_exactly_one_wins(self):
        waits = ((), ("--lock-wait", "120"))
        if gptest.UNDER_VALGRIND:
            waits = (("--lock-wait", "600"),)
        for wait in waits:
            for trial in range(2 if not gptest.UNDER_VALGRIND else 1):
                with self.subTest(wait=wait, trial=trial):
                    target = self.path("out", "c.gpkg")
                    if os.path.exists(target):
                        os.unlink(target)
                    a = self.start("out/c.gpkg", SMALL, seed=1, extra=wait)
                    b = self.start("out/c.gpkg", SMALL + 1, seed=2, extra=wait)
                    (ca, ea), (cb, eb) = self.finish(a, b)
                    codes = sorted([ca, cb])
                    # Waiting, the loser finds the winner's output: 73;
                    # not waiting, it may also find the lock held: 75.
                    self.assertEqual(codes[0], 0, (ea, eb))
                    self.assertIn(codes[1], (73,) if wait else (73, 75), (ea, eb))
                    winner = SMALL if ca == 0 else SMALL + 1
                    self.assertEqual(gptest.feature_count(target, "pts"), winner)
                    self.assertEqual(self.leftovers(), [])
                    self.assertEqual(os.listdir(self.path("out")), ["c.gpkg"])

    @HEAVY
    def test_two_appends_add_up(self):
        target = self.path("out", "base.gpkg")
        self.base10(target)
        a = self.start("out/base.gpkg", 100000, mode="append", seed=1,
                       extra=("--lock-wait", "300"))
        b = self.start("out/base.gpkg", 100000, mode="append", seed=2,
                       extra=("--lock-wait", "300"))
        (ca, ea), (cb, eb) = self.finish(a, b)
        self.assertEqual((ca, cb), (0, 0), (ea, eb))
        self.assertEqual(gptest.feature_count(target, "pts"), 200010)
        self.assertEqual(self.leftovers(), [])
        self.assertEqual(os.listdir(self.path("out")), ["base.gpkg"])

    def shape_counts(self, stem):
        """Records in .shp (by walking it), .shx and .dbf: all equal when
        the three files come from one run."""
        with open(stem + ".shx", "rb") as f:
            shx = (len(f.read()) - 100) // 8
        with open(stem + ".dbf", "rb") as f:
            dbf = struct.unpack("<I", f.read(8)[4:8])[0]
        n = 0
        with open(stem + ".shp", "rb") as f:
            data = f.read()
        off = 100
        while off + 8 <= len(data):
            n += 1
            off += 8 + 2 * struct.unpack(">I", data[off + 4:off + 8])[0]
        return n, shx, dbf

    @HEAVY
    def test_two_shapefile_overwrites_never_mix(self):
        for trial in range(5):
            with self.subTest(trial=trial):
                a = self.start("out/s.shp", 40000, mode="overwrite", seed=1,
                               extra=("--lock-wait", "120"))
                b = self.start("out/s.shp", 70000, mode="overwrite", seed=2,
                               extra=("--lock-wait", "120"))
                (ca, ea), (cb, eb) = self.finish(a, b)
                self.assertEqual((ca, cb), (0, 0), (ea, eb))
                n, shx, dbf = self.shape_counts(self.path("out", "s"))
                self.assertEqual((n, shx), (dbf, dbf))
                self.assertIn(dbf, (40000, 70000))
                self.assertEqual(self.leftovers(), [])
                self.assertEqual(sorted(os.listdir(self.path("out"))),
                                 ["s.dbf", "s.prj", "s.shp", "s.shx"])

    @HEAVY
    def test_second_run_names_the_holder(self):
        # The holder keeps its lock for at least 10 s whatever the machine's
        # speed: its commit is held open (the test knob), so the three runs
        # below always meet it.
        a = self.start("out/x.gpkg", 400000, mode="overwrite", seed=1,
                       extra=("--config", "GISPIPE_TEST_COMMIT_PAUSE", "10"))
        try:
            self.wait_for_temp(a, self.path("out"))
            r = self.gp("run", "-q", self.start_pipeline("out/x.gpkg"))
            self.assertExit(r, gptest.EX_TEMPFAIL)
            self.assertIn("'out/x.gpkg' is being written by another gispipe (pid %d); retry "
                          "later or use --lock-wait" % a.pid, r.err)
            t0 = time.monotonic()
            r = self.gp("run", "-q", "--lock-wait", "1", self.start_pipeline("out/x.gpkg"))
            self.assertExit(r, gptest.EX_TEMPFAIL)
            self.assertGreaterEqual(time.monotonic() - t0, 1.0)
            self.assertIn("(pid %d)" % a.pid, r.err)
            # A signal ends the wait: 143, and the holder goes on.
            cmd = gptest.WRAPPER + [gptest.GISPIPE, "run", "-q", "--lock-wait", "60",
                                    self.start_pipeline("out/x.gpkg")]
            b = subprocess.Popen(cmd, cwd=self.dir, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            time.sleep(0.7)
            b.send_signal(signal.SIGTERM)
            (code, err), = self.finish(b)
            self.assertEqual(code, 143, err)
            self.assertIn("interrupted by signal 15", err)
            self.assertIsNone(a.poll(), "the first run ended while the test needed it")
        finally:
            (code, err), = self.finish(a)
        self.assertEqual(code, 0, err)
        self.assertEqual(gptest.feature_count(self.path("out", "x.gpkg"), "pts"), 400000)
        self.assertEqual(self.leftovers(), [])
        self.assertEqual(os.listdir(self.path("out")), ["x.gpkg"])

    def start_pipeline(self, out):
        return self.pipeline(f"""version: 1
steps:
  - read: {{ synthetic: {{ geometry: point, count: 10, seed: 9 }} }}
  - write: {{ path: {out}, mode: overwrite, layer: pts }}
""", name="small.yaml")

    def test_lock_wait_range(self):
        p = self.start_pipeline("out/y.gpkg")
        for bad in ("-1", "86401", "abc", "1.5", ""):
            with self.subTest(value=bad):
                r = self.gp("run", "-q", "--lock-wait", bad, p)
                self.assertExit(r, gptest.EX_USAGE)
                self.assertIn("--lock-wait", r.err)
        self.gp_ok("run", "-q", "--lock-wait", "0", p)
        self.gp_ok("run", "-q", "--lock-wait=86400", p)
        r = self.gp("--help")
        self.assertIn("--lock-wait SECONDS", r.out)

    @HEAVY
    def test_stale_temporaries_of_a_killed_run_go(self):
        a = self.start("out/k.gpkg", 400000, mode="create", seed=1)
        try:
            stale = self.wait_for_temp(a, self.path("out"))
            time.sleep(0.5)
        finally:
            a.kill()
            a.wait()
        self.assertEqual(len(stale), 1)
        self.assertTrue(os.path.isdir(self.path("out", stale[0])))
        # A later run writing another output in that directory removes it.
        self.gp_ok("run", "-q", self.start_pipeline("out/other.gpkg"))
        self.assertEqual(self.leftovers(), [])
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["other.gpkg"])
        # And the killed run's target was never created.
        self.assertFalse(os.path.exists(self.path("out", "k.gpkg")))

    @HEAVY
    def test_temporaries_of_a_live_run_stay(self):
        a = self.start("out/live.gpkg", 400000, mode="create", seed=1)
        try:
            live = self.wait_for_temp(a, self.path("out"))
            self.gp_ok("run", "-q", self.start_pipeline("out/other.gpkg"))
            self.assertTrue(os.path.isdir(self.path("out", live[0])),
                            "a later run removed the temporary directory of a live one")
        finally:
            (code, err), = self.finish(a)
        self.assertEqual(code, 0, err)
        self.assertEqual(gptest.feature_count(self.path("out", "live.gpkg"), "pts"), 400000)
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["live.gpkg", "other.gpkg"])


if __name__ == "__main__":
    gptest.main()
