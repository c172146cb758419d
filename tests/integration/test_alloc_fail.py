"""Fail the N-th allocation of a whole real run, for every N up to the run's
count: each run exits 75 (or 70) with a message naming the stage, never
crashes, hangs or succeeds with data missing, and leaves nothing in its
working directory (no output, no .gispipe-* temporaries).  Under ASan the
same loop also proves that no run leaks (LSan exits 102 on a leak).

GISPIPE_FAIL_ALLOC=N (account.h) fails the N-th allocation counted from
process start, and only it; "N+" fails it and every later one; "0" only
counts.  Every value prints the count at exit.  The single failure runs for
every N (the plain and ASan passes share them, below): it finds error
returns that are ignored (the run goes on).  The lasting one finds error
paths that need memory to clean up; it runs for every STICKY_STRIDE-th N
only (it found nothing the single failure did not, and every run costs
~0.1 s of CPU, mostly loading GDAL).
"""
import collections
import concurrent.futures
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import gptest

COUNT_RE = re.compile(r"^gispipe: GISPIPE_FAIL_ALLOC: (\d+) allocations$", re.M)
STAGE_RE = re.compile(r"stage '([^']+)'")

# Points over the North Pole: those above latitude 90 cannot go to Web
# Mercator and go to the rejects dataset; two features a batch, so batch
# reuse and three rejects writes are on the path.
VECTOR_REJECTS = """version: 1
memory: { batch: 2 }
on_error: reject
rejects: { path: out/rejects.gpkg }
steps:
  - read: { synthetic: { geometry: point, count: 6, extent: [-10, 80, 10, 95], seed: 3 } }
  - reproject: { to: "EPSG:3857" }
  - buffer: { distance: 10, segments: 2 }
  - write: { path: out/good.gpkg }
"""
VECTOR_REJECTS_OUT = ["good.gpkg", "rejects.gpkg"]
VECTOR_REJECTS_STAGES = {"run", "read", "reproject", "buffer", "write", "rejects"}

# Two real inputs (GeoPackage and Shapefile, cut from data/), one output
# each through a template.
VECTOR_TEMPLATE = """version: 1
memory: { batch: 2 }
steps:
  - read: { path: ["%(inputs)s/lux2.gpkg", "%(inputs)s/sids3.shp"] }
  - reproject: { to: "EPSG:3035" }
  - buffer: { distance: 10, segments: 2 }
  - write: { path: "out/{stem}.gpkg" }
"""
VECTOR_TEMPLATE_OUT = ["lux2.gpkg", "sids3.gpkg"]
VECTOR_TEMPLATE_STAGES = {"run", "read", "reproject", "buffer", "write"}

# data/lux_elev.tif (95 x 90) cut into small windows, warped on two
# threads, scaled, written as GeoTIFF.
RASTER = """version: 1
threads: 2
steps:
  - read: { path: "%(data)s/lux_elev.tif" }
  - reproject: { to: "EPSG:3035", resampling: bilinear, resolution: 500 }
  - calc: { expr: "b1 * 0.1", type: Float32 }
  - write: { path: out/dem.tif, format: GTiff }
"""
RASTER_OUT = ["dem.tif"]
RASTER_STAGES = {"run", "read", "reproject", "calc", "write"}
RASTER_ARGS = ["--config", "GISPIPE_RASTER_WINDOW_BYTES", "8000"]

# Every run is cheap but there are hundreds: two at a time, one a core.
WORKERS = 2
STICKY_STRIDE = 7
# Under valgrind a start costs ~2 s: a few spread single failures only.
VALGRIND_SAMPLES = 5
# scripts/test quick (the edit loop): every QUICK_STRIDE-th single failure,
# no lasting ones.  The full tier and CI split every value between their
# two passes: the plain build takes the odd N, the ASan build (whose start
# costs twice as much) the even ones, and the lasting failures likewise
# every STICKY_STRIDE-th N between them, so that together they try every
# N once, each checked for its exit code and leftovers, the even ones for
# memory errors too.
QUICK_STRIDE = 4


def allocation_count(err):
    m = COUNT_RE.search(err)
    return int(m.group(1)) if m else None


def leftovers(d):
    """Everything a run left in its (initially empty) working directory."""
    found = []
    for root, dirs, files in os.walk(d):
        for n in files:
            found.append(os.path.relpath(os.path.join(root, n), d))
        for n in dirs:
            p = os.path.join(root, n)
            if not os.listdir(p):
                found.append(os.path.relpath(p, d) + "/")
    return sorted(found)


