#!/usr/bin/env python3
"""Audit of the vector output drivers: does a driver's memory grow with the
output?  (issue 13; the verdicts live in src/vector/drivers.c.)

For each driver that `gispipe formats` lists as writing vector data, and for
the creation options that change its verdict, gispipe writes N and then 4N
synthetic features (no memory limit) and the peak RSS of each run is taken
from wait4; a third run writes 4N under --limit.  A driver whose peak grows
by more than GROW_MIB between the first two is printed as growing, with the
bytes per extra feature.  PostgreSQL is measured through ogr2ogr into a
cluster started in the work directory (when PostgreSQL and PostGIS are
installed): this gispipe writes no PG: targets.  Drivers that need another
server, a schema file or a geometry the synthetic source cannot give fail
here; they are printed as such (exit status and GDAL's message), and gispipe
refuses them under a limit as unaudited.

Nothing here asserts a verdict: it prints what it measured, for a person to
read beside the table in src/vector/drivers.c.

usage: bench/drivers.py [--gispipe PATH] [--work DIR] [--n N] [--limit SIZE] [DRIVER...]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1024 * 1024
GROW_MIB = 3.0

# driver -> (file name, geometry, divisor of N for slow writers,
#            list of (label, layer options, dataset options))
# The geometry is the one the format can hold; N is divided for the
# whole-document writers, whose growth shows at far fewer features.
PLAIN = [("", {}, {})]
AUDIT = {
    "CSV": ("out.csv", "polygon", 1, [("", {"GEOMETRY": "AS_WKT"}, {})]),
    "GeoJSON": ("out.geojson", "polygon", 1, PLAIN),
    "GeoJSONSeq": ("out.geojsonl", "polygon", 1, PLAIN),
    "GPX": ("out.gpx", "line", 1, [("", {}, {"GPX_USE_EXTENSIONS": "YES"})]),
    "KML": ("out.kml", "polygon", 1, PLAIN),
    "LIBKML": ("out.kml", "polygon", 20, PLAIN),
    "GML": ("out.gml", "polygon", 1, PLAIN),
    "GPKG": ("out.gpkg", "polygon", 1, PLAIN),
    "SQLite": ("out.sqlite", "polygon", 1, [("", {}, {}), ("SPATIALITE", {}, {"SPATIALITE": "YES"})]),
    "ESRI Shapefile": ("out.shp", "polygon", 1,
                       [("", {}, {}), ("SPATIAL_INDEX=YES", {"SPATIAL_INDEX": "YES"}, {})]),
    "FlatGeobuf": ("out.fgb", "polygon", 1,
                   [("SPATIAL_INDEX=NO", {"SPATIAL_INDEX": "NO"}, {}),
                    ("SPATIAL_INDEX=YES", {"SPATIAL_INDEX": "YES"}, {})]),
    "MapInfo File": ("out.tab", "polygon", 1, PLAIN),
    "MapInfo MIF": ("out.mif", "polygon", 1, PLAIN),
    "DXF": ("out.dxf", "polygon", 1, PLAIN),
    "DGN": ("out.dgn", "polygon", 1, PLAIN),
    "OGR_GMT": ("out.gmt", "polygon", 1, PLAIN),
    "Geoconcept": ("out.gxt", "polygon", 1, PLAIN),
    "GeoRSS": ("out.xml", "polygon", 1, [("", {}, {"USE_EXTENSIONS": "YES"})]),
    "PGDUMP": ("out.sql", "polygon", 1, PLAIN),
    "JML": ("out.jml", "polygon", 1, PLAIN),
    "VDV": ("out.x10", "point", 1, PLAIN),
    "WAsP": ("out.map", "line", 1, [("WASP_FIELDS=code", {"WASP_FIELDS": "code"}, {})]),
    "Selafin": ("out.slf", "point", 4, PLAIN),
    "OpenFileGDB": ("out.gdb", "polygon", 1, PLAIN),
    "MapML": ("out.mapml", "polygon", 4, PLAIN),
    "PDF": ("out.pdf", "polygon", 4, PLAIN),
    "XLSX": ("out.xlsx", "polygon", 4, PLAIN),
    "ODS": ("out.ods", "polygon", 4, PLAIN),
    "Memory": ("out.mem", "polygon", 1, PLAIN),
    "MVT": ("out.mvt", "polygon", 4, [("", {}, {"MAXZOOM": "5"})]),
    "MBTiles": ("out.mbtiles", "polygon", 4, [("", {}, {"MAXZOOM": "5"})]),
    "PCIDSK": ("out.pix", "polygon", 1, PLAIN),
    "netCDF": ("out.nc", "polygon", 4, PLAIN),
    "PDS4": ("out.xml", "polygon", 1, PLAIN),
    "FITS": ("out.fits", "polygon", 1, PLAIN),
    "S57": ("out.000", "polygon", 1, PLAIN),
    "Interlis 1": ("out.itf", "polygon", 1, PLAIN),
    "Interlis 2": ("out.xtf", "polygon", 1, PLAIN),
    "GPSBabel": ("out.gpx", "line", 1, [("", {}, {"GPSBABEL_DRIVER": "gpx"})]),
    "VICAR": ("out.vic", "polygon", 1, PLAIN),
    "BAG": ("out.bag", "polygon", 1, PLAIN),
}


# Fields the format cannot hold (MapInfo, Geoconcept and Selafin have no
# 64-bit integers, Selafin no strings, DGN and DXF no fields at all), dropped by a select step before the write.
DROP = {"MapInfo File": ["id"], "MapInfo MIF": ["id"], "DGN": ["id", "code", "name"],
        "Selafin": ["id", "name"], "Geoconcept": ["id"], "DXF": ["id", "code", "name"]}
# Audit names that are one driver written another way.
DRIVER = {"MapInfo MIF": "MapInfo File"}


def writable_drivers(gispipe):
    """The vector drivers `gispipe formats` says can write."""
    out = subprocess.run([gispipe, "formats"], capture_output=True, text=True, check=True).stdout
    names = []
    for line in out.split("\n\n")[0].splitlines()[2:]:
        m = re.match(r"(.+?)\s+(yes|no)\s+(yes|no)\s", line)
        if m and m.group(3) == "yes":
            names.append(m.group(1).strip())
    return names


def yaml_map(d):
    return "{ " + ", ".join('"%s": "%s"' % kv for kv in d.items()) + " }"


def measure(gispipe, work, driver, fname, geom, count, lco, dsco, limit=None):
    out = os.path.join(work, fname)
    for p in os.listdir(work):
        q = os.path.join(work, p)
        shutil.rmtree(q) if os.path.isdir(q) else os.remove(q)
    pipe = os.path.join(work, "p.yaml")
    with open(pipe, "w") as f:
        f.write("""version: 1
