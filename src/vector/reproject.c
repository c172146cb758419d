/* vector/reproject.c - reproject features with PROJ, a batch at a time. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cpl_conv.h>
#include <ogr_srs_api.h>
#include <proj.h>

#include "core/arena.h"
#include "core/step.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/handle.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "vector/wkb.h"
#include "core/xform_cache.h"
#include "config/yaml_load.h"
#include "vector/batch.h"

struct reproject_conf {
	const char *to;
	const char *from;
};

static const struct opt_desc reproject_opts[] = {
	{"to", OPT_STRING, offsetof(struct reproject_conf, to), OPT_REQUIRED,
	 "target CRS: EPSG:code, WKT, PROJJSON or a PROJ string", NULL, NULL, NULL, 0, 0, 0},
	{"from", OPT_STRING, offsetof(struct reproject_conf, from), 0,
	 "source CRS, only to override a missing or wrong one", "the layer's", NULL, NULL, 0, 0, 0},
	{0},
};

struct reproject_state {
	struct xform_cache *cache;
	uint64_t generation;     /* engine clear generation seen */
	char *dst_def;           /* WKT2 of the target (step arena) */
	OGRSpatialReferenceH dst_srs;
	PJ *op;                  /* for the current stream; NULL: nothing to do */
	struct engine *eng;
};

static OGRSpatialReferenceH srs_from(const char *def)
{
	OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);

	if (srs == NULL)
		return NULL;
	if (OSRSetFromUserInput(srs, def) != OGRERR_NONE) {
		OSRDestroySpatialReference(srs);
		return NULL;
	}
	OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
	return srs;
}

static int reproject_check(struct step *s, struct pipeline *pl)
{
	struct reproject_conf *c = s->conf;
	const char *bad = NULL;
	OGRSpatialReferenceH srs;

	if ((srs = srs_from(c->to)) == NULL)
		bad = "to";
	else
		OSRDestroySpatialReference(srs);
	if (bad == NULL && c->from) {
		if ((srs = srs_from(c->from)) == NULL)
			bad = "from";
		else
			OSRDestroySpatialReference(srs);
	}
	if (bad)
		return ydoc_fail(pl->doc, ynode_get(s->node, bad), "unknown CRS '%s' in step '%s'",
		                 *bad == 't' ? c->to : c->from, s->label);
	return 0;
}

/* `srs` as WKT2 in `a`: 0, or 1 when GDAL cannot write it (no error set),
 * or -1 when out of memory (error set). */
static int wkt_of(struct arena *a, OGRSpatialReferenceH srs, char **out)
{
	const char *opts[] = {"FORMAT=WKT2_2019", NULL};
	char *wkt = NULL;

	if (OSRExportToWktEx(srs, &wkt, opts) != OGRERR_NONE || wkt == NULL) {
		CPLFree(wkt);
		return 1;
	}
	*out = arena_strdup(a, wkt);
	CPLFree(wkt);
	return *out ? 0 : -1;
}

static int reproject_open(struct stage *s, struct engine *e)
{
	struct reproject_conf *c = s->step->conf;
	struct reproject_state *st = s->state;
	int r;

	st->eng = e;
	st->cache = xform_cache_create(s->arena, &s->acct, (size_t)e->pl->xc_max_entries);
	if (st->cache == NULL)
		return -1;
	st->dst_srs = srs_from(c->to);
	if (st->dst_srs == NULL)
		return gp_fail(GP_EX_CONFIG, "unknown CRS '%s'", c->to);
	if (handle_own(s->arena, &s->acct, HANDLE_OGR_SRS, st->dst_srs, NULL) == NULL) {
		st->dst_srs = NULL; /* released by handle_own, error set */
		return -1;
	}
	r = wkt_of(s->arena, st->dst_srs, &st->dst_def);
	if (r > 0)
		return gp_fail(GP_EX_CONFIG, "cannot describe CRS '%s'", c->to);
	return r;
}

