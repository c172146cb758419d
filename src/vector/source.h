/*
 * source.h - the two kinds of input behind the read step: OGR datasets and
 * the synthetic generator.  Private to its directory.
 */
#ifndef GISPIPE_SOURCE_H
#define GISPIPE_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include <gdal.h>

#include "config/opts.h"
#include "raster/raster.h"
#include "core/step.h"

enum synth_geom { SYNTH_POINT, SYNTH_LINE, SYNTH_POLYGON };

struct synth_raster_conf {
	int64_t width, height;
	GDALDataType type;     /* from type_name */
	const char *type_name;
	double block[2];
	const char *crs;
	double origin[2];      /* upper-left corner */
	double resolution[2];
	int64_t bands;
	int64_t seed;
	double nodata;
	bool has_block, has_crs, has_origin, has_resolution, has_bands, has_seed, has_nodata,
	    has_type;
};

struct synth_conf {
	int geometry;          /* enum synth_geom */
	int64_t count;
	const char *crs;
	double extent[4];
	int64_t vertices;
	int64_t seed;
	const char *layer;
	struct synth_raster_conf raster;
	bool has_geometry, has_count, has_crs, has_extent, has_vertices, has_seed, has_raster;
};

struct read_conf {
	struct strlist path;
	struct strlist layer;
	const char *where;
	double bbox[4];
	struct strmap open_options;
	struct synth_conf synthetic;
	struct strlist bands;      /* rasters: band numbers, 1-based */
	double nodata;             /* rasters: nodata of every band */
	bool has_path, has_layer, has_bbox, has_synthetic, has_open_options, has_where;
	bool has_bands, has_nodata;
};

/* OGR datasets (source_ogr.c) */
int source_ogr_check(struct step *s, struct pipeline *pl);
int source_ogr_open(struct stage *s, struct engine *e);
int source_ogr_next_stream(struct stage *s, struct stream *st);
int source_ogr_read(struct stage *s, struct batch *b);
int source_ogr_end(struct stage *s, struct stream *st);
int source_ogr_close(struct stage *s, bool ok);
void source_ogr_explain(struct stage *s, struct engine *e, FILE *out);

/* synthetic features (source_synth.c) */
int source_synth_check(struct step *s, struct pipeline *pl);
int source_synth_open(struct stage *s, struct engine *e);
int source_synth_next_stream(struct stage *s, struct stream *st);
int source_synth_read(struct stage *s, struct batch *b);
int source_synth_end(struct stage *s, struct stream *st);
int source_synth_close(struct stage *s, bool ok);
void source_synth_explain(struct stage *s, struct engine *e, FILE *out);

/* Input paths: globs expanded and sorted, plain paths checked to exist
 * (exit 66 otherwise), /vsi paths taken as they are. */
int source_resolve_inputs(struct arena *a, const struct strlist *paths, const char ***out,
                          size_t *n);
const char *source_base_name(const char *p);

/* rasters (raster/read.c): GDAL datasets and the synthetic raster */
/* The options of both read steps (vector/read.c, raster/read.c), into a
 * struct read_conf, with their shared help; read_check_inputs: the check
 * both make first (a path or synthetic, not both). */
extern const struct opt_desc read_opts[];
extern const char read_summary[];
extern const char read_details[];
int read_check_inputs(struct step *s, struct pipeline *pl);

int raster_source_check(struct step *s, struct pipeline *pl);
int raster_source_open(struct stage *s, struct engine *e);
int raster_source_next_stream(struct stage *s, struct stream *st);
int raster_source_end(struct stage *s, struct stream *st);
int raster_source_close(struct stage *s, bool ok);
int raster_source_pull(struct stage *s, const struct rwin *w, void *buf);
void raster_source_explain(struct stage *s, struct engine *e, FILE *out);
void raster_source_explain_memory(struct stage *s, struct engine *e, FILE *out);

/* Layer iterators: a counted handle that must be closed explicitly; one
 * destroyed without close is a bug, counted here and failing the run. */
struct layer_iter {
	const char *what;      /* "path:layer", for the bug message */
	bool closed;
	struct handle *h;
};
struct layer_iter *layer_iter_open(struct arena *a, struct stage_acct *acct, const char *what);
void layer_iter_close(struct layer_iter *it);
uint64_t layer_iter_unclosed(void);

/*
 * GDAL errors raised while opening and reading.  A recorder is pushed as
 * GDAL's error handler (this thread's) around calls into a driver, and
 * popped after them.  It counts failures (CE_Failure and worse) and keeps
 * the messages of the oldest GDAL_ERRS_KEEP not yet taken; the copy is made
 * when GDAL raises one, so what reading costs per feature is a comparison
 * of counters.  Warnings are printed as they come, after `what`, unless
 * `quiet`; debug messages go on to the handler below.
 *
 * The reader takes each failure it hands on (to a feature, or to the run):
 * what is left pending is an error nobody has reported yet.
 */
#define GDAL_ERRS_KEEP 8
#define GDAL_ERRS_MSG 512

struct gdal_errs {
	const char *what; /* "layer 'x' of 'in.gpkg'", borrowed */
	bool quiet;
	uint64_t raised;              /* failures recorded */
	uint64_t taken;               /* failures handed on */
	uint64_t seq[GDAL_ERRS_KEEP]; /* failure number + 1 held in msg[i], 0: none */
	char msg[GDAL_ERRS_KEEP][GDAL_ERRS_MSG];
	char over[GDAL_ERRS_MSG]; /* the latest failure not kept in msg */
};

/* Install `r` as this thread's error handler until gdal_errs_pop(); `r`
 * must outlive that.  Pushes nest (the innermost records). */
void gdal_errs_push(struct gdal_errs *r);
void gdal_errs_pop(void);
/* Failures recorded and not taken yet. */
static inline uint64_t gdal_errs_pending(const struct gdal_errs *r)
{
	return r->raised - r->taken;
}
/* The message of the oldest pending failure ("" when none); valid until
 * the next failure is recorded in `r`. */
const char *gdal_errs_peek(const struct gdal_errs *r);
/* Hand on the oldest pending failure. */
void gdal_errs_take(struct gdal_errs *r);
/* Forget every pending failure. */
void gdal_errs_clear(struct gdal_errs *r);

#endif
