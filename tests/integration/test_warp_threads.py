"""The thread count and the raster warp on the run's pool.

A warp on one thread runs each window as one piece on the main thread (no
pool); on two, each window is cut in two strips warped on the pool's
workers.  For this raster the two cuts give the same pixels, so the files
must be byte-identical: a piece skipped, warped twice, into another
piece's rows or with another piece's transformer would show.  (Cut in
three or more strips, GDAL's kernels scale each strip from its own ratio
of output to input pixels and the middle rows differ by a unit or two:
the strips follow the thread count, which is why this test compares three
threads only with itself, run twice.)  No run may release anything from a
thread that does not own it, or leak a handle.  `explain` says how many threads the run gets and why: the CPUs
available, --threads / threads:, or lowered to what the memory limit holds.
This file is the 'threads' suite's raster part: it runs under ThreadSanitizer
too (meson test --setup tsan --suite threads), so it stays small.
"""
import json
import os
import re
import unittest

import gptest
from gptest import EX_OK

WARP = """version: 1
steps:
  - read: { synthetic: { raster: { width: 700, height: 520, type: Int16, block: [128, 128],
                                   crs: "EPSG:32632", origin: [300000, 5600000], resolution: 10,
                                   seed: 3 } } }
  - reproject: { to: "EPSG:3035", resampling: bilinear }
  - write: { path: "${out}" }
"""

VECTOR = """version: 1
steps:
  - read: { synthetic: { geometry: point, count: 10 } }
  - write: { path: out.gpkg }
"""


class WarpThreads(gptest.TempDirTest):
    def warp(self, threads):
        out = "out-%d.tif" % threads
        p = self.pipeline(WARP)
        r = self.gp("run", p, "--set", "out=" + out, "--threads", str(threads),
                    "--report", self.path("r-%d.json" % threads), "-q")
        self.assertExit(r, EX_OK)
        with open(self.path("r-%d.json" % threads)) as f:
            rep = json.load(f)
        self.assertEqual(rep["cross_thread_releases"], 0)
        for st in rep["stages"]:
            for kind, n in st["live"].items():
                self.assertEqual(n, 0, "stage %s leaked %s" % (st["name"], kind))
        with open(self.path(out), "rb") as f:
            return f.read(), rep

    @staticmethod
    def pieces(rep):
        return [s for s in rep["stages"] if s["name"] == "reproject"][0]["figures"][
            "pieces_warped"]

    def test_pool_pieces_give_the_main_threads_pixels(self):
        one, rep1 = self.warp(1)
        two, rep2 = self.warp(2)
        self.assertGreater(gptest.raster_info(self.path("out-1.tif"))["size"][0], 0)
        # two strips a window: the pieces ran as jobs on the pool
        self.assertEqual(self.pieces(rep2), 2 * self.pieces(rep1))
        self.assertEqual(len(two), len(one))
        self.assertTrue(two == one, "2 threads wrote another file than 1")

    def test_same_file_on_every_run(self):
        # Whichever worker takes which piece, in whatever order.
        first, rep = self.warp(3)
        self.assertGreater(self.pieces(rep), 0)
        for _ in range(2):
            os.remove(self.path("out-3.tif"))
            again, _ = self.warp(3)
            self.assertTrue(again == first, "3 threads wrote another file on another run")


class Explain(gptest.TempDirTest):
    def threads_line(self, text, *args):
        r = self.gp("explain", self.pipeline(text), *args)
        self.assertExit(r, EX_OK)
        # the memory plan's line (a vector run's explanation of what its
        # threads do comes first, unindented)
        lines = [l.strip() for l in r.out.splitlines() if l.startswith("  threads:")]
        self.assertEqual(len(lines), 1, r.out)
        return lines[0]

    def test_default_is_the_cpus_available(self):
        line = self.threads_line(VECTOR)
        m = re.fullmatch(r"threads: (\d+) \((\d+) CPUs? available\)", line)
        self.assertIsNotNone(m, line)
        self.assertEqual(m.group(1), m.group(2))
        self.assertGreaterEqual(int(m.group(1)), 1)
        self.assertLessEqual(int(m.group(1)), len(os.sched_getaffinity(0)))

    def test_asked_for(self):
        self.assertEqual(self.threads_line(VECTOR, "--threads", "3"),
                         "threads: 3 (as asked: --threads or threads:)")
        self.assertEqual(self.threads_line(VECTOR.replace("steps:", "threads: 5\nsteps:")),
                         "threads: 5 (as asked: --threads or threads:)")
        # the option wins over the file
        self.assertEqual(self.threads_line(VECTOR.replace("steps:", "threads: 5\nsteps:"),
                                           "--threads", "2"),
                         "threads: 2 (as asked: --threads or threads:)")
        line = self.threads_line(WARP, "--threads", "4", "--set", "out=x.tif")
        self.assertEqual(line, "threads: 4 (as asked: --threads or threads:)")

    def test_lowered_under_a_limit(self):
        line = self.threads_line(VECTOR, "--threads", "1024", "--memory-limit", "1GiB")
        m = re.fullmatch(r"threads: (\d+) \(lowered from 1024: the memory plan holds (\d+) "
                         r"workers?'s? batches under 1024 MiB\)", line)
        self.assertIsNotNone(m, line)
        self.assertEqual(m.group(1), m.group(2))
        self.assertLess(int(m.group(1)), 1024)
        self.assertGreater(int(m.group(1)), 1)


if __name__ == "__main__":
    gptest.main()
