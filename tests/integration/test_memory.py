"""Memory: a run under --memory-limit 64MiB holds it, by gispipe's own
measure (the report) and by the kernel's (wait4's ru_maxrss), and peak RSS
does not grow with the input: 300,000 polygons peak like 30,000.  A burst
inside one step stops the run (75) before the peak passes 1.1x the limit,
naming the step; the retry advice works when followed; long GEOS calls stop
on SIGTERM within a batch."""
import json
import math
import os
import re
import signal
import subprocess
import time
import unittest

import gptest

MiB = 1024 * 1024
# meson sets MALLOC_PERTURB_ for every test, and glibc then fills each
# allocation and each freed block with a pattern: pages a run would never
# touch become resident, by an amount that grows with the buffers' sizes
# (seen: 1.1 MiB more at 12288^2 pixels than at 4096^2 with it, 0.7 MiB
# without).  These tests measure gispipe's memory, not the pattern's.
os.environ["MALLOC_PERTURB_"] = "0"

LIMIT = 64 * MiB


@unittest.skipIf(not gptest.MEMORY_MEASURED, "valgrind's or ASan's own memory is far above the limit")
class Memory(gptest.TempDirTest):
    def measured_run(self, count, tag):
        """Run the W1-like pipeline on `count` synthetic polygons; returns
        (report, kernel peak RSS in bytes).  No wrapper: the RSS is gispipe's.
        The batch is fixed (and small: a fixed batch raises the smallest
        plan, which must fit 64 MiB beside a busy machine's start-up), so
        that every size plans the same arenas, and so
        are the threads: by default the plan picks them from the start-up
        RSS it measures, which moves with what other processes map (shared
        library pages), and each worker holds its own contexts; a run of two
        workers beside one of one would compare plans, not input sizes.  Four
        workers under a limit are test_threads' (Memory)."""
        p = self.pipeline(f"""version: 1
memory: {{ batch: 256 }}
steps:
  - read: {{ synthetic: {{ geometry: polygon, count: {count}, vertices: 24, seed: 1 }} }}
  - reproject: {{ to: "EPSG:3035" }}
  - write: {{ path: out/{tag}.gpkg }}
""", tag + ".yaml")
        report = self.path(tag + ".json")
        with open(self.path(tag + ".err"), "w+b") as errf:
            proc = subprocess.Popen([gptest.GISPIPE, "run", "-q", p, "--memory-limit", "64MiB",
                                     "--threads", "1", "--report", report], cwd=self.dir,
                                    stdout=subprocess.DEVNULL, stderr=errf)
            # Reap it with wait4 for its own rusage.
            _, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            errf.seek(0)
            err = errf.read()
        self.assertEqual(proc.returncode, 0, err.decode(errors="replace"))
        with open(report) as f:
            rep = json.load(f)
        self.assertEqual(rep["status"], "ok")
        self.assertEqual(rep["totals"]["features_out"], count)
        self.assertEqual(gptest.feature_count(self.path("out", tag + ".gpkg")), count)
        os.remove(self.path("out", tag + ".gpkg"))
        return rep, ru.ru_maxrss * 1024  # Linux: KiB

    def test_limit_held_and_flat_in_input_size(self):
        # Three sizes, each ten times... the one before it but the last
        # (1M: the suite's time), all past the point where the bounded
        # caches (SQLite's page cache, the index sort buffer) are full.
        #
        # The process's peak (the kernel's and the report's) holds the
        # limit at every size.  Flatness is judged on the run's own peak
        # of anonymous memory (heap, arenas, caches), sampled after
        # start-up: the process peak includes the ~45 MiB reached while the
        # libraries load, which would hide any growth below it, and library
        # pages come and go with what other processes map.  The plan sizes
        # SQLite's cache from the start-up RSS it measures, so that budget
        # is taken out before comparing.
        sizes = (100000, 316000, 1000000)
        runs = {n: self.measured_run(n, "n%d" % n) for n in sizes}
        for n, (rep, os_peak) in runs.items():
            self.assertEqual(rep["memory_limit_bytes"], LIMIT)
            self.assertGreater(rep["run_peak_anon_bytes"], 0)
            self.assertLess(rep["peak_rss_bytes"], LIMIT,
                            "report: peak %.1f MiB at %d" % (rep["peak_rss_bytes"] / MiB, n))
            self.assertLess(os_peak, LIMIT, "kernel: peak %.1f MiB at %d" % (os_peak / MiB, n))
            self.assertLessEqual(rep["run_peak_rss_bytes"], LIMIT)
            # The two measures are of the same process and agree.
            self.assertLess(abs(os_peak - rep["peak_rss_bytes"]), 8 * MiB)
            for st in rep["stages"]:
                for kind, k in st["live"].items():
                    self.assertEqual(k, 0, "%s: %s" % (st["name"], kind))

        def own(n):
            rep = runs[n][0]
            return rep["run_peak_anon_bytes"] - rep["plan"]["sqlite_cache_bytes"]
        base = own(sizes[0])
        for n in sizes[1:]:
            tenfolds = math.log10(n / sizes[0])
            self.assertLess(own(n) - base, 1 * MiB * tenfolds,
                            "anonymous peak %.2f MiB at %d against %.2f MiB at %d" %
                            (own(n) / MiB, n, base / MiB, sizes[0]))
        # The arenas too: batches are reset, not accumulated.  Every size
        # planned the same batch, so every stage is compared.
        compared = 0
        small = runs[sizes[0]][0]
        for n in sizes[1:]:
            rep = runs[n][0]
            self.assertEqual(rep["plan"]["batch_features"], small["plan"]["batch_features"])
            self.assertEqual([s["name"] for s in rep["stages"]],
                             [s["name"] for s in small["stages"]])
            for sa, sb in zip(small["stages"], rep["stages"]):
                self.assertLessEqual(sb["arena_peak_bytes"], sa["arena_peak_bytes"] + 256 * 1024,
                                     "%s at %d" % (sb["name"], n))
                compared += 1
        self.assertEqual(compared, 2 * len(small["stages"]))

    def test_limit_too_small_for_the_plan_fails_before_reading(self):
        p = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: polygon, count: 300000 } }
  - write: { path: out/x.gpkg }
