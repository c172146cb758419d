/* vector/make_valid.c - repair invalid geometries with GEOS's MakeValid. */
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "vector/geos.h"
#include "core/handle.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "vector/schema.h"
#include "core/step.h"

struct make_valid_conf {
	bool keep_collapsed;
};

static const struct opt_desc make_valid_opts[] = {
	{"keep_collapsed", OPT_BOOL, offsetof(struct make_valid_conf, keep_collapsed), 0,
	 "keep parts that collapse to lines or points, as lines or points", "false", NULL, NULL,
	 0, 0, 0},
	{0},
};

struct make_valid_state {
	struct geos *geos;
	GEOSMakeValidParams *params;
};

/*
 * GEOS refuses to read some broken geometries at all: rings that are not
 * closed or have fewer than 3 points, lines of one point.  Like liblwgeom's
 * "GEOS-friendly" pass (PostGIS, SpatiaLite), the WKB is rewritten so GEOS
 * can read it: rings are closed and padded with their last point to 4
 * points, a one-point line gets its point twice.  MakeValid then drops or
 * keeps what collapsed.  Byte orders and dimensions are kept; curves and
 * other types GEOS cannot read anyway are left to fail.
 */
struct wkb_fix {
	const unsigned char *p, *end;
	unsigned char *out; /* NULL: only measure */
	size_t n;           /* bytes written (or measured) */
};

static int fix_take(struct wkb_fix *w, size_t n, const unsigned char **at)
{
	if ((size_t)(w->end - w->p) < n)
		return -1;
	*at = w->p;
	w->p += n;
	return 0;
}

static void fix_put(struct wkb_fix *w, const void *src, size_t n)
{
	if (w->out)
		memcpy(w->out + w->n, src, n);
	w->n += n;
}

static uint32_t fix_u32(const unsigned char *p, int le)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le ? v : __builtin_bswap32(v);
}

static double fix_d(const unsigned char *p, int le)
{
	uint64_t u;
	double d;

	memcpy(&u, p, 8);
	if (!le)
		u = __builtin_bswap64(u);
	memcpy(&d, &u, 8);
	return d;
}

static void fix_put_u32(struct wkb_fix *w, uint32_t v, int le)
{
	if (!le)
		v = __builtin_bswap32(v);
	fix_put(w, &v, 4);
}

static int fix_count(struct wkb_fix *w, int le, uint32_t *n)
{
	const unsigned char *at;

	if (fix_take(w, 4, &at) != 0)
		return -1;
	*n = fix_u32(at, le);
	return 0;
}

static int fix_points(struct wkb_fix *w, uint32_t n, size_t stride, const unsigned char **at)
{
	if ((size_t)(w->end - w->p) / stride < n)
		return -1;
	return fix_take(w, (size_t)n * stride, at);
}

static int fix_ring(struct wkb_fix *w, int le, size_t stride)
{
	const unsigned char *pts, *last;
	uint32_t np, out;
	bool closed;

	if (fix_count(w, le, &np) != 0 || fix_points(w, np, stride, &pts) != 0)
		return -1;
	/* Closed in x and y, as GEOS tests it. */
	last = pts + (size_t)(np ? np - 1 : 0) * stride;
	closed = np == 0 || (fix_d(pts, le) == fix_d(last, le) &&
	                     fix_d(pts + 8, le) == fix_d(last + 8, le));
	out = np + !closed;
	if (out > 0 && out < 4)
		out = 4;
	fix_put_u32(w, out, le);
	fix_put(w, pts, (size_t)np * stride);
	for (uint32_t k = np; k < out; k++)
		fix_put(w, pts, stride); /* the first point closes and pads */
	return 0;
}

