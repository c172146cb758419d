"""The raster reproject's output grid is gdalwarp's (issue #13).

For each case of the table, gispipe and gdalwarp warp the same raster with
the same options (resolution: -tr, target_aligned: -tap, size: -ts, extent:
-te); the outputs must have the same size, the same geotransform (to 1e-9
of the pixel size) and, both transforming every pixel exactly
(error_threshold 0, -et 0), the same pixels.

The rasters: Luxembourg's DEM in EPSG:4326 (a geographic source: gdalwarp
wraps its longitudes around their centre and picks the coordinate operation
for its area of interest), Olinda's DEM in UTM 25S (a projected source), and
made here from Olinda's DEM: a geographic raster across the antimeridian
(170..190 degrees east), a projected one across it (EPSG:3832, whose
antimeridian is 3.34e6 m east of its origin), and a geographic one near the
pole, to a polar stereographic CRS and back.
"""
import os
import subprocess

import gptest
from gptest import EX_OK

DATA = gptest.DATA
LUX = os.path.join(DATA, "lux_elev.tif")        # 95 x 90 Int16, EPSG:4326, nodata -32768
DEM = os.path.join(DATA, "olinda_dem.tif")      # 111 x 111 Float32, UTM 25S


def gdal(*args):
    subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True)


# Made by the test from Olinda's DEM, in its temporary directory: the name,
# then gdal_translate's georeferencing options.
MADE = {
    "antimeridian_4326.tif": ("-a_srs", "EPSG:4326", "-a_ullr", 170, 10, 190, -10),
    "antimeridian_3832.tif": ("-a_srs", "EPSG:3832", "-a_ullr", 2800000, 600000, 3900000,
                              -500000),
    "arctic_4326.tif": ("-a_srs", "EPSG:4326", "-a_ullr", -40, 84, 40, 70),
    "arctic_3995.tif": ("-a_srs", "EPSG:3995", "-a_ullr", -900000, 900000, 900000, -900000),
}

# Each case: a name, the raster, the target CRS, then the request as
# gispipe's options; gdalwarp gets the same in its own words.  Where the
# output holds a pole or spans the antimeridian, gdalwarp splits it in
# chunks whose bilinear kernels scale to each chunk's own source: the
# pixels are the same only if gispipe's pieces are split likewise.
CASES = [
    ("issue13_none", LUX, "EPSG:2169", {}),
    ("issue13_resolution", LUX, "EPSG:2169", {"resolution": [800, 800]}),
    ("lux_resolution_aligned", LUX, "EPSG:2169", {"resolution": [800, 800],
                                                  "target_aligned": True}),
    ("lux_resolution_unequal", LUX, "EPSG:2169", {"resolution": [700, 900]}),
    ("lux_size", LUX, "EPSG:2169", {"size": [60, 90]}),
    ("lux_extent", LUX, "EPSG:2169", {"extent": [55000, 60000, 100000, 130000]}),
    ("lux_extent_resolution", LUX, "EPSG:2169", {"extent": [55000, 60000, 100000, 130000],
                                                 "resolution": [750, 750]}),
    ("lux_extent_resolution_aligned", LUX, "EPSG:2169",
     {"extent": [55100, 60100, 100100, 130100], "resolution": [750, 750],
      "target_aligned": True}),
    ("lux_extent_size", LUX, "EPSG:2169", {"extent": [55000, 60000, 100000, 130000],
                                           "size": [50, 70]}),
    ("olinda_none", DEM, "EPSG:4326", {}),
    ("olinda_resolution_aligned", DEM, "EPSG:4326", {"resolution": [0.0003, 0.0003],
                                                     "target_aligned": True}),
    ("olinda_resolution_unequal", DEM, "EPSG:4326", {"resolution": [0.0002, 0.0003]}),
    ("olinda_extent", DEM, "EPSG:4326", {"extent": [-34.9, -8.05, -34.85, -8.0]}),
    # -34.83 / 0.01 is -3482.9999999999995: gdalwarp 3.6 aligns it up to
    # -34.82 (later versions allow 1e-8 of slack and do not).
    ("olinda_extent_resolution_aligned", DEM, "EPSG:4326",
     {"extent": [-34.9, -8.03, -34.83, -7.99], "resolution": [0.01, 0.01],
      "target_aligned": True}),
    ("olinda_size", DEM, "EPSG:3857", {"size": [100, 120]}),
    ("antimeridian_4326_to_3832", "antimeridian_4326.tif", "EPSG:3832", {}),
    ("antimeridian_4326_to_3832_resolution", "antimeridian_4326.tif", "EPSG:3832",
     {"resolution": [25000, 25000], "target_aligned": True}),
    ("antimeridian_4326_to_3857", "antimeridian_4326.tif", "EPSG:3857", {}),
    ("antimeridian_3832_to_4326", "antimeridian_3832.tif", "EPSG:4326", {}),
    ("antimeridian_3832_to_4326_size", "antimeridian_3832.tif", "EPSG:4326", {"size": [90, 80]}),
    ("arctic_4326_to_3995", "arctic_4326.tif", "EPSG:3995", {}),
    ("arctic_4326_to_3995_resolution", "arctic_4326.tif", "EPSG:3995",
     {"resolution": [20000, 20000]}),
    ("arctic_3995_to_4326", "arctic_3995.tif", "EPSG:4326", {}),
    ("arctic_3995_to_3035", "arctic_3995.tif", "EPSG:3035", {}),
]


