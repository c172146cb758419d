/*
 * step.h - the step interface.
 *
 * A step is a descriptor (name, role, option table, callbacks), and two
 * instances of different lifetimes:
 *   struct step   one step of a loaded pipeline: its descriptor, position,
 *                 label, YAML node and parsed options.  Owned by the
 *                 pipeline, in the pipeline's arena; lives as long as it.
 *   struct stage  that step in one run (or one check): its arena, its
 *                 state (in that arena), its accounting and figures, the
 *                 engine, and in raster runs its block arena and the view
 *                 it receives.  Created by the engine for the run, in the
 *                 run arena, and gone with it; its arena is destroyed when
 *                 the run closes, so nothing of a stage may be kept in a
 *                 step.  A stage points to its step, never the reverse.
 * A descriptor is a vector step or a raster step: the common head, then the
 * operations of its kind (struct vector_ops or struct raster_ops).  check
 * acts on the step (no run yet); every other callback on the stage.
 *
 * To add a step:
 *   1. write src/vector/<name>.c or src/raster/<name>.c defining `const struct step_desc
 *      step_<name>` with its option table (opts.h), its head callbacks and
 *      its kind's operations;
 *   2. add one line to the vector or the raster table in
 *      src/core/registry.c (step_desc_check, run by check_registry, says
 *      what the descriptor lacks);
 *   3. document it in man/gispipe-pipeline.5 (gispipe stages prints the
 *      option table itself).
 *
 * Life of a step in a run, all on one thread (the engine's, or a pool
 * worker's for the worker's own copy of a transform, vector/run.c):
 *   check    after options are parsed: validate them (no I/O)
 *   open     acquire what lives as long as the run (state in stage->arena,
 *            allocated by the engine when the descriptor gives state_size)
 *   begin    a stream starts; may change the stream (schema, CRS)
 *   process  transform a batch in place: change geometries, mark features
 *            filtered or failed; never free them
 *   end      the stream is done
 *   close    ok: finish (sinks close their outputs, which the engine then
 *            commits all at once, core/outfile.h); !ok: abort (sinks discard)
 *   stats    the step's own figures for the report (after close)
 * A source (role STEP_SOURCE) has next_stream/read instead of begin/process.
 * A raster step has begin/end, and pull (or put for a sink) instead of
 * process: windows are pulled from the sink's end (raster.h).
 * Every callback returns 0 or -1 with the error set; a -1 stops the run.
 */
#ifndef GISPIPE_STEP_H
#define GISPIPE_STEP_H

#include <stdbool.h>
#include <stdio.h>

#include "core/account.h"
#include "core/stream.h"

struct step;
struct stage;
struct engine;
struct batch; /* vector/batch.h */
struct geos;  /* vector/geos.h */
struct pipeline;
struct opt_desc;
struct ynode;

enum step_role { STEP_SOURCE, STEP_TRANSFORM, STEP_SINK };

/* What a step works on; a pipeline is one or the other (pipeline.c
 * decides from its read step). */
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

/* A vector step's operations.  A source has next_stream, read and end; a
 * transform has process (begin and end if it keeps per-stream state); a
 * sink has begin, process and end. */
struct vector_ops {
	/* sources: 1 and a filled stream, 0 at the end of the inputs */
	int (*next_stream)(struct stage *s, struct stream *st);
	/* sources: 1 and a filled batch, 0 at the end of the stream */
	int (*read)(struct stage *s, struct batch *b);
	/* a stream starts; may change the stream (schema, CRS) */
	int (*begin)(struct stage *s, struct stream *st);
	/* transform a batch in place: change geometries, mark features
	 * filtered or failed; never free them */
	int (*process)(struct stage *s, struct batch *b);
	/* the stream is done (a source closes its iterator here) */
	int (*end)(struct stage *s, struct stream *st);
};

/* A raster step's operations (raster.h).  A source has next_stream, pull
 * and end; a transform has pull (and begin when it changes the view); a
 * sink has begin, put and end. */
struct raster_ops {
	/* sources: 1 and a stream with its view, 0 at the end of the inputs */
	int (*next_stream)(struct stage *s, struct stream *st);
	/* turn st->raster, the view received, into the view produced */
	int (*begin)(struct stage *s, struct stream *st);
	int (*end)(struct stage *s, struct stream *st);
	/* fill `buf` with window `w` of the view produced */
	int (*pull)(struct stage *s, const struct rwin *w, void *buf);
	/* sinks: write window `w` of the view received */
	int (*put)(struct stage *s, const struct rwin *w, const void *buf);
};

