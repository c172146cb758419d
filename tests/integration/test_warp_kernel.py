"""Our bilinear warp kernel (src/raster/warp_kernel.c) gives GDAL's pixels.

Each warp below runs twice, through our kernel and through GDAL's (--config
GISPIPE_WARP_KERNEL GDAL), and the pixels of every band must be the same
bytes (sha256).  The cases cover Int16, UInt16 and Byte, one band and
several, real rasters (data/) and synthetic ones, UTM to LAEA and a
UTM zone change (a small rotation at scale about 1), an upsampling, and
windows whose pieces touch the source raster's edges on every side (so
GDAL's border formula and its skipped pixels off the raster are met).  The
report must say our kernel warped pieces (else the comparison proves
nothing), and none where it does not apply (nodata, a downsampling, cubic),
where both runs are GDAL's.  It also checks a run of 3 threads gives the
same file as one of 1."""
import hashlib
import json
import os
import subprocess

import gptest
from gptest import EX_OK


def synth(w, h, typ, bands=1, crs="EPSG:32632", origin=(300000, 5600000), res=10, seed=3):
    return ("  - read: { synthetic: { raster: { width: %d, height: %d, type: %s, bands: %d,\n"
            "              block: [128, 128], crs: \"%s\", origin: [%g, %g], resolution: %g,\n"
            "              seed: %d } } }\n" % (w, h, typ, bands, crs, origin[0], origin[1], res,
                                                  seed))


SMALL_WINDOWS = ("--config", "GISPIPE_RASTER_WINDOW_BYTES", "300000")

# name: (read step, warp step, extra options, whether our kernel applies)
CASES = {
    "int16_laea": (synth(1500, 1300, "Int16"),
                   '  - reproject: { to: "EPSG:3035", resampling: bilinear }\n', (), True),
    "byte_bands_windows": (synth(900, 800, "Byte", bands=3, seed=5),
                           '  - reproject: { to: "EPSG:3035", resampling: bilinear }\n',
                           SMALL_WINDOWS, True),
    "uint16_zone_change": (synth(1000, 900, "UInt16", seed=7),
                           '  - reproject: { to: "EPSG:32633", resampling: bilinear }\n',
                           SMALL_WINDOWS, True),
    "int16_upsample": (synth(300, 280, "Int16", seed=9),
                       '  - reproject: { to: "EPSG:3035", resolution: 4, '
                       'resampling: bilinear }\n', (), True),
    "olinda_l7_6_bands": ("  - read: { path: %s }\n" % gptest.data("olinda_l7.tif"),
                          '  - reproject: { to: "EPSG:31984", resampling: bilinear }\n', (),
                          True),
    # GDAL's kernel only: nodata, a downsampling (kernel scale < 0.95), cubic
    "lux_nodata": ("  - read: { path: %s }\n" % gptest.data("lux_elev.tif"),
                   '  - reproject: { to: "EPSG:3035", resampling: bilinear }\n', (), False),
    "downsample": (synth(700, 660, "Int16"),
                   '  - resample: { resolution: 25, resampling: bilinear }\n', (), False),
    "cubic": (synth(700, 520, "Int16"),
              '  - reproject: { to: "EPSG:3035", resampling: cubic }\n', (), False),
}


class WarpKernel(gptest.TempDirTest):
    def warp(self, name, kernel, threads=1):
        read, step, extra, _ = CASES[name]
        out = "%s-%s-%d.tif" % (name, kernel, threads)
        rep_path = self.path(out + ".json")
        p = self.pipeline("version: 1\nsteps:\n" + read + step +
                          '  - write: { path: "%s" }\n' % out, name + ".yaml")
        r = self.gp("run", p, "--threads", str(threads), "--report", rep_path, "-q",
                    "--config", "GISPIPE_WARP_KERNEL", kernel, *extra)
        self.assertExit(r, EX_OK)
        with open(rep_path) as f:
            rep = json.load(f)
        figures = [s for s in rep["stages"] if s["name"] in ("reproject", "resample")][0]["figures"]
        return self.pixels(out), figures

    def pixels(self, out):
        """sha256 of every band's pixels, and the band count."""
        raw = self.path(out + ".bin")
        subprocess.run(["gdal_translate", "-q", "-of", "ENVI", "-co", "INTERLEAVE=BSQ",
                        self.path(out), raw], check=True, capture_output=True)
        with open(raw, "rb") as f:
            data = f.read()
        self.assertGreater(len(data), 0)
        return hashlib.sha256(data).hexdigest(), gptest.raster_info(self.path(out))["bands"]

    def check(self, name):
        own, fig_own = self.warp(name, "OWN")
        gdal, fig_gdal = self.warp(name, "GDAL")
        self.assertEqual(fig_gdal["pieces_own_kernel"], 0, name)
        if CASES[name][3]:
            # most pieces through our kernel, or the comparison is idle
            self.assertGreater(fig_own["pieces_own_kernel"], fig_own["pieces_warped"] // 2,
                               name)
        else:
            self.assertEqual(fig_own["pieces_own_kernel"], 0, name)
        self.assertEqual(fig_own["pieces_warped"], fig_gdal["pieces_warped"], name)
        self.assertEqual(len(own[1]), len(gdal[1]), name)
        self.assertEqual(own[0], gdal[0], "%s: our kernel's pixels are not GDAL's" % name)
        return own

    def test_int16_utm_to_laea(self):
        own = self.check("int16_laea")
        self.assertEqual(own, self.warp("int16_laea", "OWN", threads=3)[0])

    def test_byte_three_bands_small_windows(self):
        self.check("byte_bands_windows")

    def test_uint16_zone_change(self):
        self.check("uint16_zone_change")

    def test_upsampling(self):
        self.check("int16_upsample")

    def test_real_six_band_byte(self):
        self.check("olinda_l7_6_bands")

    def test_gdal_only_cases(self):
        for name in ("lux_nodata", "downsample", "cubic"):
            self.check(name)


if __name__ == "__main__":
    gptest.main()