static int reproject_begin(struct stage *s, struct stream *st)
{
	struct reproject_conf *c = s->step->conf;
	struct reproject_state *rs = s->state;
	OGRSpatialReferenceH src = st->srs;
	OGRSpatialReferenceH from = NULL;
	char *src_def = NULL;
	OGRSpatialReferenceH out;
	int r;

	if (rs->generation != rs->eng->xc_generation) {
		rs->generation = rs->eng->xc_generation;
		if (xform_cache_clear(rs->cache) != 0)
			return -1;
	}
	if (c->from) {
		from = srs_from(c->from);
		if (from == NULL)
			return gp_fail(GP_EX_CONFIG, "unknown CRS '%s'", c->from);
		if (handle_own(st->arena, &s->acct, HANDLE_OGR_SRS, from, NULL) == NULL)
			return -1;
		src = from;
	}
	if (src == NULL)
		return gp_fail(GP_EX_DATAERR,
		               "step '%s': layer '%s' of '%s' has no CRS; give it one with 'from:'",
		               s->step->label, st->layer, st->path);
	rs->op = NULL;
	if (!OSRIsSame(src, rs->dst_srs)) {
		r = wkt_of(st->arena, src, &src_def);
		if (r < 0)
			return -1;
		if (r > 0)
			return gp_fail(GP_EX_DATAERR, "step '%s': cannot describe the CRS of '%s'",
			               s->step->label, st->path);
		rs->op = xform_cache_get(rs->cache, src_def, rs->dst_def);
		if (rs->op == NULL)
			return gp_fail_prefix("step '%s', layer '%s' of '%s'", s->step->label,
			                      st->layer, st->path);
	}
	out = OSRClone(rs->dst_srs);
	if (out == NULL)
		return gp_fail(GP_EX_SOFTWARE, "cannot copy a CRS");
	if (handle_own(st->arena, &s->acct, HANDLE_OGR_SRS, out, NULL) == NULL)
		return -1;
	OSRSetAxisMappingStrategy(out, OAMS_TRADITIONAL_GIS_ORDER);
	st->srs = out;
	st->srs_from_source = false;
	return 0;
}

/*
 * Gathering: x, y (and z) of the points of a few features in arrays, so
 * that PROJ is called on many points at once: a chunk of whole features
 * that reaches CHUNK points goes through PROJ and back into its WKB, then
 * the next chunk is gathered into the same arrays.  A chunk is small
 * enough that its arrays, and the WKB its points came from, are still in
 * the core's nearest caches when the results go back: on a worker, that
 * WKB was written by the reader on another core, and is fetched once.
 *
 * Each geometry is walked once: its runs are copied out as they are found
 * and remembered (where they are, how they are laid out), so that the
 * results go back without a second walk.  With many small geometries (a
 * point a feature) that bookkeeping is most of the stage's own cost, so a
 * 2D point in little-endian WKB, the usual point, is taken without a
 * walk, and nothing is kept per feature: the rare chunk where PROJ fails
 * a coordinate finds its features' points again (feature_size()).
 *
 * Room: a chunk is under CHUNK points until its last feature, so CHUNK
 * points and runs and the largest geometry's are enough.  A point takes
 * at least 16 bytes of WKB and a run at least 20 (a ring of one point),
 * so the arrays never grow.  They are in the batch arena.
 */
#define CHUNK 256

struct back {
	unsigned char *p;       /* first point of the run, in the WKB */
	uint32_t n;             /* points: a WKB count, hence 32 bits */
	uint8_t stride;         /* 16, 24 or 32 */
	uint8_t has_z;
	uint8_t le;
};

struct gather {
	double *x, *y, *z;      /* z: NULL until a run has Z */
	size_t n, cap;          /* points gathered, room for */
	struct back *runs;
	size_t nruns;
	struct arena *a;
	int oom;                /* the z array could not be had (error set) */
};

/* The 21 bytes of a 2D point in little-endian ISO WKB, not POINT EMPTY
 * (NaN, NaN). */
static inline bool xy_point(const unsigned char *w, size_t len)
{
	static const unsigned char head[5] = {1, 1, 0, 0, 0};

	return len == 21 && memcmp(w, head, 5) == 0 && !isnan(wkb_get_d(w + 5, 1));
}

/* Copy out the points of `r` and remember the run; -1 when out of memory
 * (error set). */
static int gather_points(struct gather *g, const struct wkb_run *r)
{
	const unsigned char *p = r->p;
	double *x = g->x + g->n, *y = g->y + g->n;

	if (r->has_z && g->z == NULL) {
		g->z = arena_alloc(g->a, g->cap * sizeof(double), 0);
		if (g->z == NULL) {
			g->oom = 1;
			return -1;
		}
		memset(g->z, 0, g->n * sizeof(double));
	}
	/* n <= cap - g->n: see Room above. */
	g->runs[g->nruns++] = (struct back){r->p, (uint32_t)r->n, (uint8_t)r->stride,
	                                    (uint8_t)r->has_z, (uint8_t)r->le};
	for (size_t i = 0; i < r->n; i++, p += r->stride) {
		x[i] = wkb_get_d(p, r->le);
		y[i] = wkb_get_d(p + 8, r->le);
	}
	if (g->z) {
		p = r->p;
		for (size_t i = 0; i < r->n; i++, p += r->stride)
			g->z[g->n + i] = r->has_z ? wkb_get_d(p + 16, r->le) : 0.0;
	}
	g->n += r->n;
	return 0;
}

static int gather_run(const struct wkb_run *r, void *ctx)
{
	return gather_points(ctx, r);
}

