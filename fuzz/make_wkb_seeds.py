#!/usr/bin/env python3
"""Write the WKB seeds of fuzz/corpus/wkb/ (run from the repository root).

Geometries come from data/ (CC0 and public-domain sets only: sids.shp,
world.gpkg, cycle_hire.geojson) and from WKT literals for the types and
dimensions the samples lack, and malformed WKB for each of the walker's
refusals (bad-*).  ogr2ogr writes them to a GeoPackage; the ISO
WKB is read back from its blobs with sqlite3 (stdlib: Debian's GDAL has no
Python bindings installed here) and written little-endian, and for some
also big-endian (rewritten here, the same values).
"""
import os
import sqlite3
import struct
import subprocess
import sys
import tempfile

OUT = os.path.join("fuzz", "corpus", "wkb")

# (seed name, dataset, layer, OGR SQL) taken from data/
FROM_DATA = [
    ("point-cycle-hire", "data/cycle_hire.geojson", "SELECT * FROM cycle_hire WHERE FID = 1"),
    ("polygon-sids", "data/sids.shp", "SELECT * FROM sids WHERE FID = 0"),
    ("multipolygon-sids", "data/sids.shp", "SELECT * FROM sids WHERE FID = 3"),
    ("multipolygon-world", "data/world.gpkg", "SELECT * FROM world WHERE name_long = 'Fiji'"),
]

WKT = {
    "point-z": "POINT Z (1 2 3)",
    "point-m": "POINT M (1 2 4)",
    "point-zm": "POINT ZM (1 2 3 4)",
    "linestring-zm": "LINESTRING ZM (0 0 1 2,1 1 3 4,2 0 5 6)",
    "polygon-hole": "POLYGON ((0 0,10 0,10 10,0 10,0 0),(2 2,2 4,4 4,2 2))",
    "multipoint": "MULTIPOINT ((3 4),(-5 6),EMPTY)",
    "multilinestring-z": "MULTILINESTRING Z ((0 0 0,1 1 1),(2 2 2,3 -3 3))",
    "collection": "GEOMETRYCOLLECTION (POINT (1 2),LINESTRING (0 0,1 1),"
    "POLYGON ((0 0,1 0,1 1,0 0)),MULTIPOINT ((3 4)),GEOMETRYCOLLECTION (POINT (7 7)))",
    "circularstring": "CIRCULARSTRING (0 0,1 1,2 0)",
    "compoundcurve": "COMPOUNDCURVE ((0 0,1 0),CIRCULARSTRING (1 0,2 1,3 0))",
    "curvepolygon": "CURVEPOLYGON (CIRCULARSTRING (0 0,2 0,0 0))",
    "multisurface": "MULTISURFACE (CURVEPOLYGON (CIRCULARSTRING (0 0,2 0,0 0)),"
    "((5 5,6 5,6 6,5 5)))",
    "multicurve-m": "MULTICURVE M ((0 0 1,1 1 2),CIRCULARSTRING M (0 0 1,1 1 2,2 0 3))",
    "polyhedralsurface-z": "POLYHEDRALSURFACE Z (((0 0 0,0 1 0,1 1 0,0 0 0)),"
    "((0 0 0,0 1 1,0 0 1,0 0 0)))",
    "tin": "TIN (((0 0,0 1,1 1,0 0)),((0 0,1 1,1 0,0 0)))",
    "triangle-z": "TRIANGLE Z ((0 0 1,0 1 1,1 1 1,0 0 1))",
}

# Empty geometries come back from the CSV driver as no geometry at all:
# written here.  POINT EMPTY is NaN, NaN (as GDAL writes it).
NAN = struct.pack("<d", float("nan"))
BY_HAND = {
    "point-empty": b"\x01" + struct.pack("<I", 1) + NAN + NAN,
    "point-z-empty": b"\x01" + struct.pack("<I", 1001) + NAN + NAN + NAN,
    "linestring-empty": b"\x01" + struct.pack("<II", 2, 0),
    "polygon-empty-ring": b"\x01" + struct.pack("<III", 3, 1, 0),
    "collection-empty": b"\x01" + struct.pack("<II", 7, 0),
    # What wkb_mend() rewrites (OGR will not write them): an open ring of
    # 3 points, a one-point line, a 2-point Z ring in a collection.
    "mend-open-ring": b"\x01" + struct.pack("<IIIdddddd", 3, 1, 3, 0, 0, 1, 0, 1, 1),
    "mend-short-line": b"\x01" + struct.pack("<IIdd", 2, 1, 3, 4),
    "mend-collection-z": b"\x01" + struct.pack("<II", 7, 1) + b"\x01" +
    struct.pack("<IIIdddddd", 1003, 1, 2, 0, 0, 1, 1, 0, 2),
}


