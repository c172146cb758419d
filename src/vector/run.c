/*
 * vector/run.c - the vector run loop: streams of features, batch by batch.
 *
 * The source's next_stream opens each stream; every later step's begin sees
 * it (and may change its schema and CRS); then the source reads batches
 * into the batch arena, reset before each, and every transform and the sink
 * process each batch in turn; at the stream's end every step's end, the
 * source's last (it owns the stream's iterator).  The stream arena holds
 * what lives as long as one stream (schemas, CRS), the batch arena what
 * lives as long as one batch; both are the source's, and this loop's.
 * Features a step fails go to the rejects writer (engine.h) or fail the
 * run.  A check (validate --deep) walks the same loop through begin and end
 * only, and leaves the sink alone: it would create an output.
 *
 * A run of more than one thread (e->pool) writes on this thread the same
 * way, while a reader thread reads the batches and hands each to a worker
 * that runs the transforms on it with copies of the steps of its own
 * ("Worker threads" below: who owns what, how a batch travels, why the
 * output is the same).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ogr_srs_api.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/owner.h"
#include "core/pool.h"
#include "config/pipeline.h"
#include "vector/schema.h"
#include "core/step.h"
#include "vector/batch.h"
#include "vector/geos.h"
#include "vector/source.h"

/* Fail the run for a feature that failed under on_error: fail. */
static int feature_failed(struct engine *e, struct batch *b, size_t i)
{
	const struct feature *f = &b->f[i];

	/* The run's failure is that step's, whatever stage the main thread
	 * was at when a worker's batch came back (the first line names it). */
	for (size_t k = 0; k < e->pl->nsteps; k++)
		if (f->fail_step && strcmp(e->stages[k].step->label, f->fail_step) == 0) {
			engine_enter(e, &e->stages[k]);
			break;
		}
	return gp_fail(GP_EX_DATAERR, "step '%s' failed on feature %" PRId64 " of layer '%s' of '%s': %s",
	               f->fail_step, f->fid, b->stream->layer, b->stream->path, f->fail_reason);
}

/* Progress on a TTY: features read, rate, and for the current layer (whose
 * size the driver may know) how far along it is. */
static void progress(struct engine *e, double t0, const struct stream *st, uint64_t done,
                     bool final)
{
	double el = engine_now() - t0;
	double rate = el > 0 ? (double)e->totals.features_in / el : 0;
	int64_t total = st ? st->count_hint : -1;

	if (total > 0 && rate > 0 && !final) {
		double left = ((double)total - (double)done) / rate;

		fprintf(stderr, "\r%12" PRIu64 " features  %9.0f/s  layer %s: %" PRIu64 " / %" PRId64
		                "  ETA %5.0fs ",
		        e->totals.features_in, rate, st->layer, done, total, left > 0 ? left : 0);
	} else {
		fprintf(stderr, "\r%12" PRIu64 " features  %9.0f/s%s", e->totals.features_in, rate,
		        final ? "                 \n" : " ");
	}
	fflush(stderr);
}

/* The stream the rejects writer sees beside `st`: the input's own fields,
 * then _step, _reason, _source and _fid. */
static int rejects_begin(struct engine *e, const struct stream *st, struct stream *rs)
{
	static const char *const names[] = {"_step", "_reason", "_source", "_fid"};
	static const OGRFieldType types[] = {OFTString, OFTString, OFTString, OFTInteger64};

	*rs = *st;
	rs->schema = schema_copy(st->arena, st->schema);
	if (rs->schema == NULL)
		return -1;
	rs->srs = st->srs;
	rs->schema->gtype = st->schema->gtype;
	for (int k = 0; k < 4; k++)
		if (schema_add_computed(st->arena, rs->schema, names[k], types[k], k) != 0)
			return -1;
	return e->rejects->step->desc->vec->begin(e->rejects, rs);
}

/* batch_fail() could not copy why the feature failed: a reject must carry
 * its reason, so the run fails as out of memory. */
static int reason_lost(const struct stage *s, const struct feature *f)
{
	return gp_fail(GP_EX_TEMPFAIL,
	               "stage '%s': out of memory recording why feature %" PRId64 " failed",
	               s->step->label, f->fid);
}

/* Whether feature `f` is a failure to handle now: failed, and by step
 * `only` when not NULL (a worker's batch carries the failures of every
 * step, handled step by step when it is written). */
static bool failed_by(const struct feature *f, const char *only)
{
	return f->state == FEAT_FAILED && (only == NULL || strcmp(f->fail_step, only) == 0);
}

/* Move the features that step `s` failed (`only`: those failed by that
 * label; NULL: every failed one) to the rejects dataset, or fail the run
 * with the first of them (on_error: fail). */
static int handle_failures(struct engine *e, struct stage *s, struct batch *b, struct stream *rs,
                           const char *only)
{
	struct batch rb = {.kind = BATCH_VECTOR, .arena = b->arena, .owner = b->owner,
	                   .seq = b->seq, .stream = rs};
	size_t nfail = 0;

	for (size_t i = 0; i < b->n; i++) {
		if (!failed_by(&b->f[i], only))
			continue;
		if (b->f[i].fail_reason == NULL)
			return reason_lost(s, &b->f[i]);
		nfail++;
	}
	if (nfail == 0)
		return 0;
	if (e->rejects == NULL) {
		for (size_t i = 0; i < b->n; i++)
			if (failed_by(&b->f[i], only))
				return feature_failed(e, b, i);
	}
	rb.f = arena_calloc(b->arena, nfail, sizeof *rb.f);
	if (rb.f == NULL)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i], *r;
		struct fvalue *v;

		if (!failed_by(f, only))
			continue;
		r = &rb.f[rb.n++];
		*r = *f;
		r->state = FEAT_LIVE;
		r->wkb = f->orig_wkb;
		r->wkb_len = f->orig_len;
		v = r->extra = arena_calloc(b->arena, 4, sizeof *v);
		if (v == NULL)
			return -1;
		r->nextra = 4;
		v[0] = (struct fvalue){.set = true, .type = OFTString, .v.s = f->fail_step};
		v[1] = (struct fvalue){.set = true, .type = OFTString, .v.s = f->fail_reason};
		v[2] = (struct fvalue){.set = true, .type = OFTString, .v.s = b->stream->path};
		v[3] = (struct fvalue){.set = true, .type = OFTInteger64, .v.i = f->fid};
		f->state = FEAT_REJECTED;
	}
	if (e->rejects->step->desc->vec->process(e->rejects, &rb) != 0)
		return -1;
	for (size_t i = 0; i < rb.n; i++) {
		if (rb.f[i].state == FEAT_LIVE)
			continue;
		if (rb.f[i].fail_reason == NULL)
			return reason_lost(e->rejects, &rb.f[i]);
		return gp_fail(GP_EX_DATAERR,
		               "cannot write feature %" PRId64
		               " of '%s' to the rejects dataset: %s",
		               rb.f[i].fid, b->stream->path, rb.f[i].fail_reason);
	}
	s->acct.rejects += rb.n;
	e->totals.rejects += rb.n;
	if (e->pl->max_rejects >= 0 && e->totals.rejects > (uint64_t)e->pl->max_rejects)
		return gp_fail(GP_EX_DATAERR,
		               "%" PRIu64 " features rejected, more than max_rejects (%" PRId64
		               "); the last by step '%s': %s",
		               e->totals.rejects, e->pl->max_rejects, s->step->label,
		               rb.f[rb.n - 1].fail_reason);
	return 0;
}

