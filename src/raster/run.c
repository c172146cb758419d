/*
 * raster/run.c - the raster run loop: streams of windows, pulled.
 *
 * The source's next_stream opens each raster; every later step's begin
 * turns the view it receives into the one it produces (raster.h).  The
 * sink's view is then cut into windows the memory plan sizes; each window
 * is pulled through the chain from the sink's end and put by the sink.
 * The stream arena holds the views for one stream; each step's block arena
 * holds its scratch for one window and is reset after every window.  The
 * block arenas live as long as this loop, the stream arena as long as one
 * stream.  A check (validate --deep, explain) walks the same streams
 * through begin and end only, the sink left alone, and explains each one.
 */
#include "raster/raster.h"

#include <cpl_conv.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "config/pipeline.h"
#include "core/step.h"

#define MiB ((uint64_t)1024 * 1024)

struct arena *raster_blocks(struct stage *s)
{
	return s->blocks;
}

const struct rview *raster_input_view(const struct stage *s)
{
	return s->rin;
}

int raster_pull_upstream(struct stage *s, const struct rwin *w, void *buf)
{
	struct engine *e = s->eng;
	struct stage *up = &e->stages[s->step->index - 1];
	double t0 = engine_now(), saved = e->pull_child, dt;
	int r;

	if (engine_stopping(e))
		return engine_stop(e);
	e->pull_child = 0;
	engine_enter(e, up);
	r = up->step->desc->ras->pull(up, w, buf);
	engine_enter(e, s);
	dt = engine_now() - t0;
	/* Time in a pull, less the time its own pulls took upstream. */
	up->acct.seconds += dt - e->pull_child;
	e->pull_child = saved + dt;
	if (r != 0)
		return -1;
	up->acct.items_out++;
	s->acct.items_in++;
	return 0;
}

void *raster_pull_input(struct stage *s, const struct rwin *w)
{
	void *buf = arena_alloc(s->blocks, raster_win_bytes(s->rin, w), 0);

	if (buf == NULL || raster_pull_upstream(s, w, buf) != 0)
		return NULL;
	return buf;
}

/* Bytes the chain holds per output pixel at once, planned as if every view
 * were worked on in doubles, twice (a step's input and its output).  The
 * sink has no output: its share holds the two windows it keeps (the one
 * pulled and the one written meanwhile, struct rpending) in any type. */
static size_t pixel_cost(const struct engine *e)
{
	const struct pipeline *pl = e->pl;
	size_t cost = 0;

	for (size_t k = 1; k < pl->nsteps; k++)
		if (e->stages[k].rin)
			cost += (size_t)e->stages[k].rin->nbands * 16;
	return cost ? cost : 16;
}

/* The side of the window at `at` when `extent` pixels are cut into
 * windows of `win`: a thin remainder (under half a window) joins the
 * window before it, since steps that estimate from a window's shape (a
 * warp's kernel scale) do badly on slivers. */
static int window_side(int extent, int at, int win)
{
	return extent - at < win + win / 2 ? extent - at : win;
}

/* The largest window of that cut: the last one, when a remainder joined
 * it. */
static uint64_t largest_cut(int extent, int win)
{
	if (win >= extent)
		return (uint64_t)extent;
	return (uint64_t)window_side(extent, (extent / win - 1) * win, win);
}

/* One block less of a window side `win` in `extent`: whole blocks below
 * the extent (a side that is the whole extent need not be whole blocks);
 * `win` itself when a block is the least it can be. */
static int less_by_a_block(int win, int extent, int block)
{
	if (win >= extent)
		win = (extent - 1) / block * block + block;
	return win - block >= block ? win - block : win;
}

/* Shrink the planned window a block at a time, the longer side first,
 * until the largest window the cut makes (an edge window that took a
 * sliver in, up to 1.5 times each way) fits the budget of `px` pixels,
 * or until both sides are one block (or whole rows a block high). */
static void fit_edges(const struct rview *v, int bw, int bh, uint64_t px, int *ww, int *wh)
{
	while (largest_cut(v->width, *ww) * largest_cut(v->height, *wh) > px) {
		int w = *ww < v->width ? less_by_a_block(*ww, v->width, bw) : *ww;
		int h = less_by_a_block(*wh, v->height, bh);
		bool wider = largest_cut(v->width, *ww) >= largest_cut(v->height, *wh);

		if (w != *ww && (h == *wh || wider))
			*ww = w;
		else if (h != *wh)
			*wh = h;
		else
			return;
	}
}

