"""run --incremental: an output is skipped only when nothing that made it
changed (the resolved pipeline, gispipe's version, its inputs' path, size,
mtime_ns and content, its own identity); a change rebuilds exactly the
outputs that depend on it; the record is committed after the outputs, and a
failed run leaves it as it was; append appends new inputs only; the report,
the .prom file and explain say what was skipped and why the rest was
rebuilt."""
import json
import os
import shutil
import subprocess

import gptest

RECORD = os.path.join("out", ".gispipe.incremental.json")


def square(x, y, d=1.0):
    return [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]


def write_input(path, n, shift=0.0, field="v"):
    """A GeoJSON file of `n` unit squares in EPSG:4326."""
    feats = [{"type": "Feature", "properties": {field: i},
              "geometry": {"type": "Polygon", "coordinates": square(i * 0.01 + shift, 45.0)}}
             for i in range(n)]
    with open(path, "w") as f:
        json.dump({"type": "FeatureCollection", "features": feats}, f)


def identity(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        return (st.st_ino, st.st_mtime_ns, f.read())


PER_INPUT = """version: 1
vars: { to: "EPSG:3857" }
memory: { limit: 256MiB }
steps:
  - read: { path: "in/*.geojson" }
  - reproject: { to: "${to}" }
  - write: { path: "out/{stem}.gpkg", mode: overwrite }
"""


class Incremental(gptest.TempDirTest):
    def setUp(self):
        super().setUp()
        os.makedirs(self.path("in"))
        for k, name in enumerate("abc"):
            write_input(self.path("in", name + ".geojson"), 3 + k)

    def run_incr(self, *extra, code=0, pipeline=None):
        p = pipeline or self.pipeline(PER_INPUT)
        r = self.gp("run", p, "--incremental", "--report", "r.json", *extra)
        self.assertExit(r, code)
        with open(self.path("r.json")) as f:
            return r, json.load(f)

    def outputs(self):
        return {n: identity(self.path("out", n + ".gpkg")) for n in "abc"
                if os.path.exists(self.path("out", n + ".gpkg"))}

    def features(self, path):
        return [(f["properties"], f["geometry"]) for f in self.geojson(path)["features"]]

    def test_nothing_changed_skips_every_output(self):
        _, rep = self.run_incr()
        self.assertEqual(rep["incremental"]["reasons"], {"no_record": 3})
        before = self.outputs()
        self.assertEqual(len(before), 3)
        r, rep = self.run_incr()
        inc = rep["incremental"]
        self.assertEqual((inc["outputs_skipped"], inc["outputs_rebuilt"]), (3, 0))
        self.assertEqual((inc["inputs_skipped"], inc["inputs_read"]), (3, 0))
        self.assertEqual(rep["totals"]["datasets"], 0)  # not even opened
        self.assertEqual(self.outputs(), before)         # inode, mtime_ns, bytes
        self.assertIn("incremental: 3 outputs up to date (skipped), 0 rebuilt", r.err)
        self.assertEqual(self.leftovers(self.path("out")), [])

    def test_touched_input_rebuilds_its_output_only(self):
        self.run_incr()
        before = self.outputs()
        st = os.stat(self.path("in", "b.geojson"))
        os.utime(self.path("in", "b.geojson"), ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        r, rep = self.run_incr()
        after = self.outputs()
        self.assertEqual(after["a"], before["a"])
        self.assertEqual(after["c"], before["c"])
        self.assertNotEqual(after["b"][:2], before["b"][:2])
        inc = rep["incremental"]
        self.assertEqual(inc["rebuilt"], [{"input": "in/b.geojson", "reason": "input_mtime",
                                           "detail": None, "outputs": ["out/b.gpkg"]}])
        self.assertIn("in/b.geojson: input changed: mtime -> out/b.gpkg", r.err)
        # The rebuilt output is what a fresh run makes.
        fresh = self.pipeline(PER_INPUT.replace("out/{stem}", "fresh/{stem}"), "fresh.yaml")
        self.gp_ok("run", "-q", fresh)
        self.assertEqual(self.features(self.path("out", "b.gpkg")),
                         self.features(self.path("fresh", "b.gpkg")))

    def test_changed_content_same_size_and_mtime_is_seen(self):
        self.run_incr()
        p = self.path("in", "a.geojson")
        st = os.stat(p)
        with open(p, "r+b") as f:
            data = f.read()
            f.seek(0)
            f.write(data.replace(b'"v": 2', b'"v": 7'))  # same length
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
        self.assertEqual(os.stat(p).st_size, st.st_size)
        _, rep = self.run_incr()
        self.assertEqual([(e["input"], e["reason"]) for e in rep["incremental"]["rebuilt"]],
                         [("in/a.geojson", "input_content")])
        self.assertIn(7, [p["v"] for p, _ in self.features(self.path("out", "a.gpkg"))])

    def test_added_and_removed_inputs(self):
        self.run_incr()
        before = self.outputs()
        write_input(self.path("in", "d.geojson"), 2)
        _, rep = self.run_incr()
        self.assertEqual([(e["input"], e["reason"]) for e in rep["incremental"]["rebuilt"]],
                         [("in/d.geojson", "new_input")])
        self.assertEqual(self.outputs(), before)
        self.assertEqual(gptest.feature_count(self.path("out", "d.gpkg")), 2)
        # A removed input's output is left in place, named, and forgotten.
        os.remove(self.path("in", "a.geojson"))
        r, rep = self.run_incr()
        inc = rep["incremental"]
        self.assertEqual((inc["inputs_read"], inc["orphaned_outputs"]), (0, ["out/a.gpkg"]))
        self.assertEqual(self.outputs()["a"], before["a"])
        self.assertIn("out/a.gpkg: its input is gone; left in place", r.err)
        with open(self.path(RECORD)) as f:
            self.assertNotIn("in/a.geojson", json.load(f)["units"]["out/{stem}.gpkg"]["inputs"])

    def test_pipeline_change_rebuilds_all_and_reformatting_does_not(self):
        self.run_incr()
        before = self.outputs()
        # The same pipeline written otherwise (key order, flow style,
        # comments) and a memory limit (no output depends on it): the same.
        same = self.pipeline("""# reformatted
version: 1
memory:
  limit: 512MiB
vars:
  to: EPSG:3857
steps:
  - read:
      path: in/*.geojson
  - reproject: {to: "${to}"}
  - write: {mode: overwrite, path: "out/{stem}.gpkg"}
""", "same.yaml")
        _, rep = self.run_incr(pipeline=same)
        self.assertEqual(rep["incremental"]["inputs_read"], 0)
        self.assertEqual(self.outputs(), before)
        _, rep = self.run_incr("--set", "to=EPSG:3035")
        self.assertEqual(rep["incremental"]["reasons"], {"pipeline_changed": 3})
        after = self.outputs()
        self.assertTrue(all(after[n][:2] != before[n][:2] for n in "abc"))

    def test_version_change_rebuilds_all(self):
        self.run_incr()
        with open(self.path(RECORD)) as f:
            rec = json.load(f)
        rec["units"]["out/{stem}.gpkg"]["version"] = "0.0.1"
        with open(self.path(RECORD), "w") as f:
            json.dump(rec, f)
        _, rep = self.run_incr()
        self.assertEqual(rep["incremental"]["reasons"], {"version_changed": 3})
        _, rep = self.run_incr()
        self.assertEqual(rep["incremental"]["inputs_read"], 0)

    def test_output_deleted_or_changed_is_rebuilt(self):
        self.run_incr()
        os.remove(self.path("out", "a.gpkg"))
        # Rewritten by another program: a new inode.
        shutil.copyfile(self.path("out", "c.gpkg"), self.path("c.tmp"))
        os.replace(self.path("c.tmp"), self.path("out", "c.gpkg"))
        _, rep = self.run_incr()
        got = {e["input"]: (e["reason"], e["detail"]) for e in rep["incremental"]["rebuilt"]}
        self.assertEqual(got, {"in/a.geojson": ("output_missing", "out/a.gpkg"),
                               "in/c.geojson": ("output_changed", "out/c.gpkg")})
        self.assertEqual(gptest.feature_count(self.path("out", "a.gpkg")), 3)

    def test_failed_run_keeps_the_record_and_the_outputs(self):
        self.run_incr()
        before = self.outputs()
        with open(self.path(RECORD), "rb") as f:
            record = f.read()
        write_input(self.path("in", "b.geojson"), 6)
        with open(self.path("in", "c.geojson"), "w") as f:
            f.write('{"type": "FeatureCollection", "features": [')  # truncated
        r, rep = self.run_incr(code=65)
        self.assertEqual(rep["status"], "failed")
        self.assertFalse(rep["incremental"]["committed"])
        self.assertIn("incremental: nothing committed, the record is as it was; 1 input skipped, "
                      "2 read", r.err)
        self.assertEqual(self.outputs(), before)  # b was written, not committed
        with open(self.path(RECORD), "rb") as f:
            self.assertEqual(f.read(), record)
        self.assertEqual(self.leftovers(self.path("out")), [])
        # b is still pending: the failed run did not mark it done.
        write_input(self.path("in", "c.geojson"), 1)
        _, rep = self.run_incr()
        self.assertEqual(sorted((e["input"], e["reason"]) for e in rep["incremental"]["rebuilt"]),
                         [("in/b.geojson", "input_size"), ("in/c.geojson", "input_size")])
        self.assertEqual(gptest.feature_count(self.path("out", "b.gpkg")), 6)

    def test_append_appends_new_inputs_only(self):
        p = self.pipeline("""version: 1
steps:
  - read: { path: "in/*.geojson" }
  - write: { path: "out/all.gpkg", mode: append, layer: all }
""", "append.yaml")
        self.run_incr(pipeline=p)
        self.assertEqual(gptest.feature_count(self.path("out", "all.gpkg")), 3 + 4 + 5)
        _, rep = self.run_incr(pipeline=p)
        self.assertEqual(rep["incremental"]["inputs_read"], 0)
        write_input(self.path("in", "d.geojson"), 2)
        _, rep = self.run_incr(pipeline=p)
        self.assertEqual([e["input"] for e in rep["incremental"]["rebuilt"]], ["in/d.geojson"])
        self.assertEqual(gptest.feature_count(self.path("out", "all.gpkg")), 3 + 4 + 5 + 2)
        before = identity(self.path("out", "all.gpkg"))
        write_input(self.path("in", "a.geojson"), 9)
        r, _ = self.run_incr(pipeline=p, code=65)
        self.assertIn("input 'in/a.geojson' changed (input changed: size) since it was appended "
                      "to 'out/all.gpkg': appended rows cannot be taken back", r.err)
        self.assertEqual(identity(self.path("out", "all.gpkg")), before)

    def test_merged_output_depends_on_every_input(self):
        p = self.pipeline(PER_INPUT.replace('"out/{stem}.gpkg"', '"out/all.gpkg", layer: all'),
                          "merged.yaml")
        self.run_incr(pipeline=p)
        before = identity(self.path("out", "all.gpkg"))
        _, rep = self.run_incr(pipeline=p)
        inc = rep["incremental"]
        self.assertEqual((inc["outputs_skipped"], inc["inputs_read"]), (1, 0))
        self.assertEqual(identity(self.path("out", "all.gpkg")), before)
        write_input(self.path("in", "b.geojson"), 1)
        _, rep = self.run_incr(pipeline=p)
        got = {e["input"]: e["reason"] for e in rep["incremental"]["rebuilt"]}
        self.assertEqual(got, {"in/a.geojson": "shared_output", "in/b.geojson": "input_size",
                               "in/c.geojson": "shared_output"})
        self.assertEqual(gptest.feature_count(self.path("out", "all.gpkg")), 3 + 1 + 5)
        # A removed input rebuilds the output it fed, from the others.
        os.remove(self.path("in", "a.geojson"))
        _, rep = self.run_incr(pipeline=p)
        self.assertEqual(rep["incremental"]["inputs_read"], 2)
        self.assertEqual(gptest.feature_count(self.path("out", "all.gpkg")), 1 + 5)

    def test_create_mode_skips_an_up_to_date_target(self):
        p = self.pipeline(PER_INPUT.replace('"out/{stem}.gpkg", mode: overwrite',
                                            '"out/all.gpkg", layer: all'), "create.yaml")
        self.run_incr(pipeline=p)
        before = identity(self.path("out", "all.gpkg"))
        _, rep = self.run_incr(pipeline=p)  # nothing to create: no error
        self.assertEqual(rep["incremental"]["outputs_skipped"], 1)
        write_input(self.path("in", "c.geojson"), 1)
        r, _ = self.run_incr(pipeline=p, code=73)  # to rebuild: create refuses it
        self.assertIn("cannot create 'out/all.gpkg': it exists", r.err)
        self.assertEqual(identity(self.path("out", "all.gpkg")), before)

    def test_raster_one_output_per_input(self):
        for n in ("x", "y"):
            subprocess.run(["gdal_translate", "-q", "-srcwin", "0", "0", "40", "30",
                            gptest.data("olinda_dem.tif"), self.path("in", n + ".tif")],
                           check=True)
        p = self.pipeline("""version: 1
steps:
  - read: { path: "in/*.tif" }
  - calc: { expr: "b1 * 2" }
  - write: { path: "out/{stem}.tif", mode: overwrite }
""", "raster.yaml")
        self.run_incr(pipeline=p)
        x, y = identity(self.path("out", "x.tif")), identity(self.path("out", "y.tif"))
        _, rep = self.run_incr(pipeline=p)
        self.assertEqual(rep["incremental"]["outputs_skipped"], 2)
        os.utime(self.path("in", "y.tif"), ns=(1, 10**18))
        _, rep = self.run_incr(pipeline=p)
        self.assertEqual([e["input"] for e in rep["incremental"]["rebuilt"]], ["in/y.tif"])
        self.assertEqual(identity(self.path("out", "x.tif")), x)
        self.assertNotEqual(identity(self.path("out", "y.tif"))[:2], y[:2])

    def test_prom_report_and_explain(self):
        self.run_incr()
        os.utime(self.path("in", "c.geojson"), ns=(1, 10**18))
        r = self.gp("explain", self.pipeline(PER_INPUT))
        self.assertExit(r, 0)
        self.assertIn("with --incremental, 2 inputs up to date, 1 to read\n"
                      "  in/c.geojson: input changed: mtime\n", r.out)
        r = self.gp("run", "-q", "p.yaml", "--incremental", "--report", "r.prom")
        self.assertExit(r, 0)
        with open(self.path("r.prom")) as f:
            prom = f.read()
        self.assertIn('gispipe_incremental{pipeline="p.yaml",count="outputs_skipped"} 2\n', prom)
        self.assertIn('gispipe_incremental{pipeline="p.yaml",count="outputs_rebuilt"} 1\n', prom)
        self.assertIn('gispipe_incremental_inputs_read{pipeline="p.yaml",reason="input_mtime"} 1\n',
                      prom)

    def test_what_it_cannot_do_is_refused(self):
        synth = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: point, count: 10 } }
  - write: { path: "out/s.gpkg", mode: overwrite }
""", "synth.yaml")
        r = self.gp("run", synth, "--incremental")
        self.assertExit(r, 64)
        self.assertIn("synthetic source has none", r.err)
        rej = self.pipeline(PER_INPUT.replace("steps:", "on_error: reject\nrejects: { path: "
                                              "out/rejects.gpkg }\nsteps:"), "rej.yaml")
        r = self.gp("run", rej, "--incremental")
        self.assertExit(r, 64)
        self.assertIn("--incremental cannot be used with on_error: reject", r.err)
        self.assertFalse(os.path.exists(self.path("out")))


if __name__ == "__main__":
    gptest.main()