/* With on_error: reject, keep each feature's geometry as read: steps may
 * change it in place, and a reject carries the original. */
static int keep_originals(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i];

		if (f->wkb == NULL)
			continue;
		f->orig_wkb = arena_alloc(b->arena, f->wkb_len, 8);
		if (f->orig_wkb == NULL)
			return -1;
		memcpy(f->orig_wkb, f->wkb, f->wkb_len);
		f->orig_len = f->wkb_len;
	}
	return 0;
}

/* The batches of stream `st`, every step's begin done. */
static int run_batches(struct engine *e, struct stream *st, struct stream *rs,
                       struct arena *batch_arena, double t0, bool show_progress)
{
	struct pipeline *pl = e->pl;
	struct stage *src = &e->stages[0];
	int r = 0;
	double last_progress = 0;
	uint64_t stream_done = 0;

	for (;;) {
		struct batch b = {.kind = BATCH_VECTOR, .arena = batch_arena, .owner = 0,
		                  .seq = e->totals.batches, .stream = st};
		double t;
		uint64_t filtered_before = 0;

		if (engine_stopping(e))
			return engine_stop(e);
		/* The advice after a burst projects onto no more items than
		 * there are (when the driver knows). */
		e->items_left = st->count_hint > 0 && (uint64_t)st->count_hint > stream_done
		                        ? (uint64_t)st->count_hint - stream_done
		                        : 0;
		/* Releasing the previous batch is the reader's cost: its
		 * features go back to GDAL here. */
		t = engine_now();
		arena_reset(batch_arena);
		engine_step_begins(e, src, e->plan.batch_items);
		r = src->step->desc->vec->read(src, &b);
		src->acct.seconds += engine_now() - t;
		if (r < 0)
			return engine_step_failed(e, src);
		if (r == 0)
			break;
		e->totals.batches++;
		e->totals.features_in += b.n;
		stream_done += b.n;
		if (e->rejects && keep_originals(&b) != 0)
			return -1;
		/* Features the source could not read fail there, not later. */
		if (handle_failures(e, src, &b, rs, NULL) != 0)
			return -1;
		src->acct.items_out += b.n;
		for (size_t k = 1; k < pl->nsteps; k++) {
			struct stage *s = &e->stages[k];
			uint64_t live = 0, after = 0, filtered = 0;

			for (size_t i = 0; i < b.n; i++)
				live += b.f[i].state == FEAT_LIVE;
			t = engine_stage_clock(s);
			engine_step_begins(e, s, live);
			/* A feature failed by a stop (an interrupted GEOS call)
			 * is the run's failure: checked before the rejects. */
			if (s->step->desc->vec->process(s, &b) != 0 || engine_stopping(e))
				return engine_step_failed(e, s);
			s->acct.seconds += engine_stage_clock(s) - t;
			for (size_t i = 0; i < b.n; i++) {
				after += b.f[i].state == FEAT_LIVE;
				filtered += b.f[i].state == FEAT_FILTERED;
			}
			s->acct.items_in += live;
			s->acct.items_out += after;
			s->acct.items_filtered += filtered - filtered_before;
			if (handle_failures(e, s, &b, rs, NULL) != 0)
				return -1;
			filtered_before = filtered;
			if (engine_check_memory(e, s) != 0)
				return -1;
		}
		for (size_t i = 0; i < b.n; i++) {
			e->totals.features_out += b.f[i].state == FEAT_LIVE;
			e->totals.filtered += b.f[i].state == FEAT_FILTERED;
		}
		if (show_progress && engine_now() - last_progress > 0.25) {
			last_progress = engine_now();
			progress(e, t0, st, stream_done, false);
		}
	}
	arena_reset(batch_arena);
	return 0;
}

/*
 * Worker threads (e->pool, a run of more than one thread).
 *
 * Each worker owns a copy of every transform (steps 1..n-2): its own
 * stage, arena, state and accounts, opened by the worker itself with its
 * own GEOS context (s->geos) and, for reproject, its own PROJ context and
 * transform cache; prepared masks are each worker's own.  Per stream, the
 * engine's chain begins on the real stream (the writer uses its schema and
 * CRS) and each worker's copy begins on a copy of the stream as the source
 * gave it (the schema copied into the worker's stream arena, the CRS a
 * clone the reader made for it), so the schemas match without sharing.
 *
 * A batch travels: the reader, a thread of its own (struct reader, owner
 * id n+1), fills it in one of the K*n slot arenas it owns and submits it;
 * a worker runs the whole chain on it, allocating new geometries, reasons
 * and GEOS handles in a batch arena of its own (the batch's `arena` while
 * it works); the writer (this thread) takes finished batches back and
 * writes them in input order (batch.seq), the failures of each step then,
 * step by step, so rejects and the first failure are those of a 1-thread
 * run; what writing allocates (rejects, reasons) goes in the writer's
 * arena, reset after each batch.  Then the worker's arena goes back
 * through its owner's release queue, and the worker resets it before its
 * next batch; the slot goes back to the reader's free list, and the
 * reader resets its arena when it refills it.  Every arena and
 * GDAL/GEOS/PROJ object is thus reset or destroyed by the thread that
 * made it; workers.mu and the pool's mutex order each hand-off.
 *
 * The reader overlaps reading with writing: this thread opens each stream
 * (next_stream), begins the chains and the workers, tells the reader to go
 * (reader_go), writes until the reader has ended the stream and every
 * batch it gave is written, then ends the chains and the source's stream.
 * The reader calls the source's read() with a stage of its own (struct
 * reader's): the source's step and state, which only one thread uses at a
 * time (the hand-offs under workers.mu), but its own root account (no
 * account is shared between threads) and its own arena for what read()
 * keeps beyond a batch (the source's second dataset handle), reset when
 * the stream ends; its figures join the source's stage when it quits.  It
 * is a thread of its own, not a pool job: a job that lasts a stream would
 * keep a worker from the transforms, and --threads N counts workers.  A
 * read that fails is the reader's last batch: the writer writes those
 * before it, then fails as a 1-thread run does; the reader stops before
 * its next batch once the run is stopping (signal, memory limit), and
 * whenever the writer asks (reader_halt).
 *
 * K = 2 per worker keeps every worker busy while the reader reads and the
 * writer writes.  The plan (memplan_threads) counts all K*n batches, each
 * twice (the reader's slot arena, the worker's), the workers' and the
 * reader's own memory, and sizes the batch for them.
 */
