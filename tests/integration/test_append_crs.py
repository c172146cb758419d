"""mode: append never mixes CRSs in one layer: features whose CRS differs
from the existing layer's are refused with exit 65 naming both (add a
reproject step); features of the layer's own CRS, or where either side
has no CRS, are appended."""
import os

import gptest

SIDS = gptest.data("sids.shp")  # NAD27 (EPSG:4267)


class AppendCrs(gptest.TempDirTest):
    def setUp(self):
        super().setUp()
        # The target: sids in WGS84.
        self.target = self.path("out", "x.gpkg")
        os.makedirs(self.path("out"))
        gptest.ogr2ogr("-t_srs", "EPSG:4326", "-nln", "x", self.target, SIDS)
        with open(self.target, "rb") as f:
            self.before = f.read()

    def append(self, src, steps=""):
        p = self.pipeline('version: 1\nsteps:\n  - read: { path: "%s" }\n%s'
                          '  - write: { path: "%s", layer: x, mode: append }\n'
                          % (src, steps, self.target))
        return self.gp("run", "-q", p)

    def test_nad27_into_wgs84_is_65_naming_both(self):
        r = self.append(SIDS)
        self.assertExit(r, gptest.EX_DATAERR)
        self.assertIn("cannot append 'EPSG:4267' features to layer 'x' of '%s' in 'EPSG:4326'"
                      % self.target, r.err)
        self.assertIn("add a reproject step", r.err)
        with open(self.target, "rb") as f:
            self.assertEqual(f.read(), self.before)
        self.assertEqual(self.leftovers(), [])

    def test_reprojected_first_is_appended(self):
        r = self.append(SIDS, '  - reproject: { to: "EPSG:4326" }\n')
        self.assertExit(r, 0)
        self.assertEqual(gptest.feature_count(self.target, "x"), 200)

    def test_same_crs_is_appended(self):
        wgs = self.path("wgs.shp")
        gptest.ogr2ogr("-t_srs", "EPSG:4326", wgs, SIDS)
        self.assertExit(self.append(wgs), 0)
        self.assertEqual(gptest.feature_count(self.target, "x"), 200)

    def test_no_crs_on_the_input_is_appended(self):
        bare = self.path("bare.shp")
        gptest.ogr2ogr("-t_srs", "EPSG:4326", bare, SIDS)
        os.unlink(self.path("bare.prj"))
        self.assertExit(self.append(bare), 0)
        self.assertEqual(gptest.feature_count(self.target, "x"), 200)

    def test_merged_inputs_of_two_crss_are_refused(self):
        # Two inputs into one new layer: the second's CRS is not the
        # layer's, exactly as with an existing one.
        wgs = self.path("wgs.shp")
        gptest.ogr2ogr("-t_srs", "EPSG:4326", wgs, SIDS)
        p = self.pipeline('version: 1\nsteps:\n  - read: { path: ["%s", "%s"] }\n'
                          '  - write: { path: out/merged.gpkg, layer: m }\n' % (wgs, SIDS))
        r = self.gp("run", "-q", p)
        self.assertExit(r, gptest.EX_DATAERR)
        self.assertIn("cannot append 'EPSG:4267' features to layer 'm'", r.err)
        self.assertFalse(os.path.exists(self.path("out", "merged.gpkg")))


if __name__ == "__main__":
    gptest.main()
