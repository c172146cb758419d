"""zonal_stats against independent references: gdal_rasterize masks of each
Luxembourg canton on the DEM's own grid (pixel centre and all-touched), with
the statistics computed here in pure Python; and generated rasters whose
values and masks are computed here without GDAL (a feature far larger than
the step's tile, a raster wider than a tile, NaN and nodata, points, lines,
curves).  Then the CRS rules, on_error, the accounting and bad input."""
import array
import json
import math
import os
import shutil
import subprocess
import sys
from fractions import Fraction

import gptest

LUX = gptest.data("lux.shp")
DEM = gptest.data("lux_elev.tif")
DEM_NODATA = -32768
STATS = ("count", "min", "max", "mean", "sum", "std")
# Pixels in one tile of the step (ZS_TILE_PIXELS in vector/zonal_stats.c).
TILE = 1 << 18


def stats_of(values):
    """count, min, max, mean, sum, std (population) of a list; two-pass
    with exact sums, so the reference is as exact as doubles allow."""
    n = len(values)
    if n == 0:
        return {"count": 0, "min": None, "max": None, "mean": None, "sum": None, "std": None}
    s = math.fsum(values)
    mean = s / n
    return {"count": n, "min": min(values), "max": max(values), "mean": mean, "sum": s,
            "std": math.sqrt(math.fsum((x - mean) ** 2 for x in values) / n)}


def read_envi(path, fmt):
    """The pixels of a raw ENVI file GDAL wrote, row by row."""
    with open(os.path.splitext(path)[0] + ".hdr") as f:
        big = any(l.replace(" ", "").lower() == "byteorder=1" for l in f.read().splitlines())
    a = array.array(fmt)
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if big != (sys.byteorder == "big"):
        a.byteswap()
    return a


def write_raw(dirpath, name, w, h, values, fmt="h", nodata=None, srs=None, gt=None):
    """A raster GDAL opens, written without GDAL: raw pixels and a VRT that
    describes them (VRTRawRasterBand).  Default grid: 1-unit pixels, origin
    at the top-left corner (0, h), so pixel (col, row) has its centre at
    (col + 0.5, h - row - 0.5)."""
    a = array.array(fmt, values)
    if sys.byteorder != "little":
        a.byteswap()
    with open(os.path.join(dirpath, name + ".raw"), "wb") as f:
        a.tofile(f)
    gt = gt or (0, 1, 0, h, 0, -1)
    vrt = os.path.join(dirpath, name + ".vrt")
    with open(vrt, "w") as f:
        f.write('<VRTDataset rasterXSize="%d" rasterYSize="%d">\n' % (w, h))
        if srs:
            f.write("  <SRS>%s</SRS>\n" % srs)
        f.write("  <GeoTransform>%s</GeoTransform>\n" % ", ".join(repr(float(g)) for g in gt))
        f.write('  <VRTRasterBand dataType="%s" band="1" subClass="VRTRawRasterBand">\n'
                % {"h": "Int16", "f": "Float32", "d": "Float64"}[fmt])
        if nodata is not None:
            f.write("    <NoDataValue>%r</NoDataValue>\n" % nodata)
        f.write('    <SourceFilename relativetoVRT="1">%s.raw</SourceFilename>\n' % name)
        f.write("    <ImageOffset>0</ImageOffset><PixelOffset>%d</PixelOffset>"
                "<LineOffset>%d</LineOffset><ByteOrder>LSB</ByteOrder>\n"
                % (a.itemsize, a.itemsize * w))
        f.write("  </VRTRasterBand>\n</VRTDataset>\n")
    return vrt


def write_csv(dirpath, name, rows):
    """Features without a CRS: id and WKT (empty for no geometry)."""
    p = os.path.join(dirpath, name)
    with open(p, "w") as f:
        f.write("id,WKT\n")
        for i, wkt in rows:
            f.write('%d,"%s"\n' % (i, wkt) if wkt else "%d,\n" % i)
    return p