#define SLOTS_PER_WORKER MEMPLAN_SLOTS_PER_WORKER

struct worker {
	struct engine *e;
	struct mem_account acct;     /* the worker's own root, its copies'
	                              * parent: no account is shared between
	                              * threads.  Named after the first step it
	                              * runs, as failures to allocate say. */
	struct arena *arena;         /* its GEOS context, its copies */
	struct stage *stages;        /* [k] copies step k (1..n-2) */
	size_t opened;               /* copies opened: 1..opened-1 */
	struct arena *stream_arena;
	struct stream st;            /* its copy of the stream */
	struct arena **arenas;       /* its batch arenas, every one made */
	size_t narenas;
	struct arena **free;         /* those ready for a batch */
	size_t nfree;
	struct arena **released;     /* given back by the writer, not reset
	                              * yet (guarded by workers.mu) */
	size_t nreleased;
	struct arena **taken;        /* what reclaiming took from `released` */
	/* a failure outside a batch (open, begin, end, close) */
	int code;
	char msg[1024];
	/* its copies' figures, kept for the engine's stages when it closes
	 * (the copies go with its arena); [k] for step k, in the run arena */
	struct stage_acct *figures;
	struct step_stats *stats;
};

struct slot {
	struct pool_job job;
	struct workers *t;
	struct arena *arena;         /* the reader's, made by it */
	struct batch b;              /* as read; after the chain, as done */
	size_t nread;                /* features read (a step may add some) */
	struct arena *warena;        /* the worker's, while the batch lives */
	int worker;
	bool done;                   /* taken back from the pool: the writer's */
	bool skipped;
	int code;                    /* a step returned -1 (stage `failed`) */
	size_t failed;
	char msg[1024];
};

/* The reader thread.  Under workers.mu: everything from `st` to `msg`;
 * the rest is its own while it runs, the engine's once it is joined. */
struct reader {
	struct workers *t;
	pthread_t tid;
	bool started;
	pthread_cond_t go;           /* it waits: a stream, a free slot, stop, quit */
	pthread_cond_t ready;        /* the writer waits: a batch given, the end */
	struct stream *st;           /* the stream to read; NULL: none now */
	uint64_t seq;                /* the next batch's */
	struct slot **free;          /* written, back to it */
	size_t nfree;
	uint64_t submitted;          /* batches of the stream given to workers */
	bool ended;                  /* it stopped reading the stream */
	bool stop, quit;             /* asked to stop the stream, to quit */
	bool stopped;                /* it stopped because the run is stopping */
	int code;                    /* read() failed (after `submitted`) */
	char msg[1024];
	/* the source's step and state; its own arena (owned by this
	 * thread, reset at each stream's end) and root account, whose
	 * figures go to the source's stage when it quits */
	struct stage stage;
	int quit_code;               /* a leak found when it quit */
	char quit_msg[256];
};

struct workers {
	struct engine *e;
	int n;
	struct worker *w;            /* [1..n] */
	struct reader *reader;
	struct arena *wr;            /* the writer's (this thread's), per batch */
	struct slot *slots;
	size_t nslots;
	pthread_mutex_t mu;          /* the release queues, the reader's state */
	atomic_bool abort;
	/* the stream as the source gave it, for the workers' begin */
	const struct stream *src_stream;
	struct schema *src_schema;
	OGRSpatialReferenceH *srs;   /* [1..n]: each worker's clone */
	bool ok;                     /* close: the run went well */
};

static void worker_error(struct worker *w, int code, const char *msg)
{
	if (w->code)
		return;
	w->code = code ? code : GP_EX_SOFTWARE;
	snprintf(w->msg, sizeof w->msg, "%s", msg);
}

/* On worker `id`: its GEOS context and its copy of every transform. */
static void worker_open(void *arg, int id)
{
	struct workers *t = arg;
	struct worker *w = &t->w[id];
	struct engine *e = t->e;
	struct pipeline *pl = e->pl;
	struct geos *g;

	w->arena = arena_create(&w->acct, 0);
	g = w->arena ? geos_create(w->arena) : NULL;
	w->stages = w->arena ? arena_calloc(w->arena, pl->nsteps, sizeof *w->stages) : NULL;
	w->arenas = w->arena ? arena_calloc(w->arena, 4 * t->nslots, sizeof *w->arenas) : NULL;
	w->stream_arena = arena_create(&w->acct, 0);
	if (g == NULL || w->stages == NULL || w->arenas == NULL || w->stream_arena == NULL) {
		worker_error(w, gp_err_code(), gp_err_msg());
		return;
	}
	w->free = w->arenas + t->nslots;
	w->released = w->free + t->nslots;
	w->taken = w->released + t->nslots;
	geos_set_watch(g, e->watch);
	for (w->opened = 1; w->opened + 1 < pl->nsteps; w->opened++) {
		struct stage *s = &w->stages[w->opened];
		const struct step_desc *d = pl->steps[w->opened].desc;

		s->step = &pl->steps[w->opened];
		s->eng = e;
		s->geos = g;
		stage_acct_init(&s->acct, s->step->label, &w->acct);
		if ((s->arena = arena_create(&s->acct.mem, 0)) == NULL ||
		    (d->state_size && (s->state = arena_calloc(s->arena, 1, d->state_size)) == NULL) ||
		    (d->open && d->open(s, e) != 0)) {
			worker_error(w, gp_err_code(), gp_err_msg());
			return;
		}
	}
}

