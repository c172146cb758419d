"""The raster steps calc, nodata and set_type against values computed here
from GDAL's own copy of the inputs' pixels (gptest.raster_values), and
set_type against gdal_translate -ot -scale; their configuration errors with
their positions in the pipeline file."""
import json
import math
import os
import re
import struct
import subprocess

import gptest

L7 = gptest.data("olinda_l7.tif")        # 6 bands Byte, 349 x 352, no nodata
DEM = gptest.data("olinda_dem.tif")      # Float32, 111 x 111, no nodata
LUX = gptest.data("lux_elev.tif")        # Int16, 95 x 90, nodata -32768

# GDAL tools must not leave .aux.xml files beside the data.
GDAL_ENV = dict(os.environ, GDAL_PAM_ENABLED="NO")


def gdal(*args):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True,
                          env=GDAL_ENV).stdout


def band(path, b=1):
    """Band b of a raster, row by row, as a list of floats."""
    return list(gptest.raster_values(path, b))


def info(path):
    return gptest.raster_info(path)


def nodata_of(path, b=1):
    """The band's nodata value as a float, or None."""
    v = info(path)["bands"][b - 1].get("noDataValue")
    return None if v is None else float(v)


def values_at(path, points, b=1):
    """Pixel values at (column, row) points, through gdallocationinfo."""
    p = subprocess.run(["gdallocationinfo", "-valonly", "-b", str(b), path],
                       input="".join("%d %d\n" % pt for pt in points), check=True,
                       capture_output=True, text=True, env=GDAL_ENV)
    return [float(v) for v in p.stdout.split()]


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def close32(got, want):
    """A Float32 pixel against a value computed in doubles."""
    return abs(got - f32(want)) <= 1e-6 * max(1.0, abs(want))


def round_half_away(x):
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