steps:
  - read: { synthetic: { geometry: %s, count: %d, crs: "EPSG:4326",
                         extent: [-10, 35, 30, 60], vertices: 24, seed: 1 } }
%s  - write: { path: "%s", format: "%s", options: %s, dataset_options: %s }
""" % (geom, count, ("  - select: { drop: [%s] }\n" % ", ".join(DROP[driver])) if driver in DROP else "",
       out, DRIVER.get(driver, driver), yaml_map(lco), yaml_map(dsco)))
    t = time.monotonic()
    p = subprocess.Popen([gispipe, "run", "-q", pipe] + (["--memory-limit", limit] if limit else []),
                         cwd=work, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    el = time.monotonic() - t
    err = p.stderr.read().decode(errors="replace").strip().splitlines()
    p.stderr.close()
    return os.waitstatus_to_exitcode(status), ru.ru_maxrss * 1024, el, (err[-1] if err else "")


def pg_cluster(work):
    """A PostgreSQL cluster with PostGIS in `work`, on a Unix socket there,
    run as the postgres user; returns (connection string, stop function)."""
    import pwd
    bindir = "/usr/lib/postgresql/%s/bin" % sorted(os.listdir("/usr/lib/postgresql"))[-1]
    pg = os.path.join(work, "pg")
    os.makedirs(pg)
    pw = pwd.getpwnam("postgres")
    os.chown(pg, pw.pw_uid, pw.pw_gid)
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_pg + [bindir + "/initdb", "-D", pg + "/data", "-A", "trust"], check=True,
                   capture_output=True)
    subprocess.run(as_pg + [bindir + "/pg_ctl", "-D", pg + "/data", "-w", "-l", pg + "/log",
                            "-o", "-c listen_addresses='' -k " + pg, "start"], check=True,
                   capture_output=True)
    stop = lambda: subprocess.run(as_pg + [bindir + "/pg_ctl", "-D", pg + "/data", "-m", "fast",
                                           "stop"], capture_output=True)
    subprocess.run(as_pg + [bindir + "/psql", "-h", pg, "-d", "postgres", "-c",
                            "CREATE DATABASE audit"], check=True, capture_output=True)
    subprocess.run(as_pg + [bindir + "/psql", "-h", pg, "-d", "audit", "-c",
                            "CREATE EXTENSION postgis"], check=True, capture_output=True)
    return "PG:host=%s dbname=audit user=postgres" % pg, stop


def measure_pg(gispipe, work, n):
    """PostgreSQL through ogr2ogr (this gispipe cannot write PG: targets):
    the driver's own memory, N and 4N features from GeoPackages gispipe made."""
    conn, stop = pg_cluster(work)
    try:
        peaks = []
        for i, count in enumerate((n, 4 * n)):
            src = os.path.join(work, "src%d.gpkg" % count)
            pipe = os.path.join(work, "pg.yaml")
            with open(pipe, "w") as f:
                f.write("""version: 1
steps:
  - read: { synthetic: { geometry: polygon, count: %d, crs: "EPSG:4326",
                         extent: [-10, 35, 30, 60], vertices: 24, seed: 1 } }
  - write: { path: "%s" }
""" % (count, src))
            subprocess.run([gispipe, "run", "-q", pipe], check=True)
            p = subprocess.Popen(["ogr2ogr", "-f", "PostgreSQL", conn, src, "-nln", "t%d" % i],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _, status, ru = os.wait4(p.pid, 0)
            err = p.stderr.read().decode(errors="replace").strip()
            p.stderr.close()
            if os.waitstatus_to_exitcode(status) != 0:
                return "fails: %s" % err[-160:]
            peaks.append(ru.ru_maxrss * 1024)
        return "%7d %8.1fM %8.1fM %8.0f %8s  %-5s  (ogr2ogr from GPKG; COPY)" % (
            n, peaks[0] / MiB, peaks[1] / MiB, (peaks[1] - peaks[0]) / (3 * n), "-",
            "GROWS" if (peaks[1] - peaks[0]) / MiB > GROW_MIB else "flat")
    finally:
        stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gispipe", default=os.path.join(ROOT, "build", "gispipe"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--limit", default="96MiB",
                    help="memory limit of a third run at 4N, as gispipe plans it")
    ap.add_argument("drivers", nargs="*")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="gp-drivers-")
    os.makedirs(work, exist_ok=True)
    drivers = a.drivers or writable_drivers(a.gispipe)
    if "MapInfo File" in drivers:
        drivers.insert(drivers.index("MapInfo File") + 1, "MapInfo MIF")
    print("gispipe %s; N=%d (divided by 'div' for slow writers); growth over %.0f MiB "
          "from N to 4N = grows" % (subprocess.run([a.gispipe, "--version"], capture_output=True,
                                                   text=True).stdout.strip(), a.n, GROW_MIB))
    print("%-15s %-18s %-8s %7s %9s %9s %8s %8s  %-5s  %s" % (
        "driver", "options", "geometry", "N", "RSS N", "RSS 4N", "B/feat", "s at 4N", "verdict", "4N under a limit"))
    for d in drivers:
        if d == "PostgreSQL" and shutil.which("runuser") and os.path.isdir("/usr/lib/postgresql"):
            print("%-15s %-18s %-8s %s" % (d, "-", "polygon", measure_pg(a.gispipe, work, a.n)),
                  flush=True)
            continue
        if d not in AUDIT:
            print("%-15s %-18s %s" % (d, "-", "not measured: needs a server or a service "
                                      "(no file to write)"), flush=True)
            continue
        fname, geom, div, variants = AUDIT[d]
        n = a.n // div
        for label, lco, dsco in variants:
            c1, r1, _, e1 = measure(a.gispipe, work, d, fname, geom, n, lco, dsco)
            if c1 != 0:
                print("%-15s %-18s %-8s %7d  fails (exit %d): %s" % (d, label or "-", geom, n, c1,
                                                                   e1[:160]), flush=True)
                continue
            c4, r4, el, e4 = measure(a.gispipe, work, d, fname, geom, 4 * n, lco, dsco)
            if c4 != 0:
                print("%-15s %-18s %-8s %7d  fails at 4N (exit %d): %s" % (
                    d, label or "-", geom, n, c4, e4[:160]), flush=True)
                continue
            grow = (r4 - r1) / MiB
            cl, rl, _, el_ = measure(a.gispipe, work, d, fname, geom, 4 * n, lco, dsco, a.limit)
            print("%-15s %-18s %-8s %7d %8.1fM %8.1fM %8.0f %8.1f  %-5s  %s: exit %d, %.1fM%s" % (
                d, label or "-", geom, n, r1 / MiB, r4 / MiB, (r4 - r1) / (3 * n), el,
                "GROWS" if grow > GROW_MIB else "flat", a.limit, cl, rl / MiB,
                (" (" + el_[:120] + ")") if cl else ""), flush=True)
    if not a.work:
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
