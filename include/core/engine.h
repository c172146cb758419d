/*
 * engine.h - running a loaded pipeline.
 *
 * The engine owns the run: the memory plan, the run arena, the
 * transform-cache schedule and the signal check.  It opens the steps
 * (step.h), hands the streams to the run loop of the pipeline's kind
 * (struct run_kind: vector/run.c batch by batch, raster/run.c window by
 * window, each with its own stream and batch arenas), closes the steps,
 * checks that every stage's live handles are back to zero, commits the
 * outputs and reports.
 */
#ifndef GISPIPE_ENGINE_H
#define GISPIPE_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/account.h"
#include "core/memplan.h"
#include "core/report.h"

struct pipeline;
struct step;
struct stage;
struct engine;
struct arena;
struct watch;
struct pool;

struct run_opts {
	uint64_t memory_limit;    /* --memory-limit; 0: the pipeline's */
	int64_t threads;          /* --threads; 0: the pipeline's */
	bool quiet;
	bool progress;            /* show the progress line (the command line
	                           * decides: stderr a TTY, or --progress) */
	const char *report_path;  /* .json or .prom */
	int shard_index;          /* --shard I/N; count 0: no sharding */
	int shard_count;
	bool incremental;
	int lock_wait;            /* --lock-wait: seconds to wait for a locked target */
};

/* How a run of one kind (vector features, raster windows) goes: the engine
 * sets up and closes the steps, and hands the streams to its kind's loop.
 * Chosen once, from the pipeline's kind (vector/run.c, raster/run.c). */
struct run_kind {
	const char *name;
	/* Its batches are of items (features) whose cost the retry advice
	 * projects from; false: windows, judged on the run as a whole. */
	bool items;
	/* Adjust the plan made for the limit to this kind (NULL: as made). */
	void (*plan)(struct memplan *p);
	/* Every stream through every step to the end; -1 with the error set. */
	int (*run)(struct engine *e);
	/* validate --deep and explain: every stream through every
	 * transform's begin and end, the sink left alone (it would create an
	 * output), when `deep` or when the kind explains its streams; their
	 * plans printed to `explain` if not NULL.  -1 with the error set. */
	int (*check)(struct engine *e, bool deep, FILE *explain);
	/* explain: the memory line of step `s` when it says none of its own
	 * (step_desc.explain_memory) */
	void (*explain_step)(struct engine *e, struct stage *s, FILE *out);
	/* What a run (or a check) of this kind needs beside its steps, made
	 * in the run arena before the steps open: vector runs, the engine
	 * thread's GEOS context (e->geos).  NULL: nothing.  -1 with the error
	 * set. */
	int (*setup)(struct engine *e);
	/* The run's watcher, `w` (NULL: the watcher stops), for what setup
	 * made to stop with the run.  NULL: nothing to tell. */
	void (*watch)(struct engine *e, const struct watch *w);
	/* Items the steps' library calls have completed so far (vector: GEOS
	 * operations), the retry advice's measure of how far a step got into
	 * a batch.  NULL: none counted. */
	uint64_t (*applied)(const struct engine *e);
	/* Layer iterators destroyed without close so far (a bug: it fails the
	 * run, and the report shows it).  NULL: the kind has none. */
	uint64_t (*unclosed)(void);
};

extern const struct run_kind vector_run_kind;
extern const struct run_kind raster_run_kind;

struct engine {
	struct pipeline *pl;
	const struct run_kind *kind; /* the pipeline's: vector or raster */
	const struct run_opts *opts;
	struct mem_account *acct;  /* the run's account */
	struct arena *arena;       /* the run arena */
	struct memplan plan;
	struct run_totals totals;
	volatile sig_atomic_t *stop; /* signal number once asked to stop */
	uint64_t last_rss_check;
	uint64_t xc_generation;    /* bumped every clear_every datasets */
	struct geos *geos;         /* the engine thread's GEOS context (vector
	                            * runs: run_kind.setup), or NULL */
	struct stage *stages;      /* one per step of the pipeline, in the run
	                            * arena: the steps in this run (step.h) */
	struct stage *rejects;     /* writer of the rejects dataset, or NULL */
	struct outset *outs;       /* the run's outputs, committed together; NULL
	                            * when checking (nothing is written) */
	struct incr *incr;         /* --incremental (and explain with a record), or NULL */
	uint64_t datasets_opened;
	int exit_code;
	double pull_child;         /* raster pulls: time spent upstream */
	struct rpending *rpending; /* raster runs: the window written while the
	                            * next one is warped (raster/run.c), or NULL */
	struct watch *watch;       /* the run's watcher (engine_run only), or NULL */
	struct pool *pool;         /* the run's workers (engine_pool) when it has
	                            * more than one thread (engine_run only), or
	                            * NULL: everything on this thread */
	/* The stage at work on the current batch, for the retry advice. */
	const struct stage *stage;
	uint64_t step_rss;     /* RSS when it began the batch */
	uint64_t step_applied; /* geos_applied() then */
	size_t step_items;     /* live items it was given */
	uint64_t items_left;   /* items of the stream from this batch on; 0: unknown */
};