def triangle_pixels(verts, w, h):
    """(col, row) of every pixel whose centre is inside the triangle, on the
    default grid of write_raw, in exact rational arithmetic; fails if a
    centre lies on an edge (where rasterizers may differ by convention)."""
    v = [(Fraction(x), Fraction(y)) for x, y in verts]
    out = []
    for row in range(h):
        y = h - row - Fraction(1, 2)
        xs = []
        for (x0, y0), (x1, y1) in zip(v, v[1:] + v[:1]):
            assert y != y0, "a vertex on a row of centres"
            if min(y0, y1) < y < max(y0, y1):
                xs.append(x0 + (y - y0) * (x1 - x0) / (y1 - y0))
        if not xs:
            continue
        lo, hi = min(xs) - Fraction(1, 2), max(xs) - Fraction(1, 2)
        assert lo.denominator != 1 and hi.denominator != 1, "a centre on an edge"
        for col in range(max(0, math.ceil(lo)), min(w - 1, math.floor(hi)) + 1):
            out.append((col, row))
    return out


class ZonalStats(gptest.TempDirTest):
    def run_zs(self, read, zs="", middle="", extra="", out="out.gpkg", report=None,
               layer=None):
        """Run read -> [middle] -> zonal_stats -> write; the properties of
        the features written (of `layer`, when the output has several)."""
        p = self.pipeline("version: 1\n%ssteps:\n  - read: %s\n%s  - zonal_stats: %s\n"
                          "  - write: { path: %s, mode: overwrite }\n"
                          % (extra, read, middle, zs, out))
        args = ["run", "-q", p] + (["--report", report] if report else [])
        r = self.gp(*args)
        self.assertExit(r, 0)
        return [f["properties"] for f in self.geojson(self.path(out), layer)["features"]]

    def assertStats(self, got, want, prefix="zs_", what=""):
        """The statistics in `got` (a feature's properties; those present)
        against `want`: count, min, max exactly, the sum to 1e-12 and the
        mean and std to 1e-9, relative."""
        have = [k for k in STATS if prefix + k in got]
        msg = "%s: got %s, want %s" % (what, {k: got[prefix + k] for k in have}, want)
        self.assertIn("count", have, msg)
        self.assertEqual(got[prefix + "count"], want["count"], msg)
        for k in have[1:] if want["count"] == 0 else ():
            self.assertIsNone(got[prefix + k], msg)     # null, not 0 or NaN
        for k in have if want["count"] else ():
            if k in ("count", "min", "max"):
                self.assertEqual(got[prefix + k], want[k], msg)
            else:
                tol = 1e-12 if k == "sum" else 1e-9
                self.assertAlmostEqual(got[prefix + k], want[k],
                                       delta=tol * max(1e-300, abs(want[k])), msg=msg)

    def report_stage(self, report, name="zonal_stats"):
        with open(report) as f:
            rep = json.load(f)
        for st in rep["stages"]:
            self.assertEqual(sum(st["live"].values()), 0, st)
        return next(s for s in rep["stages"] if s["name"] == name)

    # -- references for the Luxembourg DEM -----------------------------------------

    def dem_values(self):
        """The DEM's pixels, row by row, through a raw ENVI copy."""
        dem = self.path("dem.bin")
        if not os.path.exists(dem):
            subprocess.run(["gdal_translate", "-q", "-of", "ENVI", DEM, dem], check=True)
        return read_envi(dem, "h")

    # References computed once for all tests (about 0.1 s a feature).
    references = {}

    def lux_reference(self, vector, key, all_touched=False):
        """Statistics under each feature of `vector`, by its `key` field:
        gdal_rasterize burns the feature alone into a zero copy of the DEM's
        grid (a raw ENVI file, read back here); pixels are then picked from
        the DEM dumped as raw ENVI too.  Also how many nodata pixels the
        mask covered.  Vectors are told apart by file name."""
        ck = (os.path.basename(vector), key, all_touched)
        if ck not in self.references:
            self.references[ck] = self.compute_reference(vector, key, all_touched)
        return self.references[ck]

    def compute_reference(self, vector, key, all_touched):
        values = self.dem_values()
        if not os.path.exists(self.path("zero.bin")):
            subprocess.run(["gdal_create", "-q", "-of", "ENVI", "-if", DEM, "-ot", "Byte",
                            "-burn", "0", self.path("zero.bin")], check=True)
        layer = os.path.splitext(os.path.basename(vector))[0]
        keys = [int(float(r[key])) for r in gptest.ogr_sql(vector, 'SELECT "%s" FROM "%s"'
                                                            % (key, layer), dialect="OGRSQL")]
        ref, masked_nodata = {}, 0
        for k in keys:
            for ext in (".bin", ".hdr"):
                shutil.copyfile(self.path("zero" + ext), self.path("mask" + ext))
            subprocess.run(["gdal_rasterize", "-q"] + (["-at"] if all_touched else []) +
                           ["-burn", "1", "-where", '"%s" = %d' % (key, k), vector,
                            self.path("mask.bin")], check=True)
            mask = read_envi(self.path("mask.bin"), "B")
            under = [v for v, m in zip(values, mask) if m]
            masked_nodata += sum(1 for v in under if v == DEM_NODATA)
            ref[k] = stats_of([float(v) for v in under if v != DEM_NODATA])
        return ref, masked_nodata

    # -- Luxembourg: real data against gdal_rasterize -------------------------------

    def test_lux_cantons_match_gdal_rasterize(self):
        got = self.run_zs("{ path: %s }" % LUX, "{ raster: %s }" % DEM)
        ref, masked_nodata = self.lux_reference(LUX, "ID_2")
        self.assertEqual(len(got), 12)
        self.assertGreater(masked_nodata, 0)      # the nodata rule is exercised
        for p in got:
            self.assertStats(p, ref[int(p["ID_2"])], what=p["NAME_2"])
        # Fields are added at the end, in the default order, typed.
        self.assertEqual(list(got[0])[-6:], ["zs_" + k for k in STATS])
        info = gptest.ogr_info(self.path("out.gpkg"), "lux")
        self.assertIn("zs_count: Integer64", info)
        self.assertIn("zs_std: Real", info)
        # A value seen by hand: Clervaux, the north, holds the DEM's maximum.
        clervaux = next(p for p in got if p["NAME_2"] == "Clervaux")
        self.assertEqual((clervaux["zs_count"], clervaux["zs_max"]), (561, 547.0))

    def test_all_touched_matches_gdal_rasterize_at_and_counts_more(self):
        centre = self.run_zs("{ path: %s }" % LUX, "{ raster: %s }" % DEM, out="c.gpkg")
        touched = self.run_zs("{ path: %s }" % LUX,
                              "{ raster: %s, all_touched: true, prefix: at_ }" % DEM)
        ref, _ = self.lux_reference(LUX, "ID_2", all_touched=True)
        for c, t in zip(centre, touched):
            self.assertStats(t, ref[int(t["ID_2"])], prefix="at_", what=t["NAME_2"])
            self.assertGreater(t["at_count"], c["zs_count"], t["NAME_2"])
            self.assertLessEqual(t["at_min"], c["zs_min"])
            self.assertGreaterEqual(t["at_max"], c["zs_max"])

    def test_features_in_another_crs_are_transformed_to_the_rasters(self):
        # The cantons in LAEA Europe: the step transforms each back to the
        # DEM's WGS 84.  The reference is the same geometries in EPSG:3035,
        # which gdal_rasterize also transforms to the DEM's CRS.
        got = self.run_zs("{ path: %s }" % LUX, "{ raster: %s }" % DEM,
                          middle='  - reproject: { to: "EPSG:3035" }\n')
        laea = self.path("lux_laea.shp")
        gptest.ogr2ogr("-t_srs", "EPSG:3035", laea, LUX)
        ref, _ = self.lux_reference(laea, "ID_2")
        for p in got:
            self.assertStats(p, ref[int(p["ID_2"])], what=p["NAME_2"])
        # Against the untransformed cantons: the round trip moves vertices by
        # about 1e-9 degrees, a pixel is 8e-3, so a pixel could only change
        # sides if its centre were that close to a border: at most one per
        # canton, and in practice none.
        direct, _ = self.lux_reference(LUX, "ID_2")
        for p in got:
            self.assertLessEqual(abs(p["zs_count"] - direct[int(p["ID_2"])]["count"]), 1)

    def test_streams_in_different_crss_each_get_their_transform(self):
        # The raster's CRS, another, the raster's again: the step keeps one
        # transformation and must change it (or drop it) with each stream;
        # and with transform_cache.clear_every it drops it on schedule.
        laea = self.path("lux_laea.shp")
        gptest.ogr2ogr("-t_srs", "EPSG:3035", laea, LUX)
        ref, _ = self.lux_reference(LUX, "ID_2")
        for extra in ("", "transform_cache: { clear_every: 1 }\n"):
            with self.subTest(extra=extra):
                rep = self.path("r.json")
                self.run_zs("{ path: [%s, %s, %s, %s] }" % (LUX, laea, LUX, laea),
                            "{ raster: %s }" % DEM, report=rep, layer="lux", extra=extra)
                out = self.path("out.gpkg")
                self.assertEqual(gptest.layer_names(out), ["lux", "lux_laea"])
                for layer in ("lux", "lux_laea"):
                    feats = [f["properties"] for f in self.geojson(out, layer)["features"]]
                    self.assertEqual(len(feats), 24)
                    for p in feats:
                        self.assertStats(p, ref[int(p["ID_2"])],
                                         what="%s %s" % (layer, p["NAME_2"]))
                self.assertEqual(self.report_stage(rep)["items_out"], 48)

    def test_lines_and_points_on_real_data(self):
        # Canton borders as lines: the pixels the rasterizer's line crosses,
        # with and without all_touched; canton points on surface: the pixel
        # each falls in, found here from the geotransform.
        lines = self.path("borders.shp")
        gptest.ogr2ogr("-nlt", "MULTILINESTRING", "-dialect", "SQLite", "-sql",
                       "SELECT ST_Boundary(geometry) AS geometry, ID_2 FROM lux", lines, LUX)
        for at in (False, True):
            got = self.run_zs("{ path: %s }" % lines, "{ raster: %s, all_touched: %s }"
                              % (DEM, "true" if at else "false"), out="l%d.gpkg" % at)
            ref, _ = self.lux_reference(lines, "ID_2", all_touched=at)
            for p in got:
                self.assertGreater(p["zs_count"], 0)
                self.assertStats(p, ref[int(p["ID_2"])], what="border %s" % p["ID_2"])
        points = self.path("points.shp")
        gptest.ogr2ogr("-dialect", "SQLite", "-sql",
                       "SELECT ST_PointOnSurface(geometry) AS geometry, ID_2 FROM lux",
                       points, LUX)
        got = self.run_zs("{ path: %s }" % points, "{ raster: %s }" % DEM, out="p.gpkg")
        feats = self.geojson(points)["features"]
        values = self.dem_values()
        info = json.loads(subprocess.run(["gdalinfo", "-json", DEM], check=True,
                                         capture_output=True, text=True).stdout)
        x0, dx, _, y0, _, dy = info["geoTransform"]
        width = info["size"][0]
        self.assertEqual(len(got), 12)
        for p, f in zip(got, feats):
            x, y = f["geometry"]["coordinates"]
            v = values[math.floor((y - y0) / dy) * width + math.floor((x - x0) / dx)]
            self.assertNotEqual(v, DEM_NODATA)
            self.assertStats(p, stats_of([float(v)]), what="point %s" % p["ID_2"])

    # -- generated rasters: larger than a tile, no GDAL in the reference ------------

    def big_raster(self, w, h, srs=None):
        """Int16 values with nodata (-9999) in the first four rows and along
        a few diagonals."""
        vals = [-9999 if r < 4 or (c + 3 * r) % 89 == 0 else (c * 7 + r * 13) % 1000 - 200
                for r in range(h) for c in range(w)]
        return write_raw(self.dir, "big", w, h, vals, nodata=-9999, srs=srs), vals

    def test_a_feature_larger_than_a_tile_is_read_in_tiles(self):
        w, h = 2048, 512                           # 4 tiles of 128 rows
        self.assertGreater(w * h, 3 * TILE)
        vrt, vals = self.big_raster(w, h)
        tri = [("3.31", "2.73"), ("2040.17", "101.93"), ("900.61", "509.43")]
        tri_px = triangle_pixels(tri, w, h)
        self.assertGreater(len(tri_px), TILE)      # the triangle spans tiles too
        csv = write_csv(self.dir, "f.csv", [
            (1, "POLYGON ((-10 -10, %d -10, %d %d, -10 %d, -10 -10))" % (w + 10, w + 10, h + 10,
                                                                        h + 10)),
            (2, "POLYGON ((%s))" % ", ".join("%s %s" % v for v in tri + tri[:1])),
            (3, "POLYGON ((10 %d, 100 %d, 100 %d, 10 %d, 10 %d))"   # rows 0-3: nodata only
             % (h - 4, h - 4, h, h, h - 4)),
            (4, "POLYGON ((5000 5000, 5001 5000, 5001 5001, 5000 5000))"),   # off the raster
            (5, ""),                                                       # no geometry
            (6, "POLYGON EMPTY"),
            (7, "POINT (100.25 300.75)"),             # pixel (100, 211)
            (8, "LINESTRING (10.2 506.5, 20.8 506.5)"),  # row 5, columns 10 to 20
            (9, "CURVEPOLYGON (CIRCULARSTRING (1000 200, 1100 200, 1000 200))"),
        ])
        rep = self.path("r.json")
        got = self.run_zs("{ path: %s }" % csv, "{ raster: %s }" % vrt, report=rep)
        valid = [float(v) for v in vals if v != -9999]
        self.assertStats(got[0], stats_of(valid), what="all of it")
        self.assertStats(got[1], stats_of([float(vals[r * w + c]) for c, r in tri_px
                                           if vals[r * w + c] != -9999]), what="triangle")
        for i in (2, 3, 4, 5):
            self.assertStats(got[i], stats_of([]), what="feature %d" % (i + 1))
        self.assertStats(got[6], stats_of([float(vals[211 * w + 100])]), what="point")
        self.assertStats(got[7], stats_of([float(vals[5 * w + c]) for c in range(10, 21)]),
                         what="line")
        # A circle of radius 50 around (1050, 200), linearized by GDAL (the
        # rasterizer only knows straight segments, 4 degrees apart): within
        # 0.5% of the valid pixels whose centres are inside the true circle.
        circle = [vals[r * w + c] for r in range(h - 260, h - 140) for c in range(990, 1110)
                  if (c + 0.5 - 1050) ** 2 + (h - r - 0.5 - 200) ** 2 < 50 ** 2 and
                  vals[r * w + c] != -9999]
        self.assertAlmostEqual(got[8]["zs_count"] / len(circle), 1.0, delta=0.005)
        # Memory: the tiles, not the raster (8 MiB as doubles).
        self.assertLess(self.report_stage(rep)["arena_peak_bytes"], 4 << 20)

    def test_a_raster_wider_than_a_tile(self):
        w, h = TILE + 7856, 2                     # one row is more than a tile
        vals = [(c * 11 + r * 5) % 500 for r in range(h) for c in range(w)]
        vrt = write_raw(self.dir, "wide", w, h, vals)
        csv = write_csv(self.dir, "f.csv", [
            (1, "POLYGON ((-1 -1, %d -1, %d 3, -1 3, -1 -1))" % (w + 1, w + 1)),
            # The bottom row but 100 pixels at each end: its own window is
            # still wider than a tile.
            (2, "POLYGON ((100.3 0.2, %s 0.2, %s 0.8, 100.3 0.8, 100.3 0.2))"
             % ((repr(w - 100.3),) * 2)),
        ])
        rep = self.path("r.json")
        got = self.run_zs("{ path: %s }" % csv, "{ raster: %s }" % vrt, report=rep)
        self.assertStats(got[0], stats_of([float(v) for v in vals]), what="all of it")
        self.assertStats(got[1], stats_of([float(vals[w + c]) for c in range(100, w - 100)]),
                         what="a row but its ends")
        self.assertLess(self.report_stage(rep)["arena_peak_bytes"], 4 << 20)

    def test_nan_and_nodata_are_left_out(self):
        w = h = 8
        vals = [float("nan") if (c + r) % 5 == 0 else c + 10 * r + 0.25
                for r in range(h) for c in range(w)]
        for nodata in (None, 13.25):
            with self.subTest(nodata=nodata):
                vrt = write_raw(self.dir, "f32", w, h, vals, fmt="f", nodata=nodata)
                csv = write_csv(self.dir, "f.csv", [
                    (1, "POLYGON ((0 0, 8 0, 8 8, 0 8, 0 0))"),
                    (2, "POLYGON ((0.4 7.4, 0.6 7.4, 0.6 7.6, 0.4 7.6, 0.4 7.4))"),  # NaN
                ])
                got = self.run_zs("{ path: %s }" % csv,
                                  "{ raster: %s, stats: [count, mean, std, min] }" % vrt)
                want = stats_of([v for v in vals if not math.isnan(v) and v != nodata])
                self.assertStats(got[0], want)
                self.assertEqual(want["count"], 52 - (nodata is not None))   # 12 NaN
                self.assertStats(got[1], stats_of([]))
                # Only the statistics asked for, in that order.
                self.assertEqual([k for k in got[0] if k.startswith("zs_")],
                                 ["zs_count", "zs_mean", "zs_std", "zs_min"])

    def test_std_of_large_values_is_stable(self):
        # Values near 1e9 that differ by halves: E[x^2] - E[x]^2 would be
        # noise of about 1e18 * 1e-16 = 100, against a variance of about 3.
        # The feature spans several tiles, so the merge is exercised too.
        w, h = 1024, 1024
        vals = [1e9 + ((c * 5 + r * 3) % 7) * 0.5 for r in range(h) for c in range(w)]
        vrt = write_raw(self.dir, "f64", w, h, vals, fmt="d")
        csv = write_csv(self.dir, "f.csv", [(1, "POLYGON ((0 0, %d 0, %d %d, 0 0))" % (w, w, h))])
        got = self.run_zs("{ path: %s }" % csv, "{ raster: %s }" % vrt)
        tri = [vals[r * w + c] for r in range(h) for c in range(w) if c > h - 1 - r]
        want = stats_of(tri)
        self.assertGreater(want["count"], TILE)
        self.assertAlmostEqual(want["std"], 1.0, delta=0.1)
        self.assertStats(got[0], want)

    # -- CRS, on_error, accounting -------------------------------------------------

    def test_points_that_cannot_be_transformed_are_rejected(self):
        # A raster in Web Mercator; synthetic points up to latitude 95:
        # those above 90 cannot be transformed and go to the rejects.
        vrt, _ = self.big_raster(64, 64, srs="EPSG:3857")
        src = "{ synthetic: { geometry: point, count: 60, extent: [-10, 80, 10, 95] } }"
        allp = self.pipeline("version: 1\nsteps:\n  - read: %s\n"
                             "  - write: { path: all.gpkg }\n" % src, "all.yaml")
        self.assertExit(self.gp("run", "-q", allp), 0)
        over = sum(1 for f in self.geojson(self.path("all.gpkg"))["features"]
                   if f["geometry"]["coordinates"][1] > 90)
        self.assertGreater(over, 0)
        rep = self.path("r.json")
        got = self.run_zs(src, "{ raster: %s }" % vrt, report=rep,
                          extra="on_error: reject\nrejects: { path: rejects.gpkg }\n")
        self.assertEqual(len(got), 60 - over)
        self.assertTrue(all(p["zs_count"] == 0 for p in got))   # far north of the raster
        bad = [f["properties"] for f in self.geojson(self.path("rejects.gpkg"))["features"]]
        self.assertEqual(len(bad), over)
        self.assertEqual({b["_step"] for b in bad}, {"zonal_stats"})
        self.assertIn("cannot transform the geometry to the raster's CRS", bad[0]["_reason"])
        self.assertEqual(self.report_stage(rep)["rejects"], over)
        # With on_error: fail, the first one stops the run.
        p = self.pipeline("version: 1\nsteps:\n  - read: %s\n  - zonal_stats: { raster: %s }\n"
                          "  - write: { path: o.gpkg }\n" % (src, vrt), "fail.yaml")
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_DATAERR)
        self.assertIn("zonal_stats", r.err)
        self.assertFalse(os.path.exists(self.path("o.gpkg")))

    def test_a_crs_on_one_side_only_is_a_data_error(self):
        vrt, _ = self.big_raster(16, 16)                    # no CRS
        csv = write_csv(self.dir, "f.csv", [(1, "POINT (1 1)")])
        for read, raster, msg in [("{ path: %s }" % LUX, vrt, "has no CRS, so features"),
                                  ("{ path: %s }" % csv, DEM, "has no CRS and raster")]:
            with self.subTest(read=read):
                p = self.pipeline("version: 1\nsteps:\n  - read: %s\n"
                                  "  - zonal_stats: { raster: %s }\n"
                                  "  - write: { path: o.gpkg }\n" % (read, raster))
                r = self.gp("run", "-q", p)
                self.assertExit(r, gptest.EX_DATAERR)
                self.assertIn(msg, r.err)
                self.assertFalse(os.path.exists(self.path("o.gpkg")))

    def test_explain_and_stages(self):
        p = self.pipeline("version: 1\nsteps:\n  - read: { path: %s }\n"
                          "  - zonal_stats: { raster: %s, stats: [mean], prefix: elev_ }\n"
                          "  - write: { path: o.gpkg }\n" % (LUX, DEM))
        r = self.gp("explain", p)
        self.assertExit(r, 0)
        self.assertIn("95 x 90, band 1 of type Int16, nodata -32768, CRS WGS 84", r.out)
        self.assertIn("fields: elev_mean; pixel centres inside", r.out)
        r = self.gp("stages", "zonal_stats")
        self.assertExit(r, 0)
        for opt in ("raster", "band", "stats", "all_touched", "prefix"):
            self.assertIn("\n  %s " % opt, r.out)
        r = self.gp("stages")
        self.assertExit(r, 0)
        self.assertLess(r.out.index("set_field"), r.out.index("zonal_stats"))

    # -- bad input -----------------------------------------------------------------

    def test_missing_raster_exits_66(self):
        p = self.pipeline("version: 1\nsteps:\n  - read: { path: %s }\n"
                          "  - zonal_stats: { raster: nowhere/dem.tif }\n"
                          "  - write: { path: o.gpkg }\n" % LUX)
        # validate answers 0 or 78 and gives the reason; run tells it by 66.
        for cmd, code in (("validate", gptest.EX_CONFIG), ("run", gptest.EX_NOINPUT)):
            r = self.gp(cmd, p)
            self.assertExit(r, code)
            self.assertIn("cannot open raster 'nowhere/dem.tif': No such file or directory",
                          r.err)
        # A file that is there but is no raster: 66 too, with GDAL's reason.
        p = self.pipeline("version: 1\nsteps:\n  - read: { path: %s }\n"
                          "  - zonal_stats: { raster: %s }\n"
                          "  - write: { path: o.gpkg }\n" % (LUX, LUX), "vector.yaml")
        r = self.gp("run", p)
        self.assertExit(r, gptest.EX_NOINPUT)
        self.assertIn("cannot open raster '%s'" % LUX, r.err)
        self.assertFalse(os.path.exists(self.path("o.gpkg")))

    def test_bad_options_exit_78(self):
        for opts, msg in [("{ band: 1 }", "'raster'"),
                          ("{ raster: %s, band: 2 }" % DEM, "band 2 does not exist: '%s' has 1 band"
                           % DEM),
                          ("{ raster: %s, band: 0 }" % DEM, "band"),
                          ("{ raster: %s, stats: [mean, meen] }" % DEM,
                           "unknown statistic 'meen' (did you mean 'mean'?)"),
                          ("{ raster: %s, stats: [sum, sum] }" % DEM, "'sum' is listed twice"),
                          ("{ raster: %s, prefx: a_ }" % DEM, "did you mean 'prefix'?"),
                          ("{ raster: %s, all_touched: maybe }" % DEM, "all_touched")]:
            with self.subTest(opts=opts):
                p = self.pipeline("version: 1\nsteps:\n  - read: { path: %s }\n"
                                  "  - zonal_stats: %s\n  - write: { path: o.gpkg }\n"
                                  % (LUX, opts))
                r = self.gp("validate", p)
                self.assertExit(r, gptest.EX_CONFIG)
                self.assertIn(msg, r.err)

    def test_a_field_that_exists_exits_78(self):
        # Twice with the same prefix: the second would overwrite the first.
        p = self.pipeline("version: 1\nsteps:\n  - read: { path: %s }\n"
                          "  - zonal_stats: { raster: %s }\n"
                          "  - zonal_stats: { raster: %s, all_touched: true }\n"
                          "  - write: { path: o.gpkg }\n" % (LUX, DEM, DEM))
        for cmd in ("validate", "run"):
            r = self.gp(cmd, p)
            self.assertExit(r, gptest.EX_CONFIG)
            self.assertIn("already has a field 'zs_count'; choose another 'prefix'", r.err)
        self.assertFalse(os.path.exists(self.path("o.gpkg")))
        # Matching is case-insensitive, as GeoPackage and Shapefile are.
        p = self.pipeline("version: 1\nsteps:\n  - read: { path: %s }\n"
                          "  - zonal_stats: { raster: %s, stats: [mean] }\n"
                          "  - zonal_stats: { raster: %s, stats: [mean], prefix: ZS_ }\n"
                          "  - write: { path: o.gpkg }\n" % (LUX, DEM, DEM))
        r = self.gp("validate", p)
        self.assertExit(r, gptest.EX_CONFIG)
        self.assertIn("already has a field 'ZS_mean'", r.err)
        # An empty prefix is allowed: bare names.
        got = self.run_zs("{ path: %s }" % LUX, "{ raster: %s, prefix: \"\", stats: [max] }"
                          % DEM)
        self.assertEqual(list(got[0])[-1], "max")


if __name__ == "__main__":
    gptest.main()
