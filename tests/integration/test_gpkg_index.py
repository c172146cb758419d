"""GeoPackage spatial indexes built in bulk (src/gpkg_rtree.c) are valid
SQLite R-trees, registered like GDAL's own, and answer spatial filters
exactly as an index built by GDAL does."""
import os
import random
import sqlite3
import subprocess

import gptest

N = 20000


class GpkgIndex(gptest.TempDirTest):
    def make(self, out, extra=(), count=N, where=None):
        flt = '  - filter: { where: "%s" }\n' % where if where else ""
        p = self.pipeline(f"""version: 1
steps:
  - read: {{ synthetic: {{ geometry: polygon, count: {count}, seed: 7, layer: parcels }} }}
  - reproject: {{ to: "EPSG:3035" }}
{flt}  - write: {{ path: {out}, mode: overwrite }}
""", "p-%s.yaml" % os.path.basename(out))
        r = self.gp("run", "-q", p, *extra)
        self.assertExit(r, 0)
        return self.path(out)

    def check_index(self, path, count):
        db = sqlite3.connect(path)
        try:
            self.assertEqual(db.execute("SELECT rtreecheck('rtree_parcels_geom')").fetchone()[0],
                             "ok")
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            self.assertEqual(db.execute("SELECT count(*) FROM rtree_parcels_geom").fetchone()[0],
                             count)
            self.assertEqual(
                db.execute("SELECT count(*) FROM parcels p JOIN rtree_parcels_geom r "
                           "ON r.id = p.fid").fetchone()[0], count)
            trig = [r[0] for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND "
                "name LIKE 'rtree_parcels_geom%' ORDER BY name")]
            self.assertEqual(len(trig), 6, trig)
            ext = db.execute("SELECT table_name, column_name, extension_name FROM "
                             "gpkg_extensions WHERE extension_name = 'gpkg_rtree_index'").fetchall()
            self.assertEqual(ext, [("parcels", "geom", "gpkg_rtree_index")])
        finally:
            db.close()

    def fids_in(self, path, box):
        out = gptest.ogrinfo("-q", "-spat", *map(str, box), path, "parcels")
        return sorted(int(l.split(":")[1].strip()) for l in out.splitlines()
                      if l.startswith("OGRFeature(parcels):"))

    def compare_with_gdal(self, path):
        ref = self.path("ref-" + os.path.basename(path))
        gptest.ogr2ogr("-f", "GPKG", ref, path)  # GDAL builds its own index
        rnd = random.Random(3)
        hits = 0
        for _ in range(6):
            x, y = rnd.uniform(2.6e6, 5.8e6), rnd.uniform(1.4e6, 4.0e6)
            w = rnd.uniform(2e4, 3e5)
            box = (x, y, x + w, y + w)
            ours, theirs = self.fids_in(path, box), self.fids_in(ref, box)
            self.assertEqual(ours, theirs, box)
            # A box that selects everything would not test the index either.
            self.assertLess(len(theirs), N, box)
            hits += bool(theirs)
        # Empty answers agree trivially: most boxes must hold features.
        self.assertGreaterEqual(hits, 4)
        return True

    def test_in_memory_sort(self):
        out = self.make("a.gpkg")
        self.check_index(out, N)
        self.compare_with_gdal(out)

    def test_spilled_sort_and_merge(self):
        # A 4 KiB budget: 128 records a run, so about 160 runs to merge.
        out = self.make("b.gpkg", ("--config", "GISPIPE_RTREE_SORT_BUDGET", "4096"))
        self.check_index(out, N)
        self.compare_with_gdal(out)

    def test_single_node_and_empty(self):
        out = self.make("c.gpkg", count=10)
        self.check_index(out, 10)
        out = self.make("d.gpkg", count=100, where="code < 0")
        self.check_index(out, 0)

    def test_append_keeps_index_valid(self):
        out = self.make("e.gpkg", count=500)
        p = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: polygon, count: 300, seed: 9, layer: parcels } }
  - reproject: { to: "EPSG:3035" }
  - write: { path: e.gpkg, mode: append }
""", "append.yaml")
        self.assertExit(self.gp("run", "-q", p), 0)
        self.check_index(out, 800)

    def test_spatial_index_no_is_honoured(self):
        p = self.pipeline("""version: 1
steps:
  - read: { synthetic: { geometry: point, count: 100 } }
  - write: { path: f.gpkg, options: { SPATIAL_INDEX: NO } }
""", "noidx.yaml")
        self.assertExit(self.gp("run", "-q", p), 0)
        db = sqlite3.connect(self.path("f.gpkg"))
        n = db.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'rtree%'").fetchone()[0]
        db.close()
        self.assertEqual(n, 0)


if __name__ == "__main__":
    gptest.main()
