/* vector/segmentize.c - add vertices so that no segment is longer than a
 * length (GEOS Densify). */
#include <math.h>
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
#include "vector/wkb.h"
#include "vector/batch.h"

/* What one output vertex may cost at the peak: GEOS's growing coordinate
 * vector and geometry, its WKB and the copy in the batch arena. */
#define POINT_BYTES 128u
/* Vertices one geometry may get when no memory limit is set (~2 GiB). */
#define DEFAULT_MAX_POINTS (16u << 20)
/* ... and the least it may get under a limit. */
#define MIN_MAX_POINTS 65536u

struct segmentize_conf {
	double max_length;
};

static const struct opt_desc segmentize_opts[] = {
	{"max_length", OPT_DOUBLE, offsetof(struct segmentize_conf, max_length),
	 OPT_REQUIRED | OPT_POSITIVE,
	 "longest segment allowed, in the CRS's units at this step", NULL, NULL, NULL, 0, 0, 1e15},
	{0},
};

struct segmentize_state {
	struct geos *geos;
	double max_points; /* vertices one result may have */
};

static int segmentize_open(struct stage *s, struct engine *e)
{
	struct segmentize_state *st = s->state;

	st->geos = s->geos;
	/* GEOS allocates outside the arenas: a result too big for the memory
	 * limit is refused before GEOS makes it. */
	st->max_points = DEFAULT_MAX_POINTS;
	if (e->plan.limit) {
		st->max_points = (double)(e->plan.headroom / POINT_BYTES);
		if (st->max_points < MIN_MAX_POINTS)
			st->max_points = MIN_MAX_POINTS;
	}
	return 0;
}

static int segmentize_begin(struct stage *s, struct stream *st)
{
	(void)s;
	/* GEOS keeps Z and drops M. */
	st->schema->gtype = OGR_GT_SetModifier(st->schema->gtype,
	                                       OGR_GT_HasZ(st->schema->gtype), FALSE);
	return 0;
}

struct count_ctx {
	double max_length;
	double points;
};

/* Vertices the densified run will have, as GEOS splits segments. */
static int count_run(const struct wkb_run *run, void *ctx)
{
	struct count_ctx *c = ctx;

	c->points += 1;
	for (size_t k = 1; k < run->n; k++) {
		const unsigned char *a = run->p + (k - 1) * run->stride, *b = a + run->stride;
		double len = hypot(wkb_get_d(b, run->le) - wkb_get_d(a, run->le),
		                   wkb_get_d(b + 8, run->le) - wkb_get_d(a + 8, run->le));
		double parts = ceil(len / c->max_length);

		c->points += parts > 1 ? parts : 1;
	}
	return 0;
}

/* GEOS 3.11 leaves Z NaN on the vertices it adds: give them the Z of the
 * segment they lie on, interpolated by distance in the plane. */
static int fill_z(const struct wkb_run *run, void *ctx)
{
	(void)ctx;
	if (!run->has_z)
		return 0;
	for (size_t k = 1; k + 1 < run->n; k++) {
		unsigned char *a = run->p + (k - 1) * run->stride, *p = a + run->stride, *b;
		size_t j = k + 1;
		double za = wkb_get_d(a + 16, run->le), zb, da, dab;

		if (!isnan(wkb_get_d(p + 16, run->le)) || isnan(za))
			continue;
		while (j < run->n && isnan(wkb_get_d(run->p + j * run->stride + 16, run->le)))
			j++;
		if (j == run->n)
			break;
		b = run->p + j * run->stride;
		zb = wkb_get_d(b + 16, run->le);
		da = hypot(wkb_get_d(p, run->le) - wkb_get_d(a, run->le),
		           wkb_get_d(p + 8, run->le) - wkb_get_d(a + 8, run->le));
		dab = hypot(wkb_get_d(b, run->le) - wkb_get_d(a, run->le),
		            wkb_get_d(b + 8, run->le) - wkb_get_d(a + 8, run->le));
		wkb_put_d(p + 16, dab > 0 ? za + (zb - za) * (da / dab) : za, run->le);
	}
	return 0;
}

/*
 * GEOSDensify_r on a polygon mends the result with buffer(0) when it is
 * invalid, which for an invalid input (a bow-tie) silently drops parts.
 * Segmentizing should only add vertices, so polygons are densified ring by
 * ring and rebuilt; lines and points go to GEOSDensify_r as they are.
 * NULL when GEOS fails (reason in the context) or `a` is full (error set).
 */
static GEOSGeometry *densify(GEOSContextHandle_t h, const GEOSGeometry *g, double d,
                             struct arena *a)
{
	int type = GEOSGeomTypeId_r(h, g), n;
	struct arena_mark m;
	GEOSGeometry **parts, *out;

