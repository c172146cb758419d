#!/usr/bin/env python3
"""FlatGeobuf output with its spatial index (fgb_index.c): GDAL writes the
features without an index, gispipe sorts them along the Hilbert curve and
writes the packed R-tree.  Checked against ogr2ogr's own file of the same
input (ogrinfo -spat on several windows, the summary, the whole content),
and with an independent reader written here from the FlatGeobuf
specification that walks the tree."""
import math
import os
import random
import re
import signal
import struct
import subprocess
import time
import unittest

import gptest

COUNT = 20000


# -- an independent FlatGeobuf reader (from the spec, not GDAL) -------------

def _table(buf, pos):
    """Field accessor of the flatbuffer table at `pos`."""
    vt = pos - struct.unpack_from("<i", buf, pos)[0]
    vlen = struct.unpack_from("<H", buf, vt)[0]

    def field(i):
        if 4 + 2 * i + 2 > vlen:
            return 0
        o = struct.unpack_from("<H", buf, vt + 4 + 2 * i)[0]
        return pos + o if o else 0
    return field


def _ref(buf, at):
    return at + struct.unpack_from("<I", buf, at)[0]


def _vector(buf, at, fmt, size):
    v = _ref(buf, at)
    n = struct.unpack_from("<I", buf, v)[0]
    return struct.unpack_from("<%d%s" % (n, fmt), buf, v + 4)


def _geom_box(buf, gpos, box):
    g = _table(buf, gpos)
    if g(1):
        xy = _vector(buf, g(1), "d", 8)
        for i in range(0, len(xy), 2):
            box[0] = min(box[0], xy[i]); box[2] = max(box[2], xy[i])
            box[1] = min(box[1], xy[i + 1]); box[3] = max(box[3], xy[i + 1])
    if g(7):  # parts
        v = _ref(buf, g(7))
        n = struct.unpack_from("<I", buf, v)[0]
        for k in range(n):
            _geom_box(buf, _ref(buf, v + 4 + 4 * k), box)
    return box


class FgbFile:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.b = f.read()
        b = self.b
        assert b[:3] == b"fgb" and b[3] == 3 and b[4:7] == b"fgb", "magic"
        hlen = struct.unpack_from("<I", b, 8)[0]
        h = b[12:12 + hlen]
        hdr = _table(h, struct.unpack_from("<I", h, 0)[0])
        self.count = struct.unpack_from("<Q", h, hdr(8))[0] if hdr(8) else 0
        self.node_size = struct.unpack_from("<H", h, hdr(9))[0] if hdr(9) else 16
        self.envelope = _vector(h, hdr(1), "d", 8) if hdr(1) else None
        # Readers that map the file's bytes (the npm package's Float64Array)
        # need the doubles at file offsets of multiples of 8.
        self.envelope_at = 12 + _ref(h, hdr(1)) + 4 if hdr(1) else None
        # Level bounds, leaves first (the spec's generateLevelBounds).
        n, sizes = self.count, [self.count]
        while True:
            n = (n + self.node_size - 1) // self.node_size
            sizes.append(n)
            if n == 1:
                break
        self.nnodes = sum(sizes)
        self.bounds, end = [], self.nnodes
        for s in sizes:
            self.bounds.append((end - s, end))
            end -= s
        self.index_at = 12 + hlen
        self.features_at = self.index_at + 40 * self.nnodes if self.node_size else 12 + hlen

    def node(self, i):
        return struct.unpack_from("<4dQ", self.b, self.index_at + 40 * i)

    def search(self, x0, y0, x1, y1):
        """Leaf indexes whose boxes meet the window, by walking the tree."""
        found, stack = [], [(0, len(self.bounds) - 1)]
        leaves = self.bounds[0][0]
        while stack:
            i, level = stack.pop()
            end = min(i + self.node_size, self.bounds[level][1])
            for p in range(i, end):
                mx, my, Mx, My, off = self.node(p)
                if Mx < x0 or My < y0 or mx > x1 or my > y1:
                    continue
                if level == 0:
                    found.append(p - leaves)
                else:
                    stack.append((off, level - 1))
        return sorted(found)

    def features(self):
        """(offset in the features section, box of its geometry), in file order."""
        out, pos = [], self.features_at
        while pos < len(self.b):
            size = struct.unpack_from("<I", self.b, pos)[0]
            fb = self.b[pos + 4:pos + 4 + size]
            f = _table(fb, struct.unpack_from("<I", fb, 0)[0])
            box = [math.inf, math.inf, -math.inf, -math.inf]
            if f(0):
                _geom_box(fb, _ref(fb, f(0)), box)
            out.append((pos - self.features_at, box))
            pos += 4 + size
        return out


def spat_fids(path, win):
    out = gptest.ogrinfo("-ro", "-q", "-al", "-spat", *map(str, win), path)
    return sorted(int(l.split(":")[-1].split()[0].rstrip(")")) for l in out.splitlines()
                  if l.startswith("OGRFeature("))