/* Every copy of worker `w` begins (or ends) its copy of the stream. */
static void worker_chain(struct worker *w, bool end)
{
	for (size_t k = 1; k < w->opened; k++) {
		struct stage *s = &w->stages[k];
		const struct vector_ops *v = s->step->desc->vec;
		int (*fn)(struct stage *, struct stream *) = end ? v->end : v->begin;

		if (fn && fn(s, &w->st) != 0) {
			worker_error(w, gp_err_code(), gp_err_msg());
			return;
		}
	}
}

/* On worker `id`: a stream begins, on the worker's copy of it. */
static void worker_begin(void *arg, int id)
{
	struct workers *t = arg;
	struct worker *w = &t->w[id];

	arena_reset(w->stream_arena);
	w->st = *t->src_stream;
	w->st.arena = w->stream_arena;
	w->st.srs = t->srs[id];
	w->st.schema = schema_copy(w->stream_arena, t->src_schema);
	if (w->st.schema == NULL) {
		worker_error(w, gp_err_code(), gp_err_msg());
		return;
	}
	worker_chain(w, false);
}

static void worker_end(void *arg, int id)
{
	struct workers *t = arg;

	worker_chain(&t->w[id], true);
}

/* The worker's batch arenas the writer gave back, reset by their owner;
 * one kept ready, the others destroyed, so that what a worker holds does
 * not creep up with the length of the run. */
static void worker_reclaim(struct workers *t, struct worker *w)
{
	size_t n;

	/* taken out under the lock, reset and destroyed outside it */
	pthread_mutex_lock(&t->mu);
	n = w->nreleased;
	/* none when the worker's arrays could not be made (their pointers
	 * are then NULL, which memcpy may not see even for 0 bytes) */
	if (n)
		memcpy(w->taken, w->released, n * sizeof *w->taken);
	w->nreleased = 0;
	pthread_mutex_unlock(&t->mu);
	for (size_t i = 0; i < n; i++) {
		struct arena *a = w->taken[i];

		if (w->nfree == 0) {
			arena_reset(a);
			w->free[w->nfree++] = a;
			continue;
		}
		arena_destroy(a);
		for (size_t j = 0; j < w->narenas; j++)
			if (w->arenas[j] == a)
				w->arenas[j] = w->arenas[--w->narenas];
	}
}

/* On worker `id`: its copies closed, every arena of its own destroyed, a
 * handle still live named (the stage's label), its figures kept. */
static void worker_close(void *arg, int id)
{
	struct workers *t = arg;
	struct worker *w = &t->w[id];

	worker_reclaim(t, w);
	for (size_t k = 1; k < w->opened; k++) {
		struct stage *s = &w->stages[k];
		struct step_stats st = {0};

		if (s->step->desc->close && s->step->desc->close(s, t->ok && w->code == 0) != 0)
			worker_error(w, gp_err_code(), gp_err_msg());
		if (s->step->desc->stats && s->state) {
			s->step->desc->stats(s, &st);
			w->stats[k] = st;
		}
	}
	arena_destroy(w->stream_arena);
	w->stream_arena = NULL;
	for (size_t i = 0; i < w->narenas; i++)
		arena_destroy(w->arenas[i]);
	w->narenas = w->nfree = 0;
	for (size_t k = 1; w->stages && k + 1 < t->e->pl->nsteps; k++) {
		struct stage *s = &w->stages[k];
		int leak;

		arena_destroy(s->arena);
		s->arena = NULL;
		s->state = NULL;
		w->figures[k] = s->acct;
		if ((leak = stage_acct_first_leak(&s->acct)) >= 0 && w->code == 0) {
			char m[256];

			snprintf(m, sizeof m, "stage '%s' (worker %d) leaked %" PRId64 " %s handle(s)",
			         s->step->label, id, s->acct.live[leak].cur, handle_kind_name(leak));
			worker_error(w, GP_EX_SOFTWARE, m);
		}
	}
	/* the GEOS context last: every geometry of its is gone */
	arena_destroy(w->arena);
	w->arena = NULL;
}

/* On a worker: the transforms on one batch, in the worker's own arena. */
static void batch_job(void *arg, int id)
{
	struct slot *sl = arg;
	struct workers *t = sl->t;
	struct worker *w = &t->w[id];
	struct engine *e = t->e;
	struct batch b = sl->b;
	uint64_t filtered_before = 0;

	sl->worker = id;
	worker_reclaim(t, w);
	if (w->nfree == 0) {
		struct arena *a = arena_create(&w->acct, 0);

		if (a == NULL) {
			sl->code = gp_err_code();
			snprintf(sl->msg, sizeof sl->msg, "%s", gp_err_msg());
			sl->failed = 1;
			return;
		}
		w->arenas[w->narenas++] = a;
		w->free[w->nfree++] = a;
	}
	sl->warena = w->free[--w->nfree];
	if (atomic_load(&t->abort) || engine_stopping(e)) {
		sl->skipped = true;
		return;
	}
	b.arena = sl->warena;
	b.stream = &w->st;
	for (size_t i = 0; i < b.n; i++)
		filtered_before += b.f[i].state == FEAT_FILTERED;
	for (size_t k = 1; k < w->opened; k++) {
		struct stage *s = &w->stages[k];
		uint64_t live = 0, after = 0, filtered = 0;
		bool failed = false;
		double t0;

		for (size_t i = 0; i < b.n; i++)
			live += b.f[i].state == FEAT_LIVE;
		/* The step's own seconds, as a 1-thread run counts them: the
		 * engine's counting of the batch is not in them. */
		t0 = engine_stage_clock(s);
		engine_enter(e, s);
		if (s->step->desc->vec->process(s, &b) != 0 || engine_stopping(e)) {
			sl->code = gp_err_code() ? gp_err_code() : GP_EX_SOFTWARE;
			snprintf(sl->msg, sizeof sl->msg, "%s", gp_err_msg());
			sl->failed = k;
			break;
		}
		s->acct.seconds += engine_stage_clock(s) - t0;
		for (size_t i = 0; i < b.n; i++) {
			after += b.f[i].state == FEAT_LIVE;
			filtered += b.f[i].state == FEAT_FILTERED;
			failed |= b.f[i].state == FEAT_FAILED;
		}
		s->acct.items_in += live;
		s->acct.items_out += after;
		s->acct.items_filtered += filtered - filtered_before;
		filtered_before = filtered;
		/* on_error: fail stops at the first step that failed one, as
		 * a 1-thread run does: the writer reports it */
		if (failed && e->rejects == NULL)
			break;
	}
	b.arena = sl->b.arena;
	b.stream = sl->b.stream;
	sl->b = b;
}

