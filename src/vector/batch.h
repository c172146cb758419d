/*
 * batch.h - what flows between steps: streams and batches.
 *
 * A stream is one input layer (or raster dataset) going through the
 * pipeline; steps see it begin, see its batches, and see it end.  Steps may
 * change the stream as it passes (select changes the schema, reproject the
 * CRS); the writer sees the stream as the last step left it.  A stream and
 * everything hanging from it live in the stream arena, reset when the next
 * stream begins.
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

struct arena;
struct schema;
struct handle;

struct rview;

struct stream {
	uint64_t index;         /* 0-based, over the run */
	uint64_t dataset_index; /* 0-based index of the input dataset */
	int layer_index;        /* index of the layer in its dataset */
	const char *path;       /* dataset as opened */
	const char *name;       /* file name without directories */
	const char *stem;       /* file name without its last extension */
	const char *layer;      /* layer name */
	const char *driver;     /* GDAL short name of the source driver */
	struct schema *schema;  /* fields at this point of the pipeline */
	OGRSpatialReferenceH srs; /* CRS at this point; NULL when unknown */
	bool srs_from_source;   /* srs is the layer's own, not set by a step */
	int64_t count_hint;     /* features expected, -1 when unknown */
	struct arena *arena;
	struct rview *raster;   /* raster streams: the view at this point */
};

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
