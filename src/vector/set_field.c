/* vector/set_field.c - set a field from the geometry, the source or a constant. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "vector/geos.h"
#include "core/handle.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "vector/schema.h"
#include "core/step.h"
#include "config/yaml_load.h"
#include "vector/batch.h"

enum { V_AREA, V_LENGTH, V_PERIMETER, V_X, V_Y, V_SOURCE_PATH, V_SOURCE_FID, V_CONSTANT };
static const char *const values[] = {"area", "length", "perimeter", "x", "y", "source_path",
                                     "source_fid", "constant", NULL};
enum { T_STRING, T_INTEGER, T_REAL };
static const char *const types[] = {"string", "integer", "real", NULL};

struct set_field_conf {
	const char *name;
	int value;
	const char *constant;
	int type;
	bool has_value, has_type;
};

static const struct opt_desc set_field_opts[] = {
	{"name", OPT_STRING, offsetof(struct set_field_conf, name), OPT_REQUIRED,
	 "field to set; an existing field of that name is replaced", NULL, NULL, NULL, 0, 0, 0},
	{"value", OPT_ENUM, offsetof(struct set_field_conf, value), 0,
	 "what to put in it", "constant when 'constant' is given", values, NULL,
	 offsetof(struct set_field_conf, has_value), 0, 0},
	{"constant", OPT_STRING, offsetof(struct set_field_conf, constant), 0,
	 "the value for every feature (value: constant)", NULL, NULL, NULL, 0, 0, 0},
	{"type", OPT_ENUM, offsetof(struct set_field_conf, type), 0,
	 "type of a constant's field", "string", types, NULL,
	 offsetof(struct set_field_conf, has_type), 0, 0},
	{0},
};

struct set_field_state {
	struct geos *geos;
	int extra;               /* this stream: index of the value */
	struct fvalue constant;
};

static int set_field_check(struct step *s, struct pipeline *pl)
{
	struct set_field_conf *c = s->conf;

	if (!c->has_value && c->constant == NULL)
		return ydoc_fail(pl->doc, s->node, "step 'set_field' needs 'value' or 'constant'");
	if (!c->has_value)
		c->value = V_CONSTANT;
	if (c->value == V_CONSTANT && c->constant == NULL)
		return ydoc_fail(pl->doc, ynode_get(s->node, "value"),
		                 "'value: constant' needs 'constant'");
	if (c->value != V_CONSTANT && c->constant != NULL)
		return ydoc_fail(pl->doc, ynode_get(s->node, "constant"),
		                 "'constant' goes with 'value: constant', not '%s'", values[c->value]);
	if (c->value != V_CONSTANT && c->has_type)
		return ydoc_fail(pl->doc, ynode_get(s->node, "type"),
		                 "'type' is for constants; '%s' has its own", values[c->value]);
	if (c->value == V_CONSTANT && c->type != T_STRING) {
		char *end;

		double d = 0;

		errno = 0;
		if (c->type == T_INTEGER)
			(void)strtoll(c->constant, &end, 10);
		else
			d = strtod(c->constant, &end);
		if (*c->constant == '\0' || *end != '\0' || errno || !isfinite(d))
			return ydoc_fail(pl->doc, ynode_get(s->node, "constant"),
			                 "'%s' is not a%s %s", c->constant,
			                 c->type == T_INTEGER ? "n" : "", types[c->type]);
	}
	return 0;
}

static int set_field_open(struct stage *s, struct engine *e)
{
	struct set_field_conf *c = s->step->conf;
	struct set_field_state *st = s->state;

	(void)e;
	st->geos = s->geos;
	if (c->value == V_CONSTANT) {
		st->constant.set = true;
		if (c->type == T_INTEGER) {
			st->constant.type = OFTInteger64;
			st->constant.v.i = strtoll(c->constant, NULL, 10);
		} else if (c->type == T_REAL) {
			st->constant.type = OFTReal;
			st->constant.v.d = strtod(c->constant, NULL);
		} else {
			st->constant.type = OFTString;
			st->constant.v.s = c->constant;
		}
	}
	return 0;
}

static OGRFieldType field_type(const struct set_field_conf *c, const struct set_field_state *st)
{
	switch (c->value) {
	case V_SOURCE_PATH:
		return OFTString;
	case V_SOURCE_FID:
		return OFTInteger64;
	case V_CONSTANT:
		return st->constant.type;
	default:
		return OFTReal;
	}
}