""")
        r = self.gp("run", "-q", p, "--memory-limit", "8MiB", "--report", self.path("r.json"))
        self.assertExit(r, gptest.EX_TEMPFAIL)
        self.assertIn("retry with --memory-limit", r.err)
        with open(self.path("r.json")) as f:
            rep = json.load(f)
        self.assertEqual(rep["totals"]["features_in"], 0)
        self.assertFalse(os.path.exists(self.path("out")))


def time_v(cmd, cwd):
    """Run cmd under /usr/bin/time -v: (exit code, stderr without time's
    lines, peak RSS in bytes as time reports it)."""
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, cwd=cwd, capture_output=True, text=True,
                       timeout=600)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    if m is None:
        raise AssertionError("no peak from /usr/bin/time: " + p.stderr)
    err = p.stderr[:p.stderr.find("\tCommand being timed")]
    return p.returncode, err, int(m.group(1)) * 1024


# A burst inside one batch: 600 star polygons of 200 vertices, one batch at
# 64 MiB, whose buffers (30 segments a quadrant) are ~15 times the input;
# the batch arena and GEOS grow past 64 MiB (to ~95 MiB) within the
# buffer step.
BURST = """version: 1
steps:
  - read: { synthetic: { geometry: polygon, count: 600, vertices: 200, seed: 1,
                         extent: [0, 0, 100000, 100000] } }
  - buffer: { distance: 10, segments: 30 }
  - write: { path: out/b.gpkg }
"""

# One GEOS call of several seconds (a 2000-vertex star buffered with 1000
# segments a quadrant, ~190 MB at its peak), four of them in one batch.
LONG_GEOS = """version: 1
steps:
  - read: { synthetic: { geometry: polygon, count: 4, vertices: 2000, seed: 1,
                         extent: [0, 0, 100000, 100000] } }
  - buffer: { distance: 50, segments: 1000 }
  - write: { path: out/l.gpkg }