void raster_plan_window(const struct engine *e, const struct rview *v, int *ww, int *wh)
{
	/* --config GISPIPE_RASTER_WINDOW_BYTES: tests cut small rasters into
	 * many windows with it. */
	uint64_t budget = CPLScanUIntBig(CPLGetConfigOption("GISPIPE_RASTER_WINDOW_BYTES", "0"), 32);
	uint64_t px = (budget ? budget : e->plan.window_bytes) / pixel_cost(e);
	int bw = v->block_w > 0 ? v->block_w : 256, bh = v->block_h > 0 ? v->block_h : 256;

	if (px < (uint64_t)bw * bh)
		px = (uint64_t)bw * bh;
	if (bw >= v->width) {
		/* Striped output: whole rows. */
		uint64_t rows = px / (uint64_t)v->width;

		rows = rows / (uint64_t)bh * (uint64_t)bh;
		*ww = v->width;
		*wh = rows < (uint64_t)bh ? bh : rows > (uint64_t)v->height ? v->height : (int)rows;
		fit_edges(v, bw, bh, px, ww, wh);
		return;
	}
	/* Tiled output: square windows of whole blocks (a warp's source area
	 * under a square is smallest), widened to whole rows when they fit. */
	{
		int side = (int)sqrt((double)px);
		int cw = side / bw * bw, ch = side / bh * bh;

		/* A block wider or taller than the square: one block that way,
		 * and the other side from what the budget leaves (a 512 x 16
		 * block is not a 512 x 512 window). */
		if (cw < bw) {
			cw = bw;
			ch = (int)(px / (uint64_t)cw / (uint64_t)bh * (uint64_t)bh);
		}
		if (ch < bh) {
			ch = bh;
			if (cw > bw)
				cw = (int)(px / (uint64_t)ch / (uint64_t)bw * (uint64_t)bw);
			if (cw < bw)
				cw = bw;
		}
		if (cw >= v->width) {
			uint64_t rows = px / (uint64_t)v->width / (uint64_t)bh * (uint64_t)bh;

			cw = v->width;
			ch = rows < (uint64_t)bh ? bh : rows > (uint64_t)v->height ? v->height : (int)rows;
		}
		*ww = cw;
		*wh = ch > v->height ? v->height : ch;
		fit_edges(v, bw, bh, px, ww, wh);
	}
}

/* The run: stream by stream, window by window. */

static void progress(struct engine *e, double t0, uint64_t done, uint64_t total, bool final)
{
	double el = engine_now() - t0;
	double rate = el > 0 ? (double)e->totals.pixels_out / el : 0;

	if (!final && total)
		fprintf(stderr, "\r%8.1f Mpixels  %7.1f Mpx/s  %5.1f%%  ETA %5.0fs ",
		        (double)e->totals.pixels_out / 1e6, rate / 1e6, 100.0 * (double)done / (double)total,
		        rate > 0 ? (double)(total - done) / rate : 0);
	else
		fprintf(stderr, "\r%8.1f Mpixels  %7.1f Mpx/s%s", (double)e->totals.pixels_out / 1e6,
		        rate / 1e6, final ? "                      \n" : " ");
	fflush(stderr);
}

static void reset_blocks(struct engine *e)
{
	for (size_t k = 0; k < e->pl->nsteps; k++)
		arena_reset(e->stages[k].blocks);
}

/* Take the stream through every step's begin, keeping each step's input
 * view; `upto` steps (the sink excluded in checks). */
static int begin_chain(struct engine *e, struct stream *st, size_t upto)
{
	for (size_t k = 1; k < upto; k++) {
		struct stage *s = &e->stages[k];

		/* The step keeps the view it receives and changes a copy. */
		s->rin = st->raster;
		st->raster = raster_view_dup(st->arena, s->rin);
		if (st->raster == NULL)
			return -1;
		engine_enter(e, s); /* a failure names the stage at work */
		if (s->step->desc->ras->begin && s->step->desc->ras->begin(s, st) != 0)
			return -1;
		if (st->raster->width <= 0 || st->raster->height <= 0 || st->raster->nbands <= 0)
			return gp_fail(GP_EX_DATAERR, "step '%s' leaves an empty raster",
			               s->step->label);
	}
	return 0;
}

static int end_chain(struct engine *e, struct stream *st, size_t upto)
{
	struct pipeline *pl = e->pl;
	int r = 0;

	for (size_t k = 1; k < upto; k++) {
		struct stage *s = &e->stages[k];

		/* Entered only when the stream went well (the sink is in
		 * `upto`): after a failure, the stage that failed stays named. */
		if (r == 0 && upto == pl->nsteps)
			engine_enter(e, s);
		if (s->step->desc->ras->end && s->step->desc->ras->end(s, st) != 0 && r == 0)
			r = -1;
	}
	for (size_t k = 1; k < pl->nsteps; k++)
		e->stages[k].rin = NULL;
	return r;
}

