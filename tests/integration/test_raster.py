"""Raster pipelines: read, write, reproject and resample, against gdalwarp
and gdal_translate on the same data; outputs, errors and accounting.

gdalwarp is the oracle for the warp: for the same grid and the same options
gispipe must produce the same pixels.  With error_threshold 0 (-et 0 for
gdalwarp) both transform every pixel exactly, so the outputs must be
identical, whatever the windows gispipe cut the output into.  With the
default threshold (0.125 pixel) each tool approximates the transformation
over its own pieces (gispipe's windows, gdalwarp's chunks), so a pixel's
source position may differ by up to 2 x 0.125 pixel: a bilinear value then
differs by at most a quarter of the local pixel-to-pixel gradient, and on
the synthetic relief (gradients of a few units a pixel) the mean absolute
difference stays well under 0.5 and the maximum under 2.
"""
import json
import os
import subprocess
import unittest

import gptest
from gptest import EX_CONFIG, EX_DATAERR, EX_NOINPUT, EX_OK

DATA = gptest.DATA
DEM = os.path.join(DATA, "olinda_dem.tif")      # 111 x 111 Float32, UTM 25S
L7 = os.path.join(DATA, "olinda_l7.tif")        # 349 x 352, 6 bands Byte, UTM 25S
LUX = os.path.join(DATA, "lux_elev.tif")        # 95 x 90 Int16, EPSG:4326, nodata -32768


def gdal(*args):
    subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True)


def grid(path):
    i = gptest.raster_info(path)
    return i["size"], [round(v, 6) for v in i["geoTransform"]]


class RasterTest(gptest.TempDirTest):
    def run_ok(self, text, *extra):
        p = self.pipeline(text)
        r = self.gp("run", p, "--report", self.path("report.json"), *extra)
        self.assertExit(r, EX_OK)
        with open(self.path("report.json")) as f:
            rep = json.load(f)
        for st in rep["stages"]:
            for kind, n in st["live"].items():
                self.assertEqual(n, 0, "stage %s leaked %s" % (st["name"], kind))
        return rep

    def same_pixels(self, a, b, bands=1, nodata=None, tol=0):
        """Same grid, same pixels (within `tol`, for float rasters whose
        last bits depend on the order of the kernel's sums)."""
        self.assertEqual(grid(a), grid(b))
        for band in range(1, bands + 1):
            n, mean, worst, mismatch = gptest.compare_rasters(
                gptest.raster_values(a, band), gptest.raster_values(b, band), nodata)
            self.assertGreater(n, 0)
            self.assertLessEqual(worst, tol, "band %d differs" % band)
            self.assertEqual(mismatch, 0, "band %d nodata differs" % band)


class CompareHelper(unittest.TestCase):
    """The pixel comparison every raster test relies on must see NaN."""

    def test_nan_against_a_number_is_a_mismatch(self):
        nan = float("nan")
        n, mean, worst, mismatch = gptest.compare_rasters([nan, nan, 1.0], [1.0, 2.0, 1.0])
        self.assertEqual((n, worst, mismatch), (1, 0.0, 2))
        n, mean, worst, mismatch = gptest.compare_rasters([nan, 5.0], [nan, 5.5])
        self.assertEqual((n, worst, mismatch), (1, 0.5, 0))