"""


def suggested_limit(err):
    m = re.search(r"retry with --memory-limit (\d+)MiB", err)
    return int(m.group(1)) if m else None


@unittest.skipIf(not gptest.MEMORY_MEASURED, "valgrind's or ASan's own memory is far above the limit")
class Watcher(gptest.TempDirTest):
    def test_burst_in_buffer_stops_below_1_1x_and_names_buffer(self):
        self.burst(1, 64)

    def test_burst_in_buffer_with_two_threads_names_buffer(self):
        # Two workers buffer while the reader reads ahead and the writer
        # writes: each names its own stage, and the trip names the one
        # whose pages grew.  72 MiB: two workers fit the plan even when
        # other processes keep the start-up high, and the burst still
        # passes it.
        self.burst(2, 72)

    def burst(self, threads, limit):
        p = self.pipeline(BURST)
        report = self.path("b.json")
        code, err, peak = time_v([gptest.GISPIPE, "run", "-q", p, "--memory-limit",
                                  "%dMiB" % limit, "--threads", str(threads), "--report",
                                  report], self.dir)
        self.assertEqual(code, gptest.EX_TEMPFAIL, err)
        self.assertIn("exceeded in stage 'buffer'", err)
        self.assertNotIn("stage 'read'", err)
        self.assertNotIn("stage 'write'", err)
        self.assertLessEqual(peak, 1.1 * limit * MiB, "peak %.1f MiB: %s" % (peak / MiB, err))
        self.assertEqual(self.leftovers(), [])
        self.assertFalse(os.path.exists(self.path("out", "b.gpkg")))
        with open(report) as f:
            rep = json.load(f)
        self.assertEqual(rep["plan"]["threads"], threads)

    def test_one_long_geos_call_stops_below_1_1x(self):
        # One feature whose buffer alone takes ~40 MB more, most of it in
        # a phase where GEOS does not check for interrupts: refused before
        # the call, and the advice covers it.
        p = self.pipeline(LONG_GEOS.replace("count: 4", "count: 1").replace("vertices: 2000",
                                                                             "vertices: 500"))
        code, err, peak = time_v([gptest.GISPIPE, "run", "-q", p, "--memory-limit", "64MiB"],
                                 self.dir)
        self.assertEqual(code, gptest.EX_TEMPFAIL, err)
        self.assertIn("stage 'buffer'", err)
        self.assertLessEqual(peak, 1.1 * LIMIT, "peak %.1f MiB: %s" % (peak / MiB, err))
        self.assertFalse(os.path.exists(self.path("out")))
        n = suggested_limit(err)
        self.assertIsNotNone(n, err)
        code, err, peak = time_v([gptest.GISPIPE, "run", "-q", p, "--memory-limit", "%dMiB" % n],
                                 self.dir)
        self.assertEqual(code, 0, err)
        self.assertLessEqual(peak, n * MiB)

    def test_run_under_limit_succeeds_with_peak_below_limit(self):
        p = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: polygon, count: 50000, vertices: 24, seed: 1 } }
  - reproject: { to: "EPSG:3035" }
  - buffer: { distance: 10, segments: 8 }
  - write: { path: out/ok.gpkg }
""")
        code, err, peak = time_v([gptest.GISPIPE, "run", "-q", p, "--memory-limit", "64MiB"],
                                 self.dir)
        self.assertEqual(code, 0, err)
        self.assertLessEqual(peak, LIMIT, "peak %.1f MiB" % (peak / MiB))
        self.assertEqual(gptest.feature_count(self.path("out", "ok.gpkg")), 50000)

    def test_flatgeobuf_with_index_holds_the_limit(self):
        # GDAL's writer would hold every feature's index item until the
        # close; gispipe builds the index in bounded memory (fgb_index.h).
        # The output (~100 MiB) is larger than the limit.
        p = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: polygon, count: 200000, vertices: 24, seed: 1 } }
  - write: { path: out/x.fgb }
""")
        code, err, peak = time_v([gptest.GISPIPE, "run", "-q", p, "--memory-limit", "64MiB"],
                                 self.dir)
        self.assertEqual(code, 0, err)
        self.assertLessEqual(peak, LIMIT, "peak %.1f MiB" % (peak / MiB))
        out = self.path("out", "x.fgb")
        self.assertGreater(os.path.getsize(out), LIMIT)
        self.assertEqual(gptest.feature_count(out), 200000)
        # The index is there and is used: a window far smaller than the
        # extent returns its features.
        win = gptest.ogrinfo("-ro", "-q", "-al", "-spat", "10", "50", "10.5", "50.5", out)
        self.assertGreater(win.count("OGRFeature("), 0)
        self.assertLess(win.count("OGRFeature("), 200000)

    def test_flatgeobuf_without_index_holds_the_limit(self):
        p = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: polygon, count: 200000, seed: 1 } }
  - write: { path: out/x.fgb, options: { SPATIAL_INDEX: NO } }
""")
        code, err, peak = time_v([gptest.GISPIPE, "run", "-q", p, "--memory-limit", "96MiB"],
                                 self.dir)
        self.assertEqual(code, 0, err)
        self.assertLessEqual(peak, 96 * MiB * 1.1, "peak %.1f MiB" % (peak / MiB))
        self.assertEqual(gptest.feature_count(self.path("out", "x.fgb")), 200000)


