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

/* Gathering: x, y, z of every point of the batch in three arrays, so that
 * PROJ is called once per batch. */
struct gather {
	double *x, *y, *z;
	size_t n, cap;
	struct arena *a;
	int pass;               /* 0: count, 1: copy out, 2: copy back */
};

static int gather_run(const struct wkb_run *r, void *ctx)
{
	struct gather *g = ctx;

	if (g->pass == 0) {
		g->n += r->n;
		return 0;
	}
	for (size_t i = 0; i < r->n; i++, g->n++) {
		unsigned char *p = r->p + i * r->stride;

		if (g->pass == 1) {
			g->x[g->n] = wkb_get_d(p, r->le);
			g->y[g->n] = wkb_get_d(p + 8, r->le);
			g->z[g->n] = r->has_z ? wkb_get_d(p + 16, r->le) : 0.0;
		} else {
			wkb_put_d(p, g->x[g->n], r->le);
			wkb_put_d(p + 8, g->y[g->n], r->le);
			if (r->has_z)
				wkb_put_d(p + 16, g->z[g->n], r->le);
		}
	}
	return 0;
}

static int reproject_process(struct stage *s, struct batch *b)
{
	struct reproject_state *rs = s->state;
	struct gather g = {.a = b->arena};
	size_t *start;
	char reason[256];

	if (rs->op == NULL)
		return 0;
	start = arena_calloc(b->arena, b->n + 1, sizeof *start);
	if (start == NULL)
		return -1;
	/* Count, then copy out. */
	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i];
		const char *why = NULL;

		start[i] = g.n;
		if (f->state != FEAT_LIVE || f->wkb == NULL)
			continue;
		if (wkb_walk(f->wkb, f->wkb_len, gather_run, &g, &why) != 0)
			batch_fail(b, i, s->step->label, why ? why : "malformed geometry");
	}
	start[b->n] = g.n;
	if (g.n == 0)
		return 0;
	g.x = arena_alloc(b->arena, g.n * sizeof(double), 0);
	g.y = arena_alloc(b->arena, g.n * sizeof(double), 0);
	g.z = arena_alloc(b->arena, g.n * sizeof(double), 0);
	if (g.x == NULL || g.y == NULL || g.z == NULL)
		return -1;
	g.pass = 1;
	for (size_t i = 0; i < b->n; i++) {
		g.n = start[i];
		if (b->f[i].state == FEAT_LIVE && b->f[i].wkb)
			wkb_walk(b->f[i].wkb, b->f[i].wkb_len, gather_run, &g, NULL);
	}
	g.n = start[b->n];
	proj_errno_reset(rs->op);
	proj_trans_generic(rs->op, PJ_FWD, g.x, sizeof(double), g.n, g.y, sizeof(double), g.n, g.z,
	                   sizeof(double), g.n, NULL, 0, 0);
	/* A coordinate PROJ could not transform fails its feature. */
	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i];

		if (f->state != FEAT_LIVE || f->wkb == NULL)
			continue;
		for (size_t k = start[i]; k < start[i + 1]; k++) {
			if (!isfinite(g.x[k]) || !isfinite(g.y[k]) || g.x[k] == HUGE_VAL) {
				snprintf(reason, sizeof reason,
				         "coordinate %zu cannot be transformed to %s", k - start[i] + 1,
				         ((struct reproject_conf *)s->step->conf)->to);
				batch_fail(b, i, s->step->label, reason);
				break;
			}
		}
	}
	g.pass = 2;
	for (size_t i = 0; i < b->n; i++) {
		/* Failed features keep their original coordinates. */
		g.n = start[i];
		if (b->f[i].state == FEAT_LIVE && b->f[i].wkb)
			wkb_walk(b->f[i].wkb, b->f[i].wkb_len, gather_run, &g, NULL);
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
	             "gathered in the batch arena (24 bytes a point)\n",
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