	if (type != GEOS_POLYGON && type != GEOS_MULTIPOLYGON && type != GEOS_GEOMETRYCOLLECTION)
		return GEOSDensify_r(h, g, d);
	if (GEOSisEmpty_r(h, g) == 1)
		return GEOSGeom_clone_r(h, g);
	n = type == GEOS_POLYGON ? GEOSGetNumInteriorRings_r(h, g) + 1
	                         : GEOSGetNumGeometries_r(h, g);
	if (n < 1)
		return NULL;
	m = arena_mark(a);
	parts = arena_calloc(a, (size_t)n, sizeof *parts);
	if (parts == NULL)
		return NULL;
	for (int k = 0; k < n; k++) {
		const GEOSGeometry *part;

		if (type != GEOS_POLYGON)
			part = GEOSGetGeometryN_r(h, g, k);
		else if (k == 0)
			part = GEOSGetExteriorRing_r(h, g);
		else
			part = GEOSGetInteriorRingN_r(h, g, k - 1);
		parts[k] = part == NULL ? NULL
		           : type == GEOS_POLYGON ? GEOSDensify_r(h, part, d)
		                                  : densify(h, part, d, a);
		if (parts[k] == NULL) {
			while (k-- > 0)
				GEOSGeom_destroy_r(h, parts[k]);
			arena_rewind(a, m);
			return NULL;
		}
	}
	/* Both take the parts, whatever happens. */
	out = type == GEOS_POLYGON
	              ? GEOSGeom_createPolygon_r(h, parts[0], parts + 1, (unsigned)n - 1)
	              : GEOSGeom_createCollection_r(h, type, parts, (unsigned)n);
	arena_rewind(a, m);
	return out;
}

struct densify_ctx {
	double max_length;
	struct arena *a;
};

static GEOSGeometry *densify_op(GEOSContextHandle_t h, const GEOSGeometry *in, void *ctx)
{
	struct densify_ctx *d = ctx;

	return densify(h, in, d->max_length, d->a);
}

static int segmentize_process(struct stage *s, struct batch *b)
{
	struct segmentize_conf *c = s->step->conf;
	struct segmentize_state *st = s->state;

	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i];
		struct count_ctx cc = {c->max_length, 0};
		struct densify_ctx op;
		const char *why = "malformed WKB";
		int r;

		if (f->state != FEAT_LIVE || f->wkb == NULL)
			continue;
		if (wkb_walk(f->wkb, f->wkb_len, count_run, &cc, &why) != 0) {
			batch_fail(b, i, s->step->label, why);
			continue;
		}
		if (cc.points > st->max_points) {
			char reason[256];

			snprintf(reason, sizeof reason,
			         "segmentizing would give %.0f vertices, more than the %.0f the "
			         "memory plan allows one geometry (is max_length too small?)",
			         cc.points, st->max_points);
			batch_fail(b, i, s->step->label, reason);
			continue;
		}
		op.max_length = c->max_length;
		op.a = b->arena;
		r = geos_apply(st->geos, s, b, i, densify_op, &op, "GEOS cannot densify it");
		if (r < 0)
			return -1;
		if (r > 0)
			continue;
		wkb_walk(f->wkb, f->wkb_len, fill_z, NULL, NULL);
	}
	return 0;
}

static const struct vector_ops segmentize_ops = {
	.begin = segmentize_begin,
	.process = segmentize_process,
};

const struct step_desc step_segmentize = {
	.name = "segmentize",
	.summary = "add vertices so no segment is longer than a length (GEOS)",
	.role = STEP_TRANSFORM,
	.opts = segmentize_opts,
	.conf_size = sizeof(struct segmentize_conf),
	.details =
	        "Each segment longer than max_length is split into the fewest equal parts\n"
	        "no longer than max_length (GEOS's Densifier); shorter segments are kept.\n"
	        "The shape does not change: vertices are only added, on the segments, so\n"
	        "lengths and areas stay the same.  Use it before reproject so that long\n"
	        "straight edges follow the curvature of the target projection.  max_length\n"
	        "is in the units of the CRS at this step.  Added vertices get Z\n"
	        "interpolated along their segment; M is dropped.  GEOS removes vertices\n"
	        "that repeat the one before, and fails a line whose vertices are all the\n"
	        "same.  Polygons are densified ring by ring and are not mended: an invalid\n"
	        "polygon stays invalid (see make_valid).  A geometry that would get more\n"
	        "vertices than the memory plan allows one geometry (16 Mi without a\n"
	        "memory limit, a share of the headroom under one), or that GEOS cannot\n"
	        "process, fails its feature with the reason (see on_error); features\n"
	        "without geometry pass unchanged.",
	.state_size = sizeof(struct segmentize_state),
	.open = segmentize_open,
	.vec = &segmentize_ops,
};