@unittest.skipIf(not gptest.MEMORY_MEASURED, "valgrind's or ASan's own memory is far above the limit")
class ThreadsPlan(gptest.TempDirTest):
    def test_buffer_with_two_and_four_threads_holds_a_tight_limit(self):
        # W9 in small: polygons reprojected and buffered with 30 segments a
        # quadrant (their buffers ~7 times the input), under a limit that
        # two workers fill: what each worker, the reader and the batches
        # in flight (each as read and as worked) hold is planned, and the
        # run holds the limit.  Asked for four, the plan may run fewer,
        # and explain says why.
        limit = 72
        p = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: polygon, count: 12000, vertices: 24, seed: 1 } }
  - reproject: { to: "EPSG:3035" }
  - buffer: { distance: 10, segments: 30 }
  - write: { path: out/t.gpkg, mode: overwrite }
""")
        for asked in (2, 4):
            report = self.path("t%d.json" % asked)
            code, err, peak = time_v([gptest.GISPIPE, "run", "-q", p, "--memory-limit",
                                      "%dMiB" % limit, "--threads", str(asked), "--report",
                                      report], self.dir)
            self.assertEqual(code, 0, err)
            with open(report) as f:
                rep = json.load(f)
            ran = rep["plan"]["threads"]
            self.assertGreaterEqual(ran, 2, "asked %d" % asked)
            self.assertLessEqual(ran, asked)
            self.assertLess(peak, limit * MiB, "asked %d, ran %d: peak %.1f MiB" %
                            (asked, ran, peak / MiB))
            self.assertLess(rep["run_peak_rss_bytes"], limit * MiB)
            self.assertEqual(rep["totals"]["features_out"], 12000)
            self.assertEqual(gptest.feature_count(self.path("out", "t.gpkg")), 12000)
        # Sixty-four workers do not fit: explain says how many do, and why.
        r = self.gp("explain", p, "--memory-limit", "%dMiB" % limit, "--threads", "64")
        self.assertExit(r, 0)
        self.assertIn("(lowered from 64: the memory plan holds ", r.out)
        self.assertIn("workers' GEOS and PROJ contexts, the reader's", r.out)


@unittest.skipIf(not gptest.MEMORY_MEASURED, "valgrind's or ASan's own memory is far above the limit")
class Advice(gptest.TempDirTest):
    def follow(self, p, start, steps):
        """Run at `start` MiB, then at each limit the message suggests;
        returns the limits tried, the last one successful within `steps`
        runs (or the test fails)."""
        tried = [start]
        for _ in range(steps):
            shutil_rm(self.path("out"))
            r = self.gp("run", "-q", p, "--memory-limit", "%dMiB" % tried[-1])
            if r.code == 0:
                return tried
            self.assertExit(r, gptest.EX_TEMPFAIL)
            n = suggested_limit(r.err)
            self.assertIsNotNone(n, r.err)
            self.assertGreater(n, tried[-1], r.err)
            tried.append(n)
        self.fail("advice still failing after %s MiB" % tried)

    def test_startup_advice_works_at_once(self):
        p = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: polygon, count: 30000, seed: 1 } }
  - reproject: { to: "EPSG:3035" }
  - write: { path: out/x.gpkg }
""")
        # Too small for the plan, or for the peak that loading the
        # libraries reached (~45 MiB): the figure given must do, at once.
        for start in (8, 24, 36, 40, 42, 44):
            tried = self.follow(p, start, 2)
            self.assertEqual(len(tried), 2, tried)

    def test_midrun_advice_works(self):
        # Exceeded inside the buffer step: the figure must cover the batch
        # the plan makes at that figure.
        p = self.pipeline(BURST)
        tried = self.follow(p, 64, 3)
        self.assertEqual(len(tried), 2, tried)

    def test_midrun_advice_works_whichever_stage_trips(self):
        # Nearer the need, the limit is crossed later, in the writer, which
        # holds the buffered batch and applies no GEOS call: its figure must
        # work at once too (it once projected a per-feature cost onto the
        # whole batch and asked for 6 GiB).
        p = self.pipeline(BURST)
        for start in (72, 81, 90):
            tried = self.follow(p, start, 2)
            self.assertLessEqual(len(tried), 2, tried)
            if len(tried) == 2:
                self.assertLess(tried[1], 1024, tried)