class RasterCalc(gptest.TempDirTest):
    def run_steps(self, read, middle, out="out.tif", args=(), code=0):
        p = self.pipeline(f"""version: 1
steps:
  - read: {read}
{middle}  - write: {{ path: {out}, mode: overwrite }}
""")
        r = self.gp("run", "-q", p, *args)
        self.assertExit(r, code)
        return self.path(out)

    def fails(self, read, middle, *wanted, cmd="validate"):
        """The pipeline is refused with exit 78 at a position; each of `wanted`
        is in the message.  Returns (line, column, message)."""
        p = self.pipeline(f"""version: 1
steps:
  - read: {read}
{middle}  - write: {{ path: out.tif }}
""")
        r = self.gp(cmd, p)
        self.assertExit(r, gptest.EX_CONFIG)
        m = re.search(r"p\.yaml:(\d+):(\d+): (.*)", r.err)
        self.assertIsNotNone(m, r.err)
        for w in wanted:
            self.assertIn(w, m.group(3))
        self.assertFalse(os.path.exists(self.path("out.tif")))
        return int(m.group(1)), int(m.group(2)), m.group(3)

    # -- calc ---------------------------------------------------------------------

    def test_ndvi_with_names(self):
        out = self.run_steps(f"{{ path: {L7} }}", """  - calc:
      expr: "(nir - red) / (nir + red)"
      names: { nir: 4, red: 3 }
""")
        red, nir, got = band(L7, 3), band(L7, 4), band(out)
        self.assertEqual(len(got), 349 * 352)
        bad = [(i, g) for i, (r, n, g) in enumerate(zip(red, nir, got))
               if not close32(g, (n - r) / (n + r))]
        self.assertEqual(bad, [])
        b = info(out)["bands"]
        self.assertEqual(len(b), 1)
        self.assertEqual(b[0]["type"], "Float32")
        self.assertEqual(b[0]["description"], "(nir - red) / (nir + red)")
        # No input nodata: a float output's nodata is NaN.
        self.assertTrue(math.isnan(nodata_of(out)))
        self.assertGreater(len(set(got)), 100)  # not a constant

    def test_list_of_expressions_gives_bands(self):
        out = self.run_steps(f"{{ path: {L7} }}", """  - calc:
      expr: ["b1 + b2 * 2 - swir", "b5 > 100 ? b5 : -b5", "max(b1, b6) - min(b2, b3)"]
      names: { swir: 6 }
      type: Int16
""")
        bs = [band(L7, b) for b in range(1, 7)]
        want = [
            [b1 + b2 * 2 - b6 for b1, b2, b6 in zip(bs[0], bs[1], bs[5])],
            [b5 if b5 > 100 else -b5 for b5 in bs[4]],
            [max(b1, b6) - min(b2, b3) for b1, b2, b3, b6 in zip(bs[0], bs[1], bs[2], bs[5])],
        ]
        meta = info(out)["bands"]
        self.assertEqual([m["type"] for m in meta], ["Int16"] * 3)
        self.assertEqual(meta[2]["description"], "max(b1, b6) - min(b2, b3)")
        for k in range(3):
            self.assertEqual(band(out, k + 1), want[k], "band %d" % (k + 1))
        # Both signs occur, so the test could fail on a lost sign.
        self.assertTrue(any(v < 0 for v in want[1]) and any(v > 0 for v in want[1]))

    def test_nodata_pixels_stay_nodata(self):
        # lux_elev: Int16 with nodata -32768 around the country.
        src = band(LUX)
        nd = [v == -32768 for v in src]
        self.assertTrue(20 < sum(nd) < len(src) - 20)
        # Float32 holds -32768: the input's nodata is kept.
        out = self.run_steps(f"{{ path: {LUX} }}", '  - calc: { expr: "b1 * 3.28084" }\n')
        self.assertEqual(nodata_of(out), -32768)
        for v, isnd, g in zip(src, nd, band(out)):
            if isnd:
                self.assertEqual(g, -32768)
            else:
                self.assertTrue(close32(g, v * 3.28084), (v, g))
        # Byte cannot hold it: 255, the type's maximum, and values round.
        out = self.run_steps(f"{{ path: {LUX} }}",
                             '  - calc: { expr: "b1 / 3", type: Byte }\n', out="b.tif")
        self.assertEqual(nodata_of(out), 255)
        self.assertEqual(band(out), [255 if isnd else round_half_away(v / 3)
                                     for v, isnd in zip(src, nd)])
        # An explicit value.
        out = self.run_steps(f"{{ path: {LUX} }}",
                             '  - calc: { expr: "b1 - 100", type: Int32, nodata: -1 }\n',
                             out="c.tif")
        self.assertEqual(nodata_of(out), -1)
        self.assertEqual(band(out), [-1 if isnd else v - 100 for v, isnd in zip(src, nd)])

    def test_division_by_zero_is_nodata(self):
        b3 = band(L7, 3)
        zeros = sum(1 for v in b3 if v == 50)
        self.assertGreater(zeros, 10)
        out = self.run_steps(f"{{ path: {L7} }}", """  - calc:
      expr: ["100 / (b3 - 50)", "(b3 - 50) / (b3 - 50)"]
      nodata: -9999
""")
        self.assertEqual(nodata_of(out, 1), -9999)
        one, two = band(out, 1), band(out, 2)
        for v, a, b in zip(b3, one, two):
            if v == 50:  # x/0 is infinite, 0/0 is NaN: both nodata
                self.assertEqual((a, b), (-9999, -9999))
            else:
                self.assertTrue(close32(a, 100 / (v - 50)), (v, a))
                self.assertEqual(b, 1)
        # Default float nodata: NaN.
        out = self.run_steps(f"{{ path: {L7} }}", '  - calc: { expr: "100 / (b3 - 50)" }\n',
                             out="n.tif")
        self.assertEqual(sum(1 for v in band(out) if math.isnan(v)), zeros)

    def test_nodata_none(self):
        # Float output: computed as is, NaN and nodata values included.
        src = band(LUX)
        out = self.run_steps(f"{{ path: {LUX} }}",
                             '  - calc: { expr: "b1 * 2", nodata: none, type: Float64 }\n')
        self.assertIsNone(nodata_of(out))
        self.assertEqual(band(out), [v * 2 for v in src])
        out = self.run_steps(f"{{ path: {L7} }}",
                             '  - calc: { expr: "(b3 - 50) / (b3 - 50)", nodata: none }\n',
                             out="n.tif")
        self.assertIsNone(nodata_of(out))
        self.assertTrue(any(math.isnan(v) for v in band(out)))
        # An integer type has nothing to write for NaN: exit 65, no output.
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ path: {L7} }}
  - calc: {{ expr: "(b3 - 50) / (b3 - 50)", nodata: none, type: Int16 }}
  - write: {{ path: bad.tif }}
