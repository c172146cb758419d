/* raster/set_type.c - the set_type step: convert pixels to another type,
 * optionally scaling them linearly first, as gdal_translate -ot -scale does;
 * nodata pixels stay nodata. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/error.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "raster/raster.h"
#include "core/step.h"
#include "config/yaml_load.h"
#include "raster/pixel.h"

struct set_type_conf {
	const char *type_name;
	struct strlist scale;
	const char *nodata_text;
	bool has_scale, has_nodata;
	/* from check */
	GDALDataType type;
	double mul, add; /* scale: out = in * mul + add */
	double nodata;
};

static const struct opt_desc set_type_opts[] = {
	{"type", OPT_STRING, offsetof(struct set_type_conf, type_name), OPT_REQUIRED,
	 "pixel type: Byte, UInt16, Int16, UInt32, Int32, Float32, Float64", NULL, NULL, NULL, 0, 0, 0},
	{"scale", OPT_STRINGS, offsetof(struct set_type_conf, scale), 0,
	 "[src_min, src_max, dst_min, dst_max]: map src linearly onto dst first (gdal_translate "
	 "-scale)",
	 "no scaling", NULL, NULL, offsetof(struct set_type_conf, has_scale), 0, 0},
	{"nodata", OPT_STRING, offsetof(struct set_type_conf, nodata_text), 0,
	 "nodata value of every output band (a number, or nan)",
	 "the input's, which must then be a value of the type", NULL, NULL,
	 offsetof(struct set_type_conf, has_nodata), 0, 0},
	{0},
};

static int set_type_check(struct step *s, struct pipeline *pl)
{
	struct set_type_conf *c = s->conf;
	double v[4];

	c->type = raster_type_parse(c->type_name);
	if (c->type == GDT_Unknown)
		return ydoc_fail(pl->doc, ynode_get(s->node, "type"),
		                 "step '%s': unknown pixel type '%s' (one of Byte, UInt16, Int16, "
		                 "UInt32, Int32, Float32, Float64)",
		                 s->label, c->type_name);
	c->mul = 1;
	c->add = 0;
	if (c->has_scale) {
		if (c->scale.n != 4)
			return ydoc_fail(
			        pl->doc, ynode_get(s->node, "scale"),
			        "step '%s': 'scale' is [src_min, src_max, dst_min, dst_max]",
			        s->label);
		for (size_t i = 0; i < 4; i++)
			if (raster_value_parse(c->scale.v[i], &v[i]) != 0 || isnan(v[i]))
				return ydoc_fail(pl->doc, c->scale.at[i],
				                 "step '%s': 'scale' takes numbers, not '%s'",
				                 s->label, c->scale.v[i]);
		if (v[0] == v[1])
			return ydoc_fail(pl->doc, c->scale.at[1],
			                 "step '%s': the source range of 'scale' is empty (src_min "
			                 "= src_max)",
			                 s->label);
		c->mul = (v[3] - v[2]) / (v[1] - v[0]);
		c->add = v[2] - v[0] * c->mul;
	}
	if (c->has_nodata) {
		if (raster_value_parse(c->nodata_text, &c->nodata) != 0)
			return ydoc_fail(pl->doc, ynode_get(s->node, "nodata"),
			                 "step '%s': 'nodata' is a number or nan, not '%s'",
			                 s->label, c->nodata_text);
		if (!raster_value_cast(&c->nodata, c->type))
			return ydoc_fail(pl->doc, ynode_get(s->node, "nodata"),
			                 "step '%s': nodata %s is not a %s value", s->label,
			                 c->nodata_text, GDALGetDataTypeName(c->type));
	}
	return 0;
}

