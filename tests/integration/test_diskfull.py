"""Every write is checked, whatever the driver: a full disk is exit 74,
never success and never a feature's fault, the existing target is left
byte-identical and no temporaries remain.  Each case mounts its own small
tmpfs (we run as root; if the mount fails the test fails), and the same
pipeline is run on a roomy tmpfs too, so that the 74 is really the disk.
The outputs written through the checking layer are compared with those
written without it (the GISPIPE_IOCHECK=NO test switch)."""
import os
import subprocess
import tempfile

import gptest

VECTOR = """version: 1
steps:
  - read: {{ synthetic: {{ geometry: {geometry}, count: {count}, crs: "EPSG:4326", seed: 1 }} }}
  - write: {{ path: "{path}"{extra}, mode: {mode} }}
"""

RASTER = """version: 1
steps:
  - read: {{ synthetic: {{ raster: {{ width: {side}, height: {side}, type: Int16,
      block: [256, 256], crs: "EPSG:32632", origin: [300000, 5600000], resolution: 10,
      seed: 1 }} }} }}
  - write: {{ path: "{path}"{extra}, mode: {mode} }}
"""

# name, file, write options, features (or raster side): each writes 3 to
# 6 MiB, more than the 2 MiB disk.
VECTOR_FAMILIES = [
    ("GeoJSON", "keep.geojson", "", 4000),
    ("GeoJSONSeq", "keep.geojsonl", ", format: GeoJSONSeq", 5000),
    ("GML", "keep.gml", "", 4000),
    ("KML", "keep.kml", "", 4000),
    ("CSV", "keep.csv", ", options: { GEOMETRY: AS_WKT }", 5000),
    ("GPKG", "keep.gpkg", "", 6000),
    ("SQLite", "keep.sqlite", "", 8000),
    ("Shapefile", "keep.shp", "", 8000),
    ("FlatGeobuf", "keep.fgb", "", 8000),
]
RASTER_FAMILIES = [
    ("GTiff", "keep.tif", "", 2048),
    ("COG", "keep.tif", ", format: COG", 2048),
]


def snapshot(d):
    """Every file under d, by relative path, with its bytes."""
    out = {}
    for root, _, files in os.walk(d):
        for n in files:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, d)] = f.read()
    return out


