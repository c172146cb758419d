"""Worker threads (--threads N) and the reader thread: the same output
whatever N (same features, order, FIDs, attributes and geometry bytes,
over several streams), the same first failure with on_error: fail, the
same read failure, the same rejects; a signal stops every worker and the
reader; the memory limit holds with four threads."""
import json
import os
import signal
import sqlite3
import subprocess
import time
import unittest

import gptest

THREADS = (1, 2, 4, 7)
MiB = 1024 * 1024

# Small batches, so that even the small inputs make many of them.
HEAD = "version: 1\nmemory: { batch: 64 }\n"
POINTS = ("  - read: { synthetic: { geometry: point, count: 3000, crs: \"EPSG:4267\", "
          "extent: [-84.5, 33.8, -75.4, 36.6], seed: 7 } }\n")
POLYS = ("  - read: { synthetic: { geometry: polygon, count: 1500, crs: \"EPSG:4326\", "
         "extent: [-10, 35, 30, 60], vertices: 24, seed: 1 } }\n")


def rows(path):
    """Every feature table of a GeoPackage in storage order, FIDs,
    attributes and geometry blobs included (not the file's bytes: GDAL
    stamps the time of writing in gpkg_contents)."""
    c = sqlite3.connect(path)
    try:
        tables = [t for (t,) in c.execute(
            "SELECT table_name FROM gpkg_contents ORDER BY table_name")]
        return {t: c.execute('SELECT * FROM "%s" ORDER BY rowid' % t).fetchall()
                for t in tables}
    finally:
        c.close()