class ReadWrite(RasterTest):
    def test_band_subset_roundtrip(self):
        self.run_ok(f"""version: 1
steps:
  - read: {{ path: {L7}, bands: [4, 3] }}
  - write: {{ path: out.tif }}
""")
        info = gptest.raster_info(self.path("out.tif"))
        self.assertEqual(len(info["bands"]), 2)
        self.assertEqual(info["bands"][0]["block"], [256, 256])  # tiled by default
        for ours, theirs in ((1, 4), (2, 3)):
            self.assertEqual(gptest.raster_values(self.path("out.tif"), ours),
                             gptest.raster_values(L7, theirs))

    def test_bbox_window_matches_projwin(self):
        # A window in the raster's CRS, widened to whole pixels.
        info = gptest.raster_info(LUX)
        x0, dx, _, y0, _, dy = info["geoTransform"]
        xmin, xmax = x0 + 10.3 * dx, x0 + 40.6 * dx
        ymax, ymin = y0 + 5.2 * dy, y0 + 30.7 * dy
        self.run_ok(f"""version: 1
steps:
  - read: {{ path: {LUX}, bbox: [{xmin!r}, {ymin!r}, {xmax!r}, {ymax!r}] }}
  - write: {{ path: out.tif }}
""")
        gdal("gdal_translate", "-q", "-srcwin", 10, 5, 31, 26, LUX, self.path("ref.tif"))
        self.same_pixels(self.path("out.tif"), self.path("ref.tif"))
        self.assertEqual(gptest.raster_info(self.path("out.tif"))["bands"][0]["noDataValue"],
                         -32768)

    def test_vsi_path(self):
        import zipfile
        with zipfile.ZipFile(self.path("dem.zip"), "w") as z:
            z.write(DEM, "inner/dem.tif")
        self.run_ok(f"""version: 1
steps:
  - read: {{ path: "/vsizip/{self.path('dem.zip')}/inner/dem.tif" }}
  - write: {{ path: out.tif }}
""")
        self.same_pixels(self.path("out.tif"), DEM)

    def test_nodata_override(self):
        self.run_ok(f"""version: 1
steps:
  - read: {{ path: {L7}, bands: [1], nodata: 0 }}
  - write: {{ path: out.tif }}
""")
        self.assertEqual(gptest.raster_info(self.path("out.tif"))["bands"][0]["noDataValue"], 0)

    def test_cog_output_is_a_cog_and_leaves_nothing(self):
        self.run_ok(f"""version: 1
steps:
  - read: {{ path: {L7} }}
  - write: {{ path: out.tif, format: COG, options: {{ COMPRESS: DEFLATE }} }}
""")
        info = gptest.raster_info(self.path("out.tif"))
        self.assertEqual(info["metadata"]["IMAGE_STRUCTURE"].get("LAYOUT"), "COG")
        self.assertEqual(info["metadata"]["IMAGE_STRUCTURE"].get("COMPRESSION"), "DEFLATE")
        for b in range(1, 7):
            self.assertEqual(gptest.raster_values(self.path("out.tif"), b),
                             gptest.raster_values(L7, b))
        self.assertEqual(sorted(os.listdir(self.dir)), ["out.tif", "p.yaml", "report.json"])

    def test_synthetic_is_deterministic_and_window_independent(self):
        text = """version: 1
steps:
  - read: { synthetic: { raster: { width: 1500, height: 1100, type: Int16, block: [256, 256],
                                   seed: 7 } } }
  - write: { path: OUT, mode: overwrite }
"""
        self.run_ok(text.replace("OUT", "a.tif"))
        # A small window budget cuts the output into many more windows.
        rep = self.run_ok(text.replace("OUT", "b.tif"), "--config",
                          "GISPIPE_RASTER_WINDOW_BYTES", "3000000")
        self.assertGreater(rep["totals"]["batches"], 4)
        self.assertEqual(gptest.raster_values(self.path("a.tif")),
                         gptest.raster_values(self.path("b.tif")))
        self.run_ok(text.replace("OUT", "c.tif").replace("seed: 7", "seed: 8"))
        self.assertNotEqual(gptest.raster_values(self.path("a.tif")),
                            gptest.raster_values(self.path("c.tif")))
        info = gptest.raster_info(self.path("a.tif"))
        self.assertEqual(info["size"], [1500, 1100])
        self.assertIn("32632", json.dumps(info["coordinateSystem"]))
        self.assertEqual(rep["totals"]["pixels_out"], 1500 * 1100)

    def test_one_output_per_input(self):
        for n in ("a", "b"):
            gdal("gdal_translate", "-q", "-b", 1, L7, self.path(n + ".tif"))
        os.mkdir(self.path("out"))
        self.run_ok(f"""version: 1
steps:
  - read: {{ path: "{self.path('*.tif')}" }}
  - resample: {{ resolution: 57 }}
  - write: {{ path: "out/{{stem}}_57m.tif" }}
""")
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["a_57m.tif", "b_57m.tif"])


