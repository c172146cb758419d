"""The end-of-run report: JSON (its stable schema), Prometheus text, the
table on stderr, -q; written on failure too."""
import json
import os
import re
import resource
import unittest

import gptest

SIDS = gptest.data("sids.shp")

PIPE = f"""version: 1
name: sids-births
steps:
  - read: {{ path: {SIDS} }}
  - filter: {{ where: "BIR74 > 5000" }}
  - reproject: {{ to: "EPSG:32617" }}
  - select: {{ keep: [NAME, BIR74] }}
  - write: {{ path: out.gpkg }}
"""

PROM_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
                       r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)\})? '
                       r'(-?[0-9.eE+-]+|NaN|[+-]Inf)$')


class Report(gptest.TempDirTest):
    def run_report(self, text=PIPE, report="r.json", args=(), code=0):
        p = self.pipeline(text)
        r = self.gp("run", p, "--report", self.path(report), *args)
        self.assertExit(r, code)
        return r

    def load(self, name="r.json"):
        with open(self.path(name)) as f:
            return json.load(f)

    def test_json_schema_and_counts(self):
        # Two threads: a worker's copy of each step has a cache of its own.
        self.run_report(args=("-q", "--threads", "2"))
        rep = self.load()
        expected = int(gptest.ogr_sql(SIDS, "SELECT count(*) AS n FROM sids WHERE BIR74 > 5000",
                                      dialect="OGRSQL")[0]["n"])
        self.assertTrue(0 < expected < 100)
        self.assertEqual(rep["gispipe_report"], 1)
        self.assertEqual(rep["status"], "ok")
        self.assertEqual(rep["exit_code"], 0)
        self.assertIsNone(rep["error"])
        self.assertEqual(rep["name"], "sids-births")
        self.assertGreater(rep["peak_rss_bytes"], 0)
        self.assertEqual(rep["memory_limit_bytes"], 0)
        self.assertEqual(rep["open_iterators"], 0)
        self.assertEqual(rep["cross_thread_releases"], 0)
        stages = rep["stages"]
        self.assertIsInstance(stages, list)
        self.assertEqual([s["name"] for s in stages],
                         ["read", "filter", "reproject", "select", "write"])
        for s in stages:
            for k in ("name", "step", "items_in", "items_out", "items_filtered",
                      "arena_peak_bytes", "live", "live_peak"):
                self.assertIn(k, s)
            self.assertIsInstance(s["live"], dict)
            self.assertGreater(len(s["live"]), 0)
            for kind, n in s["live"].items():
                self.assertEqual(n, 0, "stage %s: %s alive at the end" % (s["name"], kind))
            self.assertGreaterEqual(s["arena_peak_bytes"], 0)
        by = {s["name"]: s for s in stages}
        self.assertGreater(by["read"]["arena_peak_bytes"], 0)
        self.assertEqual(by["read"]["items_out"], 100)
        self.assertEqual(by["filter"]["items_in"], 100)
        self.assertEqual(by["filter"]["items_out"], expected)
        self.assertEqual(by["filter"]["items_filtered"],
                         by["filter"]["items_in"] - by["filter"]["items_out"])
        for name in ("reproject", "select", "write"):
            self.assertEqual(by[name]["items_in"], expected)
            self.assertEqual(by[name]["items_out"], expected)
            self.assertEqual(by[name]["items_filtered"], 0)
        self.assertEqual(gptest.feature_count(self.path("out.gpkg")), expected)
        # Handles were used (and all given back).
        self.assertGreater(by["read"]["live_peak"]["ogr_feature"], 0)
        self.assertGreater(by["reproject"]["live_peak"]["proj_operation"], 0)
        self.assertEqual(by["reproject"]["live"]["proj_operation"], 0)
        t = rep["totals"]
        self.assertEqual((t["features_in"], t["features_out"], t["filtered"], t["outputs"]),
                         (100, expected, 100 - expected, 1))
        self.assertEqual(t["datasets"], 1)
        # One operation, looked up once by each thread's cache as the
        # stream begins: the engine's thread and each of the two workers.
        self.assertEqual(rep["transform_cache"]["misses"], 3)

    def test_crs_and_geos_parameters_are_counted_handles(self):
        # CRS objects, GEOS parameters and feature definitions are handles
        # like the others: counted while alive (so a leak of one fails the
        # run) and all given back.  One input stream: the reader's CRS of
        # the layer; reproject's target, for the run, and the stream's copy.
        text = PIPE.replace('  - select: { keep: [NAME, BIR74] }\n',
                            '  - buffer: { distance: 10 }\n  - make_valid: {}\n')
        cases = (("file", text, "read", {"ogr_srs": 1}),
                 ("synthetic", text.replace(
                     f"path: {SIDS}", "synthetic: { geometry: polygon, count: 50 }").replace(
                     'where: "BIR74 > 5000"', 'where: "code < 50"').replace(
                     "out.gpkg", "synthetic.gpkg"),
                  "read", {"ogr_srs": 1, "ogr_feature_defn": 1}))
        for label, pipe, reader, kinds in cases:
            with self.subTest(source=label):
                self.run_report(pipe, args=("-q",))
                by = {s["name"]: s for s in self.load()["stages"]}
                for kind, n in kinds.items():
                    self.assertEqual(by[reader]["live_peak"][kind], n, kind)
                self.assertEqual(by["reproject"]["live_peak"]["ogr_srs"], 2)
                self.assertEqual(by["buffer"]["live_peak"]["geos_params"], 1)
                self.assertEqual(by["make_valid"]["live_peak"]["geos_params"], 1)
                for s in by.values():
                    for kind in ("ogr_srs", "geos_params", "ogr_feature_defn"):
                        self.assertEqual(s["live"][kind], 0, "%s: %s" % (s["name"], kind))

    @unittest.skipIf(not gptest.MEMORY_MEASURED, "a memory limit under valgrind's or ASan's own RSS")
    def test_memory_limit_is_reported(self):
        self.run_report(args=("-q", "--memory-limit", "256MiB"))
        rep = self.load()
        self.assertEqual(rep["memory_limit_bytes"], 256 * 1024 * 1024)
        self.assertGreater(rep["peak_rss_bytes"], rep["plan"]["baseline_rss_bytes"] // 2)
        self.assertLess(rep["peak_rss_bytes"], rep["memory_limit_bytes"])
        self.assertGreater(rep["plan"]["batch_features"], 0)

    def test_report_on_a_failed_run(self):
        text = PIPE.replace("keep: [NAME, BIR74]", "keep: [NAME, BIRTHS]")
        self.run_report(text, args=("-q",), code=gptest.EX_DATAERR)
        rep = self.load()
        self.assertEqual(rep["status"], "failed")
        self.assertEqual(rep["exit_code"], gptest.EX_DATAERR)
        self.assertIn("no field 'BIRTHS'", rep["error"])
        self.assertEqual(rep["totals"]["outputs"], 0)
        for s in rep["stages"]:
            for kind, n in s["live"].items():
                self.assertEqual(n, 0, "stage %s: %s alive after a failure" % (s["name"], kind))
        self.assertFalse(os.path.exists(self.path("out.gpkg")))

    def test_report_on_a_failing_feature(self):
        src = self.path("bad.geojson")
        with open(src, "w") as f:
            f.write('{"type":"FeatureCollection","features":[{"type":"Feature","id":9,'
                    '"properties":{"NAME":"x","BIR74":6000},'
                    '"geometry":{"type":"Point","coordinates":[10,95]}}]}')
        self.run_report(PIPE.replace(SIDS, src), args=("-q",), code=gptest.EX_DATAERR)
        rep = self.load()
        self.assertEqual(rep["exit_code"], gptest.EX_DATAERR)
        self.assertIn("feature 9", rep["error"])
        self.assertEqual(rep["open_iterators"], 0)

    def test_report_when_the_plan_cannot_fit(self):
        self.run_report(args=("-q", "--memory-limit", "1MiB"), code=gptest.EX_TEMPFAIL)
        rep = self.load()
        self.assertEqual(rep["status"], "failed")
        self.assertEqual(rep["exit_code"], gptest.EX_TEMPFAIL)
        self.assertEqual(rep["memory_limit_bytes"], 1024 * 1024)
        self.assertEqual(rep["totals"]["features_in"], 0)
        self.assertIn("retry with", rep["error"])

    def test_report_when_the_pipeline_does_not_load(self):
        text = PIPE.replace("where:", "wher:")
        r = self.run_report(text, code=gptest.EX_CONFIG)
        rep = self.load()
        self.assertEqual(rep["status"], "failed")
        self.assertEqual(rep["exit_code"], gptest.EX_CONFIG)
        self.assertIn("unknown key 'wher'", rep["error"])
        self.assertEqual(rep["stages"], [])
        self.assertEqual(r.err.count("unknown key 'wher'"), 1, r.err)
        # A report that cannot be written is said too, and the pipeline's
        # error is still the last word.
        r = self.run_report(text, report="no-dir/r.json", code=gptest.EX_CONFIG)
        self.assertIn("cannot write report", r.err)
        self.assertLess(r.err.index("cannot write report"), r.err.index("unknown key 'wher'"))
        self.assertFalse(os.path.exists(self.path("out.gpkg")))

    def test_prometheus_text(self):
        self.run_report(report="r.prom", args=("-q",))
        with open(self.path("r.prom")) as f:
            text = f.read()
        metrics = {}
        for line in text.splitlines():
            if line.startswith("# HELP ") or line.startswith("# TYPE "):
                continue
            m = PROM_LINE.match(line)
            self.assertIsNotNone(m, "not Prometheus text format: %r" % line)
            metrics.setdefault(m.group(1), []).append((m.group(3) or "", float(m.group(4))))
        types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
        self.assertEqual(set(t for _, t in types), {"gauge"})
        self.assertEqual(set(n for n, _ in types), set(metrics))
        self.assertIn('gispipe_exit_code{pipeline="sids-births"} 0', text.splitlines())
        self.assertGreater(metrics["gispipe_peak_rss_bytes"][0][1], 0)
        self.assertEqual(metrics["gispipe_memory_limit_bytes"][0][1], 0)
        self.assertEqual(metrics["gispipe_cross_thread_releases"],
                         [('pipeline="sids-births"', 0)])
        items = {lab: v for lab, v in metrics["gispipe_stage_items"]}
        self.assertEqual(items['pipeline="sids-births",stage="read",direction="out"'], 100)
        self.assertEqual(items['pipeline="sids-births",stage="filter",direction="in"'], 100)
        out = items['pipeline="sids-births",stage="filter",direction="out"']
        self.assertEqual(items['pipeline="sids-births",stage="filter",direction="filtered"'],
                         100 - out)
        self.assertEqual(items['pipeline="sids-births",stage="write",direction="out"'], out)
        for lab, v in metrics["gispipe_stage_live_handles"]:
            self.assertEqual(v, 0, lab)
        # No temporary report file beside it.
        self.assertEqual([n for n in os.listdir(self.dir) if n.startswith("r.prom")], ["r.prom"])

    def test_prometheus_on_failure(self):
        self.run_report(PIPE.replace("BIR74]", "BIRTHS]"), report="r.prom", args=("-q",),
                        code=gptest.EX_DATAERR)
        with open(self.path("r.prom")) as f:
            self.assertIn('gispipe_exit_code{pipeline="sids-births"} 65', f.read().splitlines())

    def test_prometheus_escapes_the_pipeline_name(self):
        self.run_report(PIPE.replace("name: sids-births", 'name: \'a "quoted" \\ name\''),
                        report="r.prom", args=("-q",))
        with open(self.path("r.prom")) as f:
            lines = f.read().splitlines()
        self.assertIn('gispipe_exit_code{pipeline="a \\"quoted\\" \\\\ name"} 0', lines)

    def test_table_on_stderr_unless_quiet(self):
        r = self.run_report()
        self.assertRegex(r.err, r"(?m)^stage\s+in\s+out\s+filtered")
        for name in ("read", "filter", "reproject", "select", "write"):
            self.assertRegex(r.err, r"(?m)^%s\s+\d+\s+\d+" % name)
        self.assertRegex(r.err, r"features: 100 read, \d+ written, \d+ filtered, 0 rejected; 1 dataset, "
                                r"1 output")
        self.assertIn("open iterators at exit: 0", r.err)
        os.unlink(self.path("out.gpkg"))
        r = self.run_report(args=("-q",))
        self.assertEqual(r.err, "")
        self.assertEqual(r.out, "")

    def test_table_on_failure_says_failed(self):
        r = self.run_report(PIPE.replace("BIR74]", "BIRTHS]"), code=gptest.EX_DATAERR)
        self.assertRegex(r.err, r"(?m)FAILED$")


    # -- each step's own figures (#8, 13) ------------------------------------------

    def test_vector_reproject_transform_cache_figures(self):
        # Three streams through two reprojects: each step looks its operation
        # up once a stream, so 1 miss and 2 hits each.
        text = f"""version: 1
steps:
  - read: {{ path: [{SIDS}, {SIDS}, {SIDS}] }}
  - reproject: {{ to: "EPSG:32617" }}
  - reproject: {{ to: "EPSG:4267" }}
  - write: {{ path: out.gpkg }}
"""
        # One thread: every thread keeps a cache of its own (the workers'
        # figures are summed), so the split of hits and misses is one
        # cache's only on one thread.
        self.run_report(text, args=("-q", "--threads", "1"))
        rep = self.load()
        by = {s["name"]: s for s in rep["stages"]}
        for name in ("reproject", "reproject#2"):
            xc = by[name]["transform_cache"]
            self.assertEqual((xc["hits"], xc["misses"], xc["clears"]), (2, 1, 0), name)
            self.assertEqual(xc["evictions"], 0)
        for name in ("read", "write"):
            self.assertNotIn("transform_cache", by[name])
        t = rep["transform_cache"]
        self.assertEqual((t["hits"], t["misses"], t["evictions"], t["clears"]), (4, 2, 0, 0))

    def test_transform_seconds_are_the_threads_cpu_time(self):
        # Four workers pinned to one CPU: each waits for the others most of
        # the time.  A transform's seconds are the CPU time of the threads
        # that ran it, so summed over the workers they stay within the
        # process's CPU time; counted as wall time in the step's calls, as
        # they were, every wait counted up to four times (buffer 2.1 s of a
        # process's 0.6 s of CPU).  One thread: the same meaning.
        text = """version: 1
steps:
  - read: { synthetic: { geometry: polygon, count: 3000, vertices: 24, crs: "EPSG:3035",
                         extent: [4000000, 3000000, 4100000, 3100000], seed: 1 } }
  - buffer: { distance: 10, segments: 64 }
  - write: { path: out.gpkg, mode: overwrite }
"""
        mask = os.sched_getaffinity(0)
        for threads in ("4", "1"):
            os.sched_setaffinity(0, {min(mask)})
            try:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                self.run_report(text, args=("-q", "--threads", threads))
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
            finally:
                os.sched_setaffinity(0, mask)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            buffer = {s["name"]: s for s in self.load()["stages"]}["buffer"]["seconds"]
            self.assertLessEqual(buffer, cpu * 1.02 + 0.01, (threads, buffer, cpu))
            # and it is counted: the buffer is most of the run's work
            self.assertGreater(buffer, 0.25 * cpu, (threads, buffer, cpu))

    def test_raster_reproject_has_no_transform_cache_garbage(self):
        # Was 4636737291354636288 hits: the bits of the warp's 100.0, read as
        # the vector reproject's state (picked by the step's name).
        text = """version: 1
steps:
  - read: { synthetic: { raster: { width: 300, height: 200, resolution: 100 } } }
  - reproject: { to: "EPSG:3035", size: [100, 100] }
  - write: { path: out.tif }
"""
        self.run_report(text, args=("-q",))
        rep = self.load()
        t = rep["transform_cache"]
        self.assertEqual((t["hits"], t["misses"], t["evictions"], t["clears"]), (0, 0, 0, 0))
        by = {s["name"]: s for s in rep["stages"]}
        self.assertNotIn("transform_cache", by["reproject"])
        # The warp's own figures instead: every window written was warped in
        # one piece or more, or found uncovered.
        fig = by["reproject"]["figures"]
        self.assertGreater(fig["pieces_warped"], 0)
        self.assertGreaterEqual(fig["pieces_warped"] + fig["pieces_uncovered"],
                                by["write"]["items_in"])
        self.assertEqual(fig["splits"], 0)

if __name__ == "__main__":
    gptest.main()
