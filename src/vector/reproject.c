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
 * Gathering: x, y (and z) of every point of the batch in arrays, so that
 * PROJ is called once per batch.  Each geometry is walked once: its runs
 * are copied out as they are found and remembered (where they are, how
 * they are laid out), so that the results go back without a second walk.
 * With many small geometries (a point a feature) that walk is most of the
 * stage's own cost, so it is done once, not three times.
 *
 * Room is sized before the walk from the WKB's size: a point takes at
 * least 16 bytes of it and a run at least 20 (a ring of one point), so
 * the arrays never grow.  All of it is in the batch arena.
 */
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

/* Copy out the points of `r` and remember the run; -1 when out of memory
 * (error set).  Inline: the walk's callback and the loop over a batch of
 * points or lines both call it. */
static inline int gather_points(struct gather *g, const struct wkb_run *r)
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
	/* n <= cap - g->n: the WKB's size bounds both (see above). */
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

/* The transformed points of runs [r0, r1) back into their WKB, from point
 * k of the arrays. */
static void scatter(const struct gather *g, size_t r0, size_t r1, size_t k)
{
	for (size_t r = r0; r < r1; r++) {
		const struct back *bk = &g->runs[r];
		unsigned char *p = bk->p;

		for (uint32_t i = 0; i < bk->n; i++, k++, p += bk->stride) {
			wkb_put_d(p, g->x[k], bk->le);
			wkb_put_d(p + 8, g->y[k], bk->le);
			if (bk->has_z)
				wkb_put_d(p + 16, g->z[k], bk->le);
		}
	}
}

/* Any coordinate of the n that is not finite (PROJ's HUGE_VAL included);
 * one pass without branches, so that the usual batch pays little. */
static bool any_bad(const double *x, const double *y, size_t n)
{
	bool bad = false;

	for (size_t k = 0; k < n; k++)
		bad |= !isfinite(x[k]) | !isfinite(y[k]);
	return bad;
}

static int reproject_process(struct stage *s, struct batch *b)
{
	struct reproject_state *rs = s->state;
	struct gather g = {.a = b->arena};
	size_t *start, *run0, bytes = 0;
	char reason[256];

	if (rs->op == NULL)
		return 0;
	for (size_t i = 0; i < b->n; i++)
		if (b->f[i].state == FEAT_LIVE && b->f[i].wkb)
			bytes += b->f[i].wkb_len;
	/* start[i], run0[i]: feature i's first point and first run.  No
	 * early return for few bytes: a WKB too short to hold a point is
	 * still walked, and fails its feature. */
	g.cap = bytes / 16;
	start = arena_alloc(b->arena, (b->n + 1) * sizeof *start, 0);
	run0 = arena_alloc(b->arena, (b->n + 1) * sizeof *run0, 0);
	g.x = arena_alloc(b->arena, g.cap * sizeof(double), 0);
	g.y = arena_alloc(b->arena, g.cap * sizeof(double), 0);
	g.runs = arena_alloc(b->arena, (bytes / 20 + 1) * sizeof *g.runs, 0);
	if (start == NULL || run0 == NULL || g.x == NULL || g.y == NULL || g.runs == NULL)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i];
		const char *why = NULL;
		struct wkb_run run;

		start[i] = g.n;
		run0[i] = g.nruns;
		if (f->state != FEAT_LIVE || f->wkb == NULL)
			continue;
		if (wkb_simple_run(f->wkb, f->wkb_len, &run)) {
			if (gather_points(&g, &run) != 0)
				return -1;
		} else if (wkb_walk(f->wkb, f->wkb_len, gather_run, &g, &why) != 0) {
			if (g.oom)
				return -1;
			/* What was gathered of it before the fault is dropped. */
			g.n = start[i];
			g.nruns = run0[i];
			batch_fail(b, i, s->step->label, why ? why : "malformed geometry");
		}
	}
	start[b->n] = g.n;
	run0[b->n] = g.nruns;
	if (g.n == 0)
		return 0;
	proj_errno_reset(rs->op);
	proj_trans_generic(rs->op, PJ_FWD, g.x, sizeof(double), g.n, g.y, sizeof(double), g.n, g.z,
	                   sizeof(double), g.z ? g.n : 0, NULL, 0, 0);
	/* Usually every point went through: the runs go back in one sweep,
	 * without touching the features again. */
	if (!any_bad(g.x, g.y, g.n)) {
		scatter(&g, 0, g.nruns, 0);
		return 0;
	}
	/* A coordinate PROJ could not transform fails its feature, which
	 * keeps its original coordinates. */
	for (size_t i = 0; i < b->n; i++) {
		if (b->f[i].state != FEAT_LIVE || b->f[i].wkb == NULL)
			continue;
		for (size_t k = start[i]; k < start[i + 1]; k++) {
			if (isfinite(g.x[k]) && isfinite(g.y[k]))
				continue;
			snprintf(reason, sizeof reason, "coordinate %zu cannot be transformed to %s",
			         k - start[i] + 1, ((struct reproject_conf *)s->step->conf)->to);
			batch_fail(b, i, s->step->label, reason);
			break;
		}
		if (b->f[i].state == FEAT_LIVE)
			scatter(&g, run0[i], run0[i + 1], start[i]);
	}
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
	             "gathered in the batch arena (at most 2.3 times the batch's WKB and 16 bytes "
	             "a feature)\n",
	        (long long)e->pl->xc_max_entries);
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
	.details = "Coordinates are transformed in place, a batch per PROJ call, by the\n"
	           "operation proj_create_crs_to_crs() picks (normalised to easting/northing,\n"
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
