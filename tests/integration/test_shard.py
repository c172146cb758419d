"""--shard I/N: every feature in exactly one shard (FID ranges of few inputs,
sparse FIDs included; whole inputs of many, balanced by size), the merge of
the parts, {shard}, the report's label, the Slurm and Kubernetes forms, and
bad values."""
import collections
import json
import os
import re
import shutil

import gptest

SIDS = gptest.data("sids.shp")
TRACTS = gptest.data("boston_tracts.shp")

SHARD = """version: 1
steps:
  - read: {{ path: "{src}"{extra} }}
  - write: {{ path: "parts/part-{{shard}}.{ext}", layer: {layer} }}
"""

MERGE = """version: 1
steps:
  - read: { path: "parts/part-*.gpkg" }
  - write: { path: merged.gpkg, layer: %s }
"""

WHOLE = """version: 1
steps:
  - read: {{ path: "{src}"{extra} }}
  - write: {{ path: whole.{ext}, layer: {layer} }}
"""


def sparse_gpkg(path, jump=False):
    """sids as a GeoPackage whose FIDs are sparse: every third one and a run
    of 31 deleted (46 features left of 100), so that cuts fall on FIDs and
    in gaps; with `jump`, the last ones moved far up too."""
    gptest.ogr2ogr("-f", "GPKG", path, SIDS, "-nln", "sids", "-nlt", "MULTIPOLYGON")
    gptest.ogrinfo(path, "-sql", "DELETE FROM sids WHERE fid % 3 = 0 OR fid BETWEEN 40 AND 70")
    if jump:
        gptest.ogrinfo(path, "-sql", "UPDATE sids SET fid = fid * 1000 + 7 WHERE fid > 80")


