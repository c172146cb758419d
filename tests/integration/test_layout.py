"""The source tree's layout: its directories depend on each other one way.

core/ and config/ are what every step builds on, so they include nothing of
vector/, raster/ or cli/; vector/ and raster/ are the two kinds of pipeline
and include nothing of each other.  What both kinds share goes to core/
(stream.h, output.h, input.h), and what the engine needs of one kind it
reaches through that kind's run_kind (core/engine.h).  This reads the
sources, not the binary: an include the wrong way fails here before it
tangles the tree.
"""
import glob
import os
import re
import unittest

from gptest import SRC

# What each directory must not include.
FORBIDDEN = {
    "core": {"vector", "raster", "cli"},
    "config": {"vector", "raster", "cli"},
    "vector": {"raster", "cli"},
    "raster": {"vector", "cli"},
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def sources(src):
    """Every .c and .h of the tree: src/<dir>/ and the headers in
    include/<dir>/ beside it."""
    root = os.path.dirname(src)
    return (glob.glob(os.path.join(src, "*", "*.[ch]")) +
            glob.glob(os.path.join(root, "include", "*", "*.h")))


def module(path):
    """core/engine for src/core/engine.c and include/core/engine.h."""
    return os.path.splitext(os.path.join(os.path.basename(os.path.dirname(path)),
                                         os.path.basename(path)))[0]


def crossings(src):
    """(file, included) for every include that goes the wrong way."""
    bad = []
    for path in sorted(sources(src)):
        d = os.path.basename(os.path.dirname(path))
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for inc in INCLUDE.findall(text):
            target = inc.split("/")[0] if "/" in inc else d
            if target in FORBIDDEN.get(d, ()):
                bad.append((os.path.relpath(path, os.path.dirname(src)), inc))
    return bad


def mutual(src):
    """(a, b) for every two modules (a.c and a.h against b.c and b.h) that
    include each other."""
    uses = {}
    for path in sources(src):
        mod = module(path)
        d = os.path.dirname(mod)
        with open(path, encoding="utf-8") as f:
            for inc in INCLUDE.findall(f.read()):
                other = os.path.splitext(inc if "/" in inc else os.path.join(d, inc))[0]
                if other != mod:
                    uses.setdefault(mod, set()).add(other)
    return sorted((a, b) for a in uses for b in uses[a] if a < b and a in uses.get(b, ()))


class TestLayout(unittest.TestCase):
    def test_sources_found(self):
        # A wrong root would find nothing and pass the test below vacuously.
        src = os.path.join(SRC, "src")
        for d in FORBIDDEN:
            self.assertTrue(glob.glob(os.path.join(src, d, "*.c")), d)

    def test_includes_one_way(self):
        bad = crossings(os.path.join(SRC, "src"))
        self.assertEqual(bad, [], "\n".join("%s -> %s" % b for b in bad))

    def test_no_two_modules_include_each_other(self):
        # engine <-> raster, engine <-> report and opts <-> pipeline did.
        pairs = mutual(os.path.join(SRC, "src"))
        self.assertEqual(pairs, [], "\n".join("%s <-> %s" % p for p in pairs))


if __name__ == "__main__":
    unittest.main()
