/*
 * xform_cache.h - a bounded LRU of PROJ coordinate operations.
 *
 * One cache per thread per reproject step, with its own PJ_CONTEXT (PROJ
 * contexts are not shared between threads).  Operations are keyed by the
 * source and target CRS definitions.  xform_cache_clear() destroys every
 * operation and the context itself (dropping PROJ's database and grid
 * caches) and starts a fresh context: the engine calls it every
 * `clear_every` input datasets so that memory stays flat over thousands of
 * files in many CRSs.
 */
#ifndef GISPIPE_XFORM_CACHE_H
#define GISPIPE_XFORM_CACHE_H

#include <proj.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct stage_acct;

struct xform_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t evictions;
	uint64_t clears;
	size_t entries;
};

struct xform_cache;

/* Create in `a` (destroyed with it); each operation is a live
 * proj_operation handle of `acct`.  NULL with the error set. */
struct xform_cache *xform_cache_create(struct arena *a, struct stage_acct *acct,
                                       size_t max_entries);

/* The operation from `src` to `dst` (any definition proj_create accepts:
 * "EPSG:3035", WKT, PROJJSON), normalised to x/y = easting/northing,
 * longitude/latitude order.  The PJ is borrowed: valid until the next get or
 * clear.  NULL with the error set (exit 78: no such CRS or no operation). */
PJ *xform_cache_get(struct xform_cache *c, const char *src, const char *dst);

/* Destroy every operation and the PROJ context; start a new context. */
int xform_cache_clear(struct xform_cache *c);

void xform_cache_stats(const struct xform_cache *c, struct xform_stats *out);
PJ_CONTEXT *xform_cache_context(struct xform_cache *c);

#endif