class SameOutput(gptest.TempDirTest):
    def outputs(self, steps, head=HEAD, rejects=False):
        """Run the pipeline with each thread count; the feature rows of
        each output (and of the rejects), the 1-thread run's first."""
        extra = "on_error: reject\nrejects: { path: rej.gpkg }\n" if rejects else ""
        p = self.pipeline(head + extra + "steps:\n" + steps + "  - write: { path: o.gpkg }\n")
        got, counts = [], gptest.valgrind_sample(THREADS, 0, 2)
        for n in counts:
            rep = self.path("r%d.json" % n)
            self.assertExit(self.gp("run", "-q", p, "--threads", str(n), "--report", rep), 0)
            with open(rep) as f:
                r = json.load(f)
            for st in r["stages"]:  # every copy of every stage gave its handles back
                self.assertEqual(sum(st["live"].values()), 0, (n, st))
            # what the reader thread held is the read stage's, as on one
            # thread: its features and its batch arenas (a chunk each)
            read = r["stages"][0]
            self.assertGreater(read["live_peak"]["ogr_feature"], 0, (n, read))
            self.assertGreaterEqual(read["arena_peak_bytes"], 64 * 1024, (n, read))
            self.assertGreater(read["seconds"], 0, (n, read))
            self.assertEqual(r["cross_thread_releases"], 0, n)
            out = (rows(self.path("o.gpkg")),
                   rows(self.path("rej.gpkg")) if rejects else None,
                   [(s["name"], s["items_in"], s["items_out"], s["rejects"])
                    for s in r["stages"]])
            got.append(out)
            os.remove(self.path("o.gpkg"))
            if rejects:
                os.remove(self.path("rej.gpkg"))
        for n, out in zip(counts[1:], got[1:]):
            self.assertEqual(out[2], got[0][2], "stage figures with %d threads" % n)
            self.assertEqual(out[1], got[0][1], "rejects with %d threads" % n)
            self.assertTrue(out[0] == got[0][0], "output with %d threads differs" % n)
        return got[0]

    def test_reproject_buffer(self):
        out, _, _ = self.outputs(POLYS + "  - reproject: { to: \"EPSG:3035\" }\n"
                                 "  - buffer: { distance: 10, segments: 30 }\n")
        self.assertEqual(len(next(iter(out.values()))), 1500)

    def test_clip_by_polygons(self):
        out, _, _ = self.outputs(POINTS + "  - buffer: { distance: 0.05 }\n"
                                 "  - clip: { by: %s }\n" % gptest.data("sids.shp"))
        self.assertGreater(len(next(iter(out.values()))), 1000)

    def test_filter_intersects(self):
        out, _, figs = self.outputs(POINTS + "  - filter: { intersects: %s }\n"
                                    % gptest.data("sids.shp"))
        n = len(next(iter(out.values())))
        self.assertGreater(n, 500)
        self.assertLess(n, 3000)

    def test_explode_and_set_field(self):
        out, _, _ = self.outputs(
            "  - read: { path: %s }\n" % gptest.data("sids.shp") +
            "  - explode: {}\n"
            "  - reproject: { to: \"EPSG:32617\" }\n"
            "  - set_field: { name: a, value: area }\n",
            head="version: 1\nmemory: { batch: 64 }\n")
        self.assertGreater(len(next(iter(out.values()))), 100)

    def test_zonal_stats(self):
        out, _, _ = self.outputs(
            "  - read: { path: %s }\n" % gptest.data("lux.shp") +
            "  - zonal_stats: { raster: %s }\n" % gptest.data("lux_elev.tif"))
        self.assertEqual(len(next(iter(out.values()))), 12)

    def test_several_streams(self):
        # Four inputs, one layer each, one after another through the same
        # reader: every layer whole, in order, whatever the thread count.
        paths = [gptest.data(n) for n in ("sids.shp", "lux.shp", "boston_tracts.shp",
                                          "world.gpkg")]
        out, _, figs = self.outputs("  - read: { path: [%s] }\n" % ", ".join(paths) +
                                    "  - reproject: { to: \"EPSG:4326\" }\n")
        self.assertEqual(sorted(out), ["boston_tracts", "lux", "sids", "world"])
        self.assertEqual(figs[0][1], 100 + 12 + 506 + len(out["world"]))

    def test_read_errors_tied_to_features_by_the_reader(self):
        # A directory of two shapefiles cut short: one dataset, two
        # layers.  The reader ties each failure to its feature through a
        # second handle on the dataset, which it opens, and closes at the
        # stream's end itself; the next layer opens its own.
        os.mkdir(self.path("d"))
        for name in ("t1", "t2"):
            gptest.copy_shapefile(gptest.data("sids.shp"), self.path("d", name + ".shp"))
            with open(self.path("d", name + ".shp"), "r+b") as f:
                f.truncate(20000)
        out, rej, _ = self.outputs("  - read: { path: d }\n"
                                   "  - reproject: { to: \"EPSG:3857\" }\n", rejects=True)
        self.assertEqual(sorted(out), ["t1", "t2"])
        for t in ("t1", "t2"):
            self.assertGreater(len(rej[t]), 10)
            self.assertEqual(len(out[t]) + len(rej[t]), 100)
            self.assertEqual({r[-4] for r in rej[t]}, {"read"})  # ..., _step, _reason, _source, _fid

    def test_rejects_in_input_order(self):
        out, rej, figs = self.outputs(
            "  - read: { synthetic: { geometry: point, count: 2000, extent: [-10, 80, 10, 95] } }\n"
            "  - reproject: { to: \"EPSG:3857\" }\n"
            "  - buffer: { distance: 5 }\n", rejects=True)
        bad = next(iter(rej.values()))
        self.assertGreater(len(bad), 100)
        self.assertEqual(len(next(iter(out.values()))) + len(bad), 2000)


