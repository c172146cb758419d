/*
 * step.h - the step interface.
 *
 * A step is a descriptor (name, role, option table, callbacks) plus, in a
 * pipeline, an instance with its parsed options, its own arena and its
 * accounting.  To add a step:
 *   1. write src/vector/<name>.c or src/raster/<name>.c defining `const struct step_desc
 *      step_<name>` with its option table (opts.h) and callbacks;
 *   2. add one line to the table in src/core/registry.c;
 *   3. document it in man/gispipe-pipeline.5 (gispipe stages prints the
 *      option table itself).
 *
 * Life of a step in a run, all on the engine's thread:
 *   check    after options are parsed: validate them (no I/O)
 *   open     acquire what lives as long as the run (state in step->arena)
 *   begin    a stream starts; may change the stream (schema, CRS)
 *   process  transform a batch in place: change geometries, mark features
 *            filtered or failed; never free them
 *   end      the stream is done
 *   close    ok: finish (sinks commit); !ok: abort (sinks discard)
 *   stats    the step's own figures for the report (after close)
 * A source (role STEP_SOURCE) has next_stream/read instead of begin/process.
 * Every callback returns 0 or -1 with the error set; a -1 stops the run.
 */
#ifndef GISPIPE_STEP_H
#define GISPIPE_STEP_H

#include <stdbool.h>
#include <stdio.h>

#include "core/account.h"
#include "vector/batch.h"

struct step;
struct engine;
struct pipeline;
struct opt_desc;
struct ynode;

enum step_role { STEP_SOURCE, STEP_TRANSFORM, STEP_SINK };

/* What a step works on; a pipeline is one or the other (pipeline.c
 * decides from its read step).  0 means vector. */
#define STEP_VECTOR 1u
#define STEP_RASTER 2u

struct rwin;

/* A step's own figures for the report, filled by its `stats` callback.
 * The report sums the transform cache figures over the steps that have one
 * and prints the others per stage, by name. */
#define STEP_FIGURES_MAX 4
struct step_stats {
	bool has_xform; /* the step keeps a transform cache (xform_cache.h) */
	uint64_t xc_hits, xc_misses, xc_evictions, xc_clears;
	size_t nfigures;
	struct {
		const char *name; /* static text, a JSON key */
		uint64_t value;
	} figures[STEP_FIGURES_MAX];
};

struct step_desc {
	const char *name;
	const char *summary;
	enum step_role role;
	const struct opt_desc *opts; /* NULL-name-terminated */
	size_t conf_size;           /* parsed options, zeroed then filled */
	const char *details;        /* longer help for `gispipe stages NAME` */
	unsigned kinds;             /* STEP_VECTOR | STEP_RASTER; 0: vector */

	int (*check)(struct step *s, struct pipeline *pl);
	int (*open)(struct step *s, struct engine *e);
	/* sources: 1 and a filled stream, 0 at the end of the inputs */
	int (*next_stream)(struct step *s, struct stream *st);
	/* sources: 1 and a filled batch, 0 at the end of the stream */
	int (*read)(struct step *s, struct batch *b);
	int (*begin)(struct step *s, struct stream *st);
	int (*process)(struct step *s, struct batch *b);
	int (*end)(struct step *s, struct stream *st);
	int (*close)(struct step *s, bool ok);
	/* explain: the step's own lines (inputs found, outputs planned) */
	void (*explain)(struct step *s, struct engine *e, FILE *out);
	/* explain: the step's memory line, after its own lines; NULL: the
	 * run kind's line for a step that keeps no more than its state */
	void (*explain_memory)(struct step *s, struct engine *e, FILE *out);
	/* the report: the step's own figures, asked once after close, while
	 * its state is still there (may be NULL: no figures) */
	void (*stats)(const struct step *s, struct step_stats *out);

	/* Raster steps (raster.h): begin turns st->raster, the view received,
	 * into the view produced.  pull fills `buf` with window `w` of the
	 * produced view (sources and transforms); put writes it (sinks). */
	int (*pull)(struct step *s, const struct rwin *w, void *buf);
	int (*put)(struct step *s, const struct rwin *w, const void *buf);
};

struct step {
	const struct step_desc *desc;
	int index;                  /* position in the pipeline, 0-based */
	const char *label;          /* "reproject" or "reproject#2" */
	const struct ynode *node;   /* the step's options in the pipeline file */
	void *conf;                 /* parsed options (desc->conf_size bytes) */
	void *state;                /* the step's own, in `arena` */
	struct arena *arena;        /* lives as long as the run */
	struct stage_acct acct;
	struct step_stats stats; /* filled at the end of a run, for the report */
	struct pipeline *pl;
	struct engine *eng;
	/* raster runs */
	struct arena *blocks;       /* scratch for one window (raster.h) */
	const struct rview *rin;    /* the view this step receives */
};

/* The step `name` working on `kind` (STEP_VECTOR or STEP_RASTER); NULL
 * when there is none.  step_lookup_any: of either kind. */
const struct step_desc *step_lookup(const char *name, unsigned kind);
const struct step_desc *step_lookup_any(const char *name);

/* The writer of the rejects dataset: a write step outside the pipeline's
 * list, overwriting `path`, one layer per input layer. */
int write_init_rejects(struct step *s, struct pipeline *pl, const char *path, const char *format);
/* What the read step `s` (options parsed) reads: STEP_RASTER, STEP_VECTOR,
 * or 0 when its options do not say; with `look`, what its first input is
 * (0 when that cannot be told).  -1 with the error set when out of memory. */
int step_read_kind(const struct step *s, const struct pipeline *pl, bool look);

/* All descriptors, NULL-terminated, in catalogue order. */
const struct step_desc *const *step_catalogue(void);

#endif