def spat_ids(path, win):
    """The ids (an attribute) of the features GDAL's -spat returns."""
    p = subprocess.run(["ogr2ogr", "-f", "CSV", "/vsistdout/", "-spat", *map(str, win), path],
                       check=True, capture_output=True, text=True)
    return sorted(int(l.split(",")[0].strip('"')) for l in p.stdout.splitlines()[1:])


class FlatGeobuf(gptest.TempDirTest):
    @classmethod
    def setUpClass(cls):
        # One input for every test: a GeoPackage (gispipe's synthetic
        # polygons), written once and read by both gispipe and ogr2ogr.
        import tempfile
        cls.shared = tempfile.mkdtemp(prefix="gispipe-fgb-")
        cls.src = os.path.join(cls.shared, "in.gpkg")
        p = gptest.write_pipeline(cls.shared, f"""version: 1
steps:
  - read: {{ synthetic: {{ geometry: polygon, count: {COUNT}, vertices: 12, seed: 7,
                          extent: [5, 45, 15, 55], layer: parcels }} }}
  - write: {{ path: in.gpkg }}
""")
        # The input is not what is tested: no valgrind for it.
        r = gptest.run("run", "-q", p, cwd=cls.shared, wrap=False)
        assert r.code == 0, r
        cls.ref = os.path.join(cls.shared, "ref.fgb")
        # gispipe declares multi types where FlatGeobuf would refuse
        # MultiPolygons in a Polygon layer: the same for ogr2ogr.
        gptest.ogr2ogr("-f", "FlatGeobuf", "-nlt", "PROMOTE_TO_MULTI", cls.ref, cls.src)

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls.shared, ignore_errors=True)

    def write(self, out="out/x.fgb", extra=(), budget=None):
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: {self.src} }}
  - write: {{ path: {out} }}
""")
        args = ["run", "-q", p] + list(extra)
        if budget:
            args += ["--config", "GISPIPE_RTREE_SORT_BUDGET", str(budget)]
        r = self.gp(*args)
        self.assertExit(r, 0)
        return self.path(out)

    def windows(self):
        rnd = random.Random(5)
        wins = [(4, 44, 16, 56),            # the whole extent and more
                (100, 80, 101, 81),         # empty: outside
                (10, 50, 10.001, 50.001)]   # a point's worth
        for _ in range(5):
            x, y = rnd.uniform(5, 15), rnd.uniform(45, 55)
            s = rnd.choice((0.01, 0.1, 1.0))
            wins.append((x, y, x + s, y + s))
        return wins

    def test_spat_summary_and_content_match_ogr2ogr(self):
        # A small sort budget: chunks of 256 features at most, more runs
        # than one merge takes (64): a merge pass through spills.
        ours = self.write(budget=65536)
        for win in self.windows():
            self.assertEqual(spat_ids(ours, win), spat_ids(self.ref, win), win)
        self.assertGreater(len(spat_ids(ours, self.windows()[3])), 0)

        def summary(path):
            out = gptest.ogrinfo("-ro", "-al", "-so", path)
            return [l for l in out.splitlines()
                    if l.startswith(("Feature Count", "Extent", "Geometry:"))]
        self.assertEqual(summary(ours), summary(self.ref))
        self.assertIn("Feature Count: %d" % COUNT, summary(ours))

        def content(path):
            rows = gptest.ogr_sql(path, "SELECT id, code, name, AsText(GEOMETRY) AS g FROM parcels")
            return sorted((int(r["id"]), r["code"], r["name"], r["g"]) for r in rows)
        self.assertEqual(content(ours), content(self.ref))
        self.assertEqual(self.leftovers(), [])

    def test_an_independent_reader_walks_the_tree(self):
        ours = self.write()
        f = FgbFile(ours)
        self.assertEqual(f.count, COUNT)
        self.assertEqual(f.node_size, 16)
        feats = f.features()
        self.assertEqual(len(feats), COUNT)
        # Every feature has the leaf that points at it, with its box.
        leaves = [f.node(i) for i in range(*f.bounds[0])]
        self.assertEqual([l[4] for l in leaves], [o for o, _ in feats])
        for l, (_, box) in zip(leaves, feats):
            self.assertEqual(list(l[:4]), box)
        ext = [min(b[0] for _, b in feats), min(b[1] for _, b in feats),
               max(b[2] for _, b in feats), max(b[3] for _, b in feats)]
        self.assertEqual(list(f.envelope), ext)
        self.assertEqual(f.envelope_at % 8, 0)
        self.assertEqual(f.index_at % 8, 0)
        # Each parent's box is its children's union; its offset, its first child.
        for lv in range(1, len(f.bounds)):
            lo, hi = f.bounds[lv]
            clo, chi = f.bounds[lv - 1]
            for k, i in enumerate(range(lo, hi)):
                n = f.node(i)
                self.assertEqual(n[4], clo + k * f.node_size)
                kids = [f.node(c) for c in range(n[4], min(n[4] + f.node_size, chi))]
                self.assertEqual(list(n[:4]), [min(c[0] for c in kids), min(c[1] for c in kids),
                                               max(c[2] for c in kids), max(c[3] for c in kids)])
        # Bbox queries through the tree: exactly the features whose boxes
        # meet the window, and GDAL's -spat (which also tests the
        # geometry itself) a subset of them; on ogr2ogr's file the reader
        # finds as many.
        ref = FgbFile(self.ref)
        for win in self.windows():
            got = f.search(*win)
            brute = [i for i, (_, b) in enumerate(feats)
                     if not (b[2] < win[0] or b[3] < win[1] or b[0] > win[2] or b[1] > win[3])]
            self.assertEqual(got, brute, win)
            self.assertTrue(set(spat_fids(ours, win)) <= set(got), win)
            self.assertEqual(len(ref.search(*win)), len(got), win)

    def test_several_layers_each_get_an_index(self):
        # Two inputs into one FlatGeobuf dataset without an extension: GDAL
        # makes a directory of one file per layer.  (Small inputs: this is
        # the test valgrind runs.)
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: [{gptest.data("sids.shp")}, {gptest.data("boston_tracts.shp")}] }}
  - write: {{ path: out/both, format: FlatGeobuf }}
""")
        self.assertExit(self.gp("run", "-q", p), 0)
        self.assertEqual(sorted(os.listdir(self.path("out", "both"))),
                         ["boston_tracts.fgb", "sids.fgb"])
        for name, n in (("sids", 100), ("boston_tracts", 506)):
            path = self.path("out", "both", name + ".fgb")
            f = FgbFile(path)
            self.assertEqual((f.count, f.node_size), (n, 16))
            self.assertEqual(len(f.search(-1e9, -1e9, 1e9, 1e9)), n)
            self.assertEqual(len(f.features()), n)
            self.assertEqual(gptest.feature_count(path), n)
            # A window on part of the layer: the tree, brute force and GDAL agree.
            e = f.envelope
            win = (e[0], e[1], (e[0] + e[2]) / 2, (e[1] + e[3]) / 2)
            got = f.search(*win)
            brute = [i for i, (_, b) in enumerate(f.features())
                     if not (b[2] < win[0] or b[3] < win[1] or b[0] > win[2] or b[1] > win[3])]
            self.assertEqual(got, brute)
            self.assertTrue(0 < len(got) < n)
            self.assertTrue(set(spat_fids(path, win)) <= set(got))
        self.assertEqual(self.leftovers(), [])

    def test_an_empty_layer_is_a_valid_file(self):
        # GDAL writes the header with the first feature when it writes no
        # index: without one, an empty file (seen before the fix).
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: {gptest.data("sids.shp")}, where: "FIPSNO < 0" }}
  - write: {{ path: out/x.fgb }}
