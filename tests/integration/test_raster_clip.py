"""The raster clip step (bbox, and a cutline from a vector dataset) against
gdalwarp -cutline and gdal_translate -projwin: same grid, same pixels.

Pixels are read back with gdal_translate -of AAIGrid (no GDAL Python
bindings here).  gdalwarp is run with -te/-ts pinned to the grid gispipe
chose (which the tests check against one computed here from the polygons'
coordinates), so that both work on the same pixels; on the source's own
grid, nearest-neighbour warping copies pixels, and the comparison is exact.
"""
import json
import math
import os
import subprocess

import gptest

DEM = gptest.data("lux_elev.tif")      # 95 x 90 Int16, EPSG:4326, nodata -32768
LUX = gptest.data("lux.shp")           # the 12 cantons, NAME_2
ND = -32768.0
CANTONS = ["Clervaux", "Diekirch", "Redange", "Vianden", "Wiltz", "Echternach", "Remich",
           "Grevenmacher", "Capellen", "Esch-sur-Alzette", "Luxembourg", "Mersch"]

# Polygons over the synthetic raster (EPSG:32632, origin 300000 5600000,
# 10 m pixels): one with a hole, a multipolygon whose two parts overlap,
# and a triangle whose edges cross pixel rows at odd places.
SYNTH_CUT = ('id,WKT\n'
             '1,"POLYGON((301000 5577000,316000 5577000,316000 5591000,301000 5591000,'
             '301000 5577000),(305000 5580000,310000 5580000,310000 5585000,305000 5585000,'
             '305000 5580000))"\n'
             '2,"MULTIPOLYGON(((312000 5588000,318000 5588000,318000 5594000,312000 5594000,'
             '312000 5588000)),((315000 5590000,321000 5590000,321000 5596000,315000 5596000,'
             '315000 5590000)))"\n'
             '3,"POLYGON((320003 5577007,329001 5598013,323333 5598777,320003 5577007))"\n')
SYNTH = "{ synthetic: { raster: { width: %d, height: %d, type: Int16, nodata: -9999 } } }"


def tool(*args):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True,
                          text=True).stdout


def info(path):
    return json.loads(tool("gdalinfo", "-json", path))


def pixels(path, band=1):
    """Band `band` of a raster as a list of rows of floats."""
    out = tool("gdal_translate", "-q", "-b", band, "-of", "AAIGrid", path, "/vsistdout/")
    lines = out.splitlines()
    hdr = {}
    i = 0
    while lines[i].split()[0].lower() in ("ncols", "nrows", "xllcorner", "yllcorner",
                                           "cellsize", "dx", "dy", "nodata_value"):
        k, v = lines[i].split()
        hdr[k.lower()] = v
        i += 1
    rows = [[float(x) for x in ln.split()] for ln in lines[i:i + int(hdr["nrows"])]]
    assert len(rows) == int(hdr["nrows"]) and all(len(r) == int(hdr["ncols"]) for r in rows)
    return rows


def nodata(path, band=1):
    return info(path)["bands"][band - 1].get("noDataValue")


def envelope(path, where=None, workdir=None):
    """Envelope of the features of a dataset, from their coordinates at full
    precision (ogrinfo's extent ignores -where and prints 6 decimals)."""
    out = os.path.join(workdir, "env-%d.geojson" % len(os.listdir(workdir)))
    args = ["-f", "GeoJSON", "-lco", "COORDINATE_PRECISION=15", "-lco", "RFC7946=NO", out, path]
    if where:
        args += ["-where", where]
    gptest.ogr2ogr(*args)
    with open(out) as f:
        pts = [p for ft in json.load(f)["features"] for p in gptest.coords(ft["geometry"])]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