""", "nan.yaml")
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_DATAERR)
        self.assertIn("NaN at pixel", r.err)
        self.assertFalse(os.path.exists(self.path("bad.tif")))
        self.assertEqual(self.leftovers(), [])

    def test_synthetic_raster_over_many_windows(self):
        # 3000 x 3000 is several windows; the input is written by a plain
        # read -> write so calc's output can be checked against it.
        syn = "{ synthetic: { raster: { width: 3000, height: 3000, type: Int16, seed: 7 } } }"
        src = self.run_steps(syn, "", out="in.tif")
        rep = self.path("r.json")
        out = self.run_steps(syn, """  - calc:
      expr: ["b1 * 2 - 5", "b1 / 7"]
      type: Int32
""", args=("--report", rep))
        with open(rep) as f:
            calc = [s for s in json.load(f)["stages"] if s["name"] == "calc"][0]
        self.assertGreater(calc["items_in"], 4)  # windows pulled
        self.assertEqual(calc["items_in"], calc["items_out"])
        # Points across window edges (windows are multiples of 256).
        pts = [(x, y) for x in range(0, 3000, 97) for y in range(5, 3000, 131)]
        pts += [(255, 255), (256, 256), (2999, 2999), (767, 1024), (1024, 767)]
        v = values_at(src, pts)
        self.assertGreater(len(set(v)), 50)
        self.assertEqual(values_at(out, pts, 1), [x * 2 - 5 for x in v])
        self.assertEqual(values_at(out, pts, 2), [round_half_away(x / 7) for x in v])
        self.assertEqual(info(out)["size"], [3000, 3000])

    # -- nodata ---------------------------------------------------------------------

    def test_nodata_set_fill_unset(self):
        src = band(LUX)
        nd = [v == -32768 for v in src]
        out = self.run_steps(f"{{ path: {LUX} }}", "  - nodata: { set: -9999 }\n", out="s.tif")
        self.assertEqual(nodata_of(out), -9999)
        self.assertEqual(band(out), [-9999 if n else v for v, n in zip(src, nd)])
        out = self.run_steps(f"{{ path: {LUX} }}", "  - nodata: { fill: 0 }\n", out="f.tif")
        self.assertIsNone(nodata_of(out))
        self.assertEqual(band(out), [0 if n else v for v, n in zip(src, nd)])
        out = self.run_steps(f"{{ path: {LUX} }}", "  - nodata: { unset: true }\n", out="u.tif")
        self.assertIsNone(nodata_of(out))
        self.assertEqual(band(out), src)
        # A Float32 value is the nearest float, as GDAL takes it.
        out = self.run_steps(f"{{ path: {DEM} }}", "  - nodata: { set: 0.1 }\n", out="d.tif")
        self.assertEqual(f32(nodata_of(out)), f32(0.1))  # GTiff writes "0.1"
        self.assertEqual(band(out), band(DEM))
        # set then fill through calc: masking is kept along the chain.
        out = self.run_steps(f"{{ path: {LUX} }}", """  - nodata: { set: -1 }
  - calc: { expr: "b1 + 1", type: Int16 }
  - nodata: { fill: 7 }