/* A step: the common head (name, help, role, options, state, the calls of
 * every kind), then the operations of its kind, exactly one of `vec` and
 * `ras`.  step_desc_check() says whether a descriptor has what its role
 * and kind need. */
struct step_desc {
	const char *name;
	const char *summary;
	const char *details;        /* longer help for `gispipe stages NAME` */
	enum step_role role;
	const struct opt_desc *opts; /* NULL-name-terminated */
	size_t conf_size;           /* parsed options, zeroed then filled */
	/* The step's state: allocated zeroed in the stage arena by the engine
	 * before open, in s->state.  0: the step keeps none, or allocates it in
	 * open (read: OGR or synthetic, told by its options). */
	size_t state_size;

	int (*check)(struct step *s, struct pipeline *pl);
	int (*open)(struct stage *s, struct engine *e);
	int (*close)(struct stage *s, bool ok);
	/* explain: the step's own lines (inputs found, outputs planned) */
	void (*explain)(struct stage *s, struct engine *e, FILE *out);
	/* explain: the step's memory line, after its own lines; NULL: the
	 * run kind's line for a step that keeps no more than its state */
	void (*explain_memory)(struct stage *s, struct engine *e, FILE *out);
	/* the report: the step's own figures, asked once after close, while
	 * its state is still there (may be NULL: no figures) */
	void (*stats)(const struct stage *s, struct step_stats *out);

	const struct vector_ops *vec;
	const struct raster_ops *ras;
};

/* One step of a pipeline (pipeline lifetime, owned by the pipeline). */
struct step {
	const struct step_desc *desc;
	int index;                  /* position in the pipeline, 0-based; -1: the
	                             * rejects writer, outside the pipeline */
	const char *label;          /* "reproject" or "reproject#2" */
	const struct ynode *node;   /* the step's options in the pipeline file */
	void *conf;                 /* parsed options (desc->conf_size bytes) */
	struct pipeline *pl;
};

/* A step in one run (run lifetime, owned by the engine). */
struct stage {
	struct step *step;
	void *state;                /* the step's own, in `arena` */
	struct arena *arena;        /* lives as long as the run */
	struct stage_acct acct;
	struct step_stats stats;    /* filled at the end of a run, for the report */
	struct engine *eng;
	/* vector runs: the GEOS context of the thread that runs this stage
	 * (the engine's, or a worker's for a worker's copy, vector/run.c);
	 * the step uses this one, never another thread's */
	struct geos *geos;
	/* raster runs */
	struct arena *blocks;       /* scratch for one window (raster.h) */
	const struct rview *rin;    /* the view this stage receives */
};

/* The step `name` working on `kind` (STEP_VECTOR or STEP_RASTER); NULL
 * when there is none.  step_lookup_any: of either kind, vector first. */
const struct step_desc *step_lookup(const char *name, unsigned kind);
const struct step_desc *step_lookup_any(const char *name);

/* STEP_VECTOR or STEP_RASTER: the kind of step `d` is. */
unsigned step_kind(const struct step_desc *d);

/* NULL when `d` has what its role and kind need and nothing of the other
 * kind; else what is wrong, as static text. */
const char *step_desc_check(const struct step_desc *d);

/* The writer of the rejects dataset: a write step outside the pipeline's
 * list, overwriting `path`, one layer per input layer. */
int write_init_rejects(struct step *s, struct pipeline *pl, const char *path, const char *format);
/* What the read step `s` (options parsed) reads: STEP_RASTER, STEP_VECTOR,
 * or 0 when its options do not say; with `look`, what its first input is
 * (0 when that cannot be told).  -1 with the error set when out of memory.
 * Both read steps (vector/read.c, raster/read.c) parse the same options
 * (read_opts, core/input.h), so the kind is known before the step is. */
int step_read_kind(const struct step *s, const struct pipeline *pl, bool look);

/* The descriptors of `kind` (STEP_VECTOR or STEP_RASTER), NULL-terminated,
 * in catalogue order. */
const struct step_desc *const *step_catalogue(unsigned kind);

/* The step name closest to `name`, of either kind, for "did you mean"
 * (suggest_word's rule); NULL when none is close.  Points into a
 * descriptor, so it lives as long as the program. */
const char *step_suggest(const char *name);

#endif