static int fix_geom(struct wkb_fix *w, int depth)
{
	const unsigned char *hdr, *pts;
	uint32_t type, base, dims, n;
	int le;
	size_t stride;

	if (depth > 32 || fix_take(w, 5, &hdr) != 0 || (hdr[0] != 0 && hdr[0] != 1))
		return -1;
	le = hdr[0];
	type = fix_u32(hdr + 1, le);
	fix_put(w, hdr, 5);
	if (type & 0x20000000u) /* EWKB SRID: not what batches carry */
		return -1;
	base = (type & 0x0fffffffu) % 1000;
	dims = (type & 0x0fffffffu) / 1000;
	if (dims > 3)
		return -1;
	stride = 16 + ((dims == 1 || dims == 3 || (type & 0x80000000u)) ? 8 : 0) +
	         ((dims == 2 || dims == 3 || (type & 0x40000000u)) ? 8 : 0);
	switch (base) {
	case 1: /* point */
		if (fix_points(w, 1, stride, &pts) != 0)
			return -1;
		fix_put(w, pts, stride);
		return 0;
	case 2: /* linestring */
		if (fix_count(w, le, &n) != 0 || fix_points(w, n, stride, &pts) != 0)
			return -1;
		fix_put_u32(w, n == 1 ? 2 : n, le);
		fix_put(w, pts, (size_t)n * stride);
		if (n == 1)
			fix_put(w, pts, stride);
		return 0;
	case 3: /* polygon */
		if (fix_count(w, le, &n) != 0)
			return -1;
		fix_put_u32(w, n, le);
		for (uint32_t i = 0; i < n; i++)
			if (fix_ring(w, le, stride) != 0)
				return -1;
		return 0;
	case 4: case 5: case 6: case 7: /* multi*, collection */
		if (fix_count(w, le, &n) != 0)
			return -1;
		fix_put_u32(w, n, le);
		for (uint32_t i = 0; i < n; i++)
			if (fix_geom(w, depth + 1) != 0)
				return -1;
		return 0;
	default:
		return -1;
	}
}

/* The GEOS-readable rewrite of `wkb` in `a`; NULL when it cannot be made
 * (malformed, or a type this does not handle) or `a` is full (error set). */
static unsigned char *wkb_fix(struct arena *a, const unsigned char *wkb, size_t len,
                              size_t *out_len)
{
	struct wkb_fix w = {wkb, wkb + len, NULL, 0};

	if (fix_geom(&w, 0) != 0 || w.p != w.end)
		return NULL;
	w = (struct wkb_fix){wkb, wkb + len, arena_alloc(a, w.n, 8), 0};
	if (w.out == NULL)
		return NULL;
	(void)fix_geom(&w, 0); /* measured above: cannot fail */
	*out_len = w.n;
	return w.out;
}

static void destroy_params(void *ctx)
{
	struct make_valid_state *st = ctx;

	GEOSMakeValidParams_destroy_r(geos_handle(st->geos), st->params);
}

static int make_valid_open(struct stage *s, struct engine *e)
{
	struct make_valid_conf *c = s->step->conf;
	struct make_valid_state *st = s->state;
	GEOSContextHandle_t h;

	st->geos = e->geos;
	h = geos_handle(st->geos);
	st->params = GEOSMakeValidParams_create_r(h);
	if (st->params == NULL)
		return gp_fail(GP_EX_SOFTWARE, "cannot create GEOS make-valid parameters");
	if (arena_defer(s->arena, destroy_params, st) != 0)
		return -1;
	if (!GEOSMakeValidParams_setMethod_r(h, st->params, GEOS_MAKE_VALID_STRUCTURE) ||
	    !GEOSMakeValidParams_setKeepCollapsed_r(h, st->params, c->keep_collapsed))
		return gp_fail(GP_EX_SOFTWARE, "cannot set GEOS make-valid parameters");
	return 0;
}

static int make_valid_begin(struct stage *s, struct stream *st)
{
	struct make_valid_conf *c = s->step->conf;
	OGRwkbGeometryType t = wkbFlatten(st->schema->gtype);
	bool polygonal = t == wkbPolygon || t == wkbMultiPolygon;

	/* A repaired polygon may come in parts; collapsed parts kept are lines
	 * and points, and a collapsed line is a point. */
	t = polygonal && !c->keep_collapsed ? wkbMultiPolygon : wkbUnknown;
	st->schema->gtype = OGR_GT_SetModifier(t, OGR_GT_HasZ(st->schema->gtype), FALSE);
	return 0;
}