static int set_field_begin(struct stage *s, struct stream *stm)
{
	struct set_field_conf *c = s->step->conf;
	struct set_field_state *st = s->state;
	struct schema *sc = schema_copy(stm->arena, stm->schema);
	int k;

	if (sc == NULL)
		return -1;
	/* A field of that name is replaced: it goes from the schema. */
	k = schema_find(sc, c->name);
	if (k >= 0) {
		memmove(&sc->f[k], &sc->f[k + 1], (sc->n - (size_t)k - 1) * sizeof *sc->f);
		sc->n--;
	}
	st->extra = sc->nextra++;
	if (schema_add_computed(stm->arena, sc, c->name, field_type(c, st), st->extra) != 0)
		return -1;
	stm->schema = sc;
	return 0;
}

/* The value of a geometry measure, or NaN with a reason. */
static int measure(struct set_field_state *st, struct stage *s, struct batch *b, size_t i,
                   int what, double *out)
{
	GEOSContextHandle_t h = geos_handle(st->geos);
	struct handle *g;
	int dim, ok = 1, r;

	/* The caller gives a live feature with a geometry: r is never 0. */
	g = geos_read_feature(st->geos, s, b, i, false, &r);
	if (g == NULL)
		return r < 0 ? -2 : -1;
	dim = GEOSGeom_getDimensions_r(h, g->ptr);
	switch (what) {
	case V_AREA:
		ok = GEOSArea_r(h, g->ptr, out);
		break;
	case V_LENGTH: /* of lines; areas and points have none */
		*out = 0;
		if (dim == 1)
			ok = GEOSLength_r(h, g->ptr, out);
		break;
	case V_PERIMETER: /* of areas */
		*out = 0;
		if (dim == 2)
			ok = GEOSLength_r(h, g->ptr, out);
		break;
	default: { /* x, y: the point's, or the centroid's */
		GEOSGeometry *c = GEOSGeom_getDimensions_r(h, g->ptr) == 0 &&
		                          GEOSGeomTypeId_r(h, g->ptr) == GEOS_POINT
		                          ? NULL
		                          : GEOSGetCentroid_r(h, g->ptr);
		const GEOSGeometry *p = c ? c : g->ptr;

		if (GEOSisEmpty_r(h, p))
			ok = 0;
		else
			ok = what == V_X ? GEOSGeomGetX_r(h, p, out) : GEOSGeomGetY_r(h, p, out);
		if (c)
			GEOSGeom_destroy_r(h, c);
		break;
	}
	}
	handle_release(g);
	if (!ok) {
		batch_fail(b, i, s->step->label,
		           geos_reason(st->geos, "cannot measure the geometry"));
		return -1;
	}
	return 0;
}

static int set_field_process(struct stage *s, struct batch *b)
{
	struct set_field_conf *c = s->step->conf;
	struct set_field_state *st = s->state;

	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i];
		struct fvalue v = {.set = true, .type = OFTReal};
		int r;

		if (f->state != FEAT_LIVE)
			continue;
		if (batch_reserve_extra(b, i) != 0)
			return -1;
		switch (c->value) {
		case V_CONSTANT:
			v = st->constant;
			break;
		case V_SOURCE_PATH:
			v.type = OFTString;
			v.v.s = b->stream->path;
			break;
		case V_SOURCE_FID:
			v.type = OFTInteger64;
			v.v.i = f->fid;
			break;
		default:
			/* No geometry: no measure (the field is null). */
			if (f->wkb == NULL) {
				v.set = false;
				break;
			}
			r = measure(st, s, b, i, c->value, &v.v.d);
			if (r == -2)
				return -1;
			if (r != 0)
				continue;
			break;
		}
		f->extra[st->extra] = v;
	}
	return 0;
}

static const struct vector_ops set_field_ops = {
	.begin = set_field_begin,
	.process = set_field_process,
};

const struct step_desc step_set_field = {
	.name = "set_field",
	.summary = "set a field: area, length, perimeter, x, y, the source, a constant",
	.role = STEP_TRANSFORM,
	.opts = set_field_opts,
	.conf_size = sizeof(struct set_field_conf),
	.details = "Measures use GEOS in the units of the CRS at this step (reproject to\n"
	           "a projected CRS first for metres): area of areas; length of lines\n"
	           "(0 for points and areas); perimeter of areas (0 for points and lines);\n"
	           "x and y of a point, or of the centroid of other geometries.  Features\n"
	           "without geometry get a null.  source_path is the input dataset,\n"
	           "source_fid the FID the feature had there.  A field of the same name\n"
	           "is replaced.  Fields set here can be used by later filters and selects.",
	.check = set_field_check,
	.state_size = sizeof(struct set_field_state),
	.open = set_field_open,
	.vec = &set_field_ops,
};