def gdalwarp_args(opts):
    a = []
    if "resolution" in opts:
        a += ["-tr"] + opts["resolution"]
    if opts.get("target_aligned"):
        a += ["-tap"]
    if "size" in opts:
        a += ["-ts"] + opts["size"]
    if "extent" in opts:
        a += ["-te"] + opts["extent"]
    return a


def yaml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(repr(x) for x in v) + "]"
    return repr(v)


class Grid(gptest.TempDirTest):
    def raster(self, name):
        if os.path.isabs(name):
            return name
        gdal("gdal_translate", "-q", *MADE[name], DEM, self.path(name))
        return self.path(name)

    def check(self, name, src, to, opts):
        src = self.raster(src)
        extra = "".join(", %s: %s" % (k, yaml_value(v)) for k, v in opts.items())
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: "{src}" }}
  - reproject: {{ to: "{to}", resampling: bilinear, error_threshold: 0{extra} }}
  - write: {{ path: out.tif, mode: overwrite }}
""")
        r = self.gp("run", p)
        self.assertExit(r, EX_OK)
        gdal("gdalwarp", "-q", "-overwrite", "-t_srs", to, "-r", "bilinear", "-et", 0,
             *gdalwarp_args(opts), src, self.path("ref.tif"))
        out = gptest.raster_info(self.path("out.tif"))
        ref = gptest.raster_info(self.path("ref.tif"))
        self.assertEqual(out["size"], ref["size"], "%s: size" % name)
        gt, rgt = out["geoTransform"], ref["geoTransform"]
        scale = max(abs(rgt[1]), abs(rgt[5]))
        for i in range(6):
            self.assertLessEqual(abs(gt[i] - rgt[i]), 1e-9 * max(scale, abs(rgt[i])),
                                 "%s: geotransform %s, gdalwarp's %s" % (name, gt, rgt))
        nodata = ref["bands"][0].get("noDataValue")
        n, mean, worst, mismatch = gptest.compare_rasters(
            gptest.raster_values(self.path("out.tif")), gptest.raster_values(self.path("ref.tif")),
            nodata)
        self.assertGreater(n, 0, "%s: no pixel compared" % name)
        # Float32 elevations: 1e-6 m is far below their precision and far
        # above the summation-order noise of the kernel.
        self.assertLessEqual(worst, 1e-6, "%s: pixels differ" % name)
        self.assertEqual(mismatch, 0, "%s: nodata differs" % name)

    def test_geographic_source(self):
        for case in CASES:
            if case[0].startswith("lux_"):
                with self.subTest(case[0]):
                    self.check(*case)

    def test_projected_source(self):
        for case in CASES:
            if case[0].startswith("olinda_"):
                with self.subTest(case[0]):
                    self.check(*case)

    def test_antimeridian(self):
        for case in CASES:
            if case[0].startswith("antimeridian_"):
                with self.subTest(case[0]):
                    self.check(*case)

    def test_polar(self):
        for case in CASES:
            if case[0].startswith("arctic_"):
                with self.subTest(case[0]):
                    self.check(*case)

    def test_issue_13_luxembourg(self):
        # The issue's own numbers: gdalwarp's grid for the Luxembourg DEM
        # to EPSG:2169 is 75 x 108 pixels of 771.971 m from y 139945.07,
        # and 72 x 104 at 800 m.
        self.check(*CASES[0])
        self.assertEqual(CASES[0][0], "issue13_none")
        info = gptest.raster_info(self.path("out.tif"))
        self.assertEqual(info["size"], [75, 108])
        self.assertAlmostEqual(info["geoTransform"][1], 771.971, places=3)
        self.assertAlmostEqual(info["geoTransform"][3], 139945.07, places=2)
        self.assertEqual(CASES[1][0], "issue13_resolution")
        self.check(*CASES[1])
        self.assertEqual(gptest.raster_info(self.path("out.tif"))["size"], [72, 104])


if __name__ == "__main__":
    gptest.main()