/* Any geometry but the usual point: one run, or a walk.  0, or 1 when
 * the WKB is malformed (`why` set, nothing of it kept), or -1 when out of
 * memory (error set). */
static int gather_geometry(struct gather *g, unsigned char *wkb, size_t len, const char **why)
{
	size_t n = g->n, nruns = g->nruns;
	struct wkb_run run;

	if (wkb_simple_run(wkb, len, &run))
		return gather_points(g, &run);
	if (wkb_walk(wkb, len, gather_run, g, why) == 0)
		return 0;
	if (g->oom)
		return -1;
	g->n = n;
	g->nruns = nruns;
	return 1;
}

/* How many points and runs gathering took of a geometry it took whole:
 * the same decisions, counted. */
struct size {
	size_t n, nruns;
};

static int count_run(const struct wkb_run *r, void *ctx)
{
	struct size *sz = ctx;

	sz->n += r->n;
	sz->nruns++;
	return 0;
}

static struct size feature_size(unsigned char *wkb, size_t len)
{
	struct size sz = {0, 0};
	struct wkb_run run;

	if (xy_point(wkb, len))
		return (struct size){1, 1};
	if (wkb_simple_run(wkb, len, &run))
		return (struct size){run.n, 1};
	(void)wkb_walk(wkb, len, count_run, &sz, NULL);
	return sz;
}

/* The transformed points of runs [r0, r1) back into their WKB, from point
 * k of the arrays. */
static void scatter(const struct gather *g, size_t r0, size_t r1, size_t k)
{
	for (size_t r = r0; r < r1; r++) {
		const struct back *bk = &g->runs[r];
		unsigned char *p = bk->p;

		if (bk->le && !bk->has_z) {
			for (uint32_t i = 0; i < bk->n; i++, k++, p += bk->stride) {
				memcpy(p, &g->x[k], 8);
				memcpy(p + 8, &g->y[k], 8);
			}
			continue;
		}
		for (uint32_t i = 0; i < bk->n; i++, k++, p += bk->stride) {
			wkb_put_d(p, g->x[k], bk->le);
			wkb_put_d(p + 8, g->y[k], bk->le);
			if (bk->has_z)
				wkb_put_d(p + 16, g->z[k], bk->le);
		}
	}
}

/* Any coordinate of the n that is not finite (PROJ's HUGE_VAL included):
 * all exponent bits set.  Integer tests without branches, so that the
 * usual chunk pays little. */
static bool any_bad(const double *x, const double *y, size_t n)
{
	const uint64_t exp = 0x7ff0000000000000u;
	uint64_t bad = 0;

	for (size_t k = 0; k < n; k++) {
		uint64_t u, v;

		memcpy(&u, &x[k], 8);
		memcpy(&v, &y[k], 8);
		bad |= (uint64_t)((u & exp) == exp) | (uint64_t)((v & exp) == exp);
	}
	return bad != 0;
}

/* After a chunk, features [i0, i1), where PROJ failed a coordinate: each
 * feature with one fails, keeping its original coordinates; the others
 * get theirs. */
static void settle(struct stage *s, struct batch *b, const struct gather *g, size_t i0, size_t i1)
{
	const char *to = ((struct reproject_conf *)s->step->conf)->to;
	size_t k = 0, r = 0;
	char reason[256];

	for (size_t i = i0; i < i1; i++) {
		struct feature *f = &b->f[i];
		struct size sz;
		size_t bad = 0;

		/* Those failed while gathering are FAILED now: none taken. */
		if (f->state != FEAT_LIVE || f->wkb == NULL)
			continue;
		sz = feature_size(f->wkb, f->wkb_len);
		for (size_t j = 0; j < sz.n && bad == 0; j++)
			if (!isfinite(g->x[k + j]) || !isfinite(g->y[k + j]))
				bad = j + 1;
		if (bad) {
			snprintf(reason, sizeof reason,
			         "coordinate %zu cannot be transformed to %s", bad, to);
			batch_fail(b, i, s->step->label, reason);
		} else {
			scatter(g, r, r + sz.nruns, k);
		}
		k += sz.n;
		r += sz.nruns;
	}
}

/* The chunk gathered of features [i0, i1) through PROJ and back; the
 * arrays are empty after it. */
static void transform(struct stage *s, struct batch *b, struct gather *g, size_t i0, size_t i1)
{
	struct reproject_state *rs = s->state;

	if (g->n == 0)
		return;
	proj_errno_reset(rs->op);
	proj_trans_generic(rs->op, PJ_FWD, g->x, sizeof(double), g->n, g->y, sizeof(double), g->n,
	                   g->z, sizeof(double), g->z ? g->n : 0, NULL, 0, 0);
	/* Usually every point went through: the runs go back in one sweep,
	 * without touching the features again. */
	if (any_bad(g->x, g->y, g->n))
		settle(s, b, g, i0, i1);
	else
		scatter(g, 0, g->nruns, 0);
	g->n = 0;
	g->nruns = 0;
}

