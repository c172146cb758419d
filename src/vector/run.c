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
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
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

	(void)e;
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

/* Move the features that step `s` failed to the rejects dataset, or fail
 * the run with the first of them (on_error: fail). */
static int handle_failures(struct engine *e, struct stage *s, struct batch *b, struct stream *rs)
{
	struct batch rb = {.kind = BATCH_VECTOR, .arena = b->arena, .owner = b->owner,
	                   .seq = b->seq, .stream = rs};
	size_t nfail = 0;

	for (size_t i = 0; i < b->n; i++) {
		if (b->f[i].state != FEAT_FAILED)
			continue;
		if (b->f[i].fail_reason == NULL)
			return reason_lost(s, &b->f[i]);
		nfail++;
	}
	if (nfail == 0)
		return 0;
	if (e->rejects == NULL) {
		for (size_t i = 0; i < b->n; i++)
			if (b->f[i].state == FEAT_FAILED)
				return feature_failed(e, b, i);
	}
	rb.f = arena_calloc(b->arena, nfail, sizeof *rb.f);
	if (rb.f == NULL)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i], *r;
		struct fvalue *v;

		if (f->state != FEAT_FAILED)
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
		if (handle_failures(e, src, &b, rs) != 0)
			return -1;
		src->acct.items_out += b.n;
		for (size_t k = 1; k < pl->nsteps; k++) {
			struct stage *s = &e->stages[k];
			uint64_t live = 0, after = 0, filtered = 0;

			for (size_t i = 0; i < b.n; i++)
				live += b.f[i].state == FEAT_LIVE;
			t = engine_now();
			engine_step_begins(e, s, live);
			/* A feature failed by a stop (an interrupted GEOS call)
			 * is the run's failure: checked before the rejects. */
			if (s->step->desc->vec->process(s, &b) != 0 || engine_stopping(e))
				return engine_step_failed(e, s);
			s->acct.seconds += engine_now() - t;
			for (size_t i = 0; i < b.n; i++) {
				after += b.f[i].state == FEAT_LIVE;
				filtered += b.f[i].state == FEAT_FILTERED;
			}
			s->acct.items_in += live;
			s->acct.items_out += after;
			s->acct.items_filtered += filtered - filtered_before;
			if (handle_failures(e, s, &b, rs) != 0)
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

/* Every stream of the source, in order.  A run (`check` false) takes each
 * through every step, batch by batch; a check through the transforms'
 * begin and end only, the sink left alone. */
static int each_stream(struct engine *e, bool check)
{
	struct pipeline *pl = e->pl;
	struct stage *src = &e->stages[0];
	size_t upto = check ? pl->nsteps - 1 : pl->nsteps;
	struct arena *stream_arena = NULL, *batch_arena = NULL;
	double t0 = engine_now();
	bool show_progress = !check && e->opts->progress;
	int r = 0;

	stream_arena = arena_create(&src->acct.mem, 0);
	if (!check)
		batch_arena = arena_create(&src->acct.mem, 256 * 1024);
	if (stream_arena == NULL || (!check && batch_arena == NULL)) {
		r = -1;
		goto out;
	}
	for (;;) {
		struct stream st = {.index = e->totals.streams, .arena = stream_arena, .count_hint = -1};
		struct stream rs;

		arena_reset(stream_arena);
		engine_enter(e, src);
		r = src->step->desc->vec->next_stream(src, &st);
		if (r <= 0)
			break;
		e->totals.streams++;
		r = begin_chain(e, &st, &rs, upto);
		if (r == 0 && !check)
			r = run_batches(e, &st, &rs, batch_arena, t0, show_progress);
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

static int vector_run(struct engine *e)
{
	return each_stream(e, false);
}

/* Explain opens no vector input: only validate --deep walks the streams. */
static int vector_check(struct engine *e, bool deep, FILE *explain)
{
	(void)explain;
	return deep ? each_stream(e, true) : 0;
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
