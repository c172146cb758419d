/*
 * batch.h - what flows between vector steps: batches of features, of a
 * stream (core/stream.h).
 *
 * A batch is a run of features of one stream, in input order.  Everything a
 * batch holds (features, WKB, OGR handles) lives in the batch's arena, which
 * belongs to the thread that filled it (`owner`): when the batch has been
 * written it goes back to its owner, who resets the arena.  A step never
 * frees part of a batch; it marks features instead.
 */
#ifndef GISPIPE_BATCH_H
#define GISPIPE_BATCH_H

#include <ogr_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/stream.h"

struct arena;
struct schema;
struct handle;

enum feature_state {
	FEAT_LIVE = 0,
	FEAT_FILTERED,          /* removed by a filter: counted, not an error */
	FEAT_FAILED,            /* a step failed on it (see on_error) */
	FEAT_REJECTED,          /* failed, and written to the rejects dataset */
};

/* A computed value (schema fields with src -1). */
struct fvalue {
	bool set;
	OGRFieldType type;      /* OFTInteger64, OFTReal or OFTString */
	union {
		int64_t i;
		double d;
		const char *s;  /* batch arena */
	} v;
};

struct feature {
	int64_t fid;
	struct handle *attrs;   /* OGRFeatureH with the attributes (no geometry) */
	unsigned char *wkb;     /* ISO WKB, little-endian; NULL: no geometry */
	size_t wkb_len;
	enum feature_state state;
	const char *fail_step;  /* when FAILED: step label and reason, batch arena */
	const char *fail_reason;
	unsigned char *orig_wkb; /* with on_error: reject, the geometry as read */
	size_t orig_len;
	struct fvalue *extra;   /* computed values, by field_def.extra */
	size_t nextra;
};

enum batch_kind { BATCH_VECTOR, BATCH_RASTER };

struct batch {
	enum batch_kind kind;
	struct arena *arena;
	int owner;              /* thread that owns the arena */
	uint64_t seq;           /* position in the run: output order */
	struct stream *stream;
	size_t n;
	size_t cap;
	struct feature *f;
};

/* Geometry of feature i as an OGR handle (for steps that need OGR); the
 * caller owns the result.  NULL when the feature has no geometry or its WKB
 * does not parse (reason set in *why). */
OGRGeometryH batch_geometry(const struct batch *b, size_t i, const char **why);

/* Replace feature i's WKB with that of `g` (copied into the batch arena). */
int batch_set_geometry(struct batch *b, size_t i, OGRGeometryH g);

/* Give feature i a slot for every computed value its stream's schema has
 * now (schema->nextra), for a step that has just added one: the values it
 * had are kept, the new ones are unset.  The slots are in the batch arena;
 * -1 when it is full (error set). */
int batch_reserve_extra(struct batch *b, size_t i);

/* Mark feature i failed by `step` for `reason` (copied).  When the copy
 * cannot be made the reason is NULL and the error set: the engine fails the
 * run (75) rather than keep a reject without its reason. */
void batch_fail(struct batch *b, size_t i, const char *step, const char *reason);

#endif