static int reproject_process(struct stage *s, struct batch *b)
{
	struct reproject_state *rs = s->state;
	struct gather g = {.a = b->arena};
	size_t most = 0, i0 = 0;

	if (rs->op == NULL)
		return 0;
	/* Room for a chunk and the largest geometry (see Room above). */
	for (size_t i = 0; i < b->n; i++)
		if (b->f[i].state == FEAT_LIVE && b->f[i].wkb && b->f[i].wkb_len > most)
			most = b->f[i].wkb_len;
	g.cap = CHUNK + most / 16;
	g.x = arena_alloc(b->arena, g.cap * sizeof(double), 0);
	g.y = arena_alloc(b->arena, g.cap * sizeof(double), 0);
	g.runs = arena_alloc(b->arena, (CHUNK + most / 20 + 1) * sizeof *g.runs, 0);
	if (g.x == NULL || g.y == NULL || g.runs == NULL)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i];
		const char *why = NULL;
		int r;

		/* The first touch of a WKB, written by the reader, is the
		 * largest part of the stage's own cost: asked for ahead
		 * (for writing, as its results go back there). */
		if (i + 16 < b->n)
			__builtin_prefetch(b->f[i + 16].wkb, 1);
		if (f->state != FEAT_LIVE || f->wkb == NULL)
			continue;
		if (xy_point(f->wkb, f->wkb_len)) {
			g.x[g.n] = wkb_get_d(f->wkb + 5, 1);
			g.y[g.n] = wkb_get_d(f->wkb + 13, 1);
			if (g.z)
				g.z[g.n] = 0.0;
			g.runs[g.nruns++] = (struct back){f->wkb + 5, 1, 16, 0, 1};
			g.n++;
		} else {
			/* A WKB too short to hold a point is walked too, and
			 * fails its feature. */
			r = gather_geometry(&g, f->wkb, f->wkb_len, &why);
			if (r < 0)
				return -1;
			if (r > 0)
				batch_fail(b, i, s->step->label, why ? why : "malformed geometry");
		}
		if (g.n >= CHUNK) {
			transform(s, b, &g, i0, i + 1);
			i0 = i + 1;
		}
	}
	transform(s, b, &g, i0, b->n);
	return 0;
}

static void reproject_explain(struct stage *s, struct engine *e, FILE *out)
{
	struct reproject_conf *c = s->step->conf;

	fprintf(out, "  to %s%s%s; transform cache: %lld operations for this step, cleared every "
	             "%lld datasets\n",
	        c->to, c->from ? ", from " : "", c->from ? c->from : "",
	        (long long)e->pl->xc_max_entries, (long long)e->pl->xc_clear_every);
}

static void reproject_explain_memory(struct stage *s, struct engine *e, FILE *out)
{
	(void)s;
	fprintf(out, "  memory: up to %lld cached PROJ operations (this step's cache), coordinates "
	             "gathered %d points at a time in the batch arena (%d KiB, and 2.3 times the "
	             "largest geometry's WKB)\n",
	        (long long)e->pl->xc_max_entries, CHUNK,
	        (int)((CHUNK * (3 * sizeof(double) + sizeof(struct back)) + 1023) / 1024));
}

static void reproject_stats(const struct stage *s, struct step_stats *out)
{
	const struct reproject_state *rs = s->state;
	struct xform_stats xs;

	if (rs->cache == NULL)
		return;
	xform_cache_stats(rs->cache, &xs);
	out->has_xform = true;
	out->xc_hits = xs.hits;
	out->xc_misses = xs.misses;
	out->xc_evictions = xs.evictions;
	out->xc_clears = xs.clears;
}

static const struct vector_ops reproject_ops = {
	.begin = reproject_begin,
	.process = reproject_process,
};

const struct step_desc step_reproject = {
	.name = "reproject",
	.summary = "transform coordinates to another CRS with PROJ",
	.role = STEP_TRANSFORM,
	.opts = reproject_opts,
	.conf_size = sizeof(struct reproject_conf),
	.details = "Coordinates are transformed in place, whole features of 256 points or\n"
	           "more a PROJ call (fewer at a batch's end), by the operation\n"
	           "proj_create_crs_to_crs() picks (normalised to easting/northing,\n"
	           "longitude/latitude order, as OGR layers store them).  Operations are\n"
	           "cached (transform_cache); PROJ never uses the network.  A coordinate that\n"
	           "cannot be transformed fails its feature (see on_error).",
	.check = reproject_check,
	.state_size = sizeof(struct reproject_state),
	.open = reproject_open,
	.explain = reproject_explain,
	.explain_memory = reproject_explain_memory,
	.stats = reproject_stats,
	.vec = &reproject_ops,
};