class Warp(RasterTest):
    def test_reproject_identical_to_gdalwarp_every_kernel(self):
        kernels = ("near", "bilinear", "cubic", "cubicspline", "lanczos", "average", "mode")
        if gptest.UNDER_VALGRIND:
            kernels = ("bilinear", "lanczos", "mode")  # the code paths, not every kernel
        for r in kernels:
            with self.subTest(resampling=r):
                self.run_ok(f"""version: 1
steps:
  - read: {{ path: {DEM} }}
  - reproject: {{ to: "EPSG:4326", resampling: {r}, error_threshold: 0 }}
  - write: {{ path: out.tif, mode: overwrite }}
""")
                gdal("gdalwarp", "-q", "-overwrite", "-t_srs", "EPSG:4326", "-r", r, "-et", 0,
                     DEM, self.path("ref.tif"))
                # Float32 elevations of tens of metres: 1e-6 m is far below
                # their precision and far above the summation-order noise.
                self.same_pixels(self.path("out.tif"), self.path("ref.tif"), tol=1e-6)

    def test_resample_coarser_identical_to_gdalwarp(self):
        gdal("gdal_translate", "-q", "-b", 1, L7, self.path("b1.tif"))
        for r in ("average",) if gptest.UNDER_VALGRIND else ("average", "mode", "bilinear"):
            with self.subTest(resampling=r):
                self.run_ok(f"""version: 1
steps:
  - read: {{ path: {L7}, bands: [1] }}
  - resample: {{ resolution: 90, resampling: {r}, error_threshold: 0 }}
  - write: {{ path: out.tif, mode: overwrite }}
""")
                gdal("gdalwarp", "-q", "-overwrite", "-tr", 90, 90, "-r", r, "-et", 0,
                     self.path("b1.tif"), self.path("ref.tif"))
                self.same_pixels(self.path("out.tif"), self.path("ref.tif"))

    def test_size_extent_and_nodata_like_gdalwarp(self):
        # Luxembourg's DEM has nodata around the country: it must stay
        # nodata, and uncovered pixels get it too.
        self.run_ok(f"""version: 1
steps:
  - read: {{ path: {LUX} }}
  - reproject: {{ to: "EPSG:3035", resampling: bilinear, resolution: 500, target_aligned: true,
                  error_threshold: 0 }}
  - write: {{ path: out.tif }}
""")
        gdal("gdalwarp", "-q", "-t_srs", "EPSG:3035", "-r", "bilinear", "-tr", 500, 500, "-tap",
             "-et", 0, LUX, self.path("ref.tif"))
        self.same_pixels(self.path("out.tif"), self.path("ref.tif"), nodata=-32768)
        self.assertEqual(gptest.raster_info(self.path("out.tif"))["bands"][0]["noDataValue"],
                         -32768)
        self.run_ok(f"""version: 1
steps:
  - read: {{ path: {LUX} }}
  - reproject: {{ to: "EPSG:3035", size: [120, 100], extent: [4000000, 2950000, 4060000, 3000000],
                  error_threshold: 0, nodata: -9999 }}
  - write: {{ path: out2.tif }}
""")
        gdal("gdalwarp", "-q", "-t_srs", "EPSG:3035", "-ts", 120, 100, "-te", 4000000, 2950000,
             4060000, 3000000, "-et", 0, "-dstnodata", -9999, LUX, self.path("ref2.tif"))
        self.same_pixels(self.path("out2.tif"), self.path("ref2.tif"), nodata=-9999)

    def test_alpha_band_like_gdalwarp(self):
        self.run_ok(f"""version: 1
steps:
  - read: {{ path: {DEM} }}
  - reproject: {{ to: "EPSG:3857", alpha: true, error_threshold: 0 }}
  - write: {{ path: out.tif }}
""")
        gdal("gdalwarp", "-q", "-t_srs", "EPSG:3857", "-dstalpha", "-et", 0, DEM,
             self.path("ref.tif"))
        info = gptest.raster_info(self.path("out.tif"))
        self.assertEqual(info["bands"][1]["colorInterpretation"], "Alpha")
        self.same_pixels(self.path("out.tif"), self.path("ref.tif"), bands=2)

    def test_many_windows_identical_and_approximation_close(self):
        # A synthetic raster warped in small windows:
        # exact mode must match gdalwarp pixel for pixel across the seams;
        # the default approximation within the bound in the module's doc.
        side = (520, 520) if gptest.UNDER_VALGRIND else (1200, 900)
        gen = f"""version: 1
steps:
  - read: {{ synthetic: {{ raster: {{ width: {side[0]}, height: {side[1]}, type: Int16, seed: 3 }} }} }}
  - write: {{ path: src.tif }}
"""
        self.run_ok(gen)
        for et in (0, 0.125):
            with self.subTest(error_threshold=et):
                rep = self.run_ok(f"""version: 1
steps:
  - read: {{ path: src.tif }}
  - reproject: {{ to: "EPSG:3035", resampling: bilinear, error_threshold: {et} }}
  - write: {{ path: out.tif, mode: overwrite }}
""", "--config", "GISPIPE_RASTER_WINDOW_BYTES", "3000000" if side[0] > 1000 else "150000")
                # At least 2 x 2 windows of one 256 x 256 tile, seams inside.
                self.assertGreaterEqual(rep["totals"]["batches"], 4)
                gdal("gdalwarp", "-q", "-overwrite", "-t_srs", "EPSG:3035", "-r", "bilinear",
                     "-et", et, self.path("src.tif"), self.path("ref.tif"))
                self.assertEqual(grid(self.path("out.tif")), grid(self.path("ref.tif")))
                n, mean, worst, mismatch = gptest.compare_rasters(
                    gptest.raster_values(self.path("out.tif")),
                    gptest.raster_values(self.path("ref.tif")), 0)
                if et == 0:
                    self.assertEqual((worst, mismatch), (0, 0))
                else:
                    self.assertLess(mean, 0.5)
                    self.assertLessEqual(worst, 2)
                    self.assertLess(mismatch, n * 0.002)

    def test_from_overrides_a_missing_crs(self):
        # An ASCII grid without its .prj: georeferenced, no CRS.
        gdal("gdal_translate", "-q", "-of", "AAIGrid", DEM, self.path("dem.asc"))
        for extra in ("dem.prj", "dem.asc.aux.xml"):
            if os.path.exists(self.path(extra)):
                os.unlink(self.path(extra))
        text = f"""version: 1
steps:
  - read: {{ path: dem.asc }}
  - reproject: {{ to: "EPSG:4326", FROM error_threshold: 0 }}
  - write: {{ path: out.tif, mode: overwrite }}
"""
        r = self.gp("run", self.pipeline(text.replace("FROM ", "")))
        self.assertExit(r, EX_DATAERR)
        self.assertIn("has no CRS (give 'from')", r.err)
        self.run_ok(text.replace("FROM", 'from: "EPSG:31985",'))
        gdal("gdalwarp", "-q", "-s_srs", "EPSG:31985", "-t_srs", "EPSG:4326", "-et", 0,
             self.path("dem.asc"), self.path("ref.tif"))
        self.same_pixels(self.path("out.tif"), self.path("ref.tif"))