class Shard(gptest.TempDirTest):
    def rows(self, path, layer=None):
        if path.endswith(".geojson"):
            # Written by gispipe itself: read without a conversion.
            with open(path) as f:
                return [(json.dumps(ft["properties"], sort_keys=True),
                         json.dumps(ft["geometry"], sort_keys=True))
                        for ft in json.load(f)["features"]]
        os.makedirs(self.path(".dumps"), exist_ok=True)
        return gptest.feature_rows(path, layer, workdir=self.path(".dumps"))

    def shards(self, src, n, layer="f", extra="", ext="geojson"):
        """Run the n shards of reading `src`; the rows of each part."""
        p = self.pipeline(SHARD.format(src=src, layer=layer, extra=extra, ext=ext), "shard.yaml")
        shutil.rmtree(self.path("parts"), ignore_errors=True)
        parts = []
        width = len(str(n - 1))
        for i in range(n):
            self.gp_ok("run", p, "-q", "--shard", "%d/%d" % (i, n))
            part = self.path("parts", "part-%0*d.%s" % (width, i, ext))
            parts.append(self.rows(part, layer) if os.path.exists(part) else [])
        return parts

    def whole(self, src, layer="f", extra="", ext="geojson"):
        p = self.pipeline(WHOLE.format(src=src, layer=layer, extra=extra, ext=ext), "whole.yaml")
        self.gp_ok("run", p, "-q")
        return self.rows(self.path("whole." + ext), layer)

    def assertPartition(self, parts, whole):
        union = collections.Counter(r for part in parts for r in part)
        want = collections.Counter(whole)
        self.assertEqual(len(set(whole)), len(whole), "the input's rows are not distinct")
        self.assertEqual(union - want, collections.Counter(), "features in no unsharded row")
        self.assertEqual(want - union, collections.Counter(), "features lost")
        self.assertEqual(sum(len(p) for p in parts), len(whole), "features twice")

    def test_sparse_fids_every_feature_once(self):
        # GeoPackage: cut into equal spans of [min FID, max FID] (its FIDs
        # are not read).
        src = self.path("sparse.gpkg")
        sparse_gpkg(src)
        whole = self.whole(src)
        self.assertEqual(len(whole), 46)
        for n in (1, 2, 3, 4, 7):
            with self.subTest(n=n):
                parts = self.shards(src, n)
                self.assertPartition(parts, whole)
                # Each part is a run of the layer, in its order.
                self.assertEqual([r for p in parts for r in p], whole)

    def test_sparse_fids_read_are_cut_at_equal_counts(self):
        # GeoJSON's FIDs are its "id"s, here sparse and far apart: read in
        # order, they are cut at equal counts.
        sparse_gpkg(self.path("sparse.gpkg"), jump=True)
        src = self.path("sparse.geojson")
        gptest.ogr2ogr("-f", "GeoJSON", src, self.path("sparse.gpkg"), "-preserve_fid")
        whole = self.whole(src)
        for n in (3, 7):
            with self.subTest(n=n):
                parts = self.shards(src, n)
                self.assertPartition(parts, whole)
                self.assertEqual([r for p in parts for r in p], whole)
                sizes = [len(p) for p in parts]
                self.assertLessEqual(max(sizes) - min(sizes), 1, sizes)

    def test_shapefile_with_where(self):
        # OGR SQL's FID, with read's where on top: shards of the filtered set.
        extra = ', where: "BIR74 > 2000"'
        whole = self.whole(TRACTS.replace("boston_tracts", "sids"), extra=extra)
        self.assertGreater(len(whole), 20)
        self.assertLess(len(whole), 100)
        parts = self.shards(SIDS, 3, extra=extra)
        self.assertPartition(parts, whole)

    def test_geojson_fids(self):
        src = gptest.data("cycle_hire.geojson")
        parts = self.shards(src, 4)
        self.assertPartition(parts, self.whole(src))

    def test_merge_equals_unsharded_run(self):
        src = self.path("sparse.gpkg")
        sparse_gpkg(src)
        whole = self.whole(src, layer="sids", ext="gpkg")
        self.shards(src, 4, layer="sids", ext="gpkg")
        self.gp_ok("run", self.pipeline(MERGE % "sids", "merge.yaml"), "-q")
        merged = self.rows(self.path("merged.gpkg"), "sids")
        # Same features, same attributes, and in the same order (parts are
        # FID ranges, listed in shard order by the glob).
        self.assertEqual(merged, whole)
        def fids(path):
            return [r["n"] for r in gptest.ogr_sql(path, "SELECT fid + 0 AS n FROM sids ORDER BY fid")]
        self.assertEqual(fids(self.path("merged.gpkg")), fids(self.path("whole.gpkg")))
        self.assertEqual(len(fids(self.path("merged.gpkg"))), 46)

    def many_inputs(self, sizes):
        """Inputs of distinct features, with `sizes` features each."""
        os.makedirs(self.path("in"))
        at = 0
        for i, n in enumerate(sizes):
            gptest.ogr2ogr("-f", "GPKG", self.path("in", "t%02d.gpkg" % i), TRACTS, "-nln", "f",
                           "-where", "FID >= %d AND FID < %d" % (at, at + n))
            at += n
        return [self.path("in", "t%02d.gpkg" % i) for i in range(len(sizes))]

    def explained_inputs(self, n, i):
        p = self.pipeline(SHARD.format(src="in/*.gpkg", layer="f", extra="", ext="geojson"),
                          "shard.yaml")
        out = self.gp_ok("explain", p, "--shard", "%d/%d" % (i, n)).out
        self.assertIn("shard %d/%d:" % (i, n), out)
        return re.findall(r"^    (in/t\d+\.gpkg)  \[GPKG\]$", out, re.M)

    def test_many_inputs_whole_balanced_by_size(self):
        sizes = [120, 10, 80, 15, 60, 5, 40, 30, 20, 3]
        paths = self.many_inputs(sizes)
        whole = self.whole("in/*.gpkg")
        for n in (2, 3):
            with self.subTest(n=n):
                # The plan, independently: largest first to the least loaded.
                bytes_ = {os.path.relpath(p, self.dir): os.path.getsize(p) for p in paths}
                load, want = [0] * n, [[] for _ in range(n)]
                for p in sorted(bytes_, key=lambda p: (-bytes_[p], p)):
                    k = load.index(min(load))
                    load[k] += bytes_[p]
                    want[k].append(p)
                # The parts of the last n are there: explain refuses what
                # its run would.
                shutil.rmtree(self.path("parts"), ignore_errors=True)
                got = [self.explained_inputs(n, i) for i in range(n)]
                self.assertEqual([sorted(g) for g in got], [sorted(w) for w in want])
                self.assertTrue(all(got), "a shard without inputs")
                # Balanced by size, not count: within 4/3 of the ideal share.
                self.assertLessEqual(max(load), sum(load) / n * 4 / 3)
                parts = self.shards("in/*.gpkg", n)
                self.assertPartition(parts, whole)
                # Whole inputs: every input's features are in one part only.
                names = collections.Counter(json.loads(r[0])["poltract"] for r in whole)
                self.assertEqual(max(names.values()), 1)
                for p in got[0]:
                    mine = {row["poltract"] for row in gptest.ogr_sql(self.path(p), "SELECT poltract FROM f")}
                    self.assertTrue(mine <= {json.loads(r[0])["poltract"] for r in parts[0]})

    def test_synthetic_slices(self):
        text = """version: 1
steps:
  - read: { synthetic: { geometry: point, count: 300 } }
  - write: { path: "parts/part-{shard}.geojson", layer: f }
"""
        p = self.pipeline(text)
        ids = []
        for i in range(12):
            self.gp_ok("run", p, "-q", "--shard", "%d/12" % i)
        # {shard} is padded to the width of N - 1: the glob lists them in order.
        self.assertEqual(sorted(os.listdir(self.path("parts"))),
                         ["part-%02d.geojson" % i for i in range(12)])
        for i in range(12):
            with open(self.path("parts", "part-%02d.geojson" % i)) as f:
                ids += [ft["properties"]["id"] for ft in json.load(f)["features"]]
        self.assertEqual(ids, list(range(1, 301)))

    def test_raster_inputs_whole(self):
        text = """version: 1
steps:
  - read: { path: "%s" }
  - write: { path: "out/{stem}-{shard}.tif" }
""" % gptest.data("*_elev.tif").replace("*_elev", "{lux_elev,olinda_dem}")
        # Two rasters, two shards: one each, by size.
        text = text.replace(gptest.data("{lux_elev,olinda_dem}.tif"), "in/*.tif")
        os.makedirs(self.path("in"))
        for n in ("lux_elev.tif", "olinda_dem.tif"):
            with open(gptest.data(n), "rb") as f, open(self.path("in", n), "wb") as g:
                g.write(f.read())
        p = self.pipeline(text)
        self.gp_ok("run", p, "-q", "--shard", "0/2")
        self.gp_ok("run", p, "-q", "--shard", "1/2")
        big = max(("lux_elev", "olinda_dem"),
                  key=lambda s: os.path.getsize(self.path("in", s + ".tif")))
        small = ({"lux_elev", "olinda_dem"} - {big}).pop()
        self.assertEqual(sorted(os.listdir(self.path("out"))),
                         sorted([big + "-0.tif", small + "-1.tif"]))

    def test_report_label(self):
        p = self.pipeline(SHARD.format(src=SIDS, layer="f", extra="", ext="gpkg"))
        self.gp_ok("run", p, "-q", "--shard", "2/4", "--report", self.path("r.json"))
        with open(self.path("r.json")) as f:
            self.assertEqual(json.load(f)["shard"], "2/4")
        self.gp_ok("run", p, "-q", "--shard", "3/4", "--report", self.path("r.prom"))
        with open(self.path("r.prom")) as f:
            series = [ln for ln in f.read().splitlines() if ln and not ln.startswith("#")]
        self.assertTrue(series)
        for ln in series:
            self.assertIn(',shard="3/4"', ln)
        self.gp_ok("run", self.pipeline(WHOLE.format(src=SIDS, layer="f", extra="", ext="gpkg")), "-q",
                   "--report", self.path("u.json"))
        with open(self.path("u.json")) as f:
            self.assertIsNone(json.load(f)["shard"])
        # A shard whose pipeline does not even load still reports as itself:
        # the cluster's monitoring must see which shard failed.
        r = self.gp("run", self.path("missing.yaml"), "-q", "--shard", "1/4", "--report",
                    self.path("e.json"))
        self.assertExit(r, 66)
        with open(self.path("e.json")) as f:
            rep = json.load(f)
        self.assertEqual((rep["status"], rep["shard"]), ("failed", "1/4"))
        r = self.gp("run", self.path("missing.yaml"), "-q", "--shard", "1/4", "--report",
                    self.path("e.prom"))
        self.assertExit(r, 66)
        with open(self.path("e.prom")) as f:
            series = [ln for ln in f.read().splitlines() if ln and not ln.startswith("#")]
        self.assertEqual(len(series), 2)
        for ln in series:
            self.assertIn(',shard="1/4"}', ln)

    def shard_of(self, *args, env):
        p = self.pipeline(SHARD.format(src=SIDS, layer="f", extra="", ext="gpkg").replace(
            "layer: f", "layer: f, mode: overwrite"))
        self.gp_ok("run", p, "-q", *args, "--report", self.path("r.json"), env=env)
        with open(self.path("r.json")) as f:
            return json.load(f)["shard"]

    def test_slurm_and_k8s_environment(self):
        self.assertEqual(self.shard_of("--shard", "slurm", env=dict(
            SLURM_ARRAY_TASK_ID="3", SLURM_ARRAY_TASK_MIN="1",
            SLURM_ARRAY_TASK_COUNT="4")), "2/4")
        self.assertEqual(self.shard_of("--shard", "slurm", env=dict(
            SLURM_ARRAY_TASK_ID="0", SLURM_ARRAY_TASK_MIN="0",
            SLURM_ARRAY_TASK_COUNT="7")), "0/7")
        self.assertEqual(self.shard_of("--shard", "k8s", env=dict(
            JOB_COMPLETION_INDEX="2", GISPIPE_SHARD_COUNT="4")), "2/4")

    def test_existing_part_refused_before_reading(self):
        # A part that exists is the shard's own to refuse (create mode),
        # in validate, explain and run alike; the other shards' are not.
        p = self.pipeline(SHARD.format(src=SIDS, layer="f", extra="", ext="gpkg"))
        self.gp_ok("run", p, "-q", "--shard", "1/4")
        before = os.stat(self.path("parts", "part-1.gpkg")).st_mtime_ns
        for cmd, code in (("validate", gptest.EX_CONFIG), ("explain", gptest.EX_CANTCREAT),
                          ("run", gptest.EX_CANTCREAT)):
            with self.subTest(cmd=cmd):
                r = self.gp(cmd, p, "--shard", "1/4")
                self.assertExit(r, code)
                self.assertIn("cannot create 'parts/part-1.gpkg': it exists", r.err)
                self.gp_ok(cmd, p, "--shard", "2/4")
        self.assertEqual(os.stat(self.path("parts", "part-1.gpkg")).st_mtime_ns, before)

    def test_bad_values_exit_64(self):
        p = self.pipeline(SHARD.format(src=SIDS, layer="f", extra="", ext="gpkg"))
        no_env = {"SLURM_ARRAY_TASK_ID": "", "JOB_COMPLETION_INDEX": ""}
        cases = [("4/4", {}, "index must be from 0 to 3"), ("-1/4", {}, "is not I/N"),
                 ("1/0", {}, "count must be from 1"), ("a/b", {}, "is not I/N"),
                 ("1/", {}, "is not I/N"), ("/2", {}, "is not I/N"), ("2", {}, "is not I/N"),
                 ("0/100001", {}, "count must be from 1 to 100000"),
                 ("slurm", no_env, "SLURM_ARRAY_TASK_ID='' is not"),
                 ("slurm", {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "1",
                            "SLURM_ARRAY_TASK_COUNT": "4"}, "is below SLURM_ARRAY_TASK_MIN"),
                 ("slurm", {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1",
                            "SLURM_ARRAY_TASK_COUNT": "4"}, "index must be from 0 to 3"),
                 ("k8s", {"JOB_COMPLETION_INDEX": "1", "GISPIPE_SHARD_COUNT": "x"},
                  "GISPIPE_SHARD_COUNT='x' is not")]
        for value, env, msg in cases:
            with self.subTest(value=value, env=env):
                r = self.gp("run", p, "--shard", value, env=env)
                self.assertExit(r, gptest.EX_USAGE)
                self.assertIn("--shard", r.err)
                self.assertIn(msg, r.err)
                self.assertFalse(os.path.exists(self.path("parts")))
        r = self.gp("run", p, "--shard")
        self.assertExit(r, gptest.EX_USAGE)
        self.assertIn("--shard needs a value", r.err)


if __name__ == "__main__":
    gptest.main()