def shutil_rm(path):
    import shutil
    shutil.rmtree(path, ignore_errors=True)


class Interrupt(gptest.TempDirTest):
    @unittest.skipIf(gptest.UNDER_VALGRIND, "signal timing under valgrind is not meaningful")
    def test_sigterm_stops_a_long_geos_call(self):
        p = self.pipeline(LONG_GEOS)
        proc = subprocess.Popen(gptest.WRAPPER + [gptest.GISPIPE, "run", "-q", p], cwd=self.dir,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env=gptest.GEOS_INTERRUPTED_ENV)
        try:
            time.sleep(1.0)
            self.assertIsNone(proc.poll(), "the run ended before the signal")
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                _, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.fail("still running 10 s after SIGTERM")
            took = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 143, err)
        self.assertIn("interrupted by signal 15", err)
        self.assertNotIn("GEOS", err)
        self.assertLess(took, 2.0, "exit %.1f s after SIGTERM" % took)
        self.assertEqual(self.leftovers(), [])
        self.assertFalse(os.path.exists(self.path("out")))


class RasterMemory(gptest.TempDirTest):
    """Raster pipelines: peak RSS set by the plan, not the raster's size."""

    def test_peak_rss_does_not_grow_with_the_raster(self):
        if not gptest.MEMORY_MEASURED:
            self.skipTest("memory figures mean nothing under valgrind or ASan")
        # Every raster is larger than the block cache the 96 MiB plan
        # gives (about 15 MiB), so each fills every budget of the plan.
        # The process peak holds the limit; the run's own anonymous peak
        # (start-up and library pages left out, as in the vector test)
        # must not grow with the pixels, beyond the plan's own budgets
        # (block cache and windows), which the plan sizes from the start-up
        # RSS it measures.
        sides = (4096, 8192, 12288)

        def own_peak(side):
            p = self.pipeline(f"""version: 1
steps:
  - read: {{ synthetic: {{ raster: {{ width: {side}, height: {side}, type: Int16 }} }} }}
  - reproject: {{ to: "EPSG:3035", resampling: bilinear }}
  - write: {{ path: out.tif, mode: overwrite }}
""")
            r = self.gp("run", p, "--memory-limit", "96MiB", "--report", self.path("r.json"))
            self.assertEqual(r.code, 0, repr(r))
            with open(self.path("r.json")) as f:
                rep = json.load(f)
            self.assertLess(rep["peak_rss_bytes"], 96 << 20)
            self.assertGreater(rep["run_peak_anon_bytes"], 0)
            # The stages' arenas are counted and held by the limit; their
            # peak follows the largest window's shape (a thin last row or
            # column of windows joins the one before it, so the largest
            # one's pieces vary with the raster's size, up to 2.25 times
            # a window's), not the pixels.
            arenas = sum(st["arena_peak_bytes"] for st in rep["stages"])
            return (rep["run_peak_anon_bytes"] - rep["plan"]["gdal_cache_bytes"] -
                    rep["plan"]["raster_window_bytes"], arenas)

        own = {side: own_peak(side) for side in sides}

        def growth(side):
            # The anonymous peak's growth over the first size, less what
            # the counted arenas grew by.  Arenas that shrink are not
            # given back: pages an arena drew stay in the C library's
            # heap, so a smaller arena peak does not lower the process's
            # by as much (4096^2 to 8192^2: arenas 9.5 to 4.3 MiB, the
            # anonymous peak 36.0 to 32.3).
            (anon, arenas), (anon0, arenas0) = own[side], own[sides[0]]
            return anon - anon0 - max(0, arenas - arenas0)

        # 4 and 9 times the pixels of the first: less than 1 MiB of growth
        # in what nothing counts (GDAL, PROJ, the C library); a leak per
        # window or per strip would grow 3 and 8 times over.  The warps run
        # on the pool's threads and the engine's, each thread's malloc
        # arena keeping what GDAL freed in it, so a run's uncounted peak
        # varies with which thread took which strip; a size over the bound
        # is measured once more and its lower figure kept (growth with the
        # pixels would show in both).
        for side in sides[1:]:
            if growth(side) >= 1 * MiB:
                own[side] = min(own[side], own_peak(side), key=lambda v: v[0] - v[1])
            self.assertLess(growth(side), 1 * MiB,
                            {k: (round(v[0] / MiB, 2), round(v[1] / MiB, 2))
                             for k, v in own.items()})

if __name__ == "__main__":
    gptest.main()