""")
        self.assertExit(self.gp("run", "-q", p), 0)
        info = gptest.ogrinfo("-ro", "-so", "-al", self.path("out", "x.fgb"))
        self.assertIn("Feature Count: 0", info)
        self.assertIn("FIPSNO: Real", info)
        self.assertIn("Layer name: sids", info)
        self.assertEqual(self.leftovers(), [])

    def test_a_failed_run_leaves_nothing(self):
        # sids.shp says Polygon and holds MultiPolygons: declared as is,
        # FlatGeobuf refuses the first of them and the run fails.
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: {gptest.data("sids.shp")} }}
  - write: {{ path: out/x.fgb, geometry_type: as_is }}
""")
        r = self.gp("run", "-q", p)
        self.assertExit(r, 65)
        self.assertFalse(os.path.exists(self.path("out", "x.fgb")))
        self.assertEqual(self.leftovers(), [])

    @unittest.skipIf(gptest.UNDER_VALGRIND, "signal timing under valgrind is not meaningful")
    def test_sigterm_while_the_index_is_built(self):
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: {self.src} }}
  - write: {{ path: out/x.fgb }}
""")
        # A tiny sort budget (small chunks, merge passes): the index takes
        # long enough to be caught at it.
        cmd = gptest.WRAPPER + [gptest.GISPIPE, "run", "-q", p, "--config",
                                "GISPIPE_RTREE_SORT_BUDGET", "1024"]
        os.makedirs(self.path("out"))
        proc = subprocess.Popen(cmd, cwd=self.dir, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        seen = False
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not seen:
            for root, _, files in os.walk(self.path("out")):
                # The new file (not a sort spill): the index is being built.
                if any(re.fullmatch(r"\.fgb-index-\w{6}", n) for n in files):
                    seen = True
            time.sleep(0.001)
        if seen:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        self.assertTrue(seen, "the index build was not seen: %s" % err)
        self.assertEqual(proc.returncode, 128 + signal.SIGTERM, err)
        self.assertFalse(os.path.exists(self.path("out", "x.fgb")))
        self.assertEqual(self.leftovers(), [])


if __name__ == "__main__":
    gptest.main()