/* Give a written slot back: its worker's batch arena to the worker, the
 * slot to the reader (the writer, after writing). */
static void release(struct workers *t, struct slot *sl)
{
	struct reader *r = t->reader;
	struct arena *wa = sl->warena;

	sl->warena = NULL;
	sl->done = sl->skipped = false;
	sl->code = 0;
	sl->failed = 0;
	pthread_mutex_lock(&t->mu);
	if (wa) {
		struct worker *w = &t->w[sl->worker];

		w->released[w->nreleased++] = wa;
	}
	r->free[r->nfree++] = sl;
	pthread_cond_signal(&r->go);
	pthread_mutex_unlock(&t->mu);
}

/* On the reader: fill slot `sl` with the next batch of the stream.  1, 0
 * at the stream's end, -1 with the error set. */
static int reader_fill(struct reader *r, struct slot *sl, struct stream *st, uint64_t seq)
{
	struct engine *e = r->t->e;
	struct stage *src = &r->stage;
	double t0 = engine_now();
	int rc;

	if (sl->arena == NULL && (sl->arena = arena_create(&src->acct.mem, 0)) == NULL)
		return -1;
	/* Releasing the previous batch is the reader's cost: its features
	 * go back to GDAL here. */
	arena_reset(sl->arena);
	sl->b = (struct batch){.kind = BATCH_VECTOR, .arena = sl->arena, .owner = owner_self(),
	                       .seq = seq, .stream = st};
	/* The reader's own stage for the memory watcher (each thread names
	 * its own); a read's failure is named 'read' by the writer
	 * (run_batches_pooled). */
	engine_enter(e, src);
	rc = src->step->desc->vec->read(src, &sl->b);
	src->acct.seconds += engine_now() - t0;
	sl->nread = sl->b.n;
	if (rc > 0 && e->rejects && keep_originals(&sl->b) != 0)
		return -1;
	return rc;
}

/* On the reader: the batches of stream `st`, from seq `seq`, each into a
 * free slot and to the workers, until its end, a failure, the run's stop
 * or the writer's; then what read() kept goes. */
static void reader_stream(struct reader *r, struct stream *st, uint64_t seq)
{
	struct workers *t = r->t;
	struct engine *e = t->e;

	if (r->stage.arena == NULL && (r->stage.arena = arena_create(&r->stage.acct.mem, 0)) == NULL) {
		pthread_mutex_lock(&t->mu);
		r->code = gp_err_code();
		snprintf(r->msg, sizeof r->msg, "%s", gp_err_msg());
		pthread_mutex_unlock(&t->mu);
		return;
	}
	for (;;) {
		struct slot *sl;
		int rc;

		pthread_mutex_lock(&t->mu);
		while (r->nfree == 0 && !r->stop)
			pthread_cond_wait(&r->go, &t->mu);
		sl = r->stop ? NULL : r->free[--r->nfree];
		pthread_mutex_unlock(&t->mu);
		if (sl == NULL)
			break;
		rc = engine_stopping(e) ? 2 : reader_fill(r, sl, st, seq);
		if (rc != 1) {
			pthread_mutex_lock(&t->mu);
			r->free[r->nfree++] = sl;
			r->stopped = rc == 2;
			if (rc < 0) {
				r->code = gp_err_code() ? gp_err_code() : GP_EX_SOFTWARE;
				snprintf(r->msg, sizeof r->msg, "%s", gp_err_msg());
			}
			pthread_mutex_unlock(&t->mu);
			break;
		}
		seq++;
		sl->job = (struct pool_job){.fn = batch_job, .arg = sl};
		pool_submit(e->pool, &sl->job);
		pthread_mutex_lock(&t->mu);
		r->submitted++;
		pthread_cond_signal(&r->ready);
		pthread_mutex_unlock(&t->mu);
	}
	arena_reset(r->stage.arena);
}

/* The reader thread: streams as the writer gives them, until it quits;
 * then every arena of its own goes, and a handle still counted is named. */
static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct workers *t = r->t;
	int leak;

	owner_set(t->n + 1);
	pthread_mutex_lock(&t->mu);
	for (;;) {
		struct stream *st;
		uint64_t seq;

		while (r->st == NULL && !r->quit)
			pthread_cond_wait(&r->go, &t->mu);
		if (r->quit)
			break;
		st = r->st;
		seq = r->seq;
		pthread_mutex_unlock(&t->mu);
		reader_stream(r, st, seq);
		pthread_mutex_lock(&t->mu);
		r->st = NULL;
		r->ended = true;
		pthread_cond_signal(&r->ready);
	}
	pthread_mutex_unlock(&t->mu);
	for (size_t i = 0; i < t->nslots; i++) {
		arena_destroy(t->slots[i].arena);
		t->slots[i].arena = NULL;
	}
	arena_destroy(r->stage.arena);
	r->stage.arena = NULL;
	if ((leak = stage_acct_first_leak(&r->stage.acct)) >= 0) {
		r->quit_code = GP_EX_SOFTWARE;
		snprintf(r->quit_msg, sizeof r->quit_msg,
		         "stage '%s' (reader) leaked %" PRId64 " %s handle(s)", r->stage.step->label,
		         r->stage.acct.live[leak].cur, handle_kind_name(leak));
	}
	return NULL;
}

/* Start the reader, with every slot free (this thread, before the first
 * stream).  -1 with the error set. */