class Chain(RasterTest):
    def test_clip_reproject_calc_like_gdalwarp_then_python(self):
        # The whole chain on real data: a canton's DEM cut out by its
        # polygon, warped to LAEA Europe, scaled.  The oracle takes the same
        # path with gdalwarp: the cutline on the grid gispipe's clip keeps
        # (the input's pixels under the polygon's envelope), then the warp;
        # the scaling is done in Python.
        self.run_ok(f"""version: 1
steps:
  - read: {{ path: {LUX} }}
  - clip: {{ by: {os.path.join(DATA, "lux.shp")}, where: "NAME_2 = 'Clervaux'" }}
  - write: {{ path: clip.tif }}
""")
        ci = gptest.raster_info(self.path("clip.tif"))
        gt, (w, h) = ci["geoTransform"], ci["size"]
        te = (gt[0], gt[3] + h * gt[5], gt[0] + w * gt[1], gt[3])
        gdal("gdalwarp", "-q", "-te", *[repr(v) for v in te], "-ts", w, h, "-cutline",
             os.path.join(DATA, "lux.shp"), "-cwhere", "NAME_2 = 'Clervaux'", LUX,
             self.path("ref_clip.tif"))
        self.same_pixels(self.path("clip.tif"), self.path("ref_clip.tif"), nodata=-32768)
        self.run_ok(f"""version: 1
steps:
  - read: {{ path: {LUX} }}
  - clip: {{ by: {os.path.join(DATA, "lux.shp")}, where: "NAME_2 = 'Clervaux'" }}
  - reproject: {{ to: "EPSG:3035", resampling: bilinear, resolution: 250, error_threshold: 0 }}
  - calc: {{ expr: "b1 * 0.1", type: Float32, nodata: -9999 }}
  - write: {{ path: out.tif }}
""")
        gdal("gdalwarp", "-q", "-t_srs", "EPSG:3035", "-r", "bilinear", "-tr", 250, 250, "-et", 0,
             self.path("ref_clip.tif"), self.path("ref_warp.tif"))
        self.assertEqual(grid(self.path("out.tif")), grid(self.path("ref_warp.tif")))
        ours = gptest.raster_values(self.path("out.tif"))
        theirs = gptest.raster_values(self.path("ref_warp.tif"))
        valid = 0
        for a, b in zip(ours, theirs):
            if b == -32768:
                self.assertEqual(a, -9999)
            else:
                valid += 1
                self.assertAlmostEqual(a, b * 0.1, delta=1e-4 * abs(b * 0.1) + 1e-4)
        self.assertGreater(valid, 1000)


