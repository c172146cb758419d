/* raster/nodata.c - the nodata step: declare, fill or drop the nodata value
 * of a raster's bands.
 *
 * The pixel type does not change, so a window is pulled straight into the
 * output buffer and rewritten in place a run at a time.
 */
#include <errno.h>
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

enum nodata_mode { ND_SET, ND_FILL, ND_UNSET };

struct nodata_conf {
	const char *set_text;
	const char *fill_text;
	bool unset;
	struct strlist bands;
	bool has_set, has_fill, has_unset, has_bands;
	/* from check */
	enum nodata_mode mode;
	double value; /* set, fill */
	int *band;    /* 1-based, nband; none: every band */
	size_t nband;
};

static const struct opt_desc nodata_opts[] = {
	{"set", OPT_STRING, offsetof(struct nodata_conf, set_text), 0,
	 "declare this nodata value (a number, or nan); pixels that were nodata take it", NULL,
	 NULL, NULL, offsetof(struct nodata_conf, has_set), 0, 0},
	{"fill", OPT_STRING, offsetof(struct nodata_conf, fill_text), 0,
	 "write this number where pixels are nodata; the output declares no nodata", NULL, NULL,
	 NULL, offsetof(struct nodata_conf, has_fill), 0, 0},
	{"unset", OPT_BOOL, offsetof(struct nodata_conf, unset), 0,
	 "true: declare no nodata value, pixels unchanged", NULL, NULL, NULL,
	 offsetof(struct nodata_conf, has_unset), 0, 0},
	{"bands", OPT_STRINGS, offsetof(struct nodata_conf, bands), 0,
	 "band numbers to change ([1, 3]); the others pass unchanged", "every band", NULL, NULL,
	 offsetof(struct nodata_conf, has_bands), 0, 0},
	{0},
};

static int nodata_check(struct step *s, struct pipeline *pl)
{
	struct nodata_conf *c = s->conf;
	int given = c->has_set + c->has_fill + (c->has_unset && c->unset);

	if (c->has_unset && !c->unset)
		return ydoc_fail(pl->doc, ynode_get(s->node, "unset"),
		                 "step '%s': 'unset' can only be true (leave it out otherwise)",
		                 s->label);
	if (given != 1)
		return ydoc_fail(pl->doc, s->node,
		                 "step '%s' needs exactly one of 'set', 'fill' and 'unset: true'",
		                 s->label);
	if (c->has_set) {
		c->mode = ND_SET;
		if (raster_value_parse(c->set_text, &c->value) != 0)
			return ydoc_fail(pl->doc, ynode_get(s->node, "set"),
			                 "step '%s': 'set' is a number or nan, not '%s'", s->label,
			                 c->set_text);
	} else if (c->has_fill) {
		c->mode = ND_FILL;
		if (raster_value_parse(c->fill_text, &c->value) != 0 || isnan(c->value))
			return ydoc_fail(pl->doc, ynode_get(s->node, "fill"),
			                 "step '%s': 'fill' is a number, not '%s'", s->label,
			                 c->fill_text);
	} else {
		c->mode = ND_UNSET;
	}
	if (!c->has_bands)
		return 0;
	c->band = arena_calloc(pl->arena, c->bands.n, sizeof *c->band);
	if (c->band == NULL)
		return -1;
	for (size_t i = 0; i < c->bands.n; i++) {
		int b;

		if (!raster_band_number(c->bands.v[i], &b))
			return ydoc_fail(pl->doc, c->bands.at[i],
			                 "step '%s': 'bands' lists band numbers from 1, not '%s'",
			                 s->label, c->bands.v[i]);
		for (size_t j = 0; j < i; j++)
			if (c->band[j] == b)
				return ydoc_fail(pl->doc, c->bands.at[i],
				                 "step '%s': band %d is listed twice", s->label, b);
		c->band[c->nband++] = b;
	}
	return 0;
}

/* Whether band `b` (0-based) is one this step changes. */
static bool selected(const struct nodata_conf *c, int b)
{
	if (!c->has_bands)
		return true;
	for (size_t i = 0; i < c->nband; i++)
		if (c->band[i] == b + 1)
			return true;
	return false;
}

