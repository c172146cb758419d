/*
 * fid_range.h - one shard's part of a layer, as a range of FIDs (shard.h
 * says when layers are cut rather than inputs shared out whole).
 *
 * The layer is cut by FID, not by position: a FID range is a filter every
 * driver applies (OGR SQL's FID, or the FID column in the SQL of GPKG,
 * SQLite and PostgreSQL, which use their index), whatever the order
 * features come in, and sparse FIDs only move the cuts.  The cuts are the
 * FIDs at positions floor(n * k / N) of the layer when its FIDs come in
 * ascending order (Shapefile, FlatGeobuf, GeoJSON...), so parts hold equal
 * counts; otherwise, and for GeoPackage and SQLite tables (whose FIDs are
 * not read: finding one by position would walk the table in every shard,
 * while the lowest and highest are at the ends of the rowid index), equal
 * spans of [min, max].  Either way part k is
 * [cut k, cut k+1), the first open below and the last open above, so every
 * feature is in exactly one part.  The cuts are taken over the whole layer
 * (read's `where` and `bbox` apply on top), so every shard finds the same.
 * A layer with features without a FID, or none, goes whole to shard 0.
 * Nothing is kept: the where is made in the caller's arena.
 */
#ifndef GISPIPE_FID_RANGE_H
#define GISPIPE_FID_RANGE_H

#include <stdbool.h>
#include <stdint.h>

#include <gdal.h>
#include <ogr_api.h>

struct arena;

struct fid_range {
	bool none;            /* this shard reads nothing of the layer */
	bool has_lo, has_hi;  /* bounds; without: open on that side */
	int64_t lo, hi;       /* FIDs in [lo, hi) */
	int64_t features;     /* in the layer, over every shard */
	int64_t part;         /* in this part; -1 when not known before reading */
};

/* Cut layer `lyr` of `ds` (its filters and reading position are reset) for
 * shard `index` of `count`, reading its FIDs only, once or twice
 * (GeoPackage and SQLite tables: not at all).  0, or -1 with the error set
 * (65, naming the layer and `what`, its dataset) when GDAL fails. */
int fid_range_plan(GDALDatasetH ds, OGRLayerH lyr, const char *what, int index, int count,
                   struct fid_range *r);

/* The attribute filter that reads range `r` and `where` (may be NULL): NULL
 * in *out when there is none to set.  0, or -1 with the error set. */
int fid_range_where(struct arena *a, GDALDatasetH ds, OGRLayerH lyr, const char *where,
                    const struct fid_range *r, const char **out);

#endif