class Errors(RasterTest):
    def check(self, text, code, message, *args):
        r = self.gp("run", self.pipeline(text), *args)
        self.assertExit(r, code)
        self.assertIn(message, r.err)
        self.assertEqual(self.leftovers(), [])
        return r

    def test_truncated_tiff(self):
        with open(L7, "rb") as f:
            data = f.read()
        with open(self.path("cut.tif"), "wb") as f:
            f.write(data[: len(data) // 3])
        self.check("""version: 1
steps:
  - read: { path: cut.tif }
  - write: { path: out.tif }
""", EX_DATAERR, "cut.tif")
        self.assertFalse(os.path.exists(self.path("out.tif")))

    def test_not_a_raster_at_all(self):
        with open(self.path("junk.tif"), "w") as f:
            f.write("this is not a TIFF\n")
        self.check("""version: 1
steps:
  - read: { path: junk.tif }
  - resample: { resolution: 10 }
  - write: { path: out.tif }
""", EX_DATAERR, "cannot open 'junk.tif' as a raster")

    def test_missing_input(self):
        self.check("""version: 1
steps:
  - read: { path: nowhere.tif }
  - write: { path: out.tif }
""", EX_NOINPUT, "nowhere.tif")

    def test_vector_step_in_a_raster_pipeline(self):
        self.check(f"""version: 1
steps:
  - read: {{ path: {DEM} }}
  - buffer: {{ distance: 10 }}
  - write: {{ path: out.tif }}
""", EX_CONFIG, "'buffer' is a vector step, and this pipeline reads a raster")

    def test_band_out_of_range(self):
        self.check(f"""version: 1
steps:
  - read: {{ path: {L7}, bands: [7] }}
  - write: {{ path: out.tif }}
""", EX_CONFIG, "has 6 bands, not band 7")

    def test_options_checked(self):
        self.check(f"""version: 1
steps:
  - read: {{ path: {DEM} }}
  - resample: {{ resampling: bilinear }}
  - write: {{ path: out.tif }}
""", EX_CONFIG, "step 'resample' needs 'resolution' or 'size'")
        self.check(f"""version: 1
steps:
  - read: {{ path: {DEM} }}
  - reproject: {{ to: "EPSG:4326", resampling: bicubic }}
  - write: {{ path: out.tif }}
""", EX_CONFIG, "(did you mean 'cubic'?)")
        self.check(f"""version: 1
steps:
  - read: {{ path: {DEM} }}
  - reproject: {{ to: "EPSG:999999" }}
  - write: {{ path: out.tif }}
""", EX_CONFIG, "unknown CRS 'EPSG:999999'")

    def test_existing_output_is_kept(self):
        with open(self.path("out.tif"), "w") as f:
            f.write("keep me")
        self.check(f"""version: 1
steps:
  - read: {{ path: {DEM} }}
  - write: {{ path: out.tif }}
""", 73, "it exists")
        with open(self.path("out.tif")) as f:
            self.assertEqual(f.read(), "keep me")

    def test_failure_on_second_input_commits_nothing(self):
        gdal("gdal_translate", "-q", DEM, self.path("a.tif"))
        with open(DEM, "rb") as f:
            data = f.read()
        with open(self.path("b.tif"), "wb") as f:
            f.write(data[: len(data) // 4])
        os.mkdir(self.path("out"))
        self.check("""version: 1
steps:
  - read: { path: "*.tif" }
  - write: { path: "out/{stem}.tif" }
""", EX_DATAERR, "b.tif")
        self.assertEqual(os.listdir(self.path("out")), [])


class Explain(RasterTest):
    def test_explain_shows_the_raster_plan(self):
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: {DEM} }}
  - reproject: {{ to: "EPSG:4326" }}
  - write: {{ path: out.tif }}
""")
        r = self.gp("explain", p)
        self.assertExit(r, EX_OK)
        self.assertIn("raster plan:", r.out)
        self.assertIn("111 x 111, 1 band(s) of", r.out)
        self.assertIn("output windows of", r.out)
        self.assertIn("raster windows", r.out)
        self.assertFalse(os.path.exists(self.path("out.tif")))
        self.assertExit(self.gp("validate", p), EX_OK)

    def test_stages_lists_raster_steps(self):
        r = self.gp("stages")
        self.assertExit(r, EX_OK)
        self.assertIn("raster steps", r.out)
        self.assertIn("resample", r.out)
        r = self.gp("stages", "reproject")
        self.assertExit(r, EX_OK)
        self.assertIn("reproject (vector,", r.out)
        self.assertIn("reproject (raster,", r.out)
        self.assertIn("error_threshold", r.out)


if __name__ == "__main__":
    gptest.main()
