#!/usr/bin/env python3
"""gispipe benchmarks, side by side with their peers (MISSION.md's table).

Each benchmark runs gispipe and its peer alternately, N times each, and
prints the median wall-time ratio (gispipe / peer) and both peak RSS figures
(ru_maxrss of the child, through GNU time).  Inputs come from gispipe's synthetic
source with a fixed seed, so anyone can regenerate them.  Nothing here
asserts a target: it prints what it measured, and the target beside it.

usage: bench/bench.py [--runs N] [--gispipe PATH] [--work DIR] [--count N]
                      W1 [W2 W3 W4 W5 W7 W8 W9 W10 ...]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1024 * 1024


def measure(cmd, cwd):
    """Run cmd; return (seconds, peak RSS bytes).  Fails loudly.

    The peak comes from GNU time (`%M`, the child's ru_maxrss), not from
    this process's wait4: Linux carries the high-water mark of the process
    that forked across exec, so a child forked from this Python, grown to
    hundreds of MiB comparing outputs, would report Python's size."""
    t = time.monotonic()
    with open(os.path.join(cwd, ".bench-time"), "w+") as tf:
        p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", tf.name] + cmd, cwd=cwd,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, _ = os.wait4(p.pid, 0)
        el = time.monotonic() - t
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            sys.exit("benchmark command failed (exit %d): %s\n%s" % (code, " ".join(cmd), err))
        tf.seek(0)
        kib = int(tf.read().split()[-1])
    return el, kib * 1024


def sample(path, every, workdir, key="fid"):
    """Every `every`-th feature of a dataset (by FID, or by another integer
    field `key` for formats that store features in their own order, as
    FlatGeobuf's index does) as parsed GeoJSON features."""
    import json
    out = os.path.join(workdir, "sample-%s.geojson" % os.path.basename(path))
    if os.path.exists(out):
        os.remove(out)
    subprocess.run(["ogr2ogr", "-f", "GeoJSON", "-lco", "COORDINATE_PRECISION=15",
                    "-lco", "RFC7946=NO", "-where", "%s %% %d = 1" % (key, every), out, path],
                   check=True, capture_output=True)
    with open(out) as f:
        feats = json.load(f)["features"]
    os.remove(out)
    return feats


def spat_ids(path, win):
    """The ids of the features ogr2ogr's -spat returns from a dataset."""
    p = subprocess.run(["ogr2ogr", "-f", "CSV", "/vsistdout/", "-spat"] + [str(v) for v in win]
                       + [path], check=True, capture_output=True, text=True)
    return sorted(int(l.split(",")[0].strip('"')) for l in p.stdout.splitlines()[1:])


def max_coord_diff(fa, fb):
    """Largest coordinate difference between two lists of GeoJSON features,
    and whether their attributes are identical."""
    def flat(c, out):
        if c and isinstance(c[0], (int, float)):
            out.append(c)
        else:
            for x in c:
                flat(x, out)
        return out
    worst, same_attrs = 0.0, len(fa) == len(fb)
    for a, b in zip(fa, fb):
        same_attrs &= a["properties"] == b["properties"]
        ca = flat(a["geometry"]["coordinates"], [])
        cb = flat(b["geometry"]["coordinates"], [])
        if len(ca) != len(cb):
            return float("inf"), False
        for p, q in zip(ca, cb):
            worst = max(worst, abs(p[0] - q[0]), abs(p[1] - q[1]))
    return worst, same_attrs


def feature_areas(path):
    """Each feature's area, in FID order, through SpatiaLite."""
    import csv
    import io
    layer = subprocess.run(["ogrinfo", "-ro", "-q", path], capture_output=True, text=True,
                           check=True).stdout.split(":")[1].split("(")[0].strip()
    out = subprocess.run(["ogr2ogr", "-f", "CSV", "/vsistdout/", "-dialect", "SQLite", "-sql",
                          'SELECT ST_Area(geom) AS a FROM "%s" ORDER BY fid' % layer, path],
                         capture_output=True, text=True, check=True).stdout
    return [float(r["a"]) if r["a"] else 0.0 for r in csv.DictReader(io.StringIO(out))]


def dump(path, workdir):
    """Every feature of a dataset, properties and geometry, as parsed GeoJSON."""
    out = os.path.join(workdir, "dump.geojson")
    if os.path.exists(out):
        os.remove(out)
    subprocess.run(["ogr2ogr", "-f", "GeoJSON", "-lco", "COORDINATE_PRECISION=15",
                    "-lco", "RFC7946=NO", out, path], check=True, capture_output=True)
    with open(out) as f:
        feats = json.load(f)["features"]
    os.remove(out)
    return [(f["properties"], f["geometry"]) for f in feats]


def feature_count(path):
    out = subprocess.run(["ogrinfo", "-so", "-al", path], capture_output=True, text=True,
                         check=True).stdout
    return sum(int(l.split(":")[1]) for l in out.splitlines() if l.startswith("Feature Count"))


def wkb_xy(b, off, out):
    """Append the x y of the 2D WKB geometry at b[off:] to `out`; return
    the offset past it."""
    import struct
    fmt = "<" if b[off] == 1 else ">"
    t, = struct.unpack_from(fmt + "I", b, off + 1)
    off += 5
    if t == 1:
        out.extend(struct.unpack_from(fmt + "2d", b, off))
        return off + 16
    n, = struct.unpack_from(fmt + "I", b, off)
    off += 4
    if t == 2:
        out.extend(struct.unpack_from(fmt + "%dd" % (2 * n), b, off))
        return off + 16 * n
    if t == 3:
        for _ in range(n):
            k, = struct.unpack_from(fmt + "I", b, off)
            out.extend(struct.unpack_from(fmt + "%dd" % (2 * k), b, off + 4))
            off += 4 + 16 * k
        return off
    if t in (4, 5, 6):
        for _ in range(n):
            off = wkb_xy(b, off, out)
        return off
    sys.exit("WKB geometry type %d is not read here" % t)


def gpkg_rows(path):
    """A GeoPackage's one layer as a list of (fid, sha256 of the rest of
    the row), in FID order: equal lists mean the same features, fields and
    geometry bytes."""
    import hashlib
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    (table,), = db.execute("SELECT table_name FROM gpkg_geometry_columns")
    rows = [(r[0], hashlib.sha256(repr(r[1:]).encode()).hexdigest())
            for r in db.execute('SELECT * FROM "%s" ORDER BY 1' % table)]
    db.close()
    return rows


def gpkg_coords(path):
    """Every coordinate of a GeoPackage's one layer, exact, from its
    geometry blobs in FID order: (ids, coordinates of each feature, x y
    interleaved in an array of doubles)."""
    import array
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    (table, col), = db.execute("SELECT table_name, column_name FROM gpkg_geometry_columns")
    ids, counts, xy = [], [], array.array("d")
    for fid, blob in db.execute('SELECT id, "%s" FROM "%s" ORDER BY rowid' % (col, table)):
        start = len(xy)
        # The GeoPackage header: 8 bytes and the envelope its flags size.
        wkb_xy(blob, 8 + (0, 32, 48, 48, 64)[(blob[3] >> 1) & 7], xy)
        ids.append(fid)
        counts.append((len(xy) - start) // 2)
    db.close()
    return ids, counts, xy


class Bench:
    def __init__(self, args):
        self.gp = os.path.abspath(args.gispipe)
        self.work = os.path.abspath(args.work)
        self.runs = args.runs
        self.count = args.count
        os.makedirs(self.work, exist_ok=True)

    def pipeline(self, name, text):
        p = os.path.join(self.work, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def polygons(self, count, crs="EPSG:4326", extent="[-10, 35, 30, 60]", geometry="polygon"):
        """A GPKG of `count` synthetic polygons (24 vertices, 3 fields), or
        points, made once."""
        path = os.path.join(self.work, "%ss-%d.gpkg" % (geometry, count))
        if os.path.exists(path):
            return path
        p = self.pipeline("gen.yaml", f"""version: 1
steps:
  - read: {{ synthetic: {{ geometry: {geometry}, count: {count}, vertices: 24, crs: "{crs}",
                          extent: {extent}, seed: 1, layer: parcels }} }}
  - write: {{ path: "{path}", mode: overwrite }}
""")
        print("generating %s ..." % path, flush=True)
        measure([self.gp, "run", "-q", p], self.work)
        return path

    def side_by_side(self, label, ours, peer, outputs, peers=None):
        """Run ours and each peer alternately, `runs` rounds, rotating which
        goes first each round so that neither always finds a cold (or warm)
        page cache.  outputs = [ours, peer, ...], each removed before its
        side runs.  `peers` names extra peers as (name, cmd) pairs whose
        outputs follow in `outputs`.  Returns (ours median, first peer
        median, ours peak, first peer peak)."""
        sides = [("gispipe", ours, outputs[0]), ("peer", peer, outputs[1])]
        for k, (name, cmd) in enumerate(peers or []):
            sides.append((name, cmd, outputs[2 + k]))
        times = {s[0]: [] for s in sides}
        peaks = {s[0]: [] for s in sides}
        for i in range(self.runs):
            order = sides[i % len(sides):] + sides[:i % len(sides)]
            for name, cmd, o in order:
                # Each side's output goes before its own run, so that all
                # are there at the end to be compared.
                if os.path.isdir(o):
                    shutil.rmtree(o)
                elif os.path.exists(o):
                    os.remove(o)
                el, rss = measure(cmd, self.work)
                times[name].append(el)
                peaks[name].append(rss)
                print("  %-14s run %d: %7.2f s  %7.1f MiB" % (name, i + 1, el, rss / MiB),
                      flush=True)
        mo = statistics.median(times["gispipe"])
        ro = max(peaks["gispipe"])
        for name, _, _ in sides[1:]:
            mp, rp = statistics.median(times[name]), max(peaks[name])
            print("%s: gispipe %.2f s, %s %.2f s -> wall ratio %.2fx; peak RSS gispipe %.1f "
                  "MiB, %s %.1f MiB (ratio %.2fx)" % (label, mo, name, mp, mo / mp, ro / MiB,
                                                       name, rp / MiB, ro / rp), flush=True)
        return (mo, statistics.median(times["peer"]), ro, max(peaks["peer"]))

    def reproject_pipeline(self, src, dst, name="w1.yaml"):
        return self.pipeline(name, f"""version: 1
steps:
  - read: {{ path: "{src}" }}
  - reproject: {{ to: "EPSG:3035" }}
  - write: {{ path: "{dst}", mode: overwrite }}
""")

    def w1(self):
        """1,000,000 polygons GPKG EPSG:4326 -> GPKG EPSG:3035, vs ogr2ogr."""
        src = self.polygons(1000000)
        ours_out = os.path.join(self.work, "w1-gispipe.gpkg")
        peer_out = os.path.join(self.work, "w1-ogr2ogr.gpkg")
        p = self.reproject_pipeline(src, ours_out)
        print("W1: 1,000,000 polygons GPKG 4326 -> GPKG 3035 (target: wall <= 0.3x, "
              "peak RSS <= 64 MiB)")
        res = self.side_by_side("W1", [self.gp, "run", "-q", "--memory-limit", "64MiB", p],
                                ["ogr2ogr", "-t_srs", "EPSG:3035", peer_out, src],
                                [ours_out, peer_out])
        n1, n2 = feature_count(ours_out), feature_count(peer_out)
        print("W1: features written: gispipe %d, ogr2ogr %d%s" % (n1, n2,
              "" if n1 == n2 else "  MISMATCH"))
        fa, fb = sample(ours_out, 1000, self.work), sample(peer_out, 1000, self.work)
        worst, same = max_coord_diff(fa, fb)
        print("W1: %d sampled features (every 1000th): max coordinate difference %.2e m, "
              "attributes %s" % (len(fa), worst, "identical" if same else "DIFFER"))
        print("W1: peak RSS %s the 64 MiB target" % ("within" if res[2] <= 64 * MiB else
                                                     "OVER"))

    def w2(self):
        """W1 into FlatGeobuf with its spatial index, gispipe under a 64 MiB
        limit, vs ogr2ogr as users run it (GDAL's index in memory)."""
        n = self.count or 1000000
        src = self.polygons(n)
        ours_out = os.path.join(self.work, "w2-gispipe.fgb")
        peer_out = os.path.join(self.work, "w2-ogr2ogr.fgb")
        p = self.reproject_pipeline(src, ours_out, "w2.yaml")
        print("W2: %d polygons GPKG 4326 -> FlatGeobuf 3035 with its index (target: wall "
              "<= 0.5x, peak RSS <= 64 MiB)" % n)
        res = self.side_by_side("W2", [self.gp, "run", "-q", "--memory-limit", "64MiB", p],
                                ["ogr2ogr", "-f", "FlatGeobuf", "-t_srs", "EPSG:3035",
                                 peer_out, src],
                                [ours_out, peer_out])
        n1, n2 = feature_count(ours_out), feature_count(peer_out)
        print("W2: features written: gispipe %d, ogr2ogr %d%s" % (n1, n2,
              "" if n1 == n2 else "  MISMATCH"))
        # Both files keep features in their index's order: sample by id.
        fa = sorted(sample(ours_out, 1000, self.work, "id"), key=lambda f: f["properties"]["id"])
        fb = sorted(sample(peer_out, 1000, self.work, "id"), key=lambda f: f["properties"]["id"])
        worst, same = max_coord_diff(fa, fb)
        print("W2: %d sampled features (every 1000th id): max coordinate difference %.2e m, "
              "attributes %s" % (len(fa), worst, "identical" if same else "DIFFER"))
        bad = 0
        for win in ((4000000, 3000000, 4010000, 3010000), (3500000, 2500000, 4500000, 3500000),
                    (0, 0, 1, 1), (2000000, 1000000, 7000000, 5000000)):
            a, b = spat_ids(ours_out, win), spat_ids(peer_out, win)
            bad += a != b
            print("W2: -spat %s: gispipe %d, ogr2ogr %d features%s" % (
                win, len(a), len(b), "" if a == b else "  DIFFER"))
        print("W2: peak RSS %s the 64 MiB target; -spat results %s" % (
            "within" if res[2] <= 64 * MiB else "OVER", "identical" if not bad else "DIFFER"))

    def w3(self):
        """200,000 polygons: reproject to EPSG:3035 then buffer 10 m, vs
        ogr2ogr with SpatiaLite SQL doing the same.  SpatiaLite's ST_Buffer
        draws 30 segments a quarter circle, so gispipe is given 30 too:
        equal work, and the outputs are compared feature by feature."""
        src = self.polygons(200000)
        ours_out = os.path.join(self.work, "w3-gispipe.gpkg")
        peer_out = os.path.join(self.work, "w3-ogr2ogr.gpkg")
        p = self.pipeline("w3.yaml", f"""version: 1
steps:
  - read: {{ path: "{src}" }}
  - reproject: {{ to: "EPSG:3035" }}
  - buffer: {{ distance: 10, segments: 30 }}
  - write: {{ path: "{ours_out}", mode: overwrite }}
""")
        print("W3: 200,000 polygons reproject + buffer 10 m, 30 segments a quadrant on both "
              "sides (target: wall <= 0.55x)")
        self.side_by_side("W3", [self.gp, "run", "-q", "--memory-limit", "64MiB", p],
                          ["ogr2ogr", "-dialect", "SQLite", "-sql",
                           "SELECT ST_Buffer(ST_Transform(geom, 3035), 10) AS geom, id, code, "
                           "name FROM parcels", peer_out, src],
                          [ours_out, peer_out])
        a, b = feature_areas(ours_out), feature_areas(peer_out)
        worst = max((abs(x - y) / y for x, y in zip(a, b) if y > 0), default=float("inf"))
        bad = sum(1 for x, y in zip(a, b) if y <= 0 or abs(x - y) > 0.001 * y)
        print("W3: features written: gispipe %d, ogr2ogr %d%s; per-feature area: worst "
              "relative difference %.2e, %d features beyond 0.1%%" % (
                  len(a), len(b), "" if len(a) == len(b) else "  MISMATCH", worst, bad))

    def w9(self):
        """W3 with --threads 2 against --threads 1: how the buffer and
        reproject workers scale on this machine.  Both sides are gispipe
        under the same 64 MiB limit; their outputs must hold the same
        features in the same order."""
        src = self.polygons(200000)
        outs = [os.path.join(self.work, "w9-threads-%d.gpkg" % t) for t in (2, 1)]
        cmds = []
        for t, out in zip((2, 1), outs):
            p = self.pipeline("w9-%d.yaml" % t, f"""version: 1
steps:
  - read: {{ path: "{src}" }}
  - reproject: {{ to: "EPSG:3035" }}
  - buffer: {{ distance: 10, segments: 30 }}
  - write: {{ path: "{out}", mode: overwrite }}
""")
            cmds.append([self.gp, "run", "-q", "--threads", str(t), "--memory-limit", "64MiB", p])
        print("W9: W3 with --threads 2 against --threads 1 on %d CPUs (target: wall <= 0.6x, "
              "peak RSS <= 64 MiB)" % os.cpu_count())
        res = self.side_by_side("W9", cmds[0], cmds[1], outs)
        rows = [gpkg_rows(o) for o in outs]
        print("W9: features written: threads 2 %d, threads 1 %d; FIDs, attributes and "
              "geometry blobs %s" % (len(rows[0]), len(rows[1]),
                                     "identical" if rows[0] == rows[1] else "DIFFER"))
        print("W9: peak RSS %s the 64 MiB target" % ("within" if max(res[2], res[3]) <= 64 * MiB
                                                     else "OVER"))

    def w5(self):
        """W1 at 100k, 1M and 5M features: gispipe's peak RSS must not grow."""
        print("W5: peak RSS of W1 at 100k, 1M, 5M features (target: 5M <= 1.05x 100k)")
        peaks = {}
        for n in (100000, 1000000, 5000000):
            src = self.polygons(n)
            out = os.path.join(self.work, "w5-%d.gpkg" % n)
            p = self.reproject_pipeline(src, out, "w5-%d.yaml" % n)
            rss = []
            for i in range(self.runs):
                if os.path.exists(out):
                    os.remove(out)
                el, r = measure([self.gp, "run", "-q", "--memory-limit", "64MiB", p], self.work)
                rss.append(r)
                print("  %8d features run %d: %7.2f s  %6.1f MiB" % (n, i + 1, el, r / MiB),
                      flush=True)
            os.remove(out)
            peaks[n] = max(rss)
        ratio = peaks[5000000] / peaks[100000]
        print("W5: peak RSS 100k %.1f MiB, 1M %.1f MiB, 5M %.1f MiB -> 5M/100k %.3fx (%s)" % (
            peaks[100000] / MiB, peaks[1000000] / MiB, peaks[5000000] / MiB, ratio,
            "flat" if ratio <= 1.05 else "NOT flat"))

    def w7(self):
        """The reproject stage's own throughput per thread on bare
        coordinates, vs proj_trans_generic() alone on the same coordinates
        in the same calls (bench/proj_raw.c, compiled here).  Two shapes
        of the same number of coordinates: points, and polygons of 24
        vertices (W1's).  gispipe's figure is the report's `seconds` of
        the reproject stage (its threads' CPU time, summed over the
        workers when they run it), so reading and writing are not in it;
        proj_raw times its calls on the same clock, on as many threads
        at once as the stage has workers (its figure per thread barely
        moves from 1 to 2 here: the threads share nothing)."""
        import array
        import re
        n = self.count or 2000000
        exe = os.path.join(self.work, "proj_raw")
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "proj"], check=True,
                               capture_output=True, text=True).stdout.split()
        subprocess.run(["cc", "-O2", "-pthread", "-o", exe,
                        os.path.join(ROOT, "bench", "proj_raw.c")] + flags, check=True)
        print("W7: reproject stage on %d coordinates, EPSG:4326 -> EPSG:3035, per thread "
              "(target: >= 0.9x raw proj_trans_generic)" % n)
        for geometry, count in (("point", n), ("polygon", n // 24)):
            src = self.polygons(count, geometry=geometry)
            ids, counts, xy = gpkg_coords(src)
            coords = len(xy) // 2
            xy_path = os.path.join(self.work, "w7-in.bin")
            with open(xy_path, "wb") as f:
                xy.tofile(f)
            # Both CRSs as gispipe hands them to PROJ: GDAL's WKT2_2019.
            crs = []
            for name, d in (("src", src), ("dst", "EPSG:3035")):
                crs.append(os.path.join(self.work, "w7-%s.wkt" % name))
                with open(crs[-1], "w") as f:
                    f.write(subprocess.run(["gdalsrsinfo", "-o", "wkt2_2019", "--single-line",
                                            d], check=True, capture_output=True,
                                           text=True).stdout.strip())
            sides, batches = [], {}
            for label, threads in (("threads 1", ["--threads", "1"]), ("threads auto", [])):
                out = os.path.join(self.work, "w7-%s-%s.gpkg" % (geometry, label[8:]))
                p = self.pipeline("w7-%s-%s.yaml" % (geometry, label[8:]), f"""version: 1
steps:
  - read: {{ path: "{src}" }}
  - reproject: {{ to: "EPSG:3035" }}
  - write: {{ path: "{out}", mode: overwrite }}
""")
                # The batch each PROJ call gets: a worker's when there
                # are workers, else the run's.
                ex = subprocess.run([self.gp, "explain"] + threads + [p], check=True,
                                    capture_output=True, text=True).stdout
                m = (re.search(r"batches of (\d+) features in flight", ex) or
                     re.search(r"^\s*batch\s+(\d+)\s+features per batch", ex, re.M))
                b = int(m.group(1))
                # The stage's seconds are its threads' CPU time (proj_raw
                # times PROJ on the same clock): a worker waiting for a
                # CPU does not count.  Say how many share them anyway.
                w = re.search(r"threads: (\d+) workers", ex)
                nw = int(w.group(1)) if w else 1
                if w:
                    label += " (%d workers on %d CPUs)" % (nw, os.cpu_count())
                rep = os.path.join(self.work, "w7-report.json")
                # The peer runs PROJ on as many threads at once as the
                # stage has workers: equal work on the same machine.
                sides.append((label, [self.gp, "run", "-q", "--report", rep] + threads + [p],
                              out, rep, (b, nw)))
                if b not in batches:
                    calls = array.array("Q", (sum(counts[i:i + b])
                                              for i in range(0, len(counts), b)))
                    cp = os.path.join(self.work, "w7-calls-%d.bin" % b)
                    with open(cp, "wb") as f:
                        calls.tofile(f)
                    batches[b] = cp
            raw_out = {b: os.path.join(self.work, "w7-raw-%d.bin" % b) for b in batches}
            for b, nw in sorted({s[4] for s in sides}):
                sides.append(("proj %d x%d" % (b, nw), [exe, crs[0], crs[1], xy_path, batches[b],
                                                       raw_out[b], str(nw)], None, None, (b, nw)))
            rates = {s[0]: [] for s in sides}
            print("W7 %ss: %d features, %d coordinates; PROJ calls of %s features" % (
                geometry, len(ids), coords, "/".join(str(b) for b in sorted(batches))),
                flush=True)
            for i in range(self.runs):
                for label, cmd, out, rep, b in sides[i % len(sides):] + sides[:i % len(sides)]:
                    if out is None:
                        r = subprocess.run(cmd, capture_output=True, text=True)
                        if r.returncode != 0:
                            sys.exit("proj_raw failed: %s" % r.stderr)
                        f = r.stdout.split()
                        if int(f[1]) != coords:
                            sys.exit("proj_raw transformed %s coordinates of %d" % (f[1],
                                                                                    coords))
                        secs = float(f[3])
                    else:
                        measure(cmd, self.work)
                        with open(rep) as fh:
                            st = [s for s in json.load(fh)["stages"]
                                  if s["step"] == "reproject"][0]
                        if st["items_in"] != len(ids):
                            sys.exit("W7: the reproject stage saw %d features of %d" % (
                                st["items_in"], len(ids)))
                        secs = st["seconds"]
                    rates[label].append(coords / secs)
                    print("  %-32s run %d: %8.3f s  %6.2f M coordinates/s" % (
                        label, i + 1, secs, coords / secs / 1e6), flush=True)
            med = {k: statistics.median(v) for k, v in rates.items()}
            for label, _, _, _, (b, nw) in sides[:2]:
                peer = med["proj %d x%d" % (b, nw)]
                print("W7 %ss, %s: reproject stage %.2f M coordinates/s per thread, raw "
                      "proj_trans_generic %.2f M/s per thread (calls of %d features, %d "
                      "thread%s at once) -> %.3fx (%s)" % (
                          geometry, label, med[label] / 1e6, peer / 1e6, b, nw,
                          "s" if nw > 1 else "", med[label] / peer,
                          "within" if med[label] >= 0.9 * peer else "UNDER"))
            # Every coordinate of both of gispipe's outputs against PROJ's.
            start, at = {}, 0
            for k, c in zip(ids, counts):
                start[k] = (at, c)
                at += c
            for label, _, out, _, (b, _) in sides[:2]:
                raw = array.array("d")
                with open(raw_out[b], "rb") as f:
                    raw.fromfile(f, 2 * coords)
                oids, ocounts, oxy = gpkg_coords(out)
                worst, same, at = 0.0, sorted(oids) == sorted(ids), 0
                for k, c in zip(oids, ocounts):
                    s0, c0 = start.get(k, (0, -1))
                    if c != c0:
                        same = False
                        break
                    for j in range(2 * c):
                        worst = max(worst, abs(oxy[2 * at + j] - raw[2 * s0 + j]))
                    at += c
                print("W7 %ss, %s: %d features, %d coordinates compared with PROJ's: max "
                      "difference %.2e m%s" % (geometry, label, len(oids), at, worst,
                                               "" if same and at == coords else
                                               "  FEATURES DIFFER"))

    def utm_inputs(self, n=120, count=2000):
        """W6's data: `n` GPKGs of `count` synthetic polygons, each in its own
        UTM zone (north zones 1-60, then south), made once."""
        d = os.path.join(self.work, "utm%d" % n)
        os.makedirs(d, exist_ok=True)
        for i in range(n):
            path = os.path.join(d, "zone-%03d.gpkg" % i)
            if os.path.exists(path):
                continue
            epsg = (32601 if i < 60 else 32701) + i % 60
            y0 = 5000000 if i < 60 else 4800000
            p = self.pipeline("gen-utm.yaml", f"""version: 1
steps:
  - read: {{ synthetic: {{ geometry: polygon, count: {count}, vertices: 24, crs: "EPSG:{epsg}",
                          extent: [400000, {y0}, 600000, {y0 + 200000}], seed: {i + 1},
                          layer: parcels }} }}
  - write: {{ path: "{path}", mode: overwrite }}
""")
            if i == 0:
                print("generating %d inputs in %s ..." % (n, d), flush=True)
            measure([self.gp, "run", "-q", p], self.work)
        return d

    def w8(self):
        """W6 with one output per input, rerun with --incremental: nothing
        changed must take <= 0.1x the full run and rewrite nothing; one
        input changed must rebuild exactly its output, equal to a fresh
        run's."""
        src = self.utm_inputs()
        out = os.path.join(self.work, "w8-out")
        p = self.pipeline("w8.yaml", f"""version: 1
steps:
  - read: {{ path: "{src}/*.gpkg" }}
  - reproject: {{ to: "EPSG:4326" }}
  - write: {{ path: "{out}/{{stem}}.gpkg", mode: overwrite }}
""")
        cmd = [self.gp, "run", "-q", "--incremental", p]

        def ids():
            return {n: (os.stat(os.path.join(out, n)).st_ino,
                        os.stat(os.path.join(out, n)).st_mtime_ns)
                    for n in os.listdir(out) if n.endswith(".gpkg")}
        print("W8: 120 inputs of 2,000 polygons, each in its own UTM zone -> one GPKG each in "
              "EPSG:4326; rerun with --incremental, nothing changed (target: <= 0.1x, nothing "
              "rewritten)")
        full, rerun, rewritten = [], [], 0
        for i in range(self.runs):
            shutil.rmtree(out, ignore_errors=True)
            el, rss = measure(cmd, self.work)
            full.append(el)
            before = ids()
            el2, rss2 = measure(cmd, self.work)
            rerun.append(el2)
            after = ids()
            rewritten += sum(1 for n in before if after.get(n) != before[n])
            print("  round %d: full %6.2f s %6.1f MiB, rerun %6.3f s %6.1f MiB, outputs %d, "
                  "rewritten %d" % (i + 1, el, rss / MiB, el2, rss2 / MiB, len(after),
                                    sum(1 for n in before if after.get(n) != before[n])),
                  flush=True)
        mf, mr = statistics.median(full), statistics.median(rerun)
        print("W8: full run %.2f s, rerun nothing changed %.3f s -> %.3fx (%s); outputs "
              "rewritten over %d reruns: %d (%s)" % (
                  mf, mr, mr / mf, "within" if mr <= 0.1 * mf else "OVER", self.runs,
                  rewritten, "none" if rewritten == 0 else "SOME"))
        # One input changed: exactly its output is rebuilt, as a fresh run makes it.
        changed = os.path.join(src, "zone-042.gpkg")
        os.utime(changed)
        before = ids()
        report = os.path.join(self.work, "w8-report.json")
        el, _ = measure(cmd + ["--report", report], self.work)
        after = ids()
        diff = sorted(n for n in before if after.get(n) != before[n])
        with open(report) as f:
            inc = json.load(f)["incremental"]
        fresh = os.path.join(self.work, "w8-fresh")
        shutil.rmtree(fresh, ignore_errors=True)
        pf = self.pipeline("w8-fresh.yaml", f"""version: 1
steps:
  - read: {{ path: "{changed}" }}
  - reproject: {{ to: "EPSG:4326" }}
  - write: {{ path: "{fresh}/{{stem}}.gpkg", mode: overwrite }}
""")
        measure([self.gp, "run", "-q", pf], self.work)
        a = dump(os.path.join(out, "zone-042.gpkg"), self.work)
        b = dump(os.path.join(fresh, "zone-042.gpkg"), self.work)
        print("W8: one input touched: %.2f s; outputs rewritten %s; report: %d rebuilt (%s), "
              "%d skipped; rebuilt output %s a fresh run's (%d features)" % (
                  el, diff, inc["outputs_rebuilt"],
                  ", ".join(e["reason"] for e in inc["rebuilt"]), inc["outputs_skipped"],
                  "EQUALS" if a == b and a else "DIFFERS FROM", len(a)))


def raster_rows(path, rows, workdir):
    """Some rows of band 1 (every pixel of them), through gdal_translate to
    raw ENVI files, as arrays."""
    import array
    import json
    info = json.loads(subprocess.run(["gdalinfo", "-json", path], capture_output=True,
                                     text=True, check=True).stdout)
    w = info["size"][0]
    out = []
    for r in rows:
        f = os.path.join(workdir, "row.bin")
        subprocess.run(["gdal_translate", "-q", "-of", "ENVI", "-b", "1", "-srcwin", "0", str(r),
                        str(w), "1", path, f], check=True, capture_output=True)
        a = array.array("h")
        with open(f, "rb") as fh:
            a.frombytes(fh.read())
        out.append(a)
        for x in (f, f[:-4] + ".hdr", f + ".aux.xml"):
            if os.path.exists(x):
                os.remove(x)
    return info, out


class RasterBench(Bench):
    """The raster benchmark (W4) beside the vector ones."""

    def raster(self, side):
        """A side x side Int16 GeoTIFF in UTM 32N from the synthetic source."""
        path = os.path.join(self.work, "raster-%d.tif" % side)
        if not os.path.exists(path):
            p = self.pipeline("gen-%d.yaml" % side, f"""version: 1
steps:
  - read: {{ synthetic: {{ raster: {{ width: {side}, height: {side}, type: Int16, block: [256, 256],
                                   crs: "EPSG:32632", origin: [300000, 5600000], resolution: 10,
                                   seed: 1 }} }} }}
  - write: {{ path: "{path}" }}
""")
            subprocess.run([self.gp, "run", "-q", p], check=True)
        return path

    def warp_pipeline(self, src, dst, name):
        return self.pipeline(name, f"""version: 1
steps:
  - read: {{ path: "{src}" }}
  - reproject: {{ to: "EPSG:3035", resampling: bilinear }}
  - write: {{ path: "{dst}", mode: overwrite }}
""")

    def w4(self):
        """16384 x 16384 Int16 GeoTIFF, UTM 32N -> EPSG:3035 bilinear, vs
        gdalwarp -multi -wo NUM_THREADS=ALL_CPUS; then gispipe's peak RSS at
        4096^2 and 16384^2."""
        src = self.raster(16384)
        ours_out = os.path.join(self.work, "w4-gispipe.tif")
        peer_out = os.path.join(self.work, "w4-gdalwarp.tif")
        tuned_out = os.path.join(self.work, "w4-gdalwarp-tuned.tif")
        p = self.warp_pipeline(src, ours_out, "w4.yaml")
        print("W4: 16384 x 16384 Int16, UTM 32N -> EPSG:3035 bilinear (target: wall <= 0.8x of "
              "the tuned gdalwarp, peak RSS <= 128 MiB)")
        warp = ["gdalwarp", "-q", "-multi", "-wo", "NUM_THREADS=ALL_CPUS", "-t_srs", "EPSG:3035",
                "-r", "bilinear"]
        # Two peers: gdalwarp as users run it (GDAL's default block cache,
        # 5% of RAM, and its default striped output), and gdalwarp tuned to
        # gispipe's 128 MiB budget with gispipe's output layout (256 x 256
        # tiles).
        tuned = (["gdalwarp", "--config", "GDAL_CACHEMAX", "64", "-wm", "64"] + warp[1:] +
                 ["-co", "TILED=YES", "-co", "BLOCKXSIZE=256", "-co", "BLOCKYSIZE=256",
                  src, tuned_out])
        res = self.side_by_side("W4", [self.gp, "run", "-q", "--memory-limit", "128MiB", p],
                                warp + [src, peer_out], [ours_out, peer_out, tuned_out],
                                peers=[("gdalwarp-tuned", tuned)])
        info = json.loads(subprocess.run(["gdalinfo", "-json", ours_out], capture_output=True,
                                         text=True, check=True).stdout)
        tinfo = json.loads(subprocess.run(["gdalinfo", "-json", tuned_out],
                                          capture_output=True, text=True, check=True).stdout)
        print("W4: output blocks gispipe %s, tuned gdalwarp %s" % (
            info["bands"][0]["block"], tinfo["bands"][0]["block"]))
        os.remove(tuned_out)
        print("W4: peak RSS %s the 128 MiB target" % ("within" if res[2] <= 128 * MiB else
                                                      "OVER"))
        # Same grid, and the same pixels up to the two tools' different
        # pieces of approximation (0.125 pixel each): 40 rows compared.
        rows = list(range(100, 16000, 400))
        ia, ra = raster_rows(ours_out, rows, self.work)
        ib, rb = raster_rows(peer_out, rows, self.work)
        same_grid = ia["size"] == ib["size"] and all(
            abs(x - y) < 1e-6 for x, y in zip(ia["geoTransform"], ib["geoTransform"]))
        n = total = worst = 0
        for a, b in zip(ra, rb):
            for x, y in zip(a, b):
                if x == 0 or y == 0:  # uncovered (no nodata: 0)
                    continue
                d = abs(x - y)
                n += 1
                total += d
                worst = max(worst, d)
        print("W4: grid %s; %d pixels of %d rows compared: mean absolute difference %.3f, "
              "max %d" % ("identical" if same_grid else "DIFFERENT", n, len(rows),
                          total / max(n, 1), worst))
        for o in (ours_out, peer_out):
            os.remove(o)
        peaks = {}
        for side in (4096, 16384):
            s = self.raster(side)
            out = os.path.join(self.work, "w4-%d.tif" % side)
            p = self.warp_pipeline(s, out, "w4-%d.yaml" % side)
            rss = []
            for i in range(self.runs):
                el, r = measure([self.gp, "run", "-q", "--memory-limit", "128MiB", p],
                                self.work)
                rss.append(r)
                print("  %5d^2 run %d: %7.2f s  %6.1f MiB" % (side, i + 1, el, r / MiB),
                      flush=True)
            os.remove(out)
            peaks[side] = max(rss)
        print("W4: gispipe peak RSS 4096^2 %.1f MiB, 16384^2 %.1f MiB -> %.3fx (16 times the "
              "pixels)" % (peaks[4096] / MiB, peaks[16384] / MiB, peaks[16384] / peaks[4096]))

    def w10(self):
        """W1's polygons reprojected into PostGIS, vs ogr2ogr -f PostgreSQL as
        users run it (-overwrite), on a cluster started for the benchmark
        (tests/integration/pgcluster.py) and stopped at the end."""
        sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
        import pgcluster
        n = self.count or 1000000
        src = self.polygons(n)
        with pgcluster.Cluster(log_statements=False) as c:
            p = self.pipeline("w10.yaml", f"""version: 1
steps:
  - read: {{ path: "{src}" }}
  - reproject: {{ to: "EPSG:3035" }}
  - write: {{ path: "{c.conn()}", layer: w10_gispipe, mode: overwrite }}
""")
            print("W10: %d polygons GPKG 4326 -> PostGIS 3035 (target: wall <= 0.8x, peak RSS "
                  "<= 64 MiB)" % n)
            none = [os.path.join(self.work, "w10-none-%d" % i) for i in range(2)]
            res = self.side_by_side("W10", [self.gp, "run", "-q", "--memory-limit", "64MiB", p],
                                    ["ogr2ogr", "-f", "PostgreSQL", c.conn(), src, "-t_srs",
                                     "EPSG:3035", "-nln", "w10_ogr2ogr", "-overwrite"], none)
            counts = [c.psql("SELECT count(*) FROM %s" % t)[0]
                      for t in ("w10_gispipe", "w10_ogr2ogr")]
            # Both name the columns after the GeoPackage's: fid, geom.
            diff = c.psql("SELECT count(*), max(ST_HausdorffDistance(a.geom, b.geom)), "
                          "bool_and(a.id = b.id AND a.code = b.code AND a.name = b.name) "
                          "FROM w10_gispipe a JOIN w10_ogr2ogr b ON a.fid = b.fid "
                          "WHERE a.fid % 1000 = 1")[0].split("|")
            print("W10: rows gispipe %s, ogr2ogr %s%s; %s sampled features (every 1000th): "
                  "max Hausdorff distance %s m, attributes %s" % (
                      counts[0], counts[1], "" if counts[0] == counts[1] else "  MISMATCH",
                      diff[0], diff[1], "identical" if diff[2] == "t" else "DIFFER"))
            print("W10: peak RSS %s the 64 MiB target" % ("within" if res[2] <= 64 * MiB
                                                          else "OVER"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs of each side (default 3)")
    ap.add_argument("--gispipe", default=os.path.join(ROOT, "build", "gispipe"))
    ap.add_argument("--work", default=os.path.join(ROOT, "bench", "out"),
                    help="where inputs and outputs go (several GB for W5)")
    ap.add_argument("--count", type=int, default=0,
                    help="W2 and W10: features (default 1,000,000); W7: coordinates (default "
                    "2,000,000); smaller for a quick look")
    ap.add_argument("ids", nargs="+", choices=["W1", "W2", "W3", "W4", "W5", "W7", "W8", "W9", "W10"])
    args = ap.parse_args()
    b = RasterBench(args)
    for i in args.ids:
        getattr(b, i.lower())()


if __name__ == "__main__":
    main()
