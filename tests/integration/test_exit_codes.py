"""Every exit code gispipe documents, on bad input, with its message; 78
before any work, and `gispipe validate` agreeing with `gispipe run`."""
import os
import re
import subprocess

import gptest

SIDS = gptest.data("sids.shp")
WORLD = gptest.data("world.gpkg")

GOOD = f"""version: 1
steps:
  - read: {{ path: {SIDS} }}
  - write: {{ path: out/x.gpkg }}
"""

# A source that would run for minutes: a pipeline error must be found
# before it is read (the subprocess timeout is the guard, not a timing).
HUGE = "read: { synthetic: { geometry: polygon, count: 1000000000 } }"


class ExitCodes(gptest.TempDirTest):
    def check(self, text, code, *needles, validate=True):
        p = self.pipeline(text)
        r = self.gp("run", "-q", p, timeout=300)
        self.assertExit(r, code)
        for n in needles:
            if hasattr(n, "search"):
                self.assertRegex(r.err, n)
            else:
                self.assertIn(n, r.err)
        self.assertNotIn(r.code, (77, 99))
        if validate:
            # validate answers 0 or 78 (64 for its own usage errors), with
            # run's reason in the message.
            v = self.gp("validate", "-q", p, timeout=300)
            self.assertExit(v, code if code in (0, gptest.EX_USAGE) else gptest.EX_CONFIG)
            for n in needles:
                if hasattr(n, "search"):
                    self.assertRegex(v.err, n)
                else:
                    self.assertIn(n, v.err)
        self.assertFalse(os.path.exists(self.path("out")), "output directory made")
        self.assertEqual(self.leftovers(), [])
        return r

    # -- 64 usage ---------------------------------------------------------------

    def test_64_usage(self):
        p = self.pipeline(GOOD)
        cases = [
            (["frobnicate"], "unknown command 'frobnicate'"),
            ([], "usage:"),
            (["run", p, "--bogus"], "unknown option '--bogus'"),
            (["run", p, "--set", "novalue"], "--set wants key=value"),
            (["run", p, "--set=novalue"], "--set wants key=value"),
            (["run", p, "--set", "=v"], "--set wants key=value"),
            (["run", p, "--set"], "--set needs a value"),
            (["run"], "which pipeline?"),
            (["validate"], "which pipeline?"),
            (["run", "-q"], "which pipeline?"),
            (["run", p, p], "one pipeline at a time"),
            (["run", p, "--memory-limit", "lots"], "not a size"),
            (["run", p, "--memory-limit", "0"], "not a size"),
            (["run", p, "--threads", "0"], "--threads: '0' is not 'auto' or an integer from 1 to 1024"),
            (["run", p, "--threads", "x"], "is not 'auto' or an integer"),
            (["run", p, "--config", "ONLY_KEY"], "--config needs KEY VALUE"),
            (["validate", p, "--report", "r.json"], "unknown option '--report'"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                r = self.gp(*args)
                self.assertExit(r, gptest.EX_USAGE)
                self.assertIn(needle, r.err)
        self.assertFalse(os.path.exists(self.path("out")))
        self.assertFalse(os.path.exists(self.path("r.json")))

    def test_64_stages_unknown_step(self):
        # Was 255: cmd_stages returned gp_fail()'s -1 (fixed in 9a801c1).
        r = self.gp("stages", "reprojct")
        self.assertIn("unknown step 'reprojct' (did you mean 'reproject'?)", r.err)
        self.assertExit(r, gptest.EX_USAGE)
        # the names of both kinds are candidates; far from all, no hint
        r = self.gp("stages", "calk")
        self.assertIn("unknown step 'calk' (did you mean 'calc'?)", r.err)
        self.assertExit(r, gptest.EX_USAGE)
        r = self.gp("stages", "teleport")
        self.assertIn("unknown step 'teleport'\n", r.err)
        self.assertExit(r, gptest.EX_USAGE)

    def test_help_and_version_are_0(self):
        r = self.gp("--help")
        self.assertExit(r, 0)
        self.assertIn("exit status", r.out)
        r = self.gp("--version")
        self.assertExit(r, 0)
        self.assertRegex(r.out, r"^gispipe \S+ \(GDAL ")
        r = self.gp("stages", "write")
        self.assertExit(r, 0)
        self.assertIn("mode", r.out)

    # -- 66 input missing --------------------------------------------------------

    def test_66_missing_input_file(self):
        r = self.check(GOOD.replace(SIDS, "nope/missing.shp"), gptest.EX_NOINPUT,
                       "missing.shp", "No such file")

    def test_66_missing_second_input(self):
        self.check(GOOD.replace(SIDS, f"[{SIDS}, missing2.gpkg]"), gptest.EX_NOINPUT,
                   "missing2.gpkg")

    def test_66_glob_matching_nothing(self):
        self.check(GOOD.replace(SIDS, '"nowhere/*.shp"'), gptest.EX_NOINPUT,
                   "no input matches 'nowhere/*.shp'")

    def test_66_missing_layer_lists_the_layers(self):
        multi = self.path("two.gpkg")
        gptest.ogr2ogr(multi, SIDS, "-nln", "counties")
        gptest.ogr2ogr("-update", multi, gptest.data("cycle_hire.geojson"), "-nln", "stations")
        text = GOOD.replace(f"path: {SIDS}", f"path: {multi}, layer: countys")
        r = self.check(text, gptest.EX_NOINPUT)
        self.assertRegex(r.err, r"layer 'countys' not found in '.*two\.gpkg' "
                                r"\(layers: counties, stations\)")

    def test_65_not_a_vector_dataset(self):
        # There, but not readable as one: a data error (66 is for missing).
        with open(self.path("junk.gpkg"), "w") as f:
            f.write("this is not a GeoPackage\n" * 10)
        self.check(GOOD.replace(SIDS, self.path("junk.gpkg")), gptest.EX_DATAERR,
                   "cannot open", "junk.gpkg")

    # -- 73 cannot create -------------------------------------------------------

    def test_73_create_over_existing(self):
        os.makedirs(self.path("out"))
        with open(self.path("out", "x.gpkg"), "wb") as f:
            f.write(b"old")
        p = self.pipeline(GOOD)
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_CANTCREAT)
        self.assertIn("it exists", r.err)
        with open(self.path("out", "x.gpkg"), "rb") as f:
            self.assertEqual(f.read(), b"old")
        self.assertEqual(self.leftovers(), [])

    def test_73_output_directory_not_writable(self):
        # Tests run as root: a regular file where a directory should be is
        # what no one can write into.
        with open(self.path("out.gpkg"), "w") as f:
            f.write("a file")
        for target in ("out.gpkg/x.gpkg", "out.gpkg/sub/x.gpkg"):
            with self.subTest(target=target):
                p = self.pipeline(GOOD.replace("out/x.gpkg", target))
                r = self.gp("run", "-q", p)
                self.assertExit(r, gptest.EX_CANTCREAT)
                self.assertIn("out.gpkg", r.err)
        with open(self.path("out.gpkg")) as f:
            self.assertEqual(f.read(), "a file")
        self.assertEqual(self.leftovers(), [])

    def test_78_vsi_output(self):
        # Outputs are renamed into place, so they must be local files; the
        # pipeline check refuses /vsi paths before any work.
        self.check(GOOD.replace("out/x.gpkg", "/vsimem/x.gpkg"), gptest.EX_CONFIG,
                   "p.yaml:4:20: cannot write '/vsimem/x.gpkg': outputs must be local files")
        self.check(GOOD.replace("out/x.gpkg", '"/vsimem/{stem}.gpkg"'), gptest.EX_CONFIG,
                   "p.yaml:4:20: cannot write '/vsimem/{stem}.gpkg': outputs must be local")

    def test_73_vsi_output_from_a_template(self):
        # Known only at run time (the template makes the /vsi path): 73, as
        # gispipe(1) says; validate cannot know it.
        text = ("version: 1\nsteps:\n"
                "  - read: { synthetic: { geometry: point, count: 5, layer: \"/vsimem\" } }\n"
                "  - write: { path: \"{layer}/x.gpkg\" }\n")
        self.check(text, gptest.EX_CANTCREAT,
                   "cannot write '/vsimem/x.gpkg': outputs must be local files", validate=False)
        self.assertExit(self.gp("validate", "-q", self.pipeline(text)), 0)

    # -- bounded expansions and ranges (#8) --------------------------------------------

    def test_78_variable_expansion_bomb(self):
        # 465 bytes, eight levels of ten references: 100 MB and 2.9 GB of RSS
        # when it was expanded.  Refused at the value that passes 64 KiB,
        # before it is built.
        levels = ['  a: "xxxxxxxxxx"']
        for prev, cur in zip("abcdefg", "bcdefgh"):
            levels.append(f'  {cur}: "' + ("${" + prev + "}") * 10 + '"')
        text = ("version: 1\nvars:\n" + "\n".join(levels) + '\nname: "${h}"\n'
                f"steps:\n  - read: {{ path: {SIDS} }}\n  - write: {{ path: out/x.gpkg }}\n")
        p = self.pipeline(text)
        proc = subprocess.Popen(gptest.WRAPPER + [gptest.GISPIPE, "run", "-q", p],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        # communicate() reaped it; the peak is in the children's rusage, a
        # process of its own (below).
        self.assertEqual(proc.returncode, gptest.EX_CONFIG, err)
        self.assertIn('p.yaml:7:6: this value expands to more than 65536 bytes (64 KiB), the '
                      'most a value may have\n'
                      '    e: "${d}${d}${d}${d}${d}${d}${d}${d}${d}${d}"\n'
                      '       ^', err)
        self.assertFalse(os.path.exists(self.path("out")))
        if gptest.MEMORY_MEASURED:
            # Peak RSS of that one child, measured by the kernel.
            pid = os.fork()
            if pid == 0:
                os.execvp(gptest.GISPIPE, [gptest.GISPIPE, "validate", "-q", p])
            _, status, ru = os.wait4(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), gptest.EX_CONFIG)
            self.assertLess(ru.ru_maxrss * 1024, 64 << 20)

    def test_78_runaway_options(self):
        # Ran forever: GEOS asked for two billion segments a quadrant on 100
        # counties.  Each case must fail at once (the timeout is the guard).
        cases = [
            ("  - buffer: { distance: 1, segments: 2000000000 }",
             "p.yaml:4:38: 'segments' in step 'buffer' must be at most 1000 (1..1000)"),
            ("  - buffer: { distance: 1e300 }",
             "'distance' in step 'buffer' must be at most 1e+15 (-1e+15..1e+15)"),
            ("  - buffer: { distance: .inf }", "'distance' in step 'buffer' must be a number"),
            ("  - simplify: { tolerance: .nan }",
             "'tolerance' in step 'simplify' must be a number"),
            ("  - segmentize: { max_length: 0 }",
             "'max_length' in step 'segmentize' must be greater than 0 (>0..1e+15)"),
            ("  - filter: { bbox: [0, 0, 1e16, 1] }",
             "'bbox' in step 'filter' must be at most 1e+15"),
            ("  - set_field: { name: x, constant: nan, type: real }",
             "'nan' is not a real"),
        ]
        # Under valgrind (~2 s a start) the first case stands for the rest.
        for step, needle in cases[:1] if gptest.UNDER_VALGRIND else cases:
            with self.subTest(step=step):
                text = (f"version: 1\nsteps:\n  - read: {{ path: {SIDS} }}\n{step}\n"
                        "  - write: { path: out/x.gpkg }\n")
                p = self.pipeline(text)
                r = self.gp("run", "-q", p, timeout=60)
                self.assertExit(r, gptest.EX_CONFIG)
                self.assertIn(needle, r.err)
                self.assertFalse(os.path.exists(self.path("out")))

    def test_stages_states_ranges(self):
        r = self.gp("stages", "buffer")
        self.assertExit(r, 0)
        self.assertRegex(r.out, r"\n  segments +integer 1\.\.1000 +segments per quarter circle "
                                r"\[default: 8\]")
        r = self.gp("stages", "read")
        self.assertRegex(r.out, r"\n +width +integer 1\.\.1048576 ")
        self.assertRegex(r.out, r"\n +count +integer 0\.\.1000000000 ")
        r = self.gp("stages", "resample")
        self.assertRegex(r.out, r"\n  resolution +number or list of 2 >0\.\.1e\+15 ")

    def test_threads_one_range_in_file_and_command_line(self):
        body = GOOD.split("\n", 1)[1]
        # Under valgrind (~2 s a start) the first value stands for the rest.
        for n in ("2000",) if gptest.UNDER_VALGRIND else ("2000", "0", "1.5", "-1"):
            with self.subTest(n=n):
                self.check(f"version: 1\nthreads: {n}\n" + body, gptest.EX_CONFIG,
                           "p.yaml:2:10: 'threads' must be 'auto' or an integer from 1 to 1024")
                r = self.gp("validate", "-q", self.pipeline(GOOD, "g.yaml"), "--threads", n)
                self.assertExit(r, gptest.EX_USAGE)
                self.assertIn(f"--threads: '{n}' is not 'auto' or an integer from 1 to 1024",
                              r.err)
        for n in ("1024", "auto"):
            self.assertExit(self.gp("validate", "-q", self.pipeline(
                f"version: 1\nthreads: {n}\n" + body, "t.yaml")), 0)
            self.assertExit(self.gp("validate", "-q", self.pipeline(GOOD, "g.yaml"),
                                    "--threads", n), 0)

    def test_memory_limit_sizes(self):
        body = GOOD.split("\n", 1)[1]
        bad = [("0.5", "is not a size"),          # was: no limit at all
               ("-64MiB", "is not a size"),
               ("1.3MiB", "is not a size"),       # a fraction of a byte
               ("18446744073709551616", "is not a size"),
               ("9223372036854775808", "must be at most 1024TiB (1MiB..1024TiB, or 0/none)"),
               ("64Mo", "is not a size"),
               ("512KiB", "must be at least 1MiB")]
        # Under valgrind (~2 s a start) the first value stands for the rest.
        for v, needle in bad[:1] if gptest.UNDER_VALGRIND else bad:
            with self.subTest(v=v):
                self.check(f"version: 1\nmemory: {{ limit: '{v}' }}\n" + body,
                           gptest.EX_CONFIG, "p.yaml:2:18: 'limit' in 'memory'", needle)
                r = self.gp("validate", "-q", self.pipeline(GOOD, "g.yaml"),
                            "--memory-limit", v)
                self.assertExit(r, gptest.EX_USAGE)
                self.assertIn(f"--memory-limit: '{v}' is not a size from 1MiB to 1024TiB", r.err)
        # 0 and none: no limit, in the file (the command line needs a size).
        for v in ("0", "none"):
            r = self.gp("explain", self.pipeline(f"version: 1\nmemory: {{ limit: {v} }}\n" + body,
                                                 "n.yaml"))
            self.assertExit(r, 0)
            self.assertRegex(r.out, r"limit:? +none")
            self.assertExit(self.gp("validate", "-q", self.pipeline(GOOD, "g.yaml"),
                                    "--memory-limit", v), gptest.EX_USAGE)
        # MB is MiB, as gispipe-pipeline(5) says.
        r = self.gp("explain", self.pipeline("version: 1\nmemory: { limit: 300MB }\n" + body,
                                             "m.yaml"))
        self.assertExit(r, 0)
        self.assertRegex(r.out, r"limit +300\.0 MiB")

    def test_explain_lists_vars(self):
        # --set ones first, then the file's in its order; a file value under
        # a --set of the same name is the --set one, and marked so.
        text = "version: 1\nvars: { b: two, a: '${b}-one', k: file }\n" + GOOD.split("\n", 1)[1]
        r = self.gp("explain", self.pipeline(text), "--set", "k=cli", "--set", "z=last")
        self.assertExit(r, 0)
        self.assertIn("vars:\n  k = cli  (--set)\n  z = last  (--set)\n  b = two\n"
                      "  a = two-one\non_error:", r.out)

    # -- 75 memory ------------------------------------------------------------------

    def test_75_memory_limit_cannot_be_held(self):
        p = self.pipeline(GOOD)
        r = self.gp("run", p, "--memory-limit", "1MiB")
        self.assertExit(r, gptest.EX_TEMPFAIL)
        m = re.search(r"retry with --memory-limit (\d+)MiB or more", r.err)
        self.assertIsNotNone(m, r.err)
        self.assertGreater(int(m.group(1)), 1)
        self.assertIn("features: 0 read, 0 written", r.err)
        self.assertFalse(os.path.exists(self.path("out")))
        self.assertEqual(self.leftovers(), [])
        # The same from the pipeline file.
        r = self.gp("run", "-q", self.pipeline("version: 1\nmemory: { limit: 2MiB }\n" +
                                               GOOD.split("\n", 1)[1], "m.yaml"))
        self.assertExit(r, gptest.EX_TEMPFAIL)
        self.assertIn("retry with", r.err)

    # -- 78 pipeline invalid ---------------------------------------------------------

    def test_78_yaml_syntax_error_with_position_and_caret(self):
        r = self.check("version: 1\nsteps:\n  - read: { path: a.shp\n  - write: { path: o.gpkg }\n",
                       gptest.EX_CONFIG, "p.yaml:4:10: syntax error")
        lines = r.err.splitlines()
        i = [k for k, l in enumerate(lines) if "p.yaml:4:10" in l][0]
        self.assertIn("- write: { path: o.gpkg }", lines[i + 1])
        # The caret sits under column 10 of the source line as printed.
        src, caret = lines[i + 1], lines[i + 2]
        indent = src.index("- write")  # the printed line's own indent
        self.assertEqual(caret.rstrip(), " " * (indent - 2 + 9) + "^")

    def test_78_tab_indentation(self):
        self.check("version: 1\nsteps:\n\t- read: { path: a.shp }\n", gptest.EX_CONFIG,
                   re.compile(r"p\.yaml:3:\d+: "))

    def test_78_unknown_key_with_suggestion(self):
        r = self.check(GOOD.replace("- read: { path:", "- read: { pth:"), gptest.EX_CONFIG,
                       "p.yaml:3:13: unknown key 'pth' in step 'read' (did you mean 'path'?)")
        self.check(GOOD.replace("write: { path: out/x.gpkg }",
                                "write: { path: out/x.gpkg, mods: create }"),
                   gptest.EX_CONFIG, "p.yaml:4:32: unknown key 'mods' in step 'write' "
                   "(did you mean 'mode'?)")
        self.check("version: 1\nstep: []\n", gptest.EX_CONFIG,
                   "p.yaml:2:1: unknown key 'step' at the top level (did you mean 'steps'?)")

    def test_78_unknown_step_with_suggestion(self):
        text = GOOD.replace("  - write:", '  - reprojct: { to: "EPSG:3035" }\n  - write:')
        self.check(text, gptest.EX_CONFIG,
                   "p.yaml:4:5: unknown step 'reprojct' (did you mean 'reproject'?)")
        text = GOOD.replace("  - write:", "  - teleport: { to: mars }\n  - write:")
        self.check(text, gptest.EX_CONFIG, "unknown step 'teleport' (gispipe stages lists them)")

    def test_78_unknown_enum_value(self):
        self.check(GOOD.replace("out/x.gpkg }", "out/x.gpkg, mode: overwrit }"),
                   gptest.EX_CONFIG, "unknown value 'overwrit' for 'mode'",
                   "(did you mean 'overwrite'?)")

    def test_78_duplicate_key(self):
        self.check(f"version: 1\nsteps:\n  - read: {{ path: {SIDS}, path: b.shp }}\n"
                   "  - write: { path: out/x.gpkg }\n", gptest.EX_CONFIG,
                   re.compile(r"p\.yaml:3:\d+: duplicate key 'path' \(first at line 3\)"))
        self.check("version: 1\nversion: 1\nsteps: []\n", gptest.EX_CONFIG,
                   "p.yaml:2:1: duplicate key 'version'")

    def test_78_alias_bomb(self):
        lines = ["version: 1", 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
        for i in range(1, 10):
            prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
            lines.append("%s: &%s [%s]" % (cur, cur, ", ".join(["*" + prev] * 9)))
        self.check("\n".join(lines) + "\n" + GOOD.split("\n", 1)[1], gptest.EX_CONFIG,
                   "alias")

    def test_78_alias_cycle_or_undefined_alias(self):
        self.check("version: 1\nvars: { a: *nothere }\n" + GOOD.split("\n", 1)[1],
                   gptest.EX_CONFIG, re.compile(r"p\.yaml:2:\d+: "))

    def test_78_nesting_deeper_than_64(self):
        deep = "[" * 70 + "]" * 70
        r = self.check("version: 1\nvars:\n  x: " + deep + "\n" + GOOD.split("\n", 1)[1],
                       gptest.EX_CONFIG, "nesting deeper than 64 levels")
        self.assertRegex(r.err, r"p\.yaml:3:\d+: ")
        # A mapping nest too, inside a step.
        nest = "{a: " * 70 + "1" + "}" * 70
        self.check(GOOD.replace(f"path: {SIDS} }}", f"path: {SIDS}, open_options: {nest} }}"),
                   gptest.EX_CONFIG, "nesting deeper than 64 levels")

    def test_78_wrong_types(self):
        cases = [
            ("write: { path: out/x.gpkg }", "write: { path: out/x.gpkg, transaction_size: many }",
             "p.yaml:4:50: 'transaction_size' in step 'write' must be a"),
            (f"path: {SIDS} }}", f"path: {SIDS}, bbox: [1, 2, 3] }}",
             "'bbox' in step 'read' must be a list of 4 numbers"),
            (f"path: {SIDS} }}", f"path: {SIDS}, bbox: [3, 2, 1, 4] }}", "xmin <= xmax"),
            ("write: { path: out/x.gpkg }", "write: { path: [a, b] }",
             "'path' in step 'write' must be a string"),
            ("write: { path: out/x.gpkg }", "write: { path: out/x.gpkg, options: [A, B] }",
             "'options' in step 'write' must be a mapping"),
            ("version: 1", "version: 1\nmemory: { limit: lots }", "'lots' is not a size"),
            ("version: 1", "version: 1\nthreads: -2", "'threads' must be 'auto' or an integer"),
            ("version: 1", "version: 1\non_error: ignore", "'on_error' must be 'fail' or 'reject'"),
        ]
        for old, new, needle in cases:
            with self.subTest(new=new):
                self.assertIn(old, GOOD)
                self.check(GOOD.replace(old, new, 1), gptest.EX_CONFIG, needle)

    def test_78_undefined_variable(self):
        self.check("version: 1\nvars: { src: a.shp }\nsteps:\n  - read: { path: \"${srcs}\" }\n"
                   "  - write: { path: out/x.gpkg }\n", gptest.EX_CONFIG,
                   "p.yaml:4:19: undefined variable 'srcs' (did you mean 'src'?)")
        self.check(GOOD.replace(SIDS, '"${nothing_like_it}"'), gptest.EX_CONFIG,
                   "undefined variable 'nothing_like_it'", "--set nothing_like_it=")

    def test_set_defines_a_variable(self):
        p = self.pipeline(GOOD.replace(SIDS, '"${src}"'))
        r = self.gp("run", "-q", p, "--set", "src=" + SIDS)
        self.assertExit(r, 0)
        self.assertEqual(gptest.feature_count(self.path("out", "x.gpkg")), 100)

    def test_78_missing_or_bad_version(self):
        self.check(GOOD.split("\n", 1)[1], gptest.EX_CONFIG, "p.yaml:1:1: missing 'version: 1'")
        self.check(GOOD.replace("version: 1", "version: 2"), gptest.EX_CONFIG,
                   "p.yaml:1:10: unsupported version '2'")

    def test_78_bad_crs(self):
        text = GOOD.replace("  - write:", '  - reproject: { to: "EPSG:999999" }\n  - write:')
        self.check(text, gptest.EX_CONFIG,
                   "p.yaml:4:22: unknown CRS 'EPSG:999999' in step 'reproject'")
        text = GOOD.replace("  - write:", '  - reproject: { to: "EPSG:3035", from: "NAD99" }\n'
                            "  - write:")
        self.check(text, gptest.EX_CONFIG, "unknown CRS 'NAD99'")
        self.check(f"version: 1\nsteps:\n  - {HUGE.replace('count', 'crs: EPSG:0, count')}\n"
                   "  - write: { path: out/x.gpkg }\n", gptest.EX_CONFIG, "unknown CRS 'EPSG:0'")

    def test_78_pipeline_shape(self):
        self.check("", gptest.EX_CONFIG, "p.yaml:1:1:")
        self.check("version: 1\nsteps: []\n", gptest.EX_CONFIG, "'steps' must be a non-empty")
        self.check(f"version: 1\nsteps:\n  - write: {{ path: out/x.gpkg }}\n  - read: {{ path: {SIDS} }}\n",
                   gptest.EX_CONFIG, "p.yaml:3:5: the first step must be 'read'")
        self.check(f"version: 1\nsteps:\n  - read: {{ path: {SIDS} }}\n", gptest.EX_CONFIG,
                   "the last step must be 'write'")
        self.check(f"version: 1\nsteps:\n  - read: {{ path: {SIDS} }}\n  - write: {{ }}\n",
                   gptest.EX_CONFIG, "step 'write' needs 'path'")
        self.check(f"version: 1\nsteps:\n  - read: {{ path: {SIDS} }}\n  - filter:\n"
                   "  - write: { path: out/x.gpkg }\n", gptest.EX_CONFIG, "filter")
        self.check("version: 1\nsteps:\n  - read: { path: a.shp, synthetic: {} }\n"
                   "  - write: { path: out/x.gpkg }\n", gptest.EX_CONFIG,
                   "needs either 'path' or 'synthetic'")

    def test_78_before_any_work(self):
        # A two-billion-feature source and a mistake in the last step: the
        # mistake is found first, nothing is read or created.
        for bad in ["write: { path: out/x.gpkg, mode: sometimes }",
                    "write: { path: \"out/{steem}.gpkg\" }",
                    "write: { path: out/x.unknownext }"]:
            with self.subTest(bad=bad):
                self.check(f"version: 1\nsteps:\n  - {HUGE}\n  - {bad}\n", gptest.EX_CONFIG,
                           re.compile(r"p\.yaml:4:\d+: "))

    def test_78_template_suggestion(self):
        self.check(f"version: 1\nsteps:\n  - read: {{ path: {SIDS} }}\n"
                   "  - write: { path: \"out/{steem}.gpkg\" }\n", gptest.EX_CONFIG,
                   "unknown template '{steem}'", "(did you mean '{stem}'?)")

    def test_78_bad_where_in_read(self):
        r = self.check(GOOD.replace(f"path: {SIDS} }}", f'path: {SIDS}, where: "NOSUCH > 1" }}'),
                       gptest.EX_CONFIG,
                       "where 'NOSUCH > 1' cannot be applied to layer 'sids' of '%s'" % SIDS)

    # -- 65 data error --------------------------------------------------------------

    def test_65_select_missing_field(self):
        text = GOOD.replace("  - write:", "  - select: { keep: [NAME, FIPSS] }\n  - write:")
        r = self.gp("run", "-q", self.pipeline(text))
        self.assertExit(r, gptest.EX_DATAERR)
        self.assertIn("step 'select': no field 'FIPSS'", r.err)
        self.assertIn("(did you mean 'FIPS'?)", r.err)
        self.assertFalse(os.path.exists(self.path("out", "x.gpkg")))
        self.assertEqual(self.leftovers(), [])

    def test_65_failing_feature(self):
        src = self.path("pole.geojson")
        with open(src, "w") as f:
            f.write('{"type":"FeatureCollection","features":[{"type":"Feature","id":5,'
                    '"properties":{},"geometry":{"type":"Point","coordinates":[0,100]}}]}')
        text = GOOD.replace(SIDS, src).replace("  - write:",
                                              '  - reproject: { to: "EPSG:3857" }\n  - write:')
        r = self.gp("run", "-q", self.pipeline(text))
        self.assertExit(r, gptest.EX_DATAERR)
        self.assertIn("failed on feature 5", r.err)
        self.assertFalse(os.path.exists(self.path("out", "x.gpkg")))
        self.assertEqual(self.leftovers(), [])

    def test_70_leaked_handle_names_the_stage_and_commits_nothing(self):
        # A test-only switch makes a stage count a handle it never gives
        # back: the leak detector itself is under test, for a transform and
        # for the sink, and a leak found must keep the outputs out.
        text = GOOD.replace("  - write:", '  - reproject: { to: "EPSG:32617" }\n  - write:')
        for stage in ("reproject", "write"):
            with self.subTest(stage=stage):
                r = self.gp("run", "-q", self.pipeline(text), "--config", "GISPIPE_TEST_LEAK",
                            stage)
                self.assertExit(r, gptest.EX_SOFTWARE)
                self.assertIn("stage '%s' leaked 1 ogr_feature handle(s)" % stage, r.err)
                self.assertFalse(os.path.exists(self.path("out", "x.gpkg")))
                self.assertEqual(self.leftovers(), [])
        self.assertExit(self.gp("run", "-q", self.pipeline(text)), 0)

    def test_74_disk_full(self):
        d = self.path("small")
        os.mkdir(d)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", d],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, "cannot mount a tmpfs (the test needs root): "
                         + r.stderr)
        try:
            r = self.gp("run", "-q", self.pipeline(
                "version: 1\nsteps:\n  - read: { synthetic: { geometry: polygon, count: "
                "5000 } }\n  - write: { path: small/x.geojson }\n"))
            self.assertExit(r, gptest.EX_IOERR)
            self.assertIn("cannot write 'small/x.geojson'", r.err)
            self.assertIn("No space left on device", r.err)
            self.assertEqual(os.listdir(d), [])
        finally:
            subprocess.run(["umount", d], check=True)

    def test_validate_answers_0_or_78_and_writes_nothing(self):
        p = self.pipeline(GOOD)
        r = self.gp("validate", p)
        self.assertExit(r, 0)
        self.assertIn("ok (2 steps)", r.out)
        self.assertFalse(os.path.exists(self.path("out")))
        r = self.gp("validate", p, "--memory-limit", "1MiB")
        self.assertExit(r, gptest.EX_CONFIG)
        self.assertIn("retry with", r.err)
        os.makedirs(self.path("out"))
        with open(self.path("out", "x.gpkg"), "w") as f:
            f.write("old")
        r = self.gp("validate", p)
        self.assertExit(r, gptest.EX_CONFIG)
        self.assertIn("exists", r.err)
        with open(self.path("out", "x.gpkg")) as f:
            self.assertEqual(f.read(), "old")
        self.assertEqual(self.leftovers(), [])

    def test_a_pipeline_that_does_not_load(self):
        # run and explain say why with the load's own code; validate
        # answers 78 for it as for anything else that stops a run.
        for cmd, code in (("run", gptest.EX_NOINPUT), ("explain", gptest.EX_NOINPUT),
                          ("validate", gptest.EX_CONFIG)):
            with self.subTest(cmd=cmd):
                r = self.gp(cmd, "-q", self.path("no-such-pipeline.yaml"))
                self.assertExit(r, code)
                self.assertEqual(r.out, "")
                self.assertEqual(r.err.count("cannot open '"), 1, r.err)
                self.assertIn("no-such-pipeline.yaml': No such file or directory", r.err)
        p = self.pipeline(GOOD.replace("steps:", "stepz:"))
        for cmd in ("run", "explain", "validate"):
            with self.subTest(cmd=cmd):
                r = self.gp(cmd, p)
                self.assertExit(r, gptest.EX_CONFIG)
                self.assertEqual(r.out, "")
                self.assertIn("stepz", r.err)
        self.assertEqual(self.leftovers(), [])

    def test_missing_pipeline_file(self):
        r = self.gp("run", "-q", "no-such-pipeline.yaml")
        self.assertIn(r.code, (gptest.EX_NOINPUT, gptest.EX_CONFIG), repr(r))
        self.assertIn("no-such-pipeline.yaml", r.err)


if __name__ == "__main__":
    gptest.main()
