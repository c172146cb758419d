/*
 * gpkg_rtree.h - building a GeoPackage spatial index in bulk.
 *
 * GDAL 3.6 fills a GeoPackage's R*Tree one row at a time when a layer is
 * closed, which is half the time of writing a large GeoPackage.  This module
 * collects each feature's envelope as it is written, sorts them along a
 * Hilbert curve with bounded memory (sorted runs spilled to a file in the
 * output's temporary directory, then merged), packs the R-tree bottom-up
 * and writes SQLite's rtree shadow tables directly; the triggers and the
 * gpkg_extensions row are copied from a template GDAL itself creates, so the
 * result is what GDAL would have written.
 */
#ifndef GISPIPE_GPKG_RTREE_H
#define GISPIPE_GPKG_RTREE_H

#include <stddef.h>
#include <stdint.h>

struct arena;
struct stage_acct;
struct rtree_build;

/* Collect envelopes in `a`, spilling to files under `tmpdir` when the
 * `budget` bytes of sort memory are full.  NULL with the error set. */
struct rtree_build *rtree_build_create(struct arena *a, const char *tmpdir, size_t budget);

/* Add the envelope [xmin, ymin, xmax, ymax] of feature `fid`. */
int rtree_build_add(struct rtree_build *b, int64_t fid, const double env[4]);

/* Write the index of `table`.`geomcol` into the closed GeoPackage `path`.
 * `dsco` are the dataset creation options the file was made with (the
 * template must match its GeoPackage version).  74 on failure. */
int rtree_build_finish(struct rtree_build *b, const char *path, const char *table,
                       const char *geomcol, char **dsco);

/* Features added so far. */
uint64_t rtree_build_count(const struct rtree_build *b);

#endif