class DiskFull(gptest.TempDirTest):
    def mount(self, size):
        """A fresh tmpfs of `size` (mount's syntax: 2m, 512k); unmounted
        and removed when the test ends."""
        d = tempfile.mkdtemp(prefix="gp-tmpfs-")
        self.addCleanup(os.rmdir, d)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", d],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.fail("cannot mount a tmpfs on %s (the test needs root): %s" % (d, r.stderr))
        self.addCleanup(subprocess.run, ["umount", d], check=True)
        return d

    def write(self, text, name, config=()):
        p = self.pipeline(text, name)
        args = ["run", "-q", p]
        for k, v in config:
            args += ["--config", k, v]
        return self.gp(*args)

    def vector(self, d, fname, extra, count, mode="overwrite", geometry="polygon", config=()):
        return self.write(VECTOR.format(geometry=geometry, count=count,
                                        path=os.path.join(d, fname), extra=extra, mode=mode),
                          "v.yaml", config)

    def raster(self, d, fname, extra, side, mode="overwrite", config=()):
        return self.write(RASTER.format(side=side, path=os.path.join(d, fname), extra=extra,
                                        mode=mode), "r.yaml", config)

    def assertDiskFull(self, r, before, d, fname):
        """Exit 74 naming the output and the OS error; the directory as it
        was (so the target untouched and no temporaries)."""
        self.assertExit(r, gptest.EX_IOERR)
        self.assertIn("No space left on device", r.err)
        self.assertIn(fname, r.err)
        self.assertNotIn("vsigpchk", r.err)
        self.assertNotIn("feature", r.err)
        after = snapshot(d)
        self.assertEqual(sorted(after), sorted(before), msg=repr(r))
        for k in before:
            self.assertEqual(after[k], before[k], msg="%s changed" % k)

    def check_family(self, kind, fname, extra, size, roomy=True):
        small = self.mount("2m")
        run = self.vector if kind == "vector" else self.raster
        tiny = 5 if kind == "vector" else 64
        self.assertExit(run(small, fname, extra, tiny, mode="create"), 0)
        before = snapshot(small)
        self.assertDiskFull(run(small, fname, extra, size), before, small, fname)
        if not roomy:
            return
        roomy = self.mount("64m")
        for name, data in before.items():
            with open(os.path.join(roomy, name), "wb") as f:
                f.write(data)
        # The same run where there is room: it succeeds and replaces the target.
        old = snapshot(roomy)
        self.assertExit(run(roomy, fname, extra, size), 0)
        self.assertNotEqual(snapshot(roomy)[fname], old[fname])
        self.assertEqual(self.leftovers(roomy), [])
        for name, data in snapshot(roomy).items():
            self.assertNotIn(b"vsigpchk", data, name)
        if kind == "vector":
            self.assertEqual(gptest.feature_count(os.path.join(roomy, fname)), size)

    # --- 1: a text format on a full disk is 74, the target untouched.

    def test_geojson_disk_full_is_74_and_target_untouched(self):
        # The report's case: 20,000 polygons (fewer under valgrind, where
        # this is the one case run; 4,000 fill the disk too).
        # The roomy half is test_every_vector_family's.
        if gptest.UNDER_VALGRIND:
            self.check_family("vector", "keep.geojson", "", 4000)
        else:
            self.check_family("vector", "keep.geojson", "", 20000, roomy=False)

    def test_every_vector_family(self):
        # 18 gispipe runs: not under valgrind (test_geojson_... is the
        # representative case there).
        if gptest.UNDER_VALGRIND:
            return
        for name, fname, extra, size in VECTOR_FAMILIES:
            with self.subTest(family=name):
                self.check_family("vector", fname, extra, size)

    def test_every_raster_family(self):
        if gptest.UNDER_VALGRIND:
            return
        for name, fname, extra, side in RASTER_FAMILIES:
            with self.subTest(family=name):
                self.check_family("raster", fname, extra, side)

    def test_cog_full_after_staging(self):
        # The staged GeoTIFF (2 MiB, uncompressed) fits in 3 MiB; the COG
        # written from it does not.
        if gptest.UNDER_VALGRIND:
            return
        d = self.mount("3m")
        self.assertExit(self.raster(d, "keep.tif", ", format: COG", 64, mode="create"), 0)
        before = snapshot(d)
        r = self.raster(d, "keep.tif", ", format: COG", 1024)
        self.assertDiskFull(r, before, d, "keep.tif")

    # --- 2: an I/O error is never a feature's fault.

    def test_gpkg_full_with_reject_is_74_and_rejects_nothing(self):
        # 20,000 polygons fill the disk while features are written.  (With
        # 6,000, GPKG fails only when the output closes, and the empty
        # rejects dataset has been committed by then: engine.c closes the
        # rejects writer, commit included, before the last step.)
        d = self.mount("2m")
        p = self.pipeline("version: 1\non_error: reject\nrejects: { path: out/rejects.gpkg }\n"
                          "steps:\n"
                          "  - read: { synthetic: { geometry: polygon, count: 20000, seed: 1 } }\n"
                          "  - write: { path: %s/keep.gpkg }\n" % d)
        r = self.gp("run", p, "--report", "r.json")
        self.assertExit(r, gptest.EX_IOERR)
        self.assertIn("No space left on device", r.err)
        self.assertNotIn("on feature", r.err)
        with open(self.path("r.json")) as f:
            import json
            rep = json.load(f)
        self.assertEqual(rep["totals"]["rejects"], 0)
        self.assertEqual(snapshot(d), {})
        self.assertFalse(os.path.exists(self.path("out", "rejects.gpkg")))
        self.assertEqual(self.leftovers(), [])

    def test_shapefile_full_is_74_not_65(self):
        d = self.mount("1m")
        r = self.vector(d, "keep.shp", "", 20000, mode="create")
        self.assertExit(r, gptest.EX_IOERR)
        self.assertNotIn("on feature", r.err)
        self.assertEqual(snapshot(d), {})

    def test_rejects_dataset_on_a_full_disk_is_74(self):
        # Points over the North Pole: a third cannot go to Web Mercator and
        # are rejected, more than 2 MiB of them (too many for valgrind).
        if gptest.UNDER_VALGRIND:
            return
        d = self.mount("2m")
        p = self.pipeline("version: 1\non_error: reject\nrejects: { path: %s/rejects.gpkg }\n"
                          "steps:\n"
                          "  - read: { synthetic: { geometry: point, count: 150000, "
                          "extent: [-10, 80, 10, 95] } }\n"
                          "  - reproject: { to: \"EPSG:3857\" }\n"
                          "  - write: { path: out/good.gpkg }\n" % d)
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_IOERR)
        self.assertIn("rejects.gpkg", r.err)
        self.assertIn("No space left on device", r.err)
        self.assertEqual(snapshot(d), {})
        self.assertFalse(os.path.exists(self.path("out", "good.gpkg")))
        self.assertEqual(self.leftovers(), [])

    def test_gpkg_index_build_on_a_full_disk_is_74(self):
        # Sizes measured first where there is room: the table without its
        # index, then with it; the disk is sized in between, so GDAL's
        # part fits and the bulk R-tree builder's (gpkg_rtree.c, sqlite3
        # directly on the temporary file) does not.
        if gptest.UNDER_VALGRIND:
            return
        roomy = self.mount("64m")
        # Few enough points that the sort stays in memory (no spill file
        # competing for the disk while GDAL writes).
        n = 30000
        self.assertExit(self.vector(roomy, "a.gpkg", ", options: { SPATIAL_INDEX: NO }", n,
                                    geometry="point", mode="create"), 0)
        self.assertExit(self.vector(roomy, "b.gpkg", "", n, geometry="point", mode="create"), 0)
        bare = os.path.getsize(os.path.join(roomy, "a.gpkg"))
        full = os.path.getsize(os.path.join(roomy, "b.gpkg"))
        self.assertGreater(full - bare, 512 << 10)
        d = self.mount("%dk" % ((bare + full) // 2 // 1024))
        r = self.vector(d, "keep.gpkg", "", n, geometry="point", mode="create")
        self.assertExit(r, gptest.EX_IOERR)
        self.assertIn("spatial index", r.err)
        self.assertIn("keep.gpkg", r.err)
        self.assertEqual(snapshot(d), {})

    # --- the checking layer changes nothing in what is written.

    def test_outputs_identical_with_and_without_the_checking_layer(self):
        # 8 runs and 8 conversions: not under valgrind (the GPKG case
        # below is the representative one there).
        if gptest.UNDER_VALGRIND:
            return
        off = [("GISPIPE_IOCHECK", "NO")]
        for fname, byte_identical in (("a.geojson", True), ("a.shp", True), ("a.gpkg", False),
                                      ("a.gml", True)):
            with self.subTest(output=fname):
                on_dir, off_dir = self.path("on", fname), self.path("off", fname)
                self.assertExit(self.vector(on_dir, fname, "", 1000, mode="create"), 0)
                self.assertExit(self.vector(off_dir, fname, "", 1000, mode="create",
                                            config=off), 0)
                a, b = os.path.join(on_dir, fname), os.path.join(off_dir, fname)
                ga, gb = gptest.as_geojson(a, workdir=self.dir), gptest.as_geojson(b, workdir=self.dir)
                self.assertEqual(len(ga["features"]), 1000)
                self.assertEqual(ga["features"], gb["features"])
                son, soff = snapshot(on_dir), snapshot(off_dir)
                self.assertEqual(sorted(son), sorted(soff))
                for k in son:
                    self.assertNotIn(b"vsigpchk", son[k], k)
                    if byte_identical:
                        self.assertEqual(son[k], soff[k], k)
                if fname.endswith(".gml"):
                    self.assertIn(b'schemaLocation="http://ogr.maptools.org/ a.xsd"',
                                  son["a.gml"])

    def test_gpkg_byte_identical_with_a_fixed_date(self):
        # GDAL stamps gpkg_contents with the time unless OGR_CURRENT_DATE.
        on_dir, off_dir = self.path("on"), self.path("off")
        date = ("OGR_CURRENT_DATE", "2020-01-01T00:00:00.000Z")
        for d, config in ((on_dir, (date,)), (off_dir, (date, ("GISPIPE_IOCHECK", "NO")))):
            p = self.pipeline(VECTOR.format(geometry="polygon", count=3000,
                                            path=os.path.join(d, "a.gpkg"), extra="",
                                            mode="create"), "g.yaml")
            args = ["run", "-q", p]
            for k, v in config:
                args += ["--config", k, v]
            self.assertExit(self.gp(*args), 0)
        self.assertEqual(snapshot(on_dir), snapshot(off_dir))


if __name__ == "__main__":
    gptest.main()