/* Run `pl` to the end.  Returns the exit code (0 on success).  On failure
 * the run's first line, "PIPELINE: step 'LABEL': cause" (without the step
 * when none was at fault), has been printed to stderr as "gispipe: ..."
 * before the table, and the error slot holds it.  The report is written
 * whatever happens. */
int engine_run(struct pipeline *pl, const struct run_opts *o, struct mem_account *acct,
               struct arena *run_arena, volatile sig_atomic_t *stop);

/* Plan only (for explain): fills e->plan from the pipeline and options. */
int engine_plan(struct engine *e);

/* Worker threads for the run (vector workers, raster warp pieces), as
 * the plan chose them (memplan_threads): --threads or threads:, else the
 * CPUs available, lowered to what the memory limit holds; at least 1.
 * Valid once engine_plan() has run. */
int engine_threads(const struct engine *e);

/* The run's pool of engine_threads(e) workers (core/pool.h), shared by
 * the vector workers and the raster warp pieces: made on the first call
 * (engine_run makes it before the run loop), from the main thread only,
 * and destroyed by the engine when the run loop returns, before the steps
 * close.  *out is NULL for a run of one thread (pool_run then runs the
 * jobs on the calling thread).  0, or -1 with the error set (70 from a
 * worker or when a thread cannot start, 75 out of memory). */
int engine_pool(struct engine *e, struct pool **out);

/* Account a newly opened input dataset: drives transform_cache.clear_every.
 * Returns true when caches must be cleared now. */
bool engine_dataset_opened(struct engine *e);

/* Seconds on a monotonic clock. */
double engine_now(void);

/* The clock a vector stage's `seconds` are counted on, read now.  A
 * transform's: the CPU seconds the calling thread has run, on whichever
 * thread runs it, so that they are its work and not the time the thread
 * waited for a CPU (workers outnumbering the CPUs, other processes).  A
 * source's or a sink's: engine_now(), as their I/O is their cost. */
double engine_stage_clock(const struct stage *s);

/* Fail (75) when RSS went over the limit; record GDAL's cache peak.
 * `where` is the caller's stage; the failure names the stage of the thread
 * whose pages grew most just before (watch_trip), which in a pooled run
 * may be a worker's. */
int engine_check_memory(struct engine *e, const struct stage *where);

/* 0, or the exit code the run must stop with now: 75 when the watcher saw
 * RSS over the limit, 128+N after signal N.  Cheap; for long loops. */
int engine_stopping(const struct engine *e);

/* Fail the run for the reason it stops (engine_stopping() != 0): the
 * memory limit, naming the stage at work when RSS crossed it and a limit
 * to retry with, or the signal.  Returns -1 with the error set. */
int engine_stop(struct engine *e);

/* Step `s` is about to make `bytes` outside the arenas in one library call
 * that cannot be stopped part-way (a GEOS buffer's last phases allocate in
 * one burst).  Fails the run (75, naming `s`, with a limit to retry with)
 * when RSS now plus `bytes` would pass the limit; 0 otherwise, or without
 * a limit.  Reads RSS only for a megabyte or more. */
int engine_expect(struct engine *e, const struct stage *s, uint64_t bytes);

/* Stage `s` is at work from now on on the calling thread (the watcher
 * names it when this thread's pages grow past the limit). */
void engine_enter(struct engine *e, const struct stage *s);

/* Items per batch the plan allows. */
size_t engine_batch_size(const struct engine *e);

/* A step failed in the run loop: the error to stop with (the memory limit
 * or the stop when either is the reason).  Returns -1. */
int engine_step_failed(struct engine *e, const struct stage *s);

/* Step `s` starts on a batch of `items` live items (for the watcher and
 * the retry advice). */
void engine_step_begins(struct engine *e, const struct stage *s, size_t items);

/* Plan and open every step; with `deep`, also open every input stream and
 * take it through every transform's begin (the sink is skipped); print the
 * explanation to `explain` if not NULL; close without writing anything.
 * Returns an exit code. */
int engine_check(struct pipeline *pl, const struct run_opts *o, struct mem_account *acct,
                 struct arena *run_arena, bool deep, FILE *explain);

#endif
