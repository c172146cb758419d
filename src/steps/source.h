/*
 * source.h - the two kinds of input behind the read step: OGR datasets and
 * the synthetic generator.  Private to src/steps.
 */
#ifndef GISPIPE_SOURCE_H
#define GISPIPE_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "gispipe/opts.h"
#include "gispipe/step.h"

enum synth_geom { SYNTH_POINT, SYNTH_LINE, SYNTH_POLYGON };

struct synth_conf {
	int geometry;          /* enum synth_geom */
	int64_t count;
	const char *crs;
	double extent[4];
	int64_t vertices;
	int64_t seed;
	const char *layer;
	bool has_geometry, has_count, has_crs, has_extent, has_vertices, has_seed;
};

struct read_conf {
	struct strlist path;
	struct strlist layer;
	const char *where;
	double bbox[4];
	struct strmap open_options;
	struct synth_conf synthetic;
	bool has_path, has_layer, has_bbox, has_synthetic, has_open_options, has_where;
};

/* OGR datasets (source_ogr.c) */
int source_ogr_check(struct step *s, struct pipeline *pl);
int source_ogr_open(struct step *s, struct engine *e);
int source_ogr_next_stream(struct step *s, struct stream *st);
int source_ogr_read(struct step *s, struct batch *b);
int source_ogr_end(struct step *s, struct stream *st);
int source_ogr_close(struct step *s, bool ok);
void source_ogr_explain(struct step *s, struct engine *e, FILE *out);

/* synthetic features (source_synth.c) */
int source_synth_check(struct step *s, struct pipeline *pl);
int source_synth_open(struct step *s, struct engine *e);
int source_synth_next_stream(struct step *s, struct stream *st);
int source_synth_read(struct step *s, struct batch *b);
int source_synth_end(struct step *s, struct stream *st);
int source_synth_close(struct step *s, bool ok);
void source_synth_explain(struct step *s, struct engine *e, FILE *out);

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

#endif