class AllocFail(gptest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.inputs = self.path("inputs")
        os.mkdir(self.inputs)
        gptest.ogr2ogr("-f", "GPKG", os.path.join(self.inputs, "lux2.gpkg"),
                       os.path.join(gptest.DATA, "lux.shp"), "-where", "ID_2 <= 2")
        gptest.ogr2ogr(os.path.join(self.inputs, "sids3.shp"),
                       os.path.join(gptest.DATA, "sids.shp"), "-where", "FID < 3")
        self.runs = os.path.join(self.dir, "runs")
        os.mkdir(self.runs)

    def start(self, pipeline, spec, args):
        """One run in a fresh, empty directory; returns (Result, directory)."""
        cwd = tempfile.mkdtemp(prefix="n%s-" % spec.replace("+", "p"), dir=self.runs)
        r = gptest.run("run", "-q", pipeline, *args, cwd=cwd,
                       env={"GISPIPE_FAIL_ALLOC": spec}, timeout=120)
        return r, cwd

    def problem(self, spec, r, cwd, outputs, stages):
        """What is wrong with the run that failed allocation `spec`, or None."""
        n = int(spec.rstrip("+"))
        made = allocation_count(r.err)
        left = leftovers(cwd)
        if made is None:
            return "no allocation count (crashed?)"
        if made < n:
            # The run made fewer allocations than this one (threads may
            # change the count): nothing failed, so everything is there.
            want = sorted("out/" + o for o in outputs)
            if r.code != 0 or left != want:
                return "failure not reached (%d allocations) but exit %d, left %s" % (
                    made, r.code, left)
            return None
        if r.code not in (gptest.EX_TEMPFAIL, gptest.EX_SOFTWARE):
            return "exit %d" % r.code
        msg = [ln for ln in r.err.splitlines()
               if ln.startswith("gispipe: ") and not COUNT_RE.match(ln)]
        if not msg or "out of memory" not in msg[-1]:
            return "message does not say out of memory: %r" % msg
        named = STAGE_RE.findall(msg[-1])
        if not named or not set(named) <= stages:
            return "message does not name a stage: %r" % msg[-1]
        if left:
            return "left %s" % left
        return None

    def loop(self, text, outputs, stages, args=()):
        p = gptest.write_pipeline(self.dir, text % {"inputs": self.inputs,
                                                    "data": os.path.abspath(gptest.DATA)})
        r, cwd = self.start(p, "0", args)
        self.assertExit(r, 0)
        self.assertEqual(leftovers(cwd), sorted("out/" + o for o in outputs))
        total = allocation_count(r.err)
        # Enough to mean the switch counts the run, few enough to loop.
        self.assertIsNotNone(total, r.err)
        self.assertGreater(total, 100)
        self.assertLess(total, 5000)
        shutil.rmtree(cwd)

        if gptest.UNDER_VALGRIND:
            step = max(1, total // VALGRIND_SAMPLES)
            specs = [str(n) for n in range(1, total + 1, step)][:VALGRIND_SAMPLES]
        elif gptest.QUICK:
            specs = [str(n) for n in range(1, total + 1, QUICK_STRIDE)]
        elif gptest.UNDER_ASAN:
            specs = ([str(n) for n in range(2, total + 1, 2)] +
                     [str(n) + "+" for n in range(1 + STICKY_STRIDE, total + 1,
                                                  2 * STICKY_STRIDE)])
        else:
            specs = ([str(n) for n in range(1, total + 1, 2)] +
                     [str(n) + "+" for n in range(1, total + 1, 2 * STICKY_STRIDE)])
        problems = []
        codes = collections.Counter()
        t0 = time.monotonic()

        def one(spec):
            try:
                r, cwd = self.start(p, spec, args)
            except subprocess.TimeoutExpired as e:
                return spec, "hung (killed after %s s)" % e.timeout, gptest.Result(-1, "", "")
            why = self.problem(spec, r, cwd, outputs, stages)
            shutil.rmtree(cwd, ignore_errors=True)
            return spec, why, r

        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            for spec, why, r in pool.map(one, specs):
                codes[r.code] += 1
                if why:
                    problems.append((spec, why, r))
        print("%d allocations, %d runs (exit codes %s), %d problems, %.1f s" % (
            total, len(specs), dict(sorted(codes.items())), len(problems),
            time.monotonic() - t0))
        self.assertEqual(
            [], [(s, w) for s, w, _ in problems],
            "\n\n".join("GISPIPE_FAIL_ALLOC=%s: %s\n%s" % (s, w, r.err[-3000:])
                        for s, w, r in problems[:5]))

    def test_vector_with_rejects(self):
        self.loop(VECTOR_REJECTS, VECTOR_REJECTS_OUT, VECTOR_REJECTS_STAGES)

    def test_vector_template_outputs(self):
        self.loop(VECTOR_TEMPLATE, VECTOR_TEMPLATE_OUT, VECTOR_TEMPLATE_STAGES)

    def test_raster(self):
        self.loop(RASTER, RASTER_OUT, RASTER_STAGES, RASTER_ARGS)


class Switch(gptest.TempDirTest):
    def test_bad_value_is_a_usage_error(self):
        r = self.gp("--version", env={"GISPIPE_FAIL_ALLOC": "3x"})
        self.assertExit(r, gptest.EX_USAGE)
        self.assertIn("GISPIPE_FAIL_ALLOC: '3x'", r.err)

    def test_unset_counts_nothing(self):
        r = self.gp("--version", env={"GISPIPE_FAIL_ALLOC": ""})
        self.assertExit(r, 0)
        self.assertIsNone(allocation_count(r.err))


if __name__ == "__main__":
    gptest.main()