def centre_window(gt, size, env, touched=False):
    """The pixels of a north-up grid whose centre is in `env` (or that it
    touches), as (col, row, width, height), cut to the raster."""
    x0, y0, x1, y1 = env
    px0, px1 = (x0 - gt[0]) / gt[1], (x1 - gt[0]) / gt[1]
    py0, py1 = (y1 - gt[3]) / gt[5], (y0 - gt[3]) / gt[5]
    if touched:
        c0, c1, r0, r1 = math.floor(px0), math.ceil(px1), math.floor(py0), math.ceil(py1)
    else:
        c0, c1 = math.ceil(px0 - 0.5), math.floor(px1 - 0.5) + 1
        r0, r1 = math.ceil(py0 - 0.5), math.floor(py1 - 0.5) + 1
    c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, size[0]), min(r1, size[1])
    return c0, r0, c1 - c0, r1 - r0


def sub(rows, x, y, w, h):
    return [r[x:x + w] for r in rows[y:y + h]]


class RasterClip(gptest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.src_info = info(DEM)
        self.env_dir = self.path("env")
        os.makedirs(self.env_dir)

    # -- helpers -----------------------------------------------------------

    def clip(self, read, clip, out="o.tif", code=0, args=(), write=""):
        """Run read -> clip -> write; returns (result, report or None)."""
        if code != 0:
            out = "err.tif"   # must not be written; o.tif may be an earlier run's
        p = self.pipeline("version: 1\nsteps:\n  - read: %s\n  - clip: %s\n"
                          "  - write: { path: %s, mode: overwrite%s }\n"
                          % (read, clip, out, write), out + ".yaml")
        rep = self.path(out + ".json")
        r = self.gp("run", "-q", p, "--report", rep, *args)
        self.assertExit(r, code)
        report = None
        if os.path.exists(rep):
            with open(rep) as f:
                report = json.load(f)
            # Every handle the run opened is back (the engine would exit 70).
            for st in report["stages"]:
                self.assertEqual(sum(st["live"].values()), 0, st)
        if code != 0:
            self.assertFalse(os.path.exists(self.path(out)))
            self.assertEqual(self.leftovers(), [])
        return r, report

    def stage(self, report, name):
        return next(s for s in report["stages"] if s["name"] == name)

    def assertGrid(self, path, gt, size):
        i = info(path)
        self.assertEqual(i["size"], list(size))
        for a, b in zip(i["geoTransform"], gt):
            self.assertAlmostEqual(a, b, delta=1e-9 * abs(gt[1]))

    def assertPixels(self, ours, ref):
        """Equal grids of pixels; on failure, how many differ and where
        (assertEqual's diff of millions of values would take minutes)."""
        self.assertEqual((len(ours), len(ours[0])), (len(ref), len(ref[0])))
        diff = [(i, j, a, b) for j, (ra, rb) in enumerate(zip(ours, ref))
                for i, (a, b) in enumerate(zip(ra, rb)) if a != b]
        self.assertEqual(diff[:10], [], "%d pixels differ (col, row, ours, ref)" % len(diff))

    def grid_of(self, src_gt, win):
        c, r, w, h = win
        gt = [src_gt[0] + c * src_gt[1], src_gt[1], 0.0, src_gt[3] + r * src_gt[5], 0.0,
              src_gt[5]]
        return gt, (w, h)

    def warp_pinned(self, src, out, gt, size, *args):
        """gdalwarp on exactly the grid (gt, size)."""
        w, h = size
        te = (gt[0], gt[3] + h * gt[5], gt[0] + w * gt[1], gt[3])
        tool("gdalwarp", "-q", "-overwrite", "-te", *[repr(v) for v in te], "-ts", w, h, *args,
             src, out)

    def canton(self, name, all_touched=False, cutline=LUX, out="o.tif"):
        where = "NAME_2 = '%s'" % name if name else None
        clip = "{ by: %s%s%s }" % (cutline, ", where: \"%s\"" % where if where else "",
                                   ", all_touched: true" if all_touched else "")
        return self.clip("{ path: %s }" % DEM, clip, out)

    # -- cutline -----------------------------------------------------------

    def test_cutline_matches_gdalwarp_for_every_canton(self):
        src_gt, src_size = self.src_info["geoTransform"], self.src_info["size"]
        # Under valgrind, each run costs seconds of start-up: a few cantons.
        names = CANTONS[:3] if gptest.UNDER_VALGRIND else CANTONS
        for name in names + [None]:
            with self.subTest(canton=name):
                where = "NAME_2 = '%s'" % name if name else None
                _, rep = self.canton(name)
                win = centre_window(src_gt, src_size, envelope(LUX, where, self.env_dir))
                gt, size = self.grid_of(src_gt, win)
                self.assertGrid(self.path("o.tif"), gt, size)
                self.assertEqual(nodata(self.path("o.tif")), ND)
                args = ["-cutline", LUX] + (["-cwhere", where] if where else [])
                self.warp_pinned(DEM, self.path("ref.tif"), gt, size, *args)
                ours, ref = pixels(self.path("o.tif")), pixels(self.path("ref.tif"))
                self.assertPixels(ours, ref)
                # Not vacuous: some pixels kept, some masked, and the kept
                # ones are the DEM's own.
                kept = sum(v != ND for r in ours for v in r)
                self.assertGreater(kept, 100)
                self.assertLess(kept, size[0] * size[1])
                dem = sub(pixels(DEM), win[0], win[1], win[2], win[3])
                self.assertTrue(all(o in (ND, d) for ro, rd in zip(ours, dem)
                                    for o, d in zip(ro, rd)))
                self.assertGreaterEqual(self.stage(rep, "clip")["live_peak"]["ogr_geometry"], 1)

    def test_small_windows(self):
        # 16 x 16 windows (one output block each): polygons cross window
        # edges everywhere, and the result is the same as in one window.
        _, rep = self.clip("{ path: %s }" % DEM, "{ by: %s }" % LUX, out="w.tif",
                           write=", block: 16", args=("--config", "GISPIPE_RASTER_WINDOW_BYTES",
                                                      "1"))
        self.assertGreaterEqual(self.stage(rep, "clip")["items_out"], 30)
        self.canton(None)
        oi = info(self.path("o.tif"))
        self.assertGrid(self.path("w.tif"), oi["geoTransform"], oi["size"])
        ours = pixels(self.path("w.tif"))
        self.assertPixels(ours, pixels(self.path("o.tif")))
        self.warp_pinned(DEM, self.path("ref.tif"), oi["geoTransform"], oi["size"], "-cutline",
                         LUX)
        self.assertPixels(ours, pixels(self.path("ref.tif")))

    def test_crop_to_cutline_grid_difference(self):
        # gdalwarp -crop_to_cutline rounds the cutline's envelope inward to
        # whole pixels, and so leaves out edge pixels whose centre is in the
        # canton: Clervaux's highest (547 m) is in the row it drops.  Its
        # output must be a part of ours, equal pixel for pixel.
        self.canton("Clervaux")
        tool("gdalwarp", "-q", "-cutline", LUX, "-cwhere", "NAME_2 = 'Clervaux'",
             "-crop_to_cutline", DEM, self.path("crop.tif"))
        ours, crop = pixels(self.path("o.tif")), pixels(self.path("crop.tif"))
        og, cg = info(self.path("o.tif"))["geoTransform"], info(self.path("crop.tif"))
        cw, ch = cg["size"]
        ox = round((cg["geoTransform"][0] - og[0]) / og[1])
        oy = round((cg["geoTransform"][3] - og[3]) / og[5])
        self.assertEqual((ox, oy), (1, 1))
        self.assertEqual((len(ours[0]), len(ours)), (cw + 1, ch + 1))
        self.assertPixels(sub(ours, ox, oy, cw, ch), crop)
        self.assertEqual(max(v for r in ours for v in r), 547)
        self.assertLess(max(v for r in crop for v in r), 547)
        self.assertIn(547, ours[0])   # in the first row, which gdalwarp drops

    def test_all_touched_matches_gdalwarp_crop(self):
        # With all touched pixels both round the envelope outward: the grid
        # gdalwarp -crop_to_cutline picks is ours, with no pinning.
        for name in ("Clervaux", "Vianden", "Esch-sur-Alzette", None):
            with self.subTest(canton=name):
                where = "NAME_2 = '%s'" % name if name else "1 = 1"
                self.canton(name, all_touched=True)
                tool("gdalwarp", "-q", "-overwrite", "-cutline", LUX, "-cwhere", where,
                     "-crop_to_cutline", "-wo", "CUTLINE_ALL_TOUCHED=TRUE", DEM,
                     self.path("ref.tif"))
                ri = info(self.path("ref.tif"))
                self.assertGrid(self.path("o.tif"), ri["geoTransform"], ri["size"])
                ours = pixels(self.path("o.tif"))
                self.assertPixels(ours, pixels(self.path("ref.tif")))
        # and it keeps more than the centre rule
        self.canton("Clervaux", out="c.tif")
        kept = lambda p: sum(v != ND for r in pixels(p) for v in r)
        self.assertGreater(kept(self.path("o.tif")), kept(self.path("c.tif")))

    def test_cutline_in_another_crs(self):
        # The cantons in ETRS89-LAEA: gispipe transforms them to the DEM's
        # WGS 84; the result is the one of the WGS 84 cutline, and gdalwarp's.
        laea = self.path("lux3035.shp")
        gptest.ogr2ogr("-t_srs", "EPSG:3035", laea, LUX)
        for name in ("Clervaux", None):
            with self.subTest(canton=name):
                where = "NAME_2 = '%s'" % name if name else None
                _, rep = self.canton(name, cutline=laea)
                self.assertEqual(self.stage(rep, "clip")["live_peak"]["ogr_transform"], 1)
                # the cutline's CRS, for the run, and the raster's, for the stream
                self.assertEqual(self.stage(rep, "clip")["live_peak"]["ogr_srs"], 2)
                self.canton(name, out="same.tif")
                oi = info(self.path("o.tif"))
                self.assertGrid(self.path("same.tif"), oi["geoTransform"], oi["size"])
                ours = pixels(self.path("o.tif"))
                self.assertPixels(ours, pixels(self.path("same.tif")))
                args = ["-cutline", laea] + (["-cwhere", where] if where else [])
                self.warp_pinned(DEM, self.path("ref.tif"), oi["geoTransform"], oi["size"],
                                 *args)
                self.assertPixels(ours, pixels(self.path("ref.tif")))

    def test_inputs_in_different_crss(self):
        # Two rasters in one run, in WGS 84 and in LAEA: the cutline is read
        # once and transformed for the second stream only.
        tool("gdalwarp", "-q", "-t_srs", "EPSG:3035", "-tr", "600", "600", DEM,
             self.path("laea.tif"))
        where = "NAME_2 = 'Clervaux'"
        p = self.pipeline("version: 1\nsteps:\n  - read: { path: [%s, laea.tif] }\n"
                          "  - clip: { by: %s, where: \"%s\" }\n"
                          "  - write: { path: \"out/{stem}.tif\" }\n" % (DEM, LUX, where))
        r = self.gp("run", "-q", p, "--report", "r.json")
        self.assertExit(r, 0)
        with open(self.path("r.json")) as f:
            rep = json.load(f)
        clip = self.stage(rep, "clip")
        self.assertEqual(sum(clip["live"].values()), 0)
        self.assertEqual(clip["live_peak"]["ogr_transform"], 1)
        self.canton("Clervaux")
        self.assertPixels(pixels(self.path("out/lux_elev.tif")), pixels(self.path("o.tif")))
        li = info(self.path("out/laea.tif"))
        self.assertEqual(li["geoTransform"][1], 600)
        self.warp_pinned(self.path("laea.tif"), self.path("ref.tif"), li["geoTransform"],
                         li["size"], "-cutline", LUX, "-cwhere", where)
        ours = pixels(self.path("out/laea.tif"))
        self.assertPixels(ours, pixels(self.path("ref.tif")))
        self.assertGreater(sum(v != ND for r in ours for v in r), 300)

    def test_many_windows_synthetic(self):
        # A raster the engine cuts into several windows; the mask is made
        # per window, and windows wholly outside read nothing upstream.
        with open(self.path("cut.csv"), "w") as f:
            f.write(SYNTH_CUT)
        gptest.ogr2ogr("-a_srs", "EPSG:32632", "-oo", "GEOM_POSSIBLE_NAMES=WKT", "-oo",
                       "KEEP_GEOM_COLUMNS=NO", "-nln", "cut", self.path("cut.gpkg"),
                       self.path("cut.csv"))
        read = SYNTH % (3000, 2500)
        full = self.pipeline("version: 1\nsteps:\n  - read: %s\n"
                             "  - write: { path: full.tif }\n" % read, "full.yaml")
        self.assertExit(gptest.run("run", "-q", full, cwd=self.dir, wrap=False), 0)
        # Windows of about 1 Mpixel, whatever the memory plan would choose.
        _, rep = self.clip(read, "{ by: cut.gpkg }",
                           args=("--config", "GISPIPE_RASTER_WINDOW_BYTES", "32000000"))
        clip, src = self.stage(rep, "clip"), self.stage(rep, "read")
        self.assertGreater(clip["items_out"], 4)                 # windows
        self.assertLess(src["items_out"], clip["items_out"])     # some not pulled
        fi = info(self.path("full.tif"))
        win = centre_window(fi["geoTransform"], fi["size"],
                            envelope(self.path("cut.gpkg"), None, self.env_dir))
        gt, size = self.grid_of(fi["geoTransform"], win)
        self.assertGrid(self.path("o.tif"), gt, size)
        self.warp_pinned(self.path("full.tif"), self.path("ref.tif"), gt, size, "-cutline",
                         self.path("cut.gpkg"))
        ours = pixels(self.path("o.tif"))
        self.assertPixels(ours, pixels(self.path("ref.tif")))

        def at(x, y):
            return ours[int((gt[3] - y) / -gt[5])][int((x - gt[0]) / gt[1])]
        self.assertEqual(at(307505, 5582505), -9999)   # in the hole
        self.assertNotEqual(at(316505, 5592505), -9999)  # where the two parts overlap
        self.assertNotEqual(at(303005, 5578005), -9999)  # in the ring
        self.assertEqual(at(319005, 5578005), -9999)   # between the polygons

    def test_memory_flat_in_raster_size(self):
        # A cutline covering most of the raster (a diamond touching its
        # edges): the step's arena peak is one window's mask, whatever the
        # raster's size.
        if gptest.UNDER_VALGRIND:
            self.skipTest("20 Mpixels under valgrind")
        peaks = []
        for n in (1500, 4500):
            e, s = 300000 + 10 * n, 5600000 - 10 * n
            mx, my = (300000 + e) // 2, (5600000 + s) // 2
            with open(self.path("d%d.csv" % n), "w") as f:
                f.write('id,WKT\n1,"POLYGON((300000 %d,%d 5600000,%d %d,%d %d,300000 %d))"\n'
                        % (my, mx, e, my, mx, s, my))
            gptest.ogr2ogr("-a_srs", "EPSG:32632", "-oo", "GEOM_POSSIBLE_NAMES=WKT", "-oo",
                           "KEEP_GEOM_COLUMNS=NO", "-nln", "cut", self.path("d%d.gpkg" % n),
                           self.path("d%d.csv" % n))
            # The same window size for both rasters, smaller than either.
            _, rep = self.clip(SYNTH % (n, n), "{ by: d%d.gpkg }" % n, out="d%d.tif" % n,
                               args=("--config", "GISPIPE_RASTER_WINDOW_BYTES", "32000000"))
            self.assertEqual(info(self.path("d%d.tif" % n))["size"], [n, n])
            peaks.append((self.stage(rep, "clip")["arena_peak_bytes"],
                          self.stage(rep, "clip")["items_out"]))
        self.assertGreater(peaks[1][1], peaks[0][1])       # more windows...
        self.assertLessEqual(peaks[1][0], peaks[0][0])     # ...not more memory

    # -- nodata and alpha ----------------------------------------------------

    def test_band_without_nodata(self):
        # 0 for masked pixels, declared as nodata (gdalwarp writes the same
        # 0s but declares nothing); 'nodata' gives another value.
        tool("gdal_translate", "-q", "-a_nodata", "none", DEM, self.path("nond.tif"))
        self.assertIsNone(nodata(self.path("nond.tif")))
        where = "NAME_2 = 'Wiltz'"
        for opt, value in (("", 0.0), (", nodata: 7", 7.0)):
            with self.subTest(nodata=value):
                self.clip("{ path: nond.tif }", "{ by: %s, where: \"%s\"%s }" % (LUX, where, opt))
                oi = info(self.path("o.tif"))
                self.assertEqual(nodata(self.path("o.tif")), value)
                extra = ["-dstnodata", "7"] if value else []
                self.warp_pinned(self.path("nond.tif"), self.path("ref.tif"), oi["geoTransform"],
                                 oi["size"], "-cutline", LUX, "-cwhere", where, *extra)
                if not value:
                    self.assertIsNone(nodata(self.path("ref.tif")))
                ours = pixels(self.path("o.tif"))
                self.assertPixels(ours, pixels(self.path("ref.tif")))
                self.assertGreater(sum(v == value for r in ours for v in r), 50)
        # A band's own nodata wins over the option.
        self.clip("{ path: %s }" % DEM, "{ by: %s, where: \"%s\", nodata: 7 }" % (LUX, where))
        self.assertEqual(nodata(self.path("o.tif")), ND)
        self.assertNotIn(7.0, [v for r in pixels(self.path("o.tif")) for v in r])
        # A value the type cannot hold
        r, _ = self.clip("{ path: nond.tif }", "{ by: %s, nodata: 1e10 }" % LUX,
                         code=gptest.EX_CONFIG)
        self.assertIn("not a Int16 value", r.err)

    def test_alpha_band(self):
        # Gray + alpha: masked pixels get alpha 0 and the gray band 0, not
        # declared as nodata (the alpha band is the mask), as gdalwarp does.
        tool("gdal_translate", "-q", "-ot", "UInt16", "-b", "1", "-b", "mask", "-colorinterp_2",
             "alpha", "-a_nodata", "none", "-co", "ALPHA=YES", DEM, self.path("ga.tif"))
        self.assertEqual(info(self.path("ga.tif"))["bands"][1]["colorInterpretation"], "Alpha")
        where = "NAME_2 = 'Clervaux'"
        self.clip("{ path: ga.tif }", "{ by: %s, where: \"%s\" }" % (LUX, where))
        oi = info(self.path("o.tif"))
        self.assertEqual(oi["bands"][1]["colorInterpretation"], "Alpha")
        self.assertIsNone(nodata(self.path("o.tif"), 1))
        self.warp_pinned(self.path("ga.tif"), self.path("ref.tif"), oi["geoTransform"],
                         oi["size"], "-cutline", LUX, "-cwhere", where)
        gray, alpha = pixels(self.path("o.tif"), 1), pixels(self.path("o.tif"), 2)
        self.assertPixels(gray, pixels(self.path("ref.tif"), 1))
        self.assertPixels(alpha, pixels(self.path("ref.tif"), 2))
        self.assertEqual(sum(v == 255 for r in alpha for v in r), 561)
        self.assertTrue(all((a == 0) == (g == 0) for ra, rg in zip(alpha, gray)
                            for a, g in zip(ra, rg)))

    # -- bbox ----------------------------------------------------------------

    def test_bbox(self):
        res = self.src_info["geoTransform"][1]
        src = pixels(DEM)
        # On pixel edges: exactly gdal_translate -projwin's.
        box = (6.0, 49.6, 6.2, 49.8)
        self.clip("{ path: %s }" % DEM, "{ bbox: [%r, %r, %r, %r] }" % box)
        tool("gdal_translate", "-q", "-projwin", box[0], box[3], box[2], box[1], DEM,
             self.path("ref.tif"))
        ri = info(self.path("ref.tif"))
        self.assertGrid(self.path("o.tif"), ri["geoTransform"], ri["size"])
        self.assertPixels(pixels(self.path("o.tif")), pixels(self.path("ref.tif")))
        self.assertEqual(nodata(self.path("o.tif")), ND)
        # Across pixels: widened to every pixel the box touches, as gdalwarp
        # -tap gives (the DEM's origin is a multiple of its resolution);
        # gdal_translate rounds the width to the nearest pixel and drops the
        # last, partly covered, column.
        box = (6.003, 49.61, 6.195, 49.79)
        self.clip("{ path: %s }" % DEM, "{ bbox: [%r, %r, %r, %r] }" % box)
        tool("gdalwarp", "-q", "-te", *box, "-tr", res, res, "-tap", DEM, self.path("tap.tif"))
        ti = info(self.path("tap.tif"))
        self.assertGrid(self.path("o.tif"), ti["geoTransform"], ti["size"])
        ours = pixels(self.path("o.tif"))
        self.assertPixels(ours, pixels(self.path("tap.tif")))
        self.assertEqual((len(ours[0]), len(ours)), (24, 22))
        tool("gdal_translate", "-q", "-projwin", box[0], box[3], box[2], box[1], DEM,
             self.path("pw.tif"))
        self.assertPixels([r[:23] for r in ours], pixels(self.path("pw.tif")))
        # Partly outside: cut to the raster (gdal_translate pads it).
        box = (5.5, 49.0, 5.8, 49.5)
        self.clip("{ path: %s }" % DEM, "{ bbox: [%r, %r, %r, %r] }" % box)
        gt = self.src_info["geoTransform"]
        rows = round((gt[3] - 49.5) / res)
        self.assertGrid(self.path("o.tif"), [gt[0], res, 0, 49.5, 0, -res], (7, 90 - rows))
        self.assertPixels(pixels(self.path("o.tif")), sub(src, 0, rows, 7, 90 - rows))

    def test_bbox_crs(self):
        # A box in ETRS89-LAEA, transformed to the DEM's CRS with densified
        # edges: the window is the one under the envelope of its edges.
        box = (4030000, 2950000, 4060000, 2990000)
        self.clip("{ path: %s }" % DEM, "{ bbox: [%d, %d, %d, %d], bbox_crs: \"EPSG:3035\" }"
                  % box)
        pts = []
        for i in range(22):
            t = i / 21
            for x, y in ((box[0] + t * (box[2] - box[0]), box[1]),
                         (box[0] + t * (box[2] - box[0]), box[3]),
                         (box[0], box[1] + t * (box[3] - box[1])),
                         (box[2], box[1] + t * (box[3] - box[1]))):
                pts.append("%r %r" % (x, y))
        out = subprocess.run(["gdaltransform", "-s_srs", "EPSG:3035", "-t_srs", "OGC:CRS84"],
                             input="\n".join(pts) + "\n", capture_output=True, text=True,
                             check=True).stdout
        ll = [tuple(map(float, ln.split()[:2])) for ln in out.splitlines() if ln.strip()]
        env = (min(p[0] for p in ll), min(p[1] for p in ll), max(p[0] for p in ll),
               max(p[1] for p in ll))
        gt = self.src_info["geoTransform"]
        win = centre_window(gt, self.src_info["size"], env, touched=True)
        g, size = self.grid_of(gt, win)
        self.assertGrid(self.path("o.tif"), g, size)
        self.assertPixels(pixels(self.path("o.tif")), sub(pixels(DEM), *win))

    # -- errors --------------------------------------------------------------

    def test_errors(self):
        dem = "{ path: %s }" % DEM
        with open(self.path("far.csv"), "w") as f:
            f.write('id,WKT\n1,"POLYGON((10 10,11 10,11 11,10 11,10 10))"\n')
        gptest.ogr2ogr("-a_srs", "EPSG:4326", "-oo", "GEOM_POSSIBLE_NAMES=WKT", "-oo",
                       "KEEP_GEOM_COLUMNS=NO", "-nln", "far", self.path("far.gpkg"),
                       self.path("far.csv"))
        with open(self.path("pts.csv"), "w") as f:
            f.write('id,WKT\n1,"POINT(6 49.8)"\n')
        gptest.ogr2ogr("-a_srs", "EPSG:4326", "-oo", "GEOM_POSSIBLE_NAMES=WKT", "-oo",
                       "KEEP_GEOM_COLUMNS=NO", "-nln", "pts", self.path("pts.gpkg"),
                       self.path("pts.csv"))
        # A raster without a CRS: an ASCII grid without its .prj.
        tool("gdal_translate", "-q", "-of", "AAIGrid", DEM, self.path("nocrs.asc"))
        os.remove(self.path("nocrs.prj"))
        cases = [
            (dem, "{ by: missing.shp }", gptest.EX_NOINPUT, "cannot open 'missing.shp'"),
            (dem, "{ by: %s, layer: nope }" % LUX, gptest.EX_NOINPUT, "no layer 'nope'"),
            (dem, "{ by: %s, where: \"NAME_2 = 'Paris'\" }" % LUX, gptest.EX_DATAERR,
             "has no polygons where 'NAME_2 = 'Paris''"),
            (dem, "{ by: pts.gpkg }", gptest.EX_DATAERR, "has no polygons"),
            (dem, "{ by: far.gpkg }", gptest.EX_DATAERR, "covers no pixel"),
            (dem, "{ bbox: [10, 10, 11, 11] }", gptest.EX_DATAERR, "covers no pixel"),
            ("{ path: nocrs.asc }", "{ by: %s }" % LUX, gptest.EX_DATAERR,
             "the raster has no CRS"),
            ("{ path: nocrs.asc }", "{ bbox: [0, 0, 1, 1], bbox_crs: \"EPSG:3035\" }",
             gptest.EX_DATAERR, "has no CRS"),
            (dem, "{ by: %s, where: \"NAME_2 ==== 1\" }" % LUX, gptest.EX_CONFIG, "bad 'where'"),
            (dem, "{ by: %s, bbox: [0, 0, 1, 1] }" % LUX, gptest.EX_CONFIG, "one of them"),
            (dem, "{ }", gptest.EX_CONFIG, "one of them"),
            (dem, "{ bbox: [6, 49.6, 6.2, 49.8], layer: lux }", gptest.EX_CONFIG,
             "'layer' goes with 'by'"),
            (dem, "{ by: %s, bbox_crs: \"EPSG:3035\" }" % LUX, gptest.EX_CONFIG,
             "'bbox_crs' goes with 'bbox'"),
            (dem, "{ bbox: [0, 0, 1, 1], bbox_crs: \"EPSG:99999\" }", gptest.EX_CONFIG,
             "unknown CRS 'EPSG:99999'"),
        ]
        for read, clip, code, msg in cases:
            with self.subTest(clip=clip):
                r, _ = self.clip(read, clip, code=code)
                self.assertIn(msg, r.err)
        # A cutline without a CRS is taken to be in the raster's.
        gptest.copy_shapefile(LUX, self.path("bare.shp"))
        os.remove(self.path("bare.prj"))
        self.clip("{ path: nocrs.asc }", "{ by: bare.shp, where: \"NAME_2 = 'Vianden'\" }")
        self.canton("Vianden", out="v.tif")
        self.assertPixels(pixels(self.path("o.tif")), pixels(self.path("v.tif")))

    def test_stages_shows_both_clips(self):
        r = self.gp("stages", "clip")
        self.assertExit(r, 0)
        self.assertIn("clip (vector, transform)", r.out)
        self.assertIn("clip (raster, transform)", r.out)
        for opt in ("bbox_crs", "all_touched", "where", "nodata"):
            self.assertIn(opt, r.out)


if __name__ == "__main__":
    gptest.main()