/* Make feature i valid: 0 done (or failed and marked), -1 to end the run. */
static int make_valid_one(struct stage *s, struct batch *b, size_t i)
{
	struct make_valid_state *st = s->state;
	GEOSContextHandle_t h = geos_handle(st->geos);
	struct feature *f = &b->f[i];
	struct handle *in, *out;
	bool rewritten = false;
	char v;
	int r;

	/* NULL from geos_read/geos_own with the error slot set: the batch arena
	 * is full, which ends the run. */
	gp_err_clear();
	in = geos_read(st->geos, b->arena, &s->acct, f->wkb, f->wkb_len);
	if (in == NULL) {
		const char *reason;
		unsigned char *fixed;
		size_t len = 0;

		if (gp_err_code())
			return -1;
		reason = arena_strdup(b->arena, geos_reason(st->geos, "geometry does not decode"));
		if (reason == NULL)
			return -1;
		fixed = wkb_fix(b->arena, f->wkb, f->wkb_len, &len);
		if (fixed == NULL && gp_err_code())
			return -1;
		in = fixed ? geos_read(st->geos, b->arena, &s->acct, fixed, len) : NULL;
		if (in == NULL) {
			if (gp_err_code())
				return -1;
			batch_fail(b, i, s->step->label, reason);
			return 0;
		}
		rewritten = true;
	}
	if (!rewritten) {
		/* Valid geometries are left as they are, byte for byte. */
		geos_reset(st->geos);
		v = GEOSisValid_r(h, in->ptr);
		if (v == 1) {
			handle_release(in);
			return 0;
		}
	}
	geos_reset(st->geos);
	out = geos_own(st->geos, b->arena, &s->acct,
	               GEOSMakeValidWithParams_r(h, in->ptr, st->params));
	handle_release(in);
	if (out == NULL) {
		if (gp_err_code())
			return -1;
		batch_fail(b, i, s->step->label,
		           geos_reason(st->geos, "GEOS cannot make it valid"));
		return 0;
	}
	/* GEOS's promise is checked, not taken: a step called make_valid never
	 * passes on an invalid geometry, whatever GEOS version is linked. */
	geos_reset(st->geos);
	v = GEOSisValid_r(h, out->ptr);
	if (v != 1) {
		char why[600];

		snprintf(why, sizeof why, "GEOS cannot make it valid: %s",
		         geos_reason(st->geos, "the result is still invalid"));
		handle_release(out);
		batch_fail(b, i, s->step->label, why);
		return 0;
	}
	r = geos_write(st->geos, b->arena, out->ptr, &f->wkb, &f->wkb_len);
	handle_release(out);
	if (r == -2)
		return -1;
	if (r != 0)
		batch_fail(b, i, s->step->label, geos_reason(st->geos, "GEOS cannot write it"));
	return 0;
}

static int make_valid_process(struct stage *s, struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->f[i].state != FEAT_LIVE || b->f[i].wkb == NULL)
			continue;
		if (make_valid_one(s, b, i) != 0)
			return -1;
	}
	return 0;
}

static const struct vector_ops make_valid_ops = {
	.begin = make_valid_begin,
	.process = make_valid_process,
};

const struct step_desc step_make_valid = {
	.name = "make_valid",
	.summary = "repair invalid geometries (GEOS MakeValid)",
	.role = STEP_TRANSFORM,
	.opts = make_valid_opts,
	.conf_size = sizeof(struct make_valid_conf),
	.details =
	        "Geometries GEOS finds valid are passed on unchanged, byte for byte.  The\n"
	        "others are rebuilt by GEOS's MakeValid with the 'structure' method: rings\n"
	        "are taken as the boundaries of areas, so a bow-tie becomes two triangles,\n"
	        "a spike is cut off, a hole outside its shell becomes an area of its own,\n"
	        "and an area covered twice is kept once.  Rings that are not closed or have\n"
	        "too few points, which GEOS cannot read at all, are first closed and padded\n"
	        "as PostGIS and SpatiaLite do.  Parts that collapse to lines or points are\n"
	        "dropped, or kept as lines and points with keep_collapsed: true; an area\n"
	        "that collapses entirely becomes an empty polygon.  Polygon layers are\n"
	        "declared MultiPolygon (repairs may split polygons), other layers, and any\n"
	        "layer with keep_collapsed, the generic geometry type.  Vertices with a\n"
	        "non-finite coordinate are dropped.  Z is kept, M is dropped from repaired\n"
	        "geometries.  Every geometry that leaves the step is valid: GEOS's result\n"
	        "is checked, and one GEOS cannot repair fails its feature with GEOS's\n"
	        "reason (see on_error); features without geometry pass unchanged.",
	.state_size = sizeof(struct make_valid_state),
	.open = make_valid_open,
	.vec = &make_valid_ops,
};
