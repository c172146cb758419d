/* vector/buffer.c - buffer geometries with GEOS. */
#include <stdio.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "vector/geos.h"
#include "core/handle.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "vector/schema.h"
#include "core/step.h"
#include "vector/batch.h"

static const char *const caps[] = {"round", "flat", "square", NULL};
static const char *const joins[] = {"round", "mitre", "bevel", NULL};

struct buffer_conf {
	double distance;
	int64_t segments;
	int end_cap;
	int join;
	double mitre_limit;
	bool has_segments, has_mitre_limit;
};

static const struct opt_desc buffer_opts[] = {
	{"distance", OPT_DOUBLE, offsetof(struct buffer_conf, distance), OPT_REQUIRED,
	 "buffer distance in the CRS's units at this step; negative shrinks polygons", NULL,
	 NULL, NULL, 0, -1e15, 1e15},
	{"segments", OPT_INT, offsetof(struct buffer_conf, segments), 0,
	 "segments per quarter circle", "8", NULL, NULL,
	 offsetof(struct buffer_conf, has_segments), 1, 1000},
	{"end_cap", OPT_ENUM, offsetof(struct buffer_conf, end_cap), 0,
	 "end of lines: round, flat or square", "round", caps, NULL, 0, 0, 0},
	{"join", OPT_ENUM, offsetof(struct buffer_conf, join), 0,
	 "corners: round, mitre or bevel", "round", joins, NULL, 0, 0, 0},
	{"mitre_limit", OPT_DOUBLE, offsetof(struct buffer_conf, mitre_limit), OPT_POSITIVE,
	 "ratio limiting mitre joins", "5", NULL, NULL,
	 offsetof(struct buffer_conf, has_mitre_limit), 0, 1000},
	{0},
};

struct buffer_state {
	struct geos *geos;
	GEOSBufferParams *params;
};

static int buffer_check(struct step *s, struct pipeline *pl)
{
	struct buffer_conf *c = s->conf;

	(void)pl;
	if (!c->has_segments)
		c->segments = 8;
	if (!c->has_mitre_limit)
		c->mitre_limit = 5.0;
	return 0;
}

static void destroy_params(void *ctx)
{
	struct buffer_state *st = ctx;

	GEOSBufferParams_destroy_r(geos_handle(st->geos), st->params);
}

static int buffer_open(struct stage *s, struct engine *e)
{
	struct buffer_conf *c = s->step->conf;
	struct buffer_state *st = s->state;
	GEOSContextHandle_t h;
	static const int cap_style[] = {GEOSBUF_CAP_ROUND, GEOSBUF_CAP_FLAT, GEOSBUF_CAP_SQUARE};
	static const int join_style[] = {GEOSBUF_JOIN_ROUND, GEOSBUF_JOIN_MITRE,
	                                 GEOSBUF_JOIN_BEVEL};

	(void)e;
	st->geos = s->geos;
	h = geos_handle(st->geos);
	st->params = GEOSBufferParams_create_r(h);
	if (st->params == NULL)
		return gp_fail(GP_EX_SOFTWARE, "cannot create GEOS buffer parameters");
	/* The handle is the state: the parameters' destructor needs the
	 * context too. */
	if (handle_own(s->arena, &s->acct, HANDLE_GEOS_PARAMS, st, destroy_params) == NULL)
		return -1;
	GEOSBufferParams_setEndCapStyle_r(h, st->params, cap_style[c->end_cap]);
	GEOSBufferParams_setJoinStyle_r(h, st->params, join_style[c->join]);
	GEOSBufferParams_setMitreLimit_r(h, st->params, c->mitre_limit);
	GEOSBufferParams_setQuadrantSegments_r(h, st->params, (int)c->segments);
	return 0;
}

static GEOSGeometry *buffer_op(GEOSContextHandle_t h, const GEOSGeometry *in, void *ctx)
{
	struct stage *s = ctx;
	struct buffer_state *st = s->state;

	return GEOSBufferWithParams_r(h, in, st->params,
	                              ((struct buffer_conf *)s->step->conf)->distance);
}

/* GEOS's peak per vertex of a buffer's raw offset curve (its coordinates,
 * noded copies, edges and the result), measured with GEOS 3.11 on large
 * star polygons with round joins: about 40 bytes; planned with a margin. */
#define CURVE_POINT_BYTES 64u

static int buffer_process(struct stage *s, struct batch *b)
{
	struct buffer_state *st = s->state;
	struct buffer_conf *c = s->step->conf;

	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i];

		if (f->state != FEAT_LIVE || f->wkb == NULL)
			continue;
		/* A join turns by at most half a circle: two quadrants of
		 * segments a vertex, at most a vertex per 16 bytes of WKB.  The
		 * last phases of a large buffer allocate faster than GEOS
		 * checks for interrupts: refuse what cannot fit first. */
		if (engine_expect(s->eng, s,
		                  (uint64_t)(f->wkb_len / 16) * (2 * (uint64_t)c->segments + 2) *
		                          CURVE_POINT_BYTES) != 0)
			return -1;
		if (geos_apply(st->geos, s, b, i, buffer_op, s, "GEOS cannot buffer it") < 0)
			return -1;
	}
	return 0;
}

static int buffer_begin(struct stage *s, struct stream *st)
{
	(void)s;
	/* Points and lines become polygons. */
	st->schema->gtype = OGR_GT_HasZ(st->schema->gtype) ? wkbMultiPolygon25D : wkbMultiPolygon;
	return 0;
}

static const struct vector_ops buffer_ops = {
	.begin = buffer_begin,
	.process = buffer_process,
};

const struct step_desc step_buffer = {
	.name = "buffer",
	.summary = "buffer geometries by a distance (GEOS)",
	.role = STEP_TRANSFORM,
	.opts = buffer_opts,
	.conf_size = sizeof(struct buffer_conf),
	.details = "The distance is in the units of the CRS at this step: reproject to a\n"
	           "projected CRS first for metres.  A negative distance shrinks polygons and\n"
	           "may leave them empty.  The layer is declared MultiPolygon; single\n"
	           "polygons are promoted where the format needs it.  A geometry GEOS\n"
	           "cannot buffer fails its feature with GEOS's reason (see on_error).",
	.check = buffer_check,
	.state_size = sizeof(struct buffer_state),
	.open = buffer_open,
	.vec = &buffer_ops,
};
