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


def main():
    # TAP-free: unittest's own summary; exit status tells meson.
    unittest.main(argv=[sys.argv[0]] + sys.argv[1:], verbosity=2)