/* The window pulled last and not yet written.  It is written while the
 * next one is warped (raster_write_pending, called by a step waiting for
 * its workers), else just after the next one is pulled: so the engine's
 * thread writes one window while the workers warp the next, and the
 * output is written in the same order either way.  Its pixels stay in
 * `spare`, the sink's second block arena, swapped with the sink's own
 * after every pull: the plan counts the second window (pixel_cost). */
struct rpending {
	struct stage *sink;
	struct arena *spare;
	struct rwin w;
	void *buf;
	bool full;
	/* progress */
	double t0, last;
	uint64_t done, total;
	bool show;
};

/* Write the pending window, if any, and free its pixels. */
static int put_pending(struct engine *e, struct rpending *p)
{
	struct stage *sink = p->sink;
	double t;
	int r;

	if (!p->full)
		return 0;
	p->full = false;
	engine_enter(e, sink);
	t = engine_now();
	r = sink->step->desc->ras->put(sink, &p->w, p->buf);
	arena_reset(p->spare);
	sink->acct.seconds += engine_now() - t;
	if (r != 0)
		return -1;
	sink->acct.items_out++;
	e->totals.batches++;
	e->totals.pixels_out += (uint64_t)p->w.w * (uint64_t)p->w.h;
	p->done += (uint64_t)p->w.w * (uint64_t)p->w.h;
	if (p->show && engine_now() - p->last > 0.25) {
		p->last = engine_now();
		progress(e, p->t0, p->done, p->total, false);
	}
	return 0;
}

int raster_write_pending(struct stage *s)
{
	struct engine *e = s->eng;
	double t = engine_now();
	int r;

	if (e->rpending == NULL || !e->rpending->full)
		return 0;
	r = put_pending(e, e->rpending);
	engine_enter(e, s);
	/* The write is the sink's time, not the caller's (raster_pull_upstream). */
	e->pull_child += engine_now() - t;
	return r;
}

static int run_windows(struct engine *e, struct stream *st, struct rpending *p)
{
	struct stage *sink = p->sink;
	const struct rview *v = st->raster;
	int ww, wh;

	raster_plan_window(e, v, &ww, &wh);
	for (int y = 0; y < v->height; y += wh) {
		int h = window_side(v->height, y, wh);

		for (int x = 0; x < v->width; x += ww) {
			int wd = window_side(v->width, x, ww);
			struct rwin w = {x, y, wd, h};
			struct arena *a;
			void *buf;

			if (engine_stopping(e))
				return engine_stop(e);
			buf = arena_alloc(sink->blocks, raster_win_bytes(v, &w), 0);
			if (buf == NULL)
				return -1;
			if (raster_pull_upstream(sink, &w, buf) != 0)
				return -1;
			/* Not written during the pull (no step waited for
			 * workers): now, before this one takes its place. */
			if (put_pending(e, p) != 0)
				return -1;
			p->w = w;
			p->buf = buf;
			p->full = true;
			a = p->spare;
			p->spare = sink->blocks;
			sink->blocks = a;
			if (engine_check_memory(e, sink) != 0)
				return -1;
			reset_blocks(e);
			if (wd != ww)
				break;
		}
		if (h != wh)
			break;
	}
	return put_pending(e, p);
}

static int run_stream(struct engine *e, struct stream *st, struct arena *spare, double t0,
                      bool show)
{
	struct pipeline *pl = e->pl;
	struct rpending p = {.sink = &e->stages[pl->nsteps - 1], .spare = spare, .t0 = t0,
	                     .show = show};
	int r;

	if (begin_chain(e, st, pl->nsteps) != 0)
		return -1;
	/* The sink's begin set the blocks it made in the stream's view. */
	p.total = (uint64_t)st->raster->width * (uint64_t)st->raster->height;
	e->rpending = &p;
	r = run_windows(e, st, &p);
	e->rpending = NULL;
	/* After a failure, the pending window is never written; the arenas
	 * go back to their owners (each_stream destroys `spare`). */
	arena_reset(p.spare);
	if (p.spare != spare) {
		p.sink->blocks = p.spare;
		arena_reset(spare);
	}
	return r;
}

static int make_block_arenas(struct engine *e)
{
	struct pipeline *pl = e->pl;

	for (size_t k = 0; k < pl->nsteps; k++) {
		struct stage *s = &e->stages[k];

		if (s->blocks == NULL && (s->blocks = arena_create(&s->acct.mem, 0)) == NULL)
			return -1;
	}
	return 0;
}

static void drop_block_arenas(struct engine *e)
{
	struct pipeline *pl = e->pl;

	for (size_t k = 0; k < pl->nsteps; k++) {
		arena_destroy(e->stages[k].blocks);
		e->stages[k].blocks = NULL;
	}
}

/* The plan of one stream: grids in and out, and the windows the sink will
 * ask for (assuming 256 x 256 output tiles, GeoTIFF's default here). */