static int reader_start(struct workers *t)
{
	struct engine *e = t->e;
	struct reader *r = arena_calloc(e->arena, 1, sizeof *r);
	int rc;

	if (r == NULL || (r->free = arena_calloc(e->arena, t->nslots, sizeof *r->free)) == NULL)
		return -1;
	r->t = t;
	r->ended = true;
	r->stage = e->stages[0];
	r->stage.arena = NULL; /* the reader makes its own */
	/* the limit for its arenas alone, as a worker's */
	stage_acct_init(&r->stage.acct, r->stage.step->label, NULL);
	r->stage.acct.mem.limit = e->plan.limit;
	for (size_t i = 0; i < t->nslots; i++)
		r->free[r->nfree++] = &t->slots[t->nslots - 1 - i];
	pthread_cond_init(&r->go, NULL);
	pthread_cond_init(&r->ready, NULL);
	t->reader = r;
	if ((rc = pthread_create(&r->tid, NULL, reader_main, r)) != 0)
		return gp_fail(GP_EX_SOFTWARE, "cannot start the reader thread: %s", strerror(rc));
	r->started = true;
	return 0;
}

/* The reader reads stream `st`, its first batch numbered `seq`. */
static void reader_go(struct reader *r, struct stream *st, uint64_t seq)
{
	pthread_mutex_lock(&r->t->mu);
	r->st = st;
	r->seq = seq;
	r->submitted = 0;
	r->ended = r->stop = r->stopped = false;
	r->code = 0;
	pthread_cond_signal(&r->go);
	pthread_mutex_unlock(&r->t->mu);
}

/* The reader stops reading the stream before its next batch; returns
 * when it has (at once when it reads none). */
static void reader_halt(struct reader *r)
{
	pthread_mutex_lock(&r->t->mu);
	r->stop = true;
	pthread_cond_signal(&r->go);
	while (!r->ended)
		pthread_cond_wait(&r->ready, &r->t->mu);
	pthread_mutex_unlock(&r->t->mu);
}

/* The reader quits (after the last stream, or a failure) and its figures
 * go to the source's stage: seconds and items as they add up, its arena
 * and handle peaks on top of the stage's own (it held them beside what
 * the stage holds).  -1 with the error set when it leaked a handle. */
static int reader_stop(struct workers *t)
{
	struct reader *r = t->reader;
	struct stage_acct *to = &t->e->stages[0].acct, *from;

	if (r == NULL)
		return 0;
	if (r->started) {
		reader_halt(r);
		pthread_mutex_lock(&t->mu);
		r->quit = true;
		pthread_cond_signal(&r->go);
		pthread_mutex_unlock(&t->mu);
		pthread_join(r->tid, NULL);
	}
	pthread_cond_destroy(&r->go);
	pthread_cond_destroy(&r->ready);
	from = &r->stage.acct;
	to->seconds += from->seconds;
	to->mem.bytes.peak += from->mem.bytes.peak;
	for (int h = 0; h < HANDLE_KIND_COUNT; h++)
		to->live[h].peak += from->live[h].peak;
	t->reader = NULL;
	return r->quit_code ? gp_fail(r->quit_code, "%s", r->quit_msg) : 0;
}

/* The first failure of any worker outside a batch, as this thread's. */
static int workers_failed(struct workers *t)
{
	for (int i = 1; i <= t->n; i++)
		if (t->w[i].code)
			return gp_fail(t->w[i].code, "%s", t->w[i].msg);
	return 0;
}

/* Write one finished batch: each step's failures in step order, the sink,
 * the figures.  -1 with the error set. */
static int write_slot(struct workers *t, struct slot *sl, struct stream *rs)
{
	struct engine *e = t->e;
	struct pipeline *pl = e->pl;
	struct batch *b = &sl->b;
	struct stage *sink = &e->stages[pl->nsteps - 1];
	uint64_t live = 0, after = 0;
	double t0;

	if (sl->skipped)
		return engine_stopping(e) ? engine_stop(e) : gp_fail(GP_EX_SOFTWARE, "batch skipped");
	/* the slot arena is the reader's, which allocates from its account
	 * while this thread writes: what writing makes goes in the writer's */
	b->arena = t->wr;
	for (size_t k = 0; k + 1 < pl->nsteps; k++) {
		struct stage *s = &e->stages[k];

		if (sl->code && k == sl->failed) {
			gp_fail(sl->code, "%s", sl->msg);
			return engine_step_failed(e, s);
		}
		if (handle_failures(e, s, b, rs, s->step->label) != 0)
			return -1;
	}
	for (size_t i = 0; i < b->n; i++)
		live += b->f[i].state == FEAT_LIVE;
	t0 = engine_now();
	engine_step_begins(e, sink, live);
	if (sink->step->desc->vec->process(sink, b) != 0 || engine_stopping(e))
		return engine_step_failed(e, sink);
	sink->acct.seconds += engine_now() - t0;
	for (size_t i = 0; i < b->n; i++)
		after += b->f[i].state == FEAT_LIVE;
	sink->acct.items_in += live;
	sink->acct.items_out += after;
	if (handle_failures(e, sink, b, rs, NULL) != 0)
		return -1;
	if (engine_check_memory(e, sink) != 0)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		e->totals.features_out += b->f[i].state == FEAT_LIVE;
		e->totals.filtered += b->f[i].state == FEAT_FILTERED;
	}
	return 0;
}

/* Stop the reader, wait for every batch given out; their arenas go back. */
static void drain(struct workers *t)
{
	struct pool_job *j;

	atomic_store(&t->abort, true);
	reader_halt(t->reader);
	arena_reset(t->wr);
	while ((j = pool_take(t->e->pool, true)) != NULL)
		((struct slot *)j->arg)->done = true;
	for (size_t i = 0; i < t->nslots; i++)
		if (t->slots[i].done)
			release(t, &t->slots[i]);
	atomic_store(&t->abort, false);
}

/* A batch the workers finished: the writer's now, counted as read. */
static void batch_taken(struct workers *t, struct pool_job *j)
{
	struct engine *e = t->e;
	struct slot *sl = j->arg;

	sl->done = true;
	e->totals.batches++;
	e->totals.features_in += sl->nread;
	e->stages[0].acct.items_out += sl->nread;
}

/* The batches of stream `st` through the reader and the workers, every
 * begin done: written in input order as they come back, until the reader
 * has ended the stream and every batch it gave is written. */
