/* engine.c - setting up a run, closing it, the leak check, the commit and
 * the report; the run loops are the kinds' (vector/run.c, raster/run.c). */
#include "core/engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <gdal.h>

#include "core/arena.h"
#include "core/cpus.h"
#include "core/error.h"
#include "core/incremental.h"
#include "core/outfile.h"
#include "core/owner.h"
#include "core/owner_check.h"
#include "config/pipeline.h"
#include "core/pool.h"
#include "core/rss.h"
#include "core/shard.h"
#include "core/step.h"
#include "core/watch.h"

double engine_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double engine_stage_clock(const struct stage *s)
{
	struct timespec ts;

	if (s->step->desc->role != STEP_TRANSFORM)
		return engine_now();
	/* Linux counts it in nanoseconds: a batch's step is well above. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

size_t engine_batch_size(const struct engine *e)
{
	return e->plan.batch_items;
}

bool engine_dataset_opened(struct engine *e)
{
	int64_t every = e->pl->xc_clear_every;

	e->totals.datasets++;
	e->datasets_opened++;
	if (every > 0 && e->datasets_opened > 1 && (e->datasets_opened - 1) % (uint64_t)every == 0) {
		e->xc_generation++;
		return true;
	}
	return false;
}

static const struct run_kind *kind_of(const struct pipeline *pl)
{
	return pl->raster ? &raster_run_kind : &vector_run_kind;
}

/* The kind's count of completed library calls (run_kind.applied), 0 when
 * it keeps none. */
static uint64_t kind_applied(const struct engine *e)
{
	return e->kind->applied ? e->kind->applied(e) : 0;
}

/* The kind's layer iterators destroyed without close (run_kind.unclosed). */
static uint64_t kind_unclosed(const struct engine *e)
{
	return e->kind->unclosed ? e->kind->unclosed() : 0;
}

int engine_plan(struct engine *e)
{
	uint64_t limit = e->opts->memory_limit ? e->opts->memory_limit : e->pl->memory_limit;
	uint64_t peak, baseline, lib;

	/* Start-up touched far more library pages than the run will need. */
	rss_trim();
	baseline = rss_current();
	lib = rss_file();
	/* The limit caps the peak, and loading the libraries is part of it:
	 * the advice covers both that peak and the smallest plan. */
	peak = rss_peak();
	/* The plan is made (and reported) even when it cannot be held. */
	if ((memplan_make(&e->plan, limit, baseline, lib, e->pl->batch) != 0 || peak > limit) &&
	    limit)
		return gp_fail(
		        GP_EX_TEMPFAIL,
		        "memory limit of %" PRIu64 " MiB cannot be held: loading GDAL, PROJ "
		        "and their libraries peaked at %" PRIu64 " MiB, and the smallest plan "
		        "needs %" PRIu64 " MiB (retry with --memory-limit %" PRIu64 "MiB or more)",
		        limit >> 20, (peak + (1 << 20) - 1) >> 20,
		        (memplan_smallest(baseline, lib, e->pl->batch) + (1 << 20) - 1) >> 20,
		        memplan_advise_start(baseline, lib, e->pl->batch, peak) >> 20);
	if (e->kind->plan)
		e->kind->plan(&e->plan);
	/* Vector workers take only transforms: read then write is planned,
	 * and run, on one thread (no pool, no batches held for workers). */
	if (!e->pl->raster && e->pl->nsteps <= 2) {
		memplan_threads(&e->plan, 1, 1);
		e->plan.nothing_to_share = true;
	} else {
		memplan_threads(&e->plan, e->opts->threads > 0 ? e->opts->threads : e->pl->threads,
		                cpus_available());
	}
	return 0;
}

int engine_threads(const struct engine *e)
{
	return e->plan.threads > 0 ? e->plan.threads : 1;
}

int engine_pool(struct engine *e, struct pool **out)
{
	*out = NULL;
	if (owner_self() != 0)
		return gp_fail(GP_EX_SOFTWARE, "the run's pool asked for from worker %d",
		               owner_self());
	if (e->pool == NULL && engine_threads(e) > 1) {
		e->pool = pool_create(e->acct, engine_threads(e));
		if (e->pool == NULL)
			return -1;
	}
	*out = e->pool;
	return 0;
}

void engine_enter(struct engine *e, const struct stage *s)
{
	if (e->watch)
		watch_enter(e->watch, s->step->label);
}

int engine_stopping(const struct engine *e)
{
	int sig;

	if (e->watch && watch_tripped(e->watch))
		return GP_EX_TEMPFAIL;
	sig = __atomic_load_n(e->stop, __ATOMIC_RELAXED); /* any thread */
	return sig ? 128 + sig : 0;
}

/* The limit to retry with after RSS reached `rss` in `stage`: the burst
 * grows with the batch, so from what the step at work had used per item
 * by then, projected onto the batch the plan makes at the advised limit.
 * `next` is true when `rss` includes the item the step was about to start
 * (engine_expect), false when one was under way and stopped part-way. */
static uint64_t midrun_advice(const struct engine *e, const char *stage, uint64_t rss, bool next)
{
	/* A worker (engine_expect in its copy of a step) cannot read what the
	 * engine's thread records of the batch at work: the whole-run advice. */
	const struct stage *s = owner_self() == 0 ? e->stage : NULL;
	uint64_t grown, done, applied, n, whole;

	/* Whatever the step's own projection says, the batch it made is
	 * still held by the steps after it (the writer encodes each feature
	 * again), and the next run's start-up may keep more library pages
	 * (other GDAL processes share them): at least one and a half times what
	 * this run had grown since start-up, on top of it. */
	whole = memplan_advise_grow(&e->plan, rss + 3 * (rss - e->plan.baseline) / 2, 0, 0);
	if (!e->kind->items || s == NULL || stage == NULL || strcmp(stage, s->step->label) != 0 ||
	    rss <= e->step_rss)
		return whole; /* no batch to project from */
	grown = rss - e->step_rss;
	applied = kind_applied(e) - e->step_applied;
	if (next) {
		done = applied + 1;
	} else if (applied > 0) {
		/* A GEOS step: `applied` items done and one under way, counted
		 * as half done.  (A step that applied nothing, a writer say, is
		 * measured over its batch.) */
		done = 2 * applied + 1;
		grown *= 2;
	} else {
		done = e->step_items ? e->step_items : e->plan.batch_items;
	}
	n = memplan_advise_grow(&e->plan, e->step_rss, (grown + done - 1) / done, e->items_left);
	return n > whole ? n : whole;
}

int engine_expect(struct engine *e, const struct stage *s, uint64_t bytes)
{
	uint64_t rss, n;

	if (e->plan.limit == 0 || e->watch == NULL || bytes < ((uint64_t)1 << 20))
		return 0;
	rss = rss_current();
	if (rss + bytes <= e->plan.limit)
		return 0;
	n = midrun_advice(e, s->step->label, rss + bytes, true);
	return gp_fail(GP_EX_TEMPFAIL,
	               "memory limit of %" PRIu64 " MiB cannot be held in stage '%s': one geometry "
	               "would take about %" PRIu64 " MiB more than the %" PRIu64 " MiB in use; "
	               "retry with --memory-limit %" PRIu64 "MiB",
	               e->plan.limit >> 20, s->step->label, (bytes + (1 << 20) - 1) >> 20,
	               rss >> 20, n >> 20);
}

int engine_stop(struct engine *e)
{
	int code = engine_stopping(e);

	if (code == GP_EX_TEMPFAIL) {
		const char *stage = e->watch->trip_stage;
		uint64_t rss = e->watch->trip_rss, n = midrun_advice(e, stage, rss, false);

		if (n == 0)
			return gp_fail(GP_EX_TEMPFAIL,
			               "memory limit of %" PRIu64
			               " MiB exceeded in stage '%s' (RSS "
			               "%" PRIu64 " MiB): the input needs more than 1 TiB at any "
			               "batch size",
			               e->plan.limit >> 20, stage ? stage : "read", rss >> 20);
		return gp_fail(GP_EX_TEMPFAIL,
		               "memory limit of %" PRIu64
		               " MiB exceeded in stage '%s' (RSS %" PRIu64
		               " MiB); retry with --memory-limit %" PRIu64 "MiB",
		               e->plan.limit >> 20, stage ? stage : "read", rss >> 20, n >> 20);
	}
	if (code)
		return gp_fail(code, "interrupted by signal %d", code - 128);
	return gp_fail(GP_EX_SOFTWARE, "engine_stop called while not stopping");
}

int engine_check_memory(struct engine *e, const struct stage *where)
{
	uint64_t rss, anon;

	uint64_t cache = (uint64_t)GDALGetCacheUsed64();

	if (cache > e->totals.gdal_cache_peak)
		e->totals.gdal_cache_peak = cache;
	if (e->watch == NULL)
		return 0;
	/* The watcher samples between its periods (and runs only under a
	 * limit); this is the sample made on the engine's thread, between
	 * steps, which also keeps the run's own peak without a limit. */
	rss_sample(&rss, &anon);
	watch_sample(e->watch, rss, anon);
	if (e->plan.limit == 0)
		return 0;
	/* `where` is this thread's stage; the trip names the stage of the
	 * thread whose pages grew (a worker's, in a pooled run). */
	(void)where;
	if (rss > e->plan.limit)
		watch_trip(e->watch, NULL, rss);
	return engine_stopping(e) ? engine_stop(e) : 0;
}

/* If RSS is over the limit (an arena's budget ran out, or the driver
 * could not allocate), the limit is the reason and the step the stage; if
 * the run is stopping, the stop is. */
int engine_step_failed(struct engine *e, const struct stage *s)
{
	if (e->plan.limit && e->watch && gp_err_code() == GP_EX_TEMPFAIL) {
		uint64_t rss = rss_current();

		if (rss > e->plan.limit)
			watch_trip(e->watch, s->step->label, rss);
	}
	return engine_stopping(e) ? engine_stop(e) : -1;
}

void engine_step_begins(struct engine *e, const struct stage *s, size_t items)
{
	engine_enter(e, s);
	e->stage = s;
	e->step_items = items;
	if (e->plan.limit) {
		e->step_rss = rss_current();
		e->step_applied = kind_applied(e);
	}
}

/* The run's stages, one per step of the pipeline, in the run arena: each
 * knows its step and the engine, and has its accounting (arenas come
 * later, from stages_arenas).  -1 with the error set. */
static int stages_create(struct engine *e)
{
	struct pipeline *pl = e->pl;

	e->stages = arena_calloc(e->arena, pl->nsteps, sizeof *e->stages);
	if (e->stages == NULL)
		return -1;
	for (size_t k = 0; k < pl->nsteps; k++) {
		struct stage *s = &e->stages[k];

		s->step = &pl->steps[k];
		s->eng = e;
		stage_acct_init(&s->acct, s->step->label, e->acct);
	}
	return 0;
}

/* Each stage's arena, accounted to it; destroyed when the run closes. */
static int stages_arenas(struct engine *e)
{
	for (size_t k = 0; k < e->pl->nsteps; k++) {
		struct stage *s = &e->stages[k];

		s->arena = arena_create(&s->acct.mem, 0);
		if (s->arena == NULL)
			return -1;
	}
	return 0;
}

/* Open stage `s`: its state first, zeroed in its arena when its descriptor
 * gives a size, then the step's own open. */
static int stage_open(struct engine *e, struct stage *s)
{
	const struct step_desc *d = s->step->desc;

	if (d->state_size && (s->state = arena_calloc(s->arena, 1, d->state_size)) == NULL)
		return -1;
	if (s->geos == NULL)
		s->geos = e->geos;
	return d->open ? d->open(s, e) : 0;
}

/* The rejects writer of a pipeline with `on_error: reject`: a write step
 * outside the pipeline's list, and its stage, whose arena the caller
 * destroys (even after a failure here). */
static int rejects_create(struct engine *e, struct step *step, struct stage *st)
{
	if (write_init_rejects(step, e->pl, e->pl->rejects_path, e->pl->rejects_format) != 0)
		return -1;
	st->step = step;
	st->eng = e;
	stage_acct_init(&st->acct, step->label, e->acct);
	st->arena = arena_create(&st->acct.mem, 0);
	return st->arena ? 0 : -1;
}

/* For the leak detector's own test (--config GISPIPE_TEST_LEAK STAGE):
 * the stage labelled STAGE counts one OGR feature handle that nobody will
 * release, as a step that forgot one would. */
static void test_leak(struct engine *e)
{
	const char *label = CPLGetConfigOption("GISPIPE_TEST_LEAK", NULL);
	struct stage *sinks = e->rejects;

	if (label == NULL)
		return;
	for (size_t k = 0; k < e->pl->nsteps; k++)
		if (strcmp(e->stages[k].step->label, label) == 0)
			stage_acct_handle_up(&e->stages[k].acct, HANDLE_OGR_FEATURE);
	if (sinks && strcmp(sinks->step->label, label) == 0)
		stage_acct_handle_up(&sinks->acct, HANDLE_OGR_FEATURE);
}

/* 70, with the message in `err`, when stage `s` still holds a handle. */
static int stage_leak(const struct stage *s, char *err, size_t size)
{
	int leak = stage_acct_first_leak(&s->acct);

	if (leak < 0)
		return 0;
	snprintf(err, size, "stage '%s' leaked %" PRId64 " %s handle(s)", s->step->label,
	         s->acct.live[leak].cur, handle_kind_name(leak));
	return GP_EX_SOFTWARE;
}

/* 70 when a sink (the last step, or the rejects writer) still holds a
 * handle after its close, which released all of them. */
static int sinks_leak(struct engine *e, char *err, size_t size)
{
	int code = stage_leak(&e->stages[e->pl->nsteps - 1], err, size);

	return code || e->rejects == NULL ? code : stage_leak(e->rejects, err, size);
}

/* Each step's own figures, asked of the step (its descriptor's stats),
 * before the step's arena and state go. */
static void gather_totals(struct engine *e)
{
	struct pipeline *pl = e->pl;

	for (size_t k = 0; k < pl->nsteps; k++) {
		struct stage *s = &e->stages[k];
		struct step_stats own = {0};

		/* s->stats holds what the run kind put there: the transform
		 * cache figures of the workers' copies of the step */
		if (s->step->desc->stats && s->state)
			s->step->desc->stats(s, &own);
		own.has_xform |= s->stats.has_xform;
		own.xc_hits += s->stats.xc_hits;
		own.xc_misses += s->stats.xc_misses;
		own.xc_clears += s->stats.xc_clears;
		own.xc_evictions += s->stats.xc_evictions;
		s->stats = own;
		if (s->stats.has_xform) {
			e->totals.xc_hits += s->stats.xc_hits;
			e->totals.xc_misses += s->stats.xc_misses;
			e->totals.xc_clears += s->stats.xc_clears;
			e->totals.xc_evictions += s->stats.xc_evictions;
		}
	}
}

/* The first line of a failed run, the one a cron mail starts with: the
 * pipeline, the step at fault (when one was) and the cause, which loses
 * its own "step 'x' " or "step 'x': " lead when it has one.  Printed to
 * stderr before the table, and left in the error slot with `code`. */
static void first_line(const struct pipeline *pl, const char *step, int code, const char *cause)
{
	char lead[300];
	int n = step ? snprintf(lead, sizeof lead, "step '%s'", step) : 0;

	if (n > 0 && (size_t)n < sizeof lead && strncmp(cause, lead, (size_t)n) == 0 &&
	    (cause[n] == ' ' || (cause[n] == ':' && cause[n + 1] == ' ')))
		cause += n + (cause[n] == ':' ? 2 : 1);
	if (step)
		gp_fail(code, "%s: step '%s': %s", pl->path, step, cause);
	else
		gp_fail(code, "%s: %s", pl->path, cause);
	fprintf(stderr, "gispipe: %s\n", gp_err_msg());
}

int engine_run(struct pipeline *pl, const struct run_opts *o, struct mem_account *acct,
               struct arena *run_arena, volatile sig_atomic_t *stop)
{
	struct engine e = {.pl = pl, .kind = kind_of(pl), .opts = o, .acct = acct,
	                   .arena = run_arena, .stop = stop};
	struct watch watch = {0};
	struct pool *pool;
	struct step rejects_step;
	struct stage rejects = {0};
	struct run_result result;
	double t0 = engine_now();
	char err[4096] = "";
	const char *at = NULL; /* the label of the step at fault, if one is */
	char shard[32];
	int code = 0;
	size_t opened = 0;
	bool rejects_open = false;

	if (stages_create(&e) != 0 || engine_plan(&e) != 0) {
		code = gp_err_code();
		goto report;
	}
	memplan_apply(&e.plan);
	if (e.plan.limit)
		acct->limit = e.plan.limit; /* arenas can never take more than the cap */
	/* What the kind needs (vector: this thread's GEOS context), in the
	 * run arena: it outlives every stage arena, so every geometry is
	 * destroyed before it finishes. */
	if (e.kind->setup && e.kind->setup(&e) != 0) {
		code = gp_err_code();
		goto report;
	}
	e.outs = outset_create(run_arena, o->lock_wait, stop);
	if (e.outs == NULL ||
	    (o->incremental &&
	     (e.incr = incr_create(run_arena, pl, o->lock_wait, stop, false)) == NULL)) {
		code = gp_err_code();
		goto report;
	}
	if (watch_start(&watch, e.plan.limit, stop) != 0) {
		code = gp_err_code();
		goto report;
	}
	e.watch = &watch;
	if (e.kind->watch)
		e.kind->watch(&e, &watch);
	if (stages_arenas(&e) != 0) {
		code = gp_err_code();
		goto close;
	}
	if (pl->on_error == ON_ERROR_REJECT) {
		/* The rejects dataset: a writer of its own, committed with the
		 * outputs (before them: if it cannot be written, neither are
		 * they). */
		if (rejects_create(&e, &rejects_step, &rejects) != 0) {
			at = "rejects";
			code = gp_err_code();
			goto close;
		}
		e.rejects = &rejects;
	}
	for (; opened < pl->nsteps; opened++) {
		if (stage_open(&e, &e.stages[opened]) != 0) {
			code = gp_err_code();
			at = e.stages[opened].step->label;
			goto close;
		}
	}
	if (e.rejects) {
		if (stage_open(&e, &rejects) != 0) {
			code = gp_err_code();
			at = rejects_step.label;
			goto close;
		}
		rejects_open = true;
	}
	test_leak(&e);
	/* One pool for the run, made once: its workers serve every stream
	 * (vector batches, raster warp pieces). */
	if (engine_pool(&e, &pool) != 0) {
		code = gp_err_code();
		goto close;
	}
	if (e.kind->run(&e) != 0) {
		code = gp_err_code();
		at = watch_stage(&watch);
	}
close:
	pool_destroy(e.pool);
	e.pool = NULL;
	/* Whatever failed while stopping failed because of the stop (an
	 * interrupted GEOS call or warp): the stop is the reason. */
	if (code && engine_stopping(&e)) {
		engine_stop(&e);
		code = gp_err_code();
		if (code == GP_EX_TEMPFAIL && watch.trip_stage)
			at = watch.trip_stage;
	}
	if (code)
		snprintf(err, sizeof err, "%s", gp_err_msg());
	/* Close in order, sinks last; a failure anywhere aborts the sinks. */
	for (size_t k = 0; k < pl->nsteps; k++) {
		struct stage *s = &e.stages[k];
		double t;
		int cr;

		if (k + 1 == pl->nsteps && rejects_open) {
			/* Nothing is committed here: every output, the rejects
			 * included, waits for outset_commit() below. */
			t = engine_now();
			cr = rejects_step.desc->close(&rejects, code == 0);
			s->acct.seconds += engine_now() - t;
			if (cr != 0 && code == 0) {
				code = gp_err_code();
				at = rejects_step.label;
				snprintf(err, sizeof err, "%s", gp_err_msg());
			}
		}
		t = engine_now();
		cr = k < opened && s->step->desc->close ? s->step->desc->close(s, code == 0) : 0;

		s->acct.seconds += engine_now() - t;
		if (cr != 0 && code == 0) {
			code = gp_err_code();
			at = s->step->label;
			snprintf(err, sizeof err, "%s", gp_err_msg());
		}
	}
	/* Every handle must be back before anything is committed: a leak is
	 * a bug, says where, and must not fail a run whose outputs are
	 * already in place.  The steps before the sink are done with
	 * everything once closed: their figures are taken, then their arenas
	 * go (releasing what they own), then their counters must be zero.
	 * The sinks have closed every handle of theirs already; their arenas
	 * hold the outputs, which live until the commit. */
	gather_totals(&e);
	for (size_t k = 0; k + 1 < pl->nsteps; k++) {
		struct stage *s = &e.stages[k];

		arena_destroy(s->arena);
		s->arena = NULL;
		s->state = NULL;
	}
	for (size_t k = 0; k + 1 < pl->nsteps && code == 0; k++)
		if ((code = stage_leak(&e.stages[k], err, sizeof err)) != 0)
			at = e.stages[k].step->label;
	if (code == 0 && kind_unclosed(&e) != 0) {
		code = GP_EX_SOFTWARE;
		snprintf(err, sizeof err, "%" PRIu64 " layer iterator(s) destroyed without close",
		         kind_unclosed(&e));
		at = e.stages[0].step->label;
	}
	if (code == 0)
		code = sinks_leak(&e, err, sizeof err); /* the message names the sink */
	/* A limit crossed (or a signal) while the sinks closed: nothing is
	 * committed. */
	if (code == 0 && engine_stopping(&e)) {
		engine_stop(&e);
		code = gp_err_code();
		at = code == GP_EX_TEMPFAIL ? watch.trip_stage : pl->steps[pl->nsteps - 1].label;
		snprintf(err, sizeof err, "%s", gp_err_msg());
	}
	/* All outputs, the rejects included, at once and with signals held:
	 * a stop asked before this point commits nothing (128+N); once it
	 * has begun, the exit status is the commit's. */
	if (code == 0 && outset_commit(e.outs) != 0) {
		code = gp_err_code();
		at = pl->steps[pl->nsteps - 1].label; /* the writer's outputs; the cause names the file */
		snprintf(err, sizeof err, "%s", gp_err_msg());
	}
	/* The record after the outputs: it never says an output is up to
	 * date that is not in place. */
	if (code == 0 && incr_commit(e.incr) != 0) {
		code = gp_err_code();
		snprintf(err, sizeof err, "%s", gp_err_msg());
	}
	incr_abort(e.incr);
	e.totals.outputs = outset_committed(e.outs);
	outset_abort(e.outs);
	{
		uint64_t rss, anon;

		rss_sample(&rss, &anon);
		watch_sample(&watch, rss, anon);
	}
	watch_stop(&watch);
	if (e.kind->watch)
		e.kind->watch(&e, NULL);
	e.watch = NULL;
	arena_destroy(e.stages[pl->nsteps - 1].arena);
	e.stages[pl->nsteps - 1].arena = NULL;
	e.stages[pl->nsteps - 1].state = NULL;
	if (e.rejects)
		arena_destroy(rejects.arena);
report:
	watch_stop(&watch);
	e.totals.seconds = engine_now() - t0;
	e.totals.peak_rss = rss_peak();
	e.totals.run_peak_rss = atomic_load(&watch.peak);
	e.totals.run_peak_anon = atomic_load(&watch.peak_anon);
	e.totals.cross_thread_releases = owner_check_count();
	if ((uint64_t)GDALGetCacheUsed64() > e.totals.gdal_cache_peak)
		e.totals.gdal_cache_peak = (uint64_t)GDALGetCacheUsed64();
	e.exit_code = code;
	if (code && !*err)
		snprintf(err, sizeof err, "%s", gp_err_msg());
	result = (struct run_result){.pipeline = pl->path, .name = pl->name, .raster = pl->raster,
	                             .shard = o->shard_count ? shard_label(shard, sizeof shard,
	                                                                   o->shard_index,
	                                                                   o->shard_count)
	                                                     : NULL,
	                             .exit_code = code, .plan = &e.plan, .totals = &e.totals,
	                             .open_iterators = kind_unclosed(&e), .incr = e.incr,
	                             .nstages = e.stages ? pl->nsteps : 0, .stages = e.stages};
	if (o->report_path && report_write(&result, o->report_path, code ? err : NULL) != 0 &&
	    code == 0) {
		code = result.exit_code = gp_err_code();
		snprintf(err, sizeof err, "%s", gp_err_msg());
	}
	/* One line first, whatever failed: cron mails and CI logs are read
	 * from the top, the table is detail. */
	if (code)
		first_line(pl, at, code, err);
	if (!o->quiet)
		report_table(&result, stderr);
	return code;
}

int engine_check(struct pipeline *pl, const struct run_opts *o, struct mem_account *acct,
                 struct arena *run_arena, bool deep, FILE *explain)
{
	static volatile sig_atomic_t no_stop;
	struct engine e = {.pl = pl, .kind = kind_of(pl), .opts = o, .acct = acct,
	                   .arena = run_arena, .stop = &no_stop};
	struct step rejects_step;
	struct stage rejects = {0};
	bool rejects_open = false;
	size_t opened = 0;
	int code = 0;

	if (stages_create(&e) != 0 || engine_plan(&e) != 0)
		return gp_err_code();
	if (e.kind->setup && e.kind->setup(&e) != 0)
		return gp_err_code();
	/* explain shows what --incremental would read when there is a
	 * record (a pipeline it cannot run incrementally shows nothing). */
	if (explain && pl->on_error != ON_ERROR_REJECT &&
	    (e.incr = incr_create(run_arena, pl, 0, &no_stop, true)) == NULL)
		return gp_err_code();
	if (stages_arenas(&e) != 0) {
		code = gp_err_code();
		goto out;
	}
	for (; opened < pl->nsteps; opened++) {
		if (stage_open(&e, &e.stages[opened]) != 0) {
			code = gp_err_code();
			goto out;
		}
	}
	/* The rejects writer is opened as a run opens it, so that what it
	 * refuses (a format under a memory limit) is refused here too. */
	if (pl->on_error == ON_ERROR_REJECT) {
		if (rejects_create(&e, &rejects_step, &rejects) != 0 ||
		    stage_open(&e, &rejects) != 0) {
			code = gp_err_code();
			goto out;
		}
		rejects_open = true;
	}
	if (e.kind->check(&e, deep, explain) != 0) {
		code = gp_err_code();
		goto out;
	}
	if (explain) {
		incr_explain(e.incr, explain);
		fprintf(explain, "memory plan:\n");
		memplan_print(&e.plan, explain);
		fprintf(explain, "\nsteps:\n");
		for (size_t k = 0; k < pl->nsteps; k++) {
			struct stage *s = &e.stages[k];
			const struct step_desc *d = s->step->desc;

			fprintf(explain, "%zu. %s — %s\n", k + 1, s->step->label, d->summary);
			if (d->explain)
				d->explain(s, &e, explain);
			if (d->explain_memory)
				d->explain_memory(s, &e, explain);
			else
				e.kind->explain_step(&e, s, explain);
		}
	}
out:
	for (size_t k = 0; k < opened; k++) {
		struct stage *s = &e.stages[k];

		if (s->step->desc->close)
			s->step->desc->close(s, false);
	}
	if (rejects_open)
		rejects_step.desc->close(&rejects, false);
	arena_destroy(rejects.arena);
	pool_destroy(e.pool);
	for (size_t k = 0; k < pl->nsteps; k++) {
		arena_destroy(e.stages[k].arena);
		e.stages[k].arena = NULL;
		e.stages[k].state = NULL;
	}
	return code;
}