static void explain_stream(struct engine *e, struct stream *st, FILE *out)
{
	const struct rview *in = e->stages[1].rin, *v = st->raster;
	struct rview tiled = *v;
	int ww, wh;
	uint64_t nx, ny;

	tiled.block_w = tiled.block_w >= v->width ? v->width : 256;
	tiled.block_h = tiled.block_w >= v->width ? tiled.block_h : 256;
	e->stages[e->pl->nsteps - 1].rin = v;
	raster_plan_window(e, &tiled, &ww, &wh);
	e->stages[e->pl->nsteps - 1].rin = NULL;
	/* As run_stream cuts them: a thin remainder joins the last window. */
	nx = (uint64_t)v->width / (uint64_t)ww;
	ny = (uint64_t)v->height / (uint64_t)wh;
	nx += nx == 0 || (uint64_t)v->width % (uint64_t)ww >= (uint64_t)ww / 2;
	ny += ny == 0 || (uint64_t)v->height % (uint64_t)wh >= (uint64_t)wh / 2;
	fprintf(out, "  %s: %d x %d, %d band(s) of %s -> %d x %d, %d band(s) of %s\n", st->path,
	        in ? in->width : v->width, in ? in->height : v->height, in ? in->nbands : v->nbands,
	        GDALGetDataTypeName(in ? in->type : v->type), v->width, v->height, v->nbands,
	        GDALGetDataTypeName(v->type));
	fprintf(out, "    output windows of %d x %d pixels (%.1f MiB), %" PRIu64 " of them\n", ww, wh,
	        (double)((uint64_t)ww * (uint64_t)wh * (uint64_t)v->nbands * raster_tsize(v->type)) /
	            (double)MiB,
	        nx * ny);
}

/* Every stream of the source, in order.  A run (`check` false) writes each
 * one; a check takes each through the transforms' begin and end only, the
 * sink left alone, and explains it to `explain` if not NULL. */
static int each_stream(struct engine *e, bool check, FILE *explain)
{
	struct pipeline *pl = e->pl;
	struct stage *src = &e->stages[0];
	size_t upto = check ? pl->nsteps - 1 : pl->nsteps;
	struct stage *sink = &e->stages[pl->nsteps - 1];
	struct arena *sa, *spare = NULL;
	double t0 = engine_now();
	bool show = !check && e->opts->progress;
	int r = 0;

	sa = make_block_arenas(e) == 0 ? arena_create(&src->acct.mem, 0) : NULL;
	/* The sink's second block arena (struct rpending). */
	if (sa && !check && (spare = arena_create(&sink->acct.mem, 0)) == NULL) {
		arena_destroy(sa);
		sa = NULL;
	}
	if (sa == NULL) {
		drop_block_arenas(e);
		return -1;
	}
	for (;;) {
		struct stream st = {.index = e->totals.streams, .arena = sa, .count_hint = -1};

		arena_reset(sa);
		engine_enter(e, src);
		r = src->step->desc->ras->next_stream(src, &st);
		if (r <= 0)
			break;
		e->totals.streams++;
		if (check) {
			r = begin_chain(e, &st, upto);
			if (r == 0 && explain)
				explain_stream(e, &st, explain);
		} else {
			r = run_stream(e, &st, spare, t0, show);
			reset_blocks(e);
		}
		/* Every transform ends and the source closes its dataset whatever
		 * happened; the sink finishes its output only after a whole stream
		 * (after a failure, its close throws the output away). */
		if (end_chain(e, &st, r == 0 ? upto : pl->nsteps - 1) != 0 && r == 0)
			r = -1;
		if (r == 0)
			engine_enter(e, src);
		if (src->step->desc->ras->end(src, &st) != 0 && r == 0)
			r = -1;
		if (r != 0)
			break;
	}
	if (show)
		progress(e, t0, 0, 0, true);
	arena_destroy(sa);
	arena_destroy(spare);
	drop_block_arenas(e);
	return r < 0 ? -1 : 0;
}

static int raster_run(struct engine *e)
{
	return each_stream(e, false, NULL);
}

/* Opening a raster is cheap and read-only: explain shows each input's
 * plan. */
static int raster_check(struct engine *e, bool deep, FILE *explain)
{
	if (!deep && explain == NULL)
		return 0;
	if (explain)
		fprintf(explain, "raster plan:\n");
	if (each_stream(e, true, explain) != 0)
		return -1;
	if (explain)
		fprintf(explain, "\n");
	return 0;
}

static void raster_explain_step(struct engine *e, struct stage *s, FILE *out)
{
	(void)e;
	(void)s;
	fprintf(out, "  memory: one window's scratch in its block arena, reset after each "
	             "window\n");
}

const struct run_kind raster_run_kind = {
	.name = "raster",
	.plan = memplan_raster,
	.run = raster_run,
	.check = raster_check,
	.explain_step = raster_explain_step,
};