static int run_batches_pooled(struct workers *t, struct stream *st, struct stream *rs, double t0,
                              bool show_progress)
{
	struct engine *e = t->e;
	struct reader *r = t->reader;
	uint64_t next_write = e->totals.batches, taken = 0, stream_done = 0;
	double last_progress = 0;
	struct pool_job *j;
	bool wait = false;

	reader_go(r, st, next_write);
	for (;;) {
		bool wrote = true, ended;
		uint64_t submitted;

		while ((j = pool_take(e->pool, wait)) != NULL) {
			batch_taken(t, j);
			taken++;
			wait = false;
		}
		/* what is next in input order, as soon as it is done */
		while (wrote) {
			wrote = false;
			for (size_t i = 0; i < t->nslots; i++) {
				struct slot *w = &t->slots[i];

				if (!w->done || w->b.seq != next_write)
					continue;
				/* The advice after a burst projects onto no more
				 * items than there are (when the driver knows). */
				e->items_left = st->count_hint > 0 &&
				                                (uint64_t)st->count_hint > stream_done
				                        ? (uint64_t)st->count_hint - stream_done
				                        : 0;
				stream_done += w->nread;
				if (write_slot(t, w, rs) != 0)
					goto fail;
				arena_reset(t->wr);
				release(t, w);
				next_write++;
				wrote = true;
			}
		}
		if (engine_stopping(e)) {
			engine_stop(e);
			goto fail;
		}
		if (show_progress && engine_now() - last_progress > 0.25) {
			last_progress = engine_now();
			progress(e, t0, st, stream_done, false);
		}
		/* nothing at the workers: wait for the reader (a batch taken
		 * may be one it has not counted yet) */
		pthread_mutex_lock(&t->mu);
		while (taken >= r->submitted && !r->ended)
			pthread_cond_wait(&r->ready, &t->mu);
		submitted = r->submitted;
		ended = r->ended;
		pthread_mutex_unlock(&t->mu);
		if (taken < submitted) {
			wait = true;
			continue;
		}
		if (ended)
			break;
	}
	/* every batch read is written: the reader's end is the stream's */
	if (r->stopped) {
		engine_stop(e);
		goto fail;
	}
	if (r->code) {
		/* the source's failure, whatever stage the workers were at
		 * (every one is idle now) */
		engine_enter(e, &e->stages[0]);
		gp_fail(r->code, "%s", r->msg);
		engine_step_failed(e, &e->stages[0]);
		goto fail;
	}
	return 0;
fail:
	drain(t);
	return -1;
}

/* Every step after the source, up to (not including) `upto`, begins stream
 * `st`; the rejects writer too, on `rs`, in a run that has one. */
static int begin_chain(struct engine *e, struct stream *st, struct stream *rs, size_t upto)
{
	/* Each stage is entered as it works, so that a failure names it. */
	if (e->rejects && (engine_enter(e, e->rejects), rejects_begin(e, st, rs) != 0))
		return -1;
	for (size_t k = 1; k < upto; k++) {
		struct stage *s = &e->stages[k];
		const struct vector_ops *v = s->step->desc->vec;

		engine_enter(e, s);
		if (v->begin && v->begin(s, st) != 0)
			return -1;
	}
	return 0;
}

static int end_chain(struct engine *e, struct stream *st, struct stream *rs, size_t upto)
{
	for (size_t k = 1; k < upto; k++) {
		struct stage *s = &e->stages[k];
		const struct vector_ops *v = s->step->desc->vec;

		engine_enter(e, s);
		if (v->end && v->end(s, st) != 0)
			return -1;
	}
	if (e->rejects && (engine_enter(e, e->rejects),
	                   e->rejects->step->desc->vec->end(e->rejects, rs) != 0))
		return -1;
	return 0;
}

static void srs_release(void *srs)
{
	OSRRelease(srs);
}

/* Stream `st` is about to begin on the engine's chain: keep it as the
 * source gave it for the workers' copies (the schema copied, a CRS clone
 * for each worker, all in the stream arena, this thread's).  The workers
 * begin it after the engine's chain (workers_start), so that a step that
 * refuses the stream fails there first, named as in a 1-thread run.  -1
 * with the error set. */
static int workers_begin(struct workers *t, struct stream *st, struct stream *copy)
{
	*copy = *st;
	if ((copy->schema = schema_copy(st->arena, st->schema)) == NULL)
		return -1;
	for (int i = 1; i <= t->n; i++) {
		t->srs[i] = NULL;
		if (st->srs == NULL)
			continue;
		if ((t->srs[i] = OSRClone(st->srs)) == NULL)
			return gp_fail(GP_EX_TEMPFAIL, "out of memory copying the CRS of layer '%s'",
			               st->layer);
		/* released with the stream, by this thread; not counted as the
		 * source's: a 1-thread run has none of these */
		if (arena_defer(st->arena, srs_release, t->srs[i]) != 0)
			return -1;
	}
	t->src_stream = copy;
	t->src_schema = copy->schema;
	return 0;
}

/* Every worker begins the stream workers_begin kept. */
static int workers_start(struct workers *t)
{
	pool_each(t->e->pool, worker_begin, t);
	return workers_failed(t);
}

/* Every stream of the source, in order.  A run (`check` false) takes each
 * through every step, batch by batch (through the workers `t` when not
 * NULL); a check through the transforms' begin and end only, the sink left
 * alone. */
static int each_stream(struct engine *e, bool check, struct workers *t)
{
	struct pipeline *pl = e->pl;
	struct stage *src = &e->stages[0];
	size_t upto = check ? pl->nsteps - 1 : pl->nsteps;
	struct arena *stream_arena = NULL, *batch_arena = NULL;
	double t0 = engine_now();
	bool show_progress = !check && e->opts->progress;
	int r = 0;

	stream_arena = arena_create(&src->acct.mem, 0);
	if (!check && t == NULL)
		batch_arena = arena_create(&src->acct.mem, 256 * 1024);
	if (stream_arena == NULL || (!check && t == NULL && batch_arena == NULL)) {
		r = -1;
		goto out;
	}
	for (;;) {
		struct stream st = {.index = e->totals.streams, .arena = stream_arena, .count_hint = -1};
		struct stream rs, copy;

		arena_reset(stream_arena);
		engine_enter(e, src);
		r = src->step->desc->vec->next_stream(src, &st);
		if (r <= 0)
			break;
		e->totals.streams++;
		r = t ? workers_begin(t, &st, &copy) : 0;
		if (r == 0)
			r = begin_chain(e, &st, &rs, upto);
		if (r == 0 && t)
			r = workers_start(t);
		if (r == 0 && !check)
			r = t ? run_batches_pooled(t, &st, &rs, t0, show_progress)
			      : run_batches(e, &st, &rs, batch_arena, t0, show_progress);
		if (r == 0 && t) {
			pool_each(e->pool, worker_end, t);
			r = workers_failed(t);
		}
		if (r == 0)
			r = end_chain(e, &st, &rs, upto);
		/* The source closes its iterator whatever happened: it is the
		 * owner, and closing is explicit. */
		if (r == 0)
			engine_enter(e, src);
		if (src->step->desc->vec->end(src, &st) != 0 && r == 0)
			r = -1;
		if (r != 0)
			break;
	}
	if (show_progress)
		progress(e, t0, NULL, 0, true);
out:
	arena_destroy(batch_arena);
	arena_destroy(stream_arena);
	return r < 0 ? -1 : 0;
}

