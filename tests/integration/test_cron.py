"""What a cron job needs of gispipe: a .prom (and JSON) report replaced
atomically, nothing printed by a successful run under -q, a failed run's
first line naming the pipeline, the step and the cause, and a progress
line on a terminal only."""
import os
import pty
import re
import select
import signal
import subprocess
import time

import gptest

VECTOR = """version: 1
steps:
  - read: { path: "%s" }
  - reproject: { to: "EPSG:3035" }
  - buffer: { distance: 10, segments: 2 }
  - write: { path: out/sids.gpkg, mode: overwrite }
""" % os.path.join(gptest.DATA, "sids.shp")

RASTER = """version: 1
steps:
  - read: { path: "%s" }
  - reproject: { to: "EPSG:4326" }
  - write: { path: out/dem.tif, mode: overwrite }
""" % os.path.join(gptest.DATA, "olinda_dem.tif")

# "gispipe: FILE: step 'LABEL': cause"
FIRST = r"^gispipe: %s: step '%s': .*%s"


class Report(gptest.TempDirTest):
    def traced(self, report):
        """Run the vector pipeline under strace with --report `report`:
        (the run, every path opened for writing, every rename's (from, to))."""
        p = self.pipeline(VECTOR)
        trace = self.path("trace")
        cmd = ["strace", "-f", "-qq", "-e", "trace=openat,rename,renameat,renameat2",
               "-o", trace, gptest.GISPIPE, "run", "-q", p, "--report", report]
        env = dict(os.environ)
        if gptest.UNDER_ASAN:
            # LeakSanitizer cannot run under ptrace; every other test of
            # this run's code path checks for leaks.
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        proc = subprocess.run(cmd, cwd=self.dir, env=env, capture_output=True, text=True)
        r = gptest.Result(proc.returncode, proc.stdout, proc.stderr)
        with open(trace) as f:
            lines = f.read().splitlines()
        written = [m.group(1) for m in (re.search(r'openat\(.*?"([^"]*)", [^)]*O_(?:WRONLY|RDWR)', ln)
                                         for ln in lines) if m]
        renames = [(m.group(1), m.group(2)) for m in
                   (re.search(r'rename\w*\((?:AT_FDCWD, )?"([^"]*)", (?:AT_FDCWD, )?"([^"]*)"', ln)
                    for ln in lines) if m]
        return r, written, renames

    def check_atomic(self, name):
        report = self.path(name)
        r, written, renames = self.traced(report)
        self.assertExit(r, 0)
        # Never opened for writing under its own name: written to a
        # temporary in the same directory, then renamed over it.
        self.assertNotIn(report, written)
        into = [src for src, dst in renames if dst == report]
        self.assertEqual(len(into), 1, renames)
        self.assertEqual(os.path.dirname(into[0]), self.dir)
        self.assertIn(into[0], written)
        self.assertFalse(os.path.exists(into[0]))
        self.assertEqual(self.leftovers(), [])
        return report

    def test_prom_is_written_to_a_temporary_and_renamed(self):
        report = self.check_atomic("gispipe.prom")
        with open(report) as f:
            text = f.read()
        self.assertRegex(text, r'gispipe_exit_code\{pipeline="[^"]*"\} 0\n')
        # node_exporter's textfile collector reads *.prom only: the
        # temporary must not be one.
        r, written, renames = self.traced(report)
        self.assertFalse(any(w.endswith(".prom") for w in written if w != report), written)

    def test_json_is_written_to_a_temporary_and_renamed(self):
        self.check_atomic("report.json")


class Quiet(gptest.TempDirTest):
    def test_quiet_success_prints_nothing(self):
        for text in (VECTOR, RASTER):
            r = self.gp("run", "-q", self.pipeline(text))
            self.assertExit(r, 0)
            self.assertEqual(r.out, "")
            self.assertEqual(r.err, "")

    def test_without_quiet_the_table_is_printed(self):
        r = self.gp("run", self.pipeline(VECTOR))
        self.assertExit(r, 0)
        self.assertIn("open iterators at exit: 0", r.err)


