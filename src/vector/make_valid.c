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
#include "vector/wkb.h"
#include "core/step.h"
#include "vector/batch.h"

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
 * closed or have fewer than 3 points, lines of one point.  wkb_mend()
 * rewrites them so GEOS can (see wkb.h); MakeValid then drops or keeps
 * what collapsed.  Curves and other types GEOS cannot read anyway are left
 * to fail.
 */

/* The GEOS-readable rewrite of `wkb` in `a`; NULL when it cannot be made
 * (malformed, or a type this does not handle) or `a` is full (error set). */
static unsigned char *wkb_fix(struct arena *a, const unsigned char *wkb, size_t len,
                              size_t *out_len)
{
	size_t n = wkb_mend(wkb, len, NULL);
	unsigned char *out;

	if (n == 0 || (out = arena_alloc(a, n, 8)) == NULL)
		return NULL;
	*out_len = wkb_mend(wkb, len, out); /* measured above: the same size */
	return out;
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

	(void)e;
	st->geos = s->geos;
	h = geos_handle(st->geos);
	st->params = GEOSMakeValidParams_create_r(h);
	if (st->params == NULL)
		return gp_fail(GP_EX_SOFTWARE, "cannot create GEOS make-valid parameters");
	/* The handle is the state: the parameters' destructor needs the
	 * context too. */
	if (handle_own(s->arena, &s->acct, HANDLE_GEOS_PARAMS, st, destroy_params) == NULL)
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
	return geos_store(st->geos, b, i, s->step->label, out) < 0 ? -1 : 0;
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