class FirstFailure(gptest.TempDirTest):
    def test_on_error_fail_names_the_first_feature_in_input_order(self):
        # Features past latitude 90 fail in reproject, in most batches.
        p = self.pipeline(HEAD + "steps:\n"
                          "  - read: { synthetic: { geometry: point, count: 4000, "
                          "extent: [-10, 89.9, 10, 90.02], seed: 5 } }\n"
                          "  - buffer: { distance: 0.001, segments: 30 }\n"
                          "  - reproject: { to: \"EPSG:3857\" }\n"
                          "  - write: { path: o.gpkg }\n")
        errs = []
        for n in THREADS:
            r = self.gp("run", "-q", p, "--threads", str(n))
            self.assertExit(r, gptest.EX_DATAERR)
            self.assertRegex(r.err, r"step 'reproject': failed on feature \d+")
            self.assertFalse(os.path.exists(self.path("o.gpkg")))
            errs.append(r.err)
        for n, e in zip(THREADS, errs):
            self.assertEqual(e, errs[0], "first failure with %d threads" % n)


class ReadFailure(gptest.TempDirTest):
    def test_read_failure_mid_stream_as_on_one_thread(self):
        # The second input's .dbf ends after 300 of its 506 records: the
        # batches before the failure are written (the first input's, then
        # the second's), the run fails with the reader's error as a
        # 1-thread run does, and nothing is left behind.
        gptest.copy_shapefile(gptest.data("boston_tracts.shp"), self.path("t.shp"))
        with open(self.path("t.dbf"), "rb") as f:
            head = f.read(12)
        hlen, rlen = int.from_bytes(head[8:10], "little"), int.from_bytes(head[10:12], "little")
        with open(self.path("t.dbf"), "r+b") as f:
            f.truncate(hlen + 300 * rlen + rlen // 2)
        for extra in ("", "on_error: reject\nrejects: { path: rej.gpkg }\n"):
            p = self.pipeline(HEAD + extra + "steps:\n"
                              "  - read: { path: [%s, t.shp] }\n" % gptest.data("sids.shp") +
                              "  - reproject: { to: \"EPSG:3857\" }\n"
                              "  - write: { path: o.gpkg }\n")
            errs = []
            for n in THREADS:
                r = self.gp("run", "-q", p, "--threads", str(n), "--report", "r.json")
                self.assertExit(r, gptest.EX_DATAERR)
                self.assertIn("step 'read': cannot read layer 't' of 't.shp' after 300 features",
                              r.err)
                self.assertEqual(self.leftovers(), [])
                self.assertFalse(os.path.exists(self.path("o.gpkg")))
                with open(self.path("r.json")) as f:
                    rep = json.load(f)
                for st in rep["stages"]:
                    self.assertEqual(sum(st["live"].values()), 0, (n, st))
                errs.append(r.err)
            for n, e in zip(THREADS, errs):
                self.assertEqual(e, errs[0], "read failure with %d threads" % n)


class Explain(gptest.TempDirTest):
    def test_explain_says_the_threads(self):
        p = self.pipeline(HEAD + "steps:\n" + POLYS + "  - buffer: { distance: 1 }\n"
                          "  - write: { path: o.gpkg }\n")
        r = self.gp("explain", p, "--threads", "3")
        self.assertExit(r, 0)
        self.assertIn("threads: 3 workers run the transforms", r.out)
        self.assertIn("6 batches of 64 features in flight", r.out)
        r = self.gp("explain", p, "--threads", "1")
        self.assertIn("threads: 1 (every step on the main thread)", r.out)

    def test_read_then_write_plans_one_thread(self):
        # Workers take only transforms: without one, the plan holds no
        # worker's batches and the run reports the one thread it used.
        p = self.pipeline(HEAD + "steps:\n" + POLYS + "  - write: { path: o.gpkg }\n")
        r = self.gp("explain", p, "--threads", "3")
        self.assertExit(r, 0)
        self.assertIn("\nthreads: 1 (no transform to share out)\n", r.out)
        self.assertIn("  threads: 1 (no transform to share out)\n", r.out)
        self.assertIn("one batch in flight", r.out)
        self.assertNotIn("workers", r.out)
        r = self.gp("run", "-q", p, "--threads", "3", "--report", self.path("r.json"))
        self.assertExit(r, 0)
        with open(self.path("r.json")) as f:
            rep = json.load(f)
        self.assertEqual(rep["plan"]["threads"], 1)
        self.assertEqual(rep["totals"]["features_out"], rep["totals"]["features_in"])
        self.assertGreater(rep["totals"]["features_in"], 0)


@unittest.skipIf(gptest.UNDER_VALGRIND, "signal timing under valgrind is not meaningful")
class Stop(gptest.TempDirTest):
    ALONE = True  # timed, or measures the process: not beside other tests

    def test_sigterm_stops_four_workers_quickly(self):
        self.stopped("  - read: { synthetic: { geometry: polygon, count: 2000000, "
                     "vertices: 24, seed: 1 } }\n"
                     "  - buffer: { distance: 0.01, segments: 30 }\n")

    def test_sigterm_stops_the_reader_quickly(self):
        # The transform costs little: the reader and the writer are at work.
        self.stopped("  - read: { synthetic: { geometry: polygon, count: 2000000, "
                     "vertices: 200, seed: 1 } }\n"
                     "  - set_field: { name: k, constant: \"1\" }\n")

    def stopped(self, steps):
        """SIGTERM after 2 s: 143 within seconds, nothing left behind,
        every handle of every stage given back."""
        p = self.pipeline("version: 1\nsteps:\n" + steps + "  - write: { path: out/big.gpkg }\n")
        proc = subprocess.Popen(gptest.WRAPPER + [gptest.GISPIPE, "run", "-q", p, "--threads",
                                                  "4", "--report", self.path("r.json")],
                                cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=gptest.GEOS_INTERRUPTED_ENV)
        try:
            time.sleep(2.0)
            self.assertIsNone(proc.poll(), "the run finished too soon for the test")
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
            took = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 143, err)
        self.assertIn("interrupted by signal 15", err)
        self.assertLess(took, 5.0 if not gptest.UNDER_ASAN else 20.0)
        self.assertFalse(os.path.exists(self.path("out", "big.gpkg")))
        self.assertEqual(self.leftovers(), [])
        with open(self.path("r.json")) as f:
            rep = json.load(f)
        self.assertGreater(rep["totals"]["features_in"], 0)
        self.assertLess(rep["totals"]["features_in"], 2000000)
        for st in rep["stages"]:
            self.assertEqual(sum(st["live"].values()), 0, st)