""", out="chain.tif")
        self.assertIsNone(nodata_of(out))
        self.assertEqual(band(out), [7 if n else v + 1 for v, n in zip(src, nd)])

    def test_nodata_bands(self):
        # Written as Erdas Imagine: a GeoTIFF has one nodata value for all
        # its bands.  Declare 60 the nodata of band 2 only; band 1 has none.
        out = self.run_steps(f"{{ path: {L7}, bands: [1, 2] }}",
                             "  - nodata: { set: 60, bands: [2] }\n", out="s.img")
        self.assertIsNone(nodata_of(out, 1))
        self.assertEqual(nodata_of(out, 2), 60)
        self.assertEqual(band(out, 2), band(L7, 2))
        # Fill band 2's nodata (60) with 0 and leave band 1 alone.
        out = self.run_steps(f"{{ path: {L7}, bands: [1, 2], nodata: 60 }}",
                             "  - nodata: { fill: 0, bands: [2] }\n", out="f.img")
        self.assertEqual(nodata_of(out, 1), 60)
        self.assertIsNone(nodata_of(out, 2))
        self.assertEqual(band(out, 1), band(L7, 1))
        b2 = band(L7, 2)
        self.assertIn(60, b2)
        self.assertEqual(band(out, 2), [0 if v == 60 else v for v in b2])

    # -- set_type -------------------------------------------------------------------

    def oracle(self, src, *args, name="ref.tif"):
        ref = self.path(name)
        gdal("gdal_translate", "-q", *args, src, ref)
        return ref

    def test_set_type_matches_gdal_translate(self):
        cases = [
            # float -> integer, rounding to the nearest
            (DEM, "Int16", None),
            # a scale with clamping at both ends of Byte
            (DEM, "Byte", [5, 40, 0, 255]),
            # an inverted scale into a signed type
            (DEM, "Int16", [-1, 88, 1000, -1000]),
            # halves (odd / 2): rounded away from zero, as GDAL does
            (LUX, "Int16", [0, 2, 0, -1]),
            (LUX, "Int32", [0, 2, 0, 1]),
            # an unsigned type: negatives clamp to 0
            (DEM, "UInt16", [0, 88, 0, 60000]),
            # to a float type
            (LUX, "Float32", [141, 547, 0, 1]),
        ]
        for i, (src, t, scale) in enumerate(cases):
            with self.subTest(src=os.path.basename(src), type=t, scale=scale):
                opts = f"type: {t}"
                args = ["-ot", t]
                if scale:
                    opts += ", scale: [%s]" % ", ".join(map(str, scale))
                    args += ["-scale"] + [str(v) for v in scale]
                out = self.run_steps(f"{{ path: {src} }}", f"  - set_type: {{ {opts} }}\n",
                                     out="o%d.tif" % i)
                ref = self.oracle(src, *args, name="r%d.tif" % i)
                self.assertEqual(info(out)["bands"][0]["type"], t)
                got, want = band(out), band(ref)
                self.assertEqual(len(got), len(want))
                self.assertEqual(got, want)
                self.assertEqual(nodata_of(out), nodata_of(ref))
        # The clamped case really clamps.
        o1 = band(self.path("o1.tif"))
        self.assertGreater(o1.count(255), 100)
        self.assertGreater(o1.count(0), 0)

    def test_set_type_nodata(self):
        src = band(LUX)
        nd = [v == -32768 for v in src]
        # -32768 is no Byte: 'nodata' is needed (see the error test); with
        # it, nodata pixels take it and are not scaled.
        out = self.run_steps(f"{{ path: {LUX} }}",
                             "  - set_type: { type: Byte, scale: [100, 600, 1, 255], "
                             "nodata: 0 }\n")
        self.assertEqual(nodata_of(out), 0)
        ref = band(self.oracle(LUX, "-ot", "Byte", "-scale", "100", "600", "1", "255"))
        for v, n, g, r in zip(src, nd, band(out), ref):
            self.assertEqual(g, 0 if n else r, v)
        # Float64 to Float32: a nodata value Float32 cannot hold exactly is
        # taken to the nearest float, like the pixels.
        syn = ("{ synthetic: { raster: { width: 300, height: 200, type: Float64, "
               "nodata: 0.1, bands: 2 } } }")
        src64 = self.run_steps(syn, "", out="s64.tif")
        out = self.run_steps(syn, "  - set_type: { type: Float32 }\n", out="s32.tif")
        for b in (1, 2):
            self.assertEqual(info(out)["bands"][b - 1]["type"], "Float32")
            self.assertEqual(f32(nodata_of(out, b)), f32(0.1))
            want = [f32(v) for v in band(src64, b)]
            self.assertGreater(len(set(want)), 1000)
            self.assertEqual(band(out, b), want)
        # Int32 holds -32768: kept.
        out = self.run_steps(f"{{ path: {LUX} }}",
                             "  - set_type: { type: Int32, scale: [0, 1, 0, 10] }\n", out="i.tif")
        self.assertEqual(nodata_of(out), -32768)
        self.assertEqual(band(out), [-32768 if n else v * 10 for v, n in zip(src, nd)])

    # -- configuration errors -------------------------------------------------------

    def test_bad_expression_is_78_at_its_position(self):
        line, col, msg = self.fails(f"{{ path: {L7} }}", """  - calc:
      expr: "(b4 - b3) / (b4 + "
""", "bad expression")
        # Line 5, the caret after the expression's last character (its first
        # is in column 14, after the quote).
        self.assertEqual((line, col), (5, 14 + len("(b4 - b3) / (b4 + ")))
        line, col, _ = self.fails(f"{{ path: {L7} }}", """  - calc:
      expr: ["b1", "b1 = 2"]
