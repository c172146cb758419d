"""Reproducible outputs: the same inputs, pipeline and SOURCE_DATE_EPOCH
give byte-identical files, whatever the thread count, in GPKG,
FlatGeobuf, GeoJSON, shapefile, GeoTIFF and COG.  Each pair of runs works
in two different directories on inputs copied there (different paths and
mtimes), more than a second apart, so that neither a clock nor a path can
hide in the bytes; every file the output is made of is compared."""
import hashlib
import os
import shutil
import sqlite3
import tempfile
import time

import gptest

EPOCH = "1000000000"  # 2001-09-09T01:46:40Z

VECTOR = """version: 1
steps:
  - read: { path: sids.shp }
  - reproject: { to: "EPSG:3035" }
  - buffer: { distance: 100, segments: 2 }
  - write: { path: out/sids.%s%s }
"""

# Several windows (GISPIPE_RASTER_WINDOW_BYTES below), each cut in strips
# that the threads share; no memory limit (see gispipe(1)).
RASTER = """version: 1
steps:
  - read: { path: olinda_dem.tif }
  - reproject: { to: "EPSG:4326", resampling: bilinear, error_threshold: 0 }
  - write: { path: out/dem.tif, format: %s, options: { COMPRESS: DEFLATE } }
"""

# A warp across UTM and LAEA grids, whose pieces GDAL's kernels scale from
# their own ratio of output to source pixels: pieces that followed the
# thread count gave pixels a unit or two apart at 3 and 4 threads.
UTM = """version: 1
steps:
  - read: { synthetic: { raster: { width: 700, height: 520, type: Int16, block: [128, 128],
      crs: "EPSG:32632", origin: [300000, 5600000], resolution: 10, seed: 3 } } }
  - reproject: { to: "EPSG:3035", resampling: bilinear }
  - write: { path: out/utm.tif, options: { COMPRESS: DEFLATE } }
"""

INPUTS = ["sids.shp", "sids.shx", "sids.dbf", "sids.prj", "olinda_dem.tif"]