@unittest.skipIf(not gptest.MEMORY_MEASURED, "valgrind's or ASan's own memory is far above the limit")
class Memory(gptest.TempDirTest):
    ALONE = True  # timed, or measures the process: not beside other tests

    def test_limit_held_with_four_threads(self):
        # 60,000 buffered polygons: a 120 MB output, made and written
        # under an 80 MiB limit by four workers.  (At 64 MiB four workers'
        # own contexts, about 1 MiB each, leave no room: that is for the
        # plan to lower the thread count.)
        limit = 80 * MiB
        p = self.pipeline("version: 1\nsteps:\n"
                          "  - read: { synthetic: { geometry: polygon, count: 60000, "
                          "vertices: 24, seed: 1 } }\n"
                          "  - reproject: { to: \"EPSG:3035\" }\n"
                          "  - buffer: { distance: 10, segments: 8 }\n"
                          "  - write: { path: o.gpkg }\n")
        proc = subprocess.Popen([gptest.GISPIPE, "run", "-q", p, "--threads", "4",
                                 "--memory-limit", "80MiB"], cwd=self.dir,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = proc.stderr.read().decode(errors="replace")  # to its end, then reap it
        proc.stderr.close()
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.assertEqual(proc.returncode, 0, err)
        self.assertGreater(os.path.getsize(self.path("o.gpkg")), limit)
        self.assertLess(ru.ru_maxrss * 1024, limit)


if __name__ == "__main__":
    gptest.main()
