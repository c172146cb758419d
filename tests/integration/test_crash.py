"""Crash consistency: a run overwriting a target is SIGKILLed at random
moments (a fixed seed) spread over the whole run, the commit included.
Each time the target is either the previous version, byte for byte, or the
complete new one; the next run in that directory leaves no temporaries and
no lock files, and no stale lock blocks the next run on the target."""
import hashlib
import os
import random
import shutil
import struct
import subprocess
import time
import unittest

import gptest

COUNT = 40000
TRIALS = 15  # per format: 30 in all


def digest(d):
    out = {}
    for n in sorted(os.listdir(d)):
        if not os.path.isfile(os.path.join(d, n)):
            continue
        with open(os.path.join(d, n), "rb") as f:
            out[n] = hashlib.sha256(f.read()).hexdigest()
    return out


@unittest.skipIf(gptest.UNDER_VALGRIND, "30 timed kills; too slow and meaningless under valgrind")
class Crash(gptest.TempDirTest):
    def pipeline_for(self, ext, count, seed, name):
        return self.pipeline(f"""version: 1
steps:
  - read: {{ synthetic: {{ geometry: polygon, vertices: 8, count: {count}, seed: {seed} }} }}
  - write: {{ path: out/t.{ext}, mode: overwrite, layer: t }}
""", name=name)

    def shape_consistent(self, stem):
        with open(stem + ".shx", "rb") as f:
            shx = (len(f.read()) - 100) // 8
        with open(stem + ".dbf", "rb") as f:
            dbf = struct.unpack("<I", f.read(8)[4:8])[0]
        return shx == dbf

    def state(self, ext, previous):
        out = self.path("out")
        names = sorted(n for n in os.listdir(out) if n.startswith("t."))
        now = {n: v for n, v in digest(out).items() if n in names}
        if now == previous:
            return "previous"
        if ext == "shp" and not self.shape_consistent(self.path("out", "t")):
            return "mixed"
        if gptest.feature_count(self.path("out", "t." + ext), "t") == COUNT:
            return "new"
        return "broken"

    def journals(self):
        """The commit journals of killed runs in out/."""
        out = self.path("out")
        return [os.path.join(out, n, ".commit") for n in os.listdir(out)
                if n.startswith(".gispipe-")
                and os.path.isfile(os.path.join(out, n, ".commit"))]

    def crash_loop(self, ext, rng):
        # The previous version: a small dataset of the same shape.
        self.gp_ok("run", "-q", self.pipeline_for(ext, 50, 1, "prev.yaml"))
        saved = self.path("saved")
        shutil.copytree(self.path("out"), saved)
        previous = digest(saved)
        big = self.pipeline_for(ext, COUNT, 2, "big.yaml")
        probe = self.pipeline(f"""version: 1
steps:
  - read: {{ synthetic: {{ geometry: point, count: 10, seed: 3 }} }}
  - write: {{ path: out/probe.gpkg, mode: overwrite }}
""", name="probe.yaml")
        t0 = time.monotonic()
        self.gp_ok("run", "-q", big)
        length = time.monotonic() - t0
        seen = {"previous": 0, "new": 0, "rolled forward": 0}
        for trial in range(TRIALS):
            shutil.rmtree(self.path("out"))
            shutil.copytree(saved, self.path("out"))
            cmd = gptest.WRAPPER + [gptest.GISPIPE, "run", "-q", big]
            proc = subprocess.Popen(cmd, cwd=self.dir, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.2, 1.15) * length)
            proc.kill()
            proc.wait()
            with self.subTest(ext=ext, trial=trial):
                st = self.state(ext, previous)
                # A dataset of several files caught between two of its
                # renames is a mix until the next run in the directory
                # finishes the commit from the journal the killed run
                # wrote before its first rename (the documented exception).
                mid_commit = st not in ("previous", "new")
                if mid_commit:
                    self.assertEqual(ext, "shp", st)
                    self.assertTrue(self.journals(), (st, os.listdir(self.path("out"))))
                # The next run in that directory removes what the killed
                # one left, and its own lock goes with it.
                r = self.gp("run", "-q", probe)
                self.assertExit(r, 0)
                if mid_commit:
                    st = self.state(ext, previous)
                    self.assertEqual(st, "new")
                    seen["rolled forward"] += 1
                else:
                    seen[st] += 1
                os.unlink(self.path("out", "probe.gpkg"))
                self.assertEqual(self.leftovers(), [])
                self.assertEqual(sorted(os.listdir(self.path("out"))), sorted(previous))
        # No stale lock blocks a run on the target itself.
        self.gp_ok("run", "-q", big)
        self.assertEqual(self.state(ext, previous), "new")
        self.assertEqual(sorted(os.listdir(self.path("out"))), sorted(previous))
        shutil.rmtree(saved)
        shutil.rmtree(self.path("out"))
        return seen

    def test_sigkill_anywhere_leaves_previous_or_new(self):
        rng = random.Random(12)
        for ext in ("gpkg", "shp"):
            seen = self.crash_loop(ext, rng)
            # The moments spread over the run: most kills land before the
            # commit and leave the previous version.
            self.assertGreater(seen["previous"], 0, (ext, seen))


class RollForward(gptest.TempDirTest):
    """A Shapefile is several files: a process killed between two renames
    leaves a mix, which the next run in the directory completes from the
    commit journal the killed run wrote before its first rename."""

    def test_kill_between_renames_is_rolled_forward(self):
        prev = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: point, count: 50, seed: 1 } }
  - write: { path: out/t.shp, mode: overwrite }
""", name="prev.yaml")
        self.gp_ok("run", "-q", prev)
        with open(self.path("out", "t.cpg"), "w") as f:  # the new version has none
            f.write("UTF-8")
        new = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: point, count: 2000, seed: 2 } }
  - write: { path: out/t.shp, mode: overwrite }
""", name="new.yaml")
        cmd = gptest.WRAPPER + [gptest.GISPIPE, "run", "-q", new, "--config",
                                "GISPIPE_TEST_COMMIT_PAUSE", "60"]
        proc = subprocess.Popen(cmd, cwd=self.dir, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stderr.readline()
            self.assertIn("commit paused", line)
        finally:
            proc.kill()
            proc.wait()
            proc.stderr.close()
        # Killed after the main file's rename: the .shp is new, the rest old.
        with open(self.path("out", "t.shx"), "rb") as f:
            self.assertEqual((len(f.read()) - 100) // 8, 50)
        self.assertEqual(os.path.getsize(self.path("out", "t.shp")), 100 + 2000 * 28)
        # The next run writing in that directory finishes the commit.
        probe = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: point, count: 10, seed: 3 } }
  - write: { path: out/probe.gpkg, mode: overwrite }
""", name="probe.yaml")
        self.gp_ok("run", "-q", probe)
        self.assertEqual(gptest.feature_count(self.path("out", "t.shp")), 2000)
        with open(self.path("out", "t.shx"), "rb") as f:
            self.assertEqual((len(f.read()) - 100) // 8, 2000)
        self.assertEqual(self.leftovers(), [])
        self.assertEqual(sorted(os.listdir(self.path("out"))),
                         ["probe.gpkg", "t.dbf", "t.prj", "t.shp", "t.shx"])


if __name__ == "__main__":
    gptest.main()
