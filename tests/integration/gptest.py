"""Shared helpers for gispipe's integration tests.

Every test script runs the real binary on the data in data/ (or on data it
generates with the synthetic source) and compares what it wrote with what
ogr2ogr writes, or with values computed independently.

Environment (set by meson, see tests/integration/meson.build):
  GISPIPE          path of the gispipe binary
  GISPIPE_DATA     the repository's data/ directory
  GISPIPE_SRC      the repository root
  GISPIPE_WRAPPER  optional command prefix (valgrind in the valgrind setup)
"""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

GISPIPE = os.environ.get("GISPIPE", "gispipe")
DATA = os.environ.get("GISPIPE_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "data"))
SRC = os.environ.get("GISPIPE_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
WRAPPER = shlex.split(os.environ.get("GISPIPE_WRAPPER", ""))
UNDER_VALGRIND = any("valgrind" in w for w in WRAPPER)
# The build's sanitizers, as meson configured them (tests/integration/
# meson.build exports b_sanitize): ASan's shadow memory is resident.  Read
# from the build, so that no environment variable can switch tests off.
UNDER_ASAN = os.environ.get("GISPIPE_SANITIZE", "none") not in ("", "none")
# Whether the process's own memory figures mean anything in this setup.
MEMORY_MEASURED = not (UNDER_VALGRIND or UNDER_ASAN)
# scripts/test quick sets this: the few exhaustive loops sample instead.
QUICK = os.environ.get("GISPIPE_TEST_TIER") == "quick"

# The environment for a gispipe that a test stops in the middle of a GEOS
# call: GEOS 3.11 leaks on its interrupt path, inside libgeos, and
# LeakSanitizer would report that at exit (see tests/lsan-geos-interrupt.supp).
GEOS_INTERRUPTED_ENV = dict(os.environ)
if UNDER_ASAN:
    GEOS_INTERRUPTED_ENV["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0" % (
        os.path.join(SRC, "tests", "lsan-geos-interrupt.supp"))

# Exit codes, as gispipe(1) documents them.
EX_OK, EX_USAGE, EX_DATAERR, EX_NOINPUT = 0, 64, 65, 66
EX_SOFTWARE, EX_CANTCREAT, EX_IOERR, EX_TEMPFAIL, EX_CONFIG = 70, 73, 74, 75, 78


class Result:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def run(*args, cwd=None, env=None, timeout=600, wrap=True):
    """Run gispipe with args; returns a Result (never raises on non-zero)."""
    cmd = (WRAPPER if wrap else []) + [GISPIPE] + [str(a) for a in args]
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(cmd, cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)
    return Result(p.returncode, p.stdout, p.stderr)


def ogr2ogr(*args, cwd=None):
    subprocess.run(["ogr2ogr"] + [str(a) for a in args], cwd=cwd, check=True,
                   capture_output=True, text=True)


def ogrinfo(*args, cwd=None):
    return subprocess.run(["ogrinfo"] + [str(a) for a in args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


def as_geojson(path, layer=None, workdir=None):
    """A dataset layer as parsed GeoJSON, through ogr2ogr, full precision,
    no reprojection (RFC7946 off), in FID order."""
    d = workdir or tempfile.mkdtemp(prefix="gp-json-")
    out = os.path.join(d, "dump-%d.geojson" % len(os.listdir(d)))
    args = ["-f", "GeoJSON", "-lco", "COORDINATE_PRECISION=15", "-lco", "RFC7946=NO", out, path]
    if layer:
        args.append(layer)
    ogr2ogr(*args)
    with open(out) as f:
        return json.load(f)


def coords(geom):
    """Flat list of (x, y) of a GeoJSON geometry."""
    out = []

    def walk(c):
        if c and isinstance(c[0], (int, float)):
            out.append((c[0], c[1]))
        else:
            for x in c:
                walk(x)
    if geom is None:
        return out
    if geom["type"] == "GeometryCollection":
        for g in geom["geometries"]:
            out.extend(coords(g))
    else:
        walk(geom["coordinates"])
    return out


def write_pipeline(dirpath, text, name="p.yaml"):
    p = os.path.join(dirpath, name)
    with open(p, "w") as f:
        f.write(text)
    return p


class TempDirTest(unittest.TestCase):
    """A test case with a fresh working directory, removed afterwards."""

    def points(self, name, n, bad_at=None):
        """n points near 10E 50N as GeoJSON; the one with FID bad_at sits at the
        antipode of EPSG:3035's centre, where the projection has no image."""
        feats = []
        for i in range(1, n + 1):
            c = [-170.0, -52.0] if i == bad_at else [10 + (i % 100) * 0.01, 50 + (i // 100) * 0.01]
            feats.append({"type": "Feature", "id": i, "properties": {"i": i},
                          "geometry": {"type": "Point", "coordinates": c}})
        p = self.path(name)
        with open(p, "w") as f:
            json.dump({"type": "FeatureCollection", "features": feats}, f)
        return p

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gispipe-test-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def pipeline(self, text, name="p.yaml"):
        return write_pipeline(self.dir, text, name)

    def gp(self, *args, **kw):
        kw.setdefault("cwd", self.dir)
        return run(*args, **kw)

    def assertExit(self, res, code):
        self.assertEqual(res.code, code, msg=repr(res))

    def leftovers(self, d=None):
        """Temporary files or directories gispipe may have left behind."""
        d = d or self.dir
        found = []
        for root, dirs, files in os.walk(d):
            for n in dirs + files:
                if n.startswith(".gispipe-") or ".tmp" in n:
                    found.append(os.path.join(root, n))
        return found


def valgrind_sample(items, *keep):
    """All of `items`, but under valgrind only those at the positions
    `keep`: variants of one code path (the values a loop tries) cost a
    gispipe start each, about 2 s under valgrind, which looks for leaks
    and errors, not for the values; the other setups run every one."""
    items = list(items)
    return [items[i] for i in keep] if UNDER_VALGRIND else items


def valgrind_selection(script):
    """The Class.method names of `script` listed in valgrind.txt."""
    chosen = set()
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "valgrind.txt")) as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if len(words) == 2 and words[0] == script:
                chosen.add(words[1])
    return chosen


def _flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _flatten(t)
        else:
            yield t


def main():
    # TAP-free: unittest's own summary; exit status tells meson.
    argv = [sys.argv[0]] + sys.argv[1:]
    # A script with classes that must run alone (class attribute ALONE)
    # and others that need not is two meson tests: GISPIPE_TEST_PART
    # "alone" runs the first, "shared" the rest (tests/integration/meson.build).
    part = os.environ.get("GISPIPE_TEST_PART")
    picking = UNDER_VALGRIND and len(argv) == 1
    if not picking and not part:
        unittest.main(argv=argv, verbosity=2)
        return
    if part not in (None, "alone", "shared"):
        sys.exit("GISPIPE_TEST_PART is 'alone' or 'shared', not %r" % part)
    script = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    if len(argv) > 1:
        tests = unittest.defaultTestLoader.loadTestsFromNames(argv[1:], sys.modules["__main__"])
    else:
        tests = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    every = list(_flatten(tests))
    picked = every
    if picking:
        # Under valgrind only the tests valgrind.txt picks (one per code
        # path) run; all of them run in the other setups.
        chosen = valgrind_selection(script)
        names = {"%s.%s" % (type(t).__name__, t._testMethodName) for t in every}
        if chosen - names:
            sys.exit("valgrind.txt names tests %s has not: %s"
                     % (script, ", ".join(sorted(chosen - names))))
        picked = [t for t in every if "%s.%s" % (type(t).__name__, t._testMethodName) in chosen]
    if part:
        picked = [t for t in picked if getattr(type(t), "ALONE", False) == (part == "alone")]
    print("%d of %d tests of %s%s%s" % (
        len(picked), len(every), script, " (valgrind.txt)" if picking else "",
        " (the part that runs %s)" % ("alone" if part == "alone" else "beside others")
        if part else ""), file=sys.stderr)
    result = unittest.TextTestRunner(verbosity=2).run(unittest.TestSuite(picked))
    sys.exit(0 if result.wasSuccessful() else 1)


# ---------------------------------------------------------------------------
# More helpers for comparing datasets (used by the test_*.py of each area).

def ogr_sql(path, query, dialect="SQLite"):
    """Rows of an SQL query on a dataset, as dicts of strings (through
    ogr2ogr's CSV writer, so no GDAL Python bindings are needed)."""
    import csv
    import io
    p = subprocess.run(["ogr2ogr", "-f", "CSV", "/vsistdout/", "-dialect", dialect, "-sql", query,
                        str(path)], check=True, capture_output=True, text=True)
    return [{k: v for k, v in row.items() if k} for row in csv.DictReader(io.StringIO(p.stdout))]


def ogr_info(path, layer=None):
    """ogrinfo -so of a dataset (one layer, or the layer list)."""
    args = ["-ro", "-so", str(path)]
    if layer:
        args.append(layer)
    return ogrinfo(*args)


def feature_count(path, layer=None):
    """Feature count of a layer (the only or first one if not named)."""
    import re
    layer = layer or layer_names(path)[0]
    m = re.search(r"^Feature Count: (\d+)$", ogr_info(path, layer), re.M)
    if m is None:
        raise AssertionError("no feature count for %s:%s" % (path, layer))
    return int(m.group(1))


def layer_names(path):
    """Layer names of a dataset, in order."""
    import re
    return [m.group(1) for m in re.finditer(r"^\d+: (.+?)(?: \([^()]*\))?$",
                                              ogr_info(path), re.M)]


def driver_name(path):
    import re
    m = re.search(r"using driver `([^']+)'", ogrinfo("-ro", "-so", "-al", str(path)))
    return m.group(1) if m else None


def properties(gj):
    """The properties of every feature of parsed GeoJSON, as ordered item lists."""
    return [list(f["properties"].items()) for f in gj["features"]]


def max_coord_diff(ga, gb):
    """Largest |dx| or |dy| between two GeoJSON geometries with the same
    number of points; raises AssertionError when the structures differ."""
    ca, cb = coords(ga), coords(gb)
    if len(ca) != len(cb):
        raise AssertionError("%d points against %d" % (len(ca), len(cb)))
    d = 0.0
    for (xa, ya), (xb, yb) in zip(ca, cb):
        d = max(d, abs(xa - xb), abs(ya - yb))
    return d


def copy_shapefile(src_shp, dst_shp):
    """Copy a shapefile's .shp/.shx/.dbf/.prj (those that exist) under a new name."""
    base, dbase = os.path.splitext(src_shp)[0], os.path.splitext(dst_shp)[0]
    os.makedirs(os.path.dirname(os.path.abspath(dst_shp)), exist_ok=True)
    for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        if os.path.exists(base + ext):
            shutil.copyfile(base + ext, dbase + ext)


def data(name):
    return os.path.join(DATA, name)


def _geojson(self, path, layer=None):
    d = os.path.join(self.dir, ".dumps")
    os.makedirs(d, exist_ok=True)
    return as_geojson(path, layer, workdir=d)


def _gp_ok(self, *args, **kw):
    r = self.gp(*args, **kw)
    self.assertExit(r, 0)
    return r


def _files(self, d=None):
    """Sorted names in a directory (default: the test's own), dumps excluded."""
    d = d or self.dir
    return sorted(n for n in os.listdir(d) if n != ".dumps")


TempDirTest.geojson = _geojson
TempDirTest.gp_ok = _gp_ok
TempDirTest.files = _files


# ---------------------------------------------------------------------------
# Rasters, without GDAL's Python bindings: pixels go through gdal_translate
# to a raw ENVI file and are read with the array module.

_ARRAY_CODES = {"Byte": "B", "Int16": "h", "UInt16": "H", "Int32": "i", "UInt32": "I",
                "Float32": "f", "Float64": "d"}


def raster_info(path):
    """gdalinfo -json of a raster, parsed."""
    out = subprocess.run(["gdalinfo", "-json", str(path)], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def raster_values(path, band=1):
    """The pixels of one band, row by row, as an array.array."""
    import array
    d = tempfile.mkdtemp(prefix="gp-raster-")
    try:
        out = os.path.join(d, "band.bin")
        subprocess.run(["gdal_translate", "-q", "-of", "ENVI", "-b", str(band), str(path), out],
                       check=True, capture_output=True, text=True)
        t = raster_info(out)["bands"][0]["type"]
        a = array.array(_ARRAY_CODES[t])
        with open(out, "rb") as f:
            a.frombytes(f.read())
        return a
    finally:
        shutil.rmtree(d, ignore_errors=True)


def compare_rasters(a, b, nodata=None):
    """Compare two pixel arrays of the same grid: (count compared, mean
    absolute difference, max absolute difference, pixels where exactly one
    of the two is nodata or NaN)."""
    if len(a) != len(b):
        raise AssertionError("different sizes: %d and %d pixels" % (len(a), len(b)))
    n, total, worst, mismatch = 0, 0.0, 0.0, 0
    for x, y in zip(a, b):
        if nodata is not None and (x == nodata or y == nodata):
            mismatch += (x == nodata) != (y == nodata)
            continue
        # NaN is never equal to anything, so abs(x - y) would be NaN and
        # slip past every comparison: NaN on both sides agrees, NaN on one
        # side is a mismatch.
        xn, yn = x != x, y != y
        if xn or yn:
            mismatch += xn != yn
            continue
        d = abs(x - y)
        n += 1
        total += d
        if d > worst:
            worst = d
    return n, (total / n if n else 0.0), worst, mismatch


# ---------------------------------------------------------------------------
# Shards (test_shard, test_deploy, test_slurm): a dataset's features as
# comparable rows, and the parts of a sharded run against an unsharded one.

def feature_rows(path, layer=None, workdir=None):
    """Every feature of a layer, in FID order, as (properties, geometry)
    in JSON text: rows compare as a whole and count in a Counter."""
    gj = as_geojson(path, layer, workdir=workdir)
    return [(json.dumps(f["properties"], sort_keys=True),
             json.dumps(f["geometry"], sort_keys=True)) for f in gj["features"]]


SHARD_PIPELINES = {
    # One shard's part of the tracts of Boston (one input: FID ranges).
    "shard.yaml": """version: 1
steps:
  - read: { path: "%(src)s" }
  - reproject: { to: "EPSG:26986" }
  - write: { path: "parts/part-{shard}.gpkg", layer: tracts }
""",
    # The merge: every part, in shard order, into one output.
    "merge.yaml": """version: 1
steps:
  - read: { path: "parts/part-*.gpkg" }
  - write: { path: merged.gpkg, layer: tracts }
""",
    # The same work unsharded, to compare with.
    "whole.yaml": """version: 1
steps:
  - read: { path: "%(src)s" }
  - reproject: { to: "EPSG:26986" }
  - write: { path: whole.gpkg, layer: tracts }
""",
}


def shard_setup(test):
    """Write the pipelines of a sharded run (shard.yaml, merge.yaml) into
    test.dir and run the unsharded one; its rows."""
    for name, text in SHARD_PIPELINES.items():
        write_pipeline(test.dir, text % {"src": data("boston_tracts.shp")}, name)
    test.gp_ok("run", "whole.yaml", "-q")
    os.makedirs(os.path.join(test.dir, ".dumps"), exist_ok=True)
    return feature_rows(os.path.join(test.dir, "whole.gpkg"), "tracts",
                        workdir=os.path.join(test.dir, ".dumps"))


def shard_check(test, whole, parts):
    """The `parts` shards and their merge against the unsharded rows: the
    same features, attributes and geometries, in the same order."""
    names = sorted(os.listdir(os.path.join(test.dir, "parts")))
    test.assertEqual(names, ["part-%d.gpkg" % i for i in range(parts)])
    merged = feature_rows(os.path.join(test.dir, "merged.gpkg"), "tracts",
                          workdir=os.path.join(test.dir, ".dumps"))
    test.assertEqual(len(merged), 506)
    test.assertEqual(merged, whole)