static int set_type_begin(struct stage *s, struct stream *st)
{
	struct set_type_conf *c = s->step->conf;
	struct rview *v = st->raster;

	for (int b = 0; b < v->nbands; b++) {
		struct rband *band = &v->band[b];

		if (c->has_nodata) {
			band->has_nodata = true;
			band->nodata = c->nodata;
		} else if (band->has_nodata && !raster_value_cast(&band->nodata, c->type)) {
			char nd[64];

			snprintf(nd, sizeof nd, "%.17g", band->nodata);
			return ydoc_fail(
			        s->step->pl->doc, ynode_get(s->step->node, "type"),
			        "step '%s': band %d of '%s' has nodata %s, which is not a %s "
			        "value; give 'nodata'",
			        s->step->label, b + 1, st->path ? st->path : "the raster", nd,
			        GDALGetDataTypeName(c->type));
		}
	}
	v->type = c->type;
	return 0;
}

static int set_type_pull(struct stage *s, const struct rwin *w, void *buf)
{
	struct set_type_conf *c = s->step->conf;
	const struct rview *in = s->rin;
	struct arena *a = raster_blocks(s);
	size_t npx = (size_t)w->w * (size_t)w->h;
	size_t its = raster_tsize(in->type), ots = raster_tsize(c->type);
	bool int_out = c->type != GDT_Float32 && c->type != GDT_Float64;
	double *run = arena_alloc(a, sizeof *run * RASTER_RUN, 0);
	char *inbuf;

	if (run == NULL || (inbuf = raster_pull_input(s, w)) == NULL)
		return -1;
	for (int b = 0; b < in->nbands; b++) {
		const struct rband *ib = &in->band[b];
		/* The output band's nodata, as begin made it. */
		bool has_nd = c->has_nodata || ib->has_nodata;
		double nd = c->has_nodata ? c->nodata : ib->nodata;

		raster_value_cast(&nd, c->type);

		for (size_t off = 0; off < npx; off += RASTER_RUN) {
			size_t n = npx - off < RASTER_RUN ? npx - off : RASTER_RUN;
			size_t at = (size_t)b * npx + off;

			raster_to_double(inbuf + at * its, in->type, n, run);
			for (size_t i = 0; i < n; i++) {
				if (!raster_is_nodata(run[i], ib)) {
					run[i] = run[i] * c->mul + c->add;
					continue;
				}
				if (has_nd)
					run[i] = nd;
				else if (int_out)
					/* NaN in a float band without nodata: an
					 * integer type has nothing to write. */
					return gp_fail(
					        GP_EX_DATAERR,
					        "step '%s': band %d is NaN at pixel %zu,%zu, and "
					        "the output has no nodata value for it (give "
					        "'nodata')",
					        s->step->label, b + 1,
					        (size_t)w->x + (off + i) % (size_t)w->w,
					        (size_t)w->y + (off + i) / (size_t)w->w);
			}
			raster_from_double(run, n, c->type, (char *)buf + at * ots);
		}
	}
	return 0;
}

static const struct raster_ops raster_set_type_ops = {
	.begin = set_type_begin,
	.pull = set_type_pull,
};

const struct step_desc step_raster_set_type = {
	.name = "set_type",
	.summary = "convert pixels to another type, optionally scaled (gdal_translate -ot -scale)",
	.role = STEP_TRANSFORM,
	.opts = set_type_opts,
	.conf_size = sizeof(struct set_type_conf),
	.details = "Values are scaled first when 'scale' is given (out = dst_min + (in -\n"
	           "src_min) * (dst_max - dst_min) / (src_max - src_min), not clipped to\n"
	           "dst), then rounded to the nearest (halves away from zero) and clamped to\n"
	           "the type's range for integer types, as gdal_translate -ot does.\n"
	           "Nodata pixels (the band's nodata value, or NaN in a Float32/64 band)\n"
	           "are not scaled: they take the output's nodata value, which is 'nodata'\n"
	           "when given, else the input's; an input nodata value the new type cannot\n"
	           "hold (-9999 in Byte) needs 'nodata' (exit 78 otherwise).  NaN pixels of\n"
	           "a band without nodata stay NaN in a float type and stop the run (exit\n"
	           "65) in an integer one unless 'nodata' is given.  A valid value that\n"
	           "lands on the nodata value once rounded or clamped reads as nodata.",
	.check = set_type_check,
	.ras = &raster_set_type_ops,
};