class Reproducible(gptest.TempDirTest):
    def run_in_new_dir(self, texts, env, *args):
        """Copy the inputs into a fresh directory, run each pipeline of
        `texts` (one, or a list) there; the sha256 of every file of out/,
        by name."""
        d = tempfile.mkdtemp(prefix="gp-repro-", dir=self.dir)
        for n in INPUTS:
            shutil.copy(os.path.join(gptest.DATA, n), d)
        for text in texts if isinstance(texts, list) else [texts]:
            p = gptest.write_pipeline(d, text)
            r = gptest.run("run", "-q", p, *args, cwd=d, env=env)
            self.assertExit(r, 0)
        out = os.path.join(d, "out")
        sums = {}
        for n in sorted(os.listdir(out)):
            with open(os.path.join(out, n), "rb") as f:
                sums[n] = hashlib.sha256(f.read()).hexdigest()
        return out, sums

    def twice(self, text, args1=(), args2=(), env=None):
        env = dict(env if env is not None else {"SOURCE_DATE_EPOCH": EPOCH})
        out1, a = self.run_in_new_dir(text, env, *args1)
        time.sleep(1.1)
        out2, b = self.run_in_new_dir(text, env, *args2)
        self.assertTrue(a)
        return out1, out2, a, b

    def test_vector_formats(self):
        out1, _, a, b = self.twice([
            VECTOR % ("gpkg", ""),
            VECTOR % ("fgb", ""),
            VECTOR.replace("sids.%s", "sids-noindex.%s") % ("fgb",
                                                            ", options: { SPATIAL_INDEX: NO }"),
            VECTOR % ("geojson", ""),
            VECTOR % ("shp", ""),
        ])
        self.assertEqual(sorted(a), ["sids-noindex.fgb", "sids.dbf", "sids.fgb",
                                     "sids.geojson", "sids.gpkg", "sids.prj", "sids.shp",
                                     "sids.shx"])
        self.assertEqual(a, b)
        # The time GDAL writes is SOURCE_DATE_EPOCH's: GeoPackage's
        # last_change, and the .dbf header's date of last update (bytes
        # 1-3: years since 1900, month, day), not today's.
        with sqlite3.connect(os.path.join(out1, "sids.gpkg")) as db:
            self.assertEqual(db.execute("select last_change from gpkg_contents").fetchall(),
                             [("2001-09-09T01:46:40.000Z",)])
        with open(os.path.join(out1, "sids.dbf"), "rb") as f:
            self.assertEqual(tuple(f.read(4)[1:]), (101, 9, 9))

    def test_gpkg_without_epoch_keeps_the_clock(self):
        out1, _, a, b = self.twice(VECTOR % ("gpkg", ""), env={})
        self.assertNotEqual(a, b)
        with sqlite3.connect(os.path.join(out1, "sids.gpkg")) as db:
            (change,), = db.execute("select last_change from gpkg_contents").fetchall()
        self.assertTrue(change.startswith(time.strftime("%Y-%m-", time.gmtime())), change)

    def test_shapefile_append_dbf_date(self):
        d = self.path("app")
        os.mkdir(d)
        for n in INPUTS[:4]:
            shutil.copy(os.path.join(gptest.DATA, n), d)
        p = gptest.write_pipeline(d, VECTOR % ("shp", ", mode: append"))
        self.assertExit(gptest.run("run", "-q", p, cwd=d), 0)
        self.assertExit(gptest.run("run", "-q", p, cwd=d, env={"SOURCE_DATE_EPOCH": EPOCH}), 0)
        with open(os.path.join(d, "out", "sids.dbf"), "rb") as f:
            self.assertEqual(tuple(f.read(4)[1:]), (101, 9, 9))
        self.assertEqual(gptest.feature_count(os.path.join(d, "out", "sids.shp")), 200)

    def test_raster_any_thread_count(self):
        """1 against 3 threads and 2 against 4, with the exact transformer,
        with the warp's default error threshold (which interpolates
        coordinates over each strip) and across projections: the strips must
        not follow the threads."""
        cfg = ("--config", "GISPIPE_RASTER_WINDOW_BYTES", "200000")
        texts = [RASTER % "GTiff", RASTER.replace("out/dem.tif", "out/cog.tif") % "COG",
                 RASTER.replace(", error_threshold: 0", "").replace("out/dem.tif",
                                                                    "out/approx.tif") % "GTiff",
                 UTM]
        for t1, t2 in (("1", "3"), ("2", "4")):
            _, _, a, b = self.twice(texts, ("--threads", t1) + cfg, ("--threads", t2) + cfg)
            self.assertEqual(sorted(a), ["approx.tif", "cog.tif", "dem.tif", "utm.tif"])
            self.assertEqual(a, b, "--threads %s against %s" % (t1, t2))

    def test_raster_under_a_memory_limit(self):
        """Two plans, as two machines (or two loads of one machine) make
        under a limit: windows of 150 kB against the plan's own, and a
        block cache of a different size.  What gispipe(1) says holds them:
        error_threshold 0 and COG give the same bytes; the warp's default
        threshold does not (its interpolation follows the windows)."""
        text = """version: 1
steps:
  - read: { synthetic: { raster: { width: 800, height: 800, type: Int16, block: [256, 256],
      crs: "EPSG:32632", origin: [300000, 5600000], resolution: 10, seed: 1 } } }
  - reproject: { to: "EPSG:3035", resampling: bilinear%s }
  - write: { path: out/dem.tif, format: %s, options: { COMPRESS: DEFLATE } }
"""
        # (ASan's shadow memory is resident: limits it can hold.)
        lo, hi = ("128MiB", "300MiB") if gptest.MEMORY_MEASURED else ("1024MiB", "2048MiB")
        small = ("--memory-limit", lo, "--config", "GISPIPE_RASTER_WINDOW_BYTES", "150000")
        large = ("--memory-limit", hi)
        _, _, a, b = self.twice(text % (", error_threshold: 0", "COG"), small, large)
        self.assertEqual(a, b)
        _, _, a, b = self.twice(text % ("", "GTiff"), small, large)
        self.assertNotEqual(a, b)

    def test_vector_threads_1_and_2(self):
        _, _, a, b = self.twice(VECTOR % ("gpkg", ""), ("--threads", "1"), ("--threads", "2"))
        self.assertEqual(a, b)

    def test_bad_source_date_epoch_is_64(self):
        p = self.pipeline(VECTOR.replace("sids.shp", os.path.join(gptest.DATA, "sids.shp"))
                          % ("gpkg", ""))
        # (check_epoch tries more.)
        for bad in ("", "abc", "-1", "1.5", "253402300800"):
            r = self.gp("run", "-q", p, env={"SOURCE_DATE_EPOCH": bad})
            self.assertExit(r, gptest.EX_USAGE)
            self.assertTrue(r.err.startswith("gispipe: SOURCE_DATE_EPOCH: '%s' is not a whole "
                                             "number of seconds" % bad), r.err)
            self.assertFalse(os.path.exists(self.path("out")))
        r = self.gp("run", "-q", p, env={"SOURCE_DATE_EPOCH": "0"})
        self.assertExit(r, 0)


if __name__ == "__main__":
    gptest.main()