/* The workers of a run: each opens its copies, then the streams go
 * through them, then each closes its copies (whatever happened) and the
 * engine's stages take their figures.  -1 with the error set. */
static int run_pooled(struct engine *e)
{
	struct pipeline *pl = e->pl;
	struct workers t = {.e = e, .n = pool_size(e->pool)};
	int r = -1;

	t.nslots = (size_t)t.n * SLOTS_PER_WORKER;
	t.w = arena_calloc(e->arena, (size_t)t.n + 1, sizeof *t.w);
	t.srs = arena_calloc(e->arena, (size_t)t.n + 1, sizeof *t.srs);
	t.slots = arena_calloc(e->arena, t.nslots, sizeof *t.slots);
	if (t.w == NULL || t.srs == NULL || t.slots == NULL)
		return -1;
	pthread_mutex_init(&t.mu, NULL);
	for (int i = 1; i <= t.n; i++) {
		const char *name = pl->steps[1].label;

		t.w[i].figures = arena_calloc(e->arena, pl->nsteps, sizeof *t.w[i].figures);
		t.w[i].stats = arena_calloc(e->arena, pl->nsteps, sizeof *t.w[i].stats);
		if (t.w[i].figures == NULL || t.w[i].stats == NULL)
			goto out;
		t.w[i].e = e;
		/* the limit for its arenas alone, as the run's for a 1-thread
		 * run's: the watcher holds the process to it */
		mem_account_init(&t.w[i].acct, name, NULL, e->plan.limit);
	}
	for (size_t i = 0; i < t.nslots; i++)
		t.slots[i].t = &t;
	/* what writing allocates, the sink's */
	if ((t.wr = arena_create(&e->stages[pl->nsteps - 1].acct.mem, 0)) == NULL)
		goto out;
	pool_each(e->pool, worker_open, &t);
	r = workers_failed(&t);
	if (r == 0)
		r = reader_start(&t);
	if (r == 0)
		r = each_stream(e, false, &t);
out:
	t.ok = r == 0;
	/* the reader first: the slots it destroys hold batches the
	 * workers' arenas point into no more */
	if (reader_stop(&t) != 0 && r == 0)
		r = -1;
	pool_each(e->pool, worker_close, &t);
	if (r == 0)
		r = workers_failed(&t);
	for (int i = 1; i <= t.n; i++) {
		struct worker *w = &t.w[i];

		for (size_t k = 1; w->figures && w->stats && k + 1 < pl->nsteps; k++) {
			struct stage *s = &e->stages[k];
			struct stage_acct *to = &s->acct, *from = &w->figures[k];
			const struct step_stats *st = &w->stats[k];

			to->items_in += from->items_in;
			to->items_out += from->items_out;
			to->items_filtered += from->items_filtered;
			to->seconds += from->seconds;
			/* peaks: the highest of any copy, as one thread's run
			 * shows them */
			if (from->mem.bytes.peak > to->mem.bytes.peak)
				to->mem.bytes.peak = from->mem.bytes.peak;
			for (int h = 0; h < HANDLE_KIND_COUNT; h++)
				if (from->live[h].peak > to->live[h].peak)
					to->live[h].peak = from->live[h].peak;
			/* the engine adds the stage's own (gather_totals) */
			s->stats.has_xform |= st->has_xform;
			s->stats.xc_hits += st->xc_hits;
			s->stats.xc_misses += st->xc_misses;
			s->stats.xc_clears += st->xc_clears;
			s->stats.xc_evictions += st->xc_evictions;
		}
	}
	arena_destroy(t.wr);
	pthread_mutex_destroy(&t.mu);
	return r;
}

static int vector_run(struct engine *e)
{
	/* A pool only when the plan shares transforms out (engine_plan). */
	if (e->pool)
		return run_pooled(e);
	return each_stream(e, false, NULL);
}

/* Explain opens no vector input: only validate --deep walks the streams.
 * It says how many threads a run would use, and for what. */
static int vector_check(struct engine *e, bool deep, FILE *explain)
{
	int n = engine_threads(e);

	if (explain && n == 1)
		fprintf(explain, "threads: 1 (%s)\n\n",
		        e->plan.nothing_to_share ? "no transform to share out"
		                                 : "every step on the main thread");
	else if (explain) {
		fprintf(explain,
		        "threads: %d workers run the transforms, each with its own copies of the "
		        "steps;\n  a reader thread reads while the main thread writes; %d batches "
		        "of %zu features in flight\n\n",
		        n, e->plan.batches_in_flight, e->plan.batch_items);
	}
	return deep ? each_stream(e, true, NULL) : 0;
}

static void vector_explain_step(struct engine *e, struct stage *s, FILE *out)
{
	(void)e;
	(void)s;
	fprintf(out, "  memory: state in its stage arena; works in the batch arena\n");
}

/* The engine thread's GEOS context, for the steps that use GEOS (e->geos),
 * in the run arena: it outlives every stage arena. */
static int vector_setup(struct engine *e)
{
	e->geos = geos_create(e->arena);
	return e->geos ? 0 : -1;
}

/* GEOS calls stop with the run: interrupted once the watcher says so. */
static void vector_watch(struct engine *e, const struct watch *w)
{
	geos_set_watch(e->geos, w);
}

static uint64_t vector_applied(const struct engine *e)
{
	return geos_applied(e->geos);
}

const struct run_kind vector_run_kind = {
	.name = "vector",
	.items = true,
	.run = vector_run,
	.check = vector_check,
	.explain_step = vector_explain_step,
	.setup = vector_setup,
	.watch = vector_watch,
	.applied = vector_applied,
	.unclosed = layer_iter_unclosed,
};