def malformed(seeds):
    """WKB the walker must refuse (-2), each at a different check."""
    hole = seeds["polygon-hole"]
    pt = struct.pack("<Idd", 1, 1.0, 2.0)
    deep = b""
    for _ in range(33):
        deep += b"\x01" + struct.pack("<II", 7, 1)
    return {
        "bad-truncated-polygon": hole[:len(hole) // 2],
        "bad-truncated-header": b"\x01\x03\x00",
        "bad-ring-count": hole[:5] + struct.pack("<I", 0xFFFFFFFF) + hole[9:],
        "bad-point-count": b"\x01" + struct.pack("<II", 2, 0x10000000) + pt[4:],
        "bad-byte-order": b"\x02" + pt,
        "bad-ewkb-srid": b"\x01" + struct.pack("<II", 0x20000001, 4326) + pt[4:],
        "bad-dims": b"\x01" + struct.pack("<I", 4001) + pt[4:],
        "bad-type": b"\x01" + struct.pack("<I", 99) + pt[4:],
        "bad-too-deep": deep + b"\x01" + pt,
        "bad-collection-count": b"\x01" + struct.pack("<II", 7, 3) + b"\x01" + pt,
    }


BIG_ENDIAN = ["point-z", "point-empty", "polygon-hole", "collection", "multicurve-m",
              "polygon-sids", "mend-open-ring"]


def gpkg_wkb(path):
    """The ISO WKB of the first feature of the one layer of GeoPackage `path`."""
    db = sqlite3.connect(path)
    table, col = db.execute(
        "SELECT table_name, column_name FROM gpkg_geometry_columns").fetchone()
    blob = db.execute(f'SELECT "{col}" FROM "{table}" LIMIT 1').fetchone()[0]
    db.close()
    if blob[:2] != b"GP":
        sys.exit(f"{path}: not a GeoPackage geometry blob")
    flags = blob[3]
    env = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[(flags >> 1) & 7]
    return bytes(blob[8 + env:])


def to_gpkg(tmp, args):
    out = os.path.join(tmp, "g.gpkg")
    if os.path.exists(out):
        os.remove(out)
    subprocess.run(["ogr2ogr", "-f", "GPKG", out] + args, check=True)
    return gpkg_wkb(out)


def swap(wkb, pos=0, out=None):
    """Rewrite little-endian ISO WKB as big-endian; returns (bytes, end)."""
    out = bytearray() if out is None else out
    if wkb[pos] != 1:
        sys.exit("expected little-endian WKB")
    t = struct.unpack_from("<I", wkb, pos + 1)[0]
    base, dims = t % 1000, t // 1000
    ncoord = 2 + (1 if dims in (1, 2) else 2 if dims == 3 else 0)
    out += b"\x00" + struct.pack(">I", t)
    pos += 5

    def coords(pos, npts):
        nonlocal out
        vals = struct.unpack_from("<%dd" % (npts * ncoord), wkb, pos)
        out += struct.pack(">%dd" % len(vals), *vals)
        return pos + 8 * len(vals)

    def count(pos):
        nonlocal out
        n = struct.unpack_from("<I", wkb, pos)[0]
        out += struct.pack(">I", n)
        return n, pos + 4

    if base == 1:
        pos = coords(pos, 1)
    elif base in (2, 8):
        n, pos = count(pos)
        pos = coords(pos, n)
    elif base in (3, 17):
        nr, pos = count(pos)
        for _ in range(nr):
            n, pos = count(pos)
            pos = coords(pos, n)
    else:
        n, pos = count(pos)
        for _ in range(n):
            _, pos = swap(wkb, pos, out)
    return bytes(out), pos


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = dict(BY_HAND)
    with tempfile.TemporaryDirectory() as tmp:
        for name, src, sql in FROM_DATA:
            seeds[name] = to_gpkg(tmp, [src, "-sql", sql])
        for name, wkt in WKT.items():
            csv = os.path.join(tmp, "g.csv")
            with open(csv, "w") as f:
                f.write('id,WKT\n1,"%s"\n' % wkt)
            seeds[name] = to_gpkg(tmp, [csv, "-nlt", "GEOMETRY"])
    seeds.update(malformed(seeds))
    for name, wkb in seeds.items():
        with open(os.path.join(OUT, name + ".wkb"), "wb") as f:
            f.write(wkb)
        if name in BIG_ENDIAN:
            be, end = swap(wkb)
            if end != len(wkb):
                sys.exit(f"{name}: {len(wkb) - end} bytes after the geometry")
            with open(os.path.join(OUT, name + "-be.wkb"), "wb") as f:
                f.write(be)
    print(f"{len(os.listdir(OUT))} files in {OUT}")


if __name__ == "__main__":
    main()
