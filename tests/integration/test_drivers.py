"""Output drivers under a memory limit (issue 13, src/vector/drivers.c): a
driver whose memory grows with the output, or one the audit did not cover,
is refused before anything is read, by explain and by run (75, naming the
driver and the reason; validate says so with 78), for the rejects dataset
too; the drivers that stream are accepted, and one really holds a limit
smaller than its output."""
import json
import os
import shutil
import subprocess
import unittest

import gptest

MiB = 1024 * 1024
# Any limit will do for a refusal; this one holds under valgrind and ASan.
LIMIT = "1GiB"

# (format, path, layer options, words of the reason): every row of the
# audit that grows, and Shapefile's option that makes it grow.
GROWING = [
    ("DXF", "out/x.dxf", {}, "handle of every entity"),
    ("LIBKML", "out/x.kml", {}, "whole document as a tree"),
    ("MapML", "out/x.mapml", {}, "XML tree"),
    ("MBTiles", "out/x.mbtiles", {}, "each tile in memory"),
    ("MVT", "out/x.mvt", {}, "each tile in memory"),
    ("Memory", "out/x.mem", {}, "keeps every feature"),
    ("ODS", "out/x.ods", {}, "whole document"),
    ("OpenFileGDB", "out/x.gdb", {}, "an entry for every feature"),
    ("PDF", "out/x.pdf", {}, "keeps every feature"),
    ("XLSX", "out/x.xlsx", {}, "whole document"),
    ("ESRI Shapefile", "out/x.shp", {"SPATIAL_INDEX": "YES"}, "SPATIAL_INDEX=YES"),
]
# A writer of this GDAL that the audit could not cover (it needs a model
# file): refused as unaudited.
UNAUDITED = ("Interlis 2", "out/x.xtf", {}, "not in gispipe's audit of output drivers")
STREAMING = [
    ("CSV", "out/x.csv"), ("DGN", "out/x.dgn"), ("FlatGeobuf", "out/x.fgb"), ("GML", "out/x.gml"),
    ("GPKG", "out/x.gpkg"), ("GPX", "out/x.gpx"), ("GeoJSON", "out/x.geojson"),
    ("GeoJSONSeq", "out/x.geojsonl"), ("GeoRSS", "out/x.xml"), ("Geoconcept", "out/x.gxt"),
    ("Interlis 1", "out/x.itf"),
    ("JML", "out/x.jml"), ("KML", "out/x.kml"), ("MapInfo File", "out/x.tab"),
    ("OGR_GMT", "out/x.gmt"),
    ("PCIDSK", "out/x.pix"), ("PDS4", "out/x.xml"), ("PGDUMP", "out/x.sql"),
    ("SQLite", "out/x.sqlite"), ("VDV", "out/x.x10"), ("WAsP", "out/x.map"),
    ("ESRI Shapefile", "out/x.shp"),
]


def yaml_map(d):
    return "{ " + ", ".join('"%s": "%s"' % kv for kv in d.items()) + " }"