static int nodata_begin(struct stage *s, struct stream *st)
{
	struct nodata_conf *c = s->step->conf;
	struct rview *v = st->raster;
	const char *what = c->mode == ND_SET ? "set" : "fill";
	double value = c->value;

	for (size_t i = 0; i < c->nband; i++)
		if (c->band[i] > v->nbands)
			return ydoc_fail(s->step->pl->doc, c->bands.at[i],
			                 "step '%s': there is no band %d: '%s' has %d band%s",
			                 s->step->label, c->band[i],
			                 st->path ? st->path : "the raster", v->nbands,
			                 v->nbands == 1 ? "" : "s");
	if (c->mode != ND_UNSET && !raster_value_cast(&value, v->type))
		return ydoc_fail(s->step->pl->doc, ynode_get(s->step->node, what),
		                 "step '%s': %s is not a %s value, the pixel type of '%s'",
		                 s->step->label, c->mode == ND_SET ? c->set_text : c->fill_text,
		                 GDALGetDataTypeName(v->type), st->path ? st->path : "the raster");
	for (int b = 0; b < v->nbands; b++) {
		if (!selected(c, b))
			continue;
		v->band[b].has_nodata = c->mode == ND_SET;
		v->band[b].nodata = c->mode == ND_SET ? value : 0;
	}
	return 0;
}

static int nodata_pull(struct stage *s, const struct rwin *w, void *buf)
{
	struct nodata_conf *c = s->step->conf;
	const struct rview *in = s->rin;
	size_t npx = (size_t)w->w * (size_t)w->h, ts = raster_tsize(in->type);
	double value = c->value, *run;

	if (raster_pull_upstream(s, w, buf) != 0)
		return -1;
	if (c->mode == ND_UNSET)
		return 0;
	raster_value_cast(&value, in->type); /* as begin checked it */
	run = arena_alloc(raster_blocks(s), sizeof *run * RASTER_RUN, 0);
	if (run == NULL)
		return -1;
	for (int b = 0; b < in->nbands; b++) {
		const struct rband *old = &in->band[b];
		char *px = (char *)buf + (size_t)b * npx * ts;

		/* An integer band without nodata has no pixel to rewrite. */
		if (!selected(c, b) ||
		    (!old->has_nodata && in->type != GDT_Float32 && in->type != GDT_Float64))
			continue;
		for (size_t off = 0; off < npx; off += RASTER_RUN) {
			size_t n = npx - off < RASTER_RUN ? npx - off : RASTER_RUN;
			bool changed = false;

			raster_to_double(px + off * ts, in->type, n, run);
			for (size_t i = 0; i < n; i++)
				if (raster_is_nodata(run[i], old)) {
					run[i] = value;
					changed = true;
				}
			if (changed)
				raster_from_double(run, n, in->type, px + off * ts);
		}
	}
	return 0;
}

static const struct raster_ops raster_nodata_ops = {
	.begin = nodata_begin,
	.pull = nodata_pull,
};

const struct step_desc step_raster_nodata = {
	.name = "nodata",
	.summary = "declare, fill or drop the nodata value of bands",
	.role = STEP_TRANSFORM,
	.opts = nodata_opts,
	.conf_size = sizeof(struct nodata_conf),
	.details = "Exactly one of set, fill and unset.  A pixel is nodata when it equals\n"
	           "its band's nodata value, or is NaN in a Float32/64 band.\n"
	           "set: every band (or those of 'bands') declares the value, and its\n"
	           "nodata pixels are rewritten to it, so what was masked stays masked; a\n"
	           "valid pixel that already equals the value becomes nodata too.\n"
	           "fill: nodata pixels take the value and the band declares no nodata.\n"
	           "unset: the band declares no nodata; no pixel changes, so the old\n"
	           "nodata value becomes an ordinary value.\n"
	           "The value must be one of the band's type (nan: Float32/64 only; 300 is\n"
	           "no Byte): exit 78 otherwise.  Use set_type first to change the type.",
	.check = nodata_check,
	.ras = &raster_nodata_ops,
};