""", "'=' would assign")
        self.assertEqual((line, col), (5, 24))  # at the =
        self.fails(f"{{ path: {L7} }}", '  - calc: { expr: "b1, b2" }\n', "gives 2 values")
        self.fails(f"{{ path: {L7} }}", '  - calc: { expr: "foo(b1)" }\n',
                   "unknown function 'foo'")

    def test_unknown_variable_is_78(self):
        line, col, msg = self.fails(f"{{ path: {L7} }}", """  - calc:
      expr: "(nir - red) / (nir + rde)"
      names: { nir: 4, red: 3 }
""", "unknown variable 'rde'", "did you mean 'red'")
        self.assertEqual((line, col), (5, 14 + len("(nir - red) / (nir + ")))
        self.fails(f"{{ path: {L7} }}", '  - calc: { expr: "b0 + 1" }\n', "unknown variable 'b0'")
        # run says the same, and writes nothing
        self.fails(f"{{ path: {L7} }}", '  - calc: { expr: "x" }\n', "unknown variable 'x'",
                   cmd="run")

    def test_band_out_of_range_is_78(self):
        line, col, _ = self.fails(f"{{ path: {L7} }}", '  - calc: { expr: "b1 + b7" }\n',
                                  "there is no band 7", "has 6 bands")
        self.assertEqual((line, col), (4, 25))  # at b7
        self.fails(f"{{ path: {L7} }}",
                   '  - calc: { expr: "tir * 2", names: { tir: 7 } }\n',
                   "'tir' is band 7", "has 6 bands", cmd="run")
        self.fails(f"{{ path: {L7}, bands: [4, 3] }}", '  - calc: { expr: "b3" }\n',
                   "has 2 bands", cmd="run")
        self.fails(f"{{ path: {LUX} }}", "  - nodata: { set: 0, bands: [2] }\n",
                   "there is no band 2", "has 1 band")

    def test_values_a_type_cannot_hold_are_78(self):
        self.fails(f"{{ path: {L7} }}", '  - calc: { expr: "b1", type: Byte, nodata: 300 }\n',
                   "nodata 300 is not a Byte value")
        self.fails(f"{{ path: {L7} }}", '  - calc: { expr: "b1", type: Int16, nodata: nan }\n',
                   "not a Int16 value")
        # lux's -32768 is no Byte
        self.fails(f"{{ path: {LUX} }}", "  - set_type: { type: Byte }\n",
                   "nodata -32768", "give 'nodata'")
        self.fails(f"{{ path: {LUX} }}", "  - set_type: { type: Byte, nodata: -1 }\n",
                   "nodata -1 is not a Byte value")
        self.fails(f"{{ path: {L7} }}", "  - nodata: { set: 300 }\n", "300 is not a Byte value")
        self.fails(f"{{ path: {LUX} }}", "  - nodata: { fill: 40000 }\n",
                   "40000 is not a Int16 value", cmd="run")

    def test_option_errors_are_78(self):
        self.fails(f"{{ path: {L7} }}", '  - calc: { expr: "b1", type: Int8 }\n',
                   "unknown pixel type 'Int8'")
        self.fails(f"{{ path: {L7} }}", '  - calc: { expr: "b1", names: { nir: four } }\n',
                   "band numbers from 1")
        self.fails(f"{{ path: {L7} }}", '  - calc: { expr: "b1", names: { b2: 2 } }\n',
                   "'b2' already names band 2")
        self.fails(f"{{ path: {L7} }}", "  - nodata: { set: 0, fill: 1 }\n", "exactly one")
        self.fails(f"{{ path: {L7} }}", "  - set_type: { type: Byte, scale: [1, 1, 0, 255] }\n",
                   "src_min = src_max")
        self.fails(f"{{ path: {L7} }}", "  - set_type: { type: Byte, scale: [0, 255] }\n",
                   "src_min, src_max, dst_min, dst_max")

    def test_stages_documents_the_steps(self):
        for step, opts in [("calc", ["expr", "names", "type", "nodata"]),
                           ("nodata", ["set", "fill", "unset", "bands"]),
                           ("set_type", ["type", "scale", "nodata"])]:
            r = self.gp("stages", step)
            self.assertExit(r, 0)
            self.assertIn("raster, transform", r.out)
            for o in opts:
                self.assertRegex(r.out, r"\n  %s +" % o)


if __name__ == "__main__":
    gptest.main()