class Drivers(gptest.TempDirTest):
    def writer(self, fmt, path, lco, limit=None, count=100000, name="p.yaml"):
        # FlatGeobuf's own index is another matter (write.c): left out.
        if fmt == "FlatGeobuf":
            lco = dict(lco, SPATIAL_INDEX="NO")
        return self.pipeline("""version: 1
%ssteps:
  - read: { synthetic: { geometry: polygon, count: %d, seed: 1 } }
  - write: { path: %s, format: "%s", options: %s }
""" % ("memory: { limit: %s }\n" % limit if limit else "", count, path, fmt, yaml_map(lco)), name)

    def assertRefused(self, r, fmt, words):
        self.assertIn("under a memory limit", r.err)
        self.assertIn(fmt, r.err)
        self.assertIn(words, r.err)
        self.assertIn("run without a memory limit", r.err)

    def assertNothingWritten(self):
        self.assertFalse(os.path.exists(self.path("out")))
        self.assertEqual(self.leftovers(), [])

    def test_growing_and_unaudited_drivers_are_refused_before_reading(self):
        for fmt, path, lco, words in GROWING + [UNAUDITED]:
            with self.subTest(format=fmt):
                p = self.writer(fmt, path, lco)
                r = self.gp("explain", p, "--memory-limit", LIMIT)
                self.assertExit(r, gptest.EX_TEMPFAIL)
                self.assertRefused(r, fmt, words)
                # validate answers 0 or 78, with the same reason.
                r = self.gp("validate", p, "--memory-limit", LIMIT)
                self.assertExit(r, gptest.EX_CONFIG)
                self.assertRefused(r, fmt, words)
                # The limit from the pipeline file counts the same.
                p = self.writer(fmt, path, lco, limit=LIMIT)
                rep = self.path("r.json")
                r = self.gp("run", "-q", p, "--report", rep)
                self.assertExit(r, gptest.EX_TEMPFAIL)
                self.assertRefused(r, fmt, words)
                with open(rep) as f:
                    self.assertEqual(json.load(f)["totals"]["features_in"], 0)
                os.remove(rep)
                self.assertNothingWritten()

    def test_without_a_limit_they_are_written(self):
        # The refusal is the limit's: without one, the same pipelines run.
        for fmt, path, lco, _ in GROWING[-2:]:
            with self.subTest(format=fmt):
                p = self.writer(fmt, path, lco, count=50)
                r = self.gp("run", "-q", p)
                self.assertExit(r, 0)
                self.assertTrue(os.path.exists(self.path(path)))
                shutil.rmtree(self.path("out"))

    def test_streaming_drivers_are_accepted_under_a_limit(self):
        for fmt, path in STREAMING:
            with self.subTest(format=fmt):
                r = self.gp("explain", self.writer(fmt, path, {}), "--memory-limit", LIMIT)
                self.assertExit(r, 0)
                self.assertNothingWritten()

    def test_rejects_go_through_the_same_check(self):
        p = self.pipeline("""version: 1
on_error: reject
rejects: { path: out/rejects.xlsx }
steps:
  - read: { synthetic: { geometry: polygon, count: 1000, seed: 1 } }
  - write: { path: out/x.gpkg }
""")
        for cmd in ("explain", "run"):
            r = self.gp(cmd, p, "--memory-limit", LIMIT)
            self.assertExit(r, gptest.EX_TEMPFAIL)
            self.assertRefused(r, "XLSX", "out/rejects.xlsx")
            self.assertNothingWritten()
        # A rejects format that streams passes.
        with open(p) as f:
            text = f.read().replace("rejects.xlsx", "rejects.csv")
        p = self.pipeline(text)
        self.assertExit(self.gp("explain", p, "--memory-limit", LIMIT), 0)

    @unittest.skipIf(not gptest.MEMORY_MEASURED,
                     "valgrind's or ASan's own memory is far above the limit")
    def test_a_streaming_driver_holds_a_limit_smaller_than_its_output(self):
        # 160,000 polygons of 24 vertices: a .shp of some 67 MiB under a
        # limit of 64 MiB.
        p = self.writer("ESRI Shapefile", "out/x.shp", {}, count=160000)
        proc = subprocess.Popen([gptest.GISPIPE, "run", "-q", p, "--memory-limit", "64MiB"],
                                cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode()
        proc.stderr.close()
        self.assertEqual(proc.returncode, 0, err)
        size = os.path.getsize(self.path("out", "x.shp"))
        self.assertGreater(size, 64 * MiB)
        self.assertLessEqual(ru.ru_maxrss * 1024, 64 * MiB,
                             "peak %.1f MiB" % (ru.ru_maxrss / 1024))
        self.assertEqual(gptest.feature_count(self.path("out", "x.shp")), 160000)


if __name__ == "__main__":
    gptest.main()