class FirstLine(gptest.TempDirTest):
    def first(self, r, code):
        self.assertExit(r, code)
        self.assertEqual(r.out, "")
        return r.err.splitlines()[0]

    def test_65_a_failing_feature(self):
        src = self.path("pole.geojson")
        with open(src, "w") as f:
            f.write('{"type":"FeatureCollection","features":[{"type":"Feature","id":5,'
                    '"properties":{},"geometry":{"type":"Point","coordinates":[0,100]}}]}')
        p = self.pipeline("""version: 1
steps:
  - read: { path: pole.geojson }
  - reproject: { to: "EPSG:3857" }
  - write: { path: out.gpkg }
""")
        # Without -q the table follows the line; it never comes first.
        line = self.first(self.gp("run", p), gptest.EX_DATAERR)
        self.assertRegex(line, FIRST % (re.escape(p), "reproject", "failed on feature 5"))
        self.assertNotIn("step 'reproject' failed", line)

    def test_65_a_missing_field(self):
        p = self.pipeline(VECTOR.replace("  - write:", "  - select: { keep: [NOSUCH] }\n  - write:"))
        line = self.first(self.gp("run", "-q", p), gptest.EX_DATAERR)
        self.assertRegex(line, FIRST % (re.escape(p), "select", "no field 'NOSUCH'"))

    def test_66_missing_input(self):
        p = self.pipeline(VECTOR.replace("sids.shp", "nothere.shp"))
        line = self.first(self.gp("run", p), gptest.EX_NOINPUT)
        self.assertRegex(line, FIRST % (re.escape(p), "read", "nothere.shp"))

    def test_66_missing_layer_before_any_batch(self):
        # Found while the source opens its first stream, before any step
        # has had a batch.
        p = self.pipeline(VECTOR.replace('sids.shp" }', 'sids.shp", layer: nolayer }'))
        line = self.first(self.gp("run", "-q", p), gptest.EX_NOINPUT)
        self.assertRegex(line, FIRST % (re.escape(p), "read", "layer 'nolayer' not found"))

    def test_73_output_exists(self):
        os.mkdir(self.path("out"))
        open(self.path("out", "sids.gpkg"), "w").close()
        p = self.pipeline(VECTOR.replace("overwrite", "create"))
        line = self.first(self.gp("run", "-q", p), gptest.EX_CANTCREAT)
        self.assertRegex(line, FIRST % (re.escape(p), "write", "sids.gpkg"))

    def test_74_disk_full(self):
        d = self.path("small")
        os.mkdir(d)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", d],
                           capture_output=True, text=True)
        if m.returncode != 0:
            self.fail("cannot mount a tmpfs on %s (the test needs root): %s" % (d, m.stderr))
        self.addCleanup(subprocess.run, ["umount", d], check=True)
        p = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: polygon, count: 4000, crs: "EPSG:4326", seed: 1 } }
  - write: { path: small/big.geojson }
""")
        line = self.first(self.gp("run", "-q", p), gptest.EX_IOERR)
        self.assertRegex(line, FIRST % (re.escape(p), "write", "No space left on device"))

    def test_75_memory_limit(self):
        p = self.pipeline(VECTOR)
        line = self.first(self.gp("run", p, "--memory-limit", "1MiB"), gptest.EX_TEMPFAIL)
        # Before any step: the plan of the whole run.
        self.assertRegex(line, r"^gispipe: %s: memory limit of 1 MiB cannot be held"
                         % re.escape(p))

    def test_78_config_names_the_pipeline(self):
        p = self.pipeline(VECTOR.replace("distance", "distnace"))
        line = self.first(self.gp("run", p), gptest.EX_CONFIG)
        self.assertRegex(line, r"^gispipe: %s:5:\d+: unknown key 'distnace' in step 'buffer'"
                         % re.escape(p))

    def test_143_signal(self):
        p = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: polygon, count: 3000000, crs: "EPSG:4326", seed: 1 } }
  - reproject: { to: "EPSG:3035" }
  - write: { path: out/big.gpkg }
""")
        os.mkdir(self.path("out"))
        proc = subprocess.Popen(gptest.WRAPPER + [gptest.GISPIPE, "run", p], cwd=self.dir,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while time.time() < deadline and not any(
                n.startswith(".gispipe-") for n in os.listdir(self.path("out"))):
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        line = self.first(gptest.Result(proc.returncode, out, err), 143)
        self.assertRegex(line, FIRST % (re.escape(p), "(read|reproject|write)",
                                        "interrupted by signal 15"))


class Progress(gptest.TempDirTest):
    # (Through a pipe, Python's text mode reads the \r as a line end.)
    PROGRESS = re.compile(r"[\r\n] +\d+ features +\d+/s")

    def on_tty(self, *args):
        """Run gispipe with stderr on a pseudo-terminal (stdout a pipe):
        (exit status, what reached the terminal)."""
        master, slave = pty.openpty()
        proc = subprocess.Popen(gptest.WRAPPER + [gptest.GISPIPE] + list(args), cwd=self.dir,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                proc.kill()
                self.fail("no output from gispipe for 60 s")
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        proc.stdout.close()
        return proc.wait(), b"".join(chunks).decode()

    def test_progress_on_a_tty_by_default(self):
        code, text = self.on_tty("run", self.pipeline(VECTOR))
        self.assertEqual(code, 0, text)
        self.assertRegex(text, self.PROGRESS)
        self.assertIn("open iterators at exit: 0", text)

    def test_no_progress_on_a_tty_with_quiet(self):
        code, text = self.on_tty("run", "-q", self.pipeline(VECTOR))
        self.assertEqual(code, 0, text)
        self.assertEqual(text, "")

    def test_no_progress_when_stderr_is_a_pipe(self):
        r = self.gp("run", self.pipeline(VECTOR))
        self.assertExit(r, 0)
        self.assertNotRegex(r.err, self.PROGRESS)
        self.assertIn("open iterators at exit: 0", r.err)

    def test_progress_forced_on_a_pipe(self):
        r = self.gp("run", "--progress", self.pipeline(VECTOR))
        self.assertExit(r, 0)
        self.assertRegex(r.err, self.PROGRESS)
        r = self.gp("run", "--progress", "-q", self.pipeline(VECTOR))
        self.assertEqual((r.code, r.err), (0, ""))

    def test_raster_progress_on_a_tty(self):
        code, text = self.on_tty("run", self.pipeline(RASTER))
        self.assertEqual(code, 0, text)
        self.assertRegex(text, r"\r +[\d.]+ Mpixels")


if __name__ == "__main__":
    gptest.main()
