"""The thread count and the raster warp on the run's pool.

Each output window is cut in strips of a fixed height, whatever the thread
count, and every strip is warped with the kernel scale of the whole grid:
GDAL's kernels would otherwise size their footprint from each strip's own
ratio of output to input pixels, and a cut that followed the threads gave
other pixels (3 threads: 18,128 pixels off by up to 2 against 1 thread on
the first warp below).  So the files of --threads 1, 2, 3, 4 and 7 must be
byte-identical, on several kernels, a downsampling, an upsampling and
windows that do not divide the grid; a piece skipped, warped twice, into
another piece's rows or with another worker's transformer would show too.
No run may release anything from a thread that does not own it, or leak a
handle.  `explain` says how many threads the run gets and why: the CPUs
available, --threads / threads:, or lowered to what the memory limit holds.
This file is the 'threads' suite's raster part: it runs under ThreadSanitizer
too (meson test --setup tsan --suite threads), so it stays small.
"""
import json
import os
import re
import subprocess
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
  - reproject: { to: "EPSG:3035" }
  - write: { path: out.gpkg }
"""


SYNTH = """  - read: { synthetic: { raster: { width: %d, height: %d, type: Int16, block: [128, 128],
                                   crs: "EPSG:32632", origin: [300000, 5600000], resolution: 10,
                                   seed: 3 } } }
"""

# name: (source size, the warp step, extra options); each cut in several
# strips a window, so that the threads share them.
WARPS = {
    "cubic_down": ((700, 660), '  - resample: { resolution: 25, resampling: cubic }\n', ()),
    "average_down": ((800, 780), '  - resample: { resolution: 30, resampling: average }\n', ()),
    "bilinear_up": ((120, 110), '  - reproject: { to: "EPSG:3035", resolution: 4, '
                    'resampling: bilinear }\n', ()),
    # windows of 256 x 256 over a grid of about 566 x 427 pixels
    "cubic_windows": ((560, 420), '  - reproject: { to: "EPSG:3035", resampling: cubic, '
                      'error_threshold: 0 }\n', ("--config", "GISPIPE_RASTER_WINDOW_BYTES",
                                                   "300000")),
}

THREADS = (1, 2, 3, 4, 7)


class WarpThreads(gptest.TempDirTest):
    def warp(self, threads, text=WARP, extra=(), tag=""):
        out = "out%s-%d.tif" % (tag, threads)
        rep_path = self.path("r%s-%d.json" % (tag, threads))
        p = self.pipeline(text)
        r = self.gp("run", p, "--set", "out=" + out, "--threads", str(threads),
                    "--report", rep_path, "-q", *extra)
        self.assertExit(r, EX_OK)
        with open(rep_path) as f:
            rep = json.load(f)
        self.assertEqual(rep["cross_thread_releases"], 0)
        for st in rep["stages"]:
            for kind, n in st["live"].items():
                self.assertEqual(n, 0, "stage %s leaked %s" % (st["name"], kind))
        with open(self.path(out), "rb") as f:
            return f.read(), rep

    @staticmethod
    def figures(rep):
        return [s for s in rep["stages"] if s["name"] in ("reproject", "resample")][0]["figures"]

    def same_on_every_thread_count(self, text, extra=(), tag=""):
        one, rep1 = self.warp(1, text, extra, tag)
        pieces = self.figures(rep1)["pieces_warped"]
        # more pieces than windows: strips the threads share
        self.assertGreater(pieces, rep1["totals"]["batches"])
        for t in THREADS[1:]:
            other, rep = self.warp(t, text, extra, tag)
            # the same cut whatever the thread count
            self.assertEqual(self.figures(rep)["pieces_warped"], pieces, "%d threads" % t)
            self.assertEqual(len(other), len(one))
            self.assertTrue(other == one, "%d threads wrote another file than 1" % t)
        return rep1

    def test_every_thread_count_gives_the_same_file(self):
        rep = self.same_on_every_thread_count(WARP)
        self.assertGreater(gptest.raster_info(self.path("out-1.tif"))["size"][0], 0)
        self.assertEqual(self.figures(rep)["splits"], 0)

    def test_kernels_scales_and_windows(self):
        for name, ((w, h), step, extra) in WARPS.items():
            with self.subTest(warp=name):
                text = "version: 1\nsteps:\n" + SYNTH % (w, h) + step + \
                    '  - write: { path: "${out}" }\n'
                rep = self.same_on_every_thread_count(text, extra, "-" + name)
                if name == "cubic_windows":
                    self.assertGreaterEqual(rep["totals"]["batches"], 4)

    def test_strips_give_gdalwarps_pixels(self):
        # Every strip warped with the whole grid's kernel scale is what
        # gdalwarp warps in one chunk; each with its own scale, a strip
        # would get other pixels (up to 2 off in this warp).
        src = WARP.split("  - reproject")[0] + '  - write: { path: "${out}" }\n'
        self.warp(1, src, tag="-src")
        self.warp(3, WARP.replace("bilinear }", "bilinear, error_threshold: 0 }"), tag="-et0")
        subprocess.run(["gdalwarp", "-q", "-t_srs", "EPSG:3035", "-r", "bilinear", "-et", "0",
                        self.path("out-src-1.tif"), self.path("ref.tif")], check=True)
        self.assertEqual(gptest.raster_info(self.path("out-et0-3.tif"))["size"],
                         gptest.raster_info(self.path("ref.tif"))["size"])
        n, _, worst, mismatch = gptest.compare_rasters(
            gptest.raster_values(self.path("out-et0-3.tif")),
            gptest.raster_values(self.path("ref.tif")))
        self.assertGreater(n, 300000)
        self.assertEqual((worst, mismatch), (0, 0))

    def test_same_file_on_every_run(self):
        # Whichever worker takes which piece, in whatever order.
        first, rep = self.warp(3)
        self.assertGreater(self.figures(rep)["pieces_warped"], 0)
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
