/*
 * source.h - the two kinds of input behind the read step: OGR datasets and
 * the synthetic generator.  Private to its directory; what the two read
 * steps share (options, input paths) is in core/input.h.
 */
#ifndef GISPIPE_SOURCE_H
#define GISPIPE_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include <gdal.h>

#include "config/opts.h"
#include "core/input.h"
#include "core/step.h"

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
