/* vector/select.c - keep, drop and rename attribute fields. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/arena.h"
#include "core/step.h"
#include "core/error.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "vector/schema.h"
#include "config/yaml_load.h"

struct select_conf {
	struct strlist keep;
	struct strlist drop;
	struct strmap rename;
	bool has_keep, has_drop, has_rename;
};

static const struct opt_desc select_opts[] = {
	{"keep", OPT_STRINGS, offsetof(struct select_conf, keep), 0,
	 "fields to keep, in this order (the others are dropped)", NULL, NULL, NULL,
	 offsetof(struct select_conf, has_keep), 0, 0},
	{"drop", OPT_STRINGS, offsetof(struct select_conf, drop), 0, "fields to drop", NULL, NULL,
	 NULL, offsetof(struct select_conf, has_drop), 0, 0},
	{"rename", OPT_MAP, offsetof(struct select_conf, rename), 0,
	 "old name: new name, applied after keep and drop", NULL, NULL, NULL,
	 offsetof(struct select_conf, has_rename), 0, 0},
	{0},
};

static int select_check(struct step *s, struct pipeline *pl)
{
	struct select_conf *c = s->conf;

	if (!c->has_keep && !c->has_drop && !c->has_rename)
		return ydoc_fail(pl->doc, s->node, "step 'select' needs 'keep', 'drop' or 'rename'");
	if (c->has_keep && c->has_drop)
		return ydoc_fail(pl->doc, ynode_get(s->node, "drop"),
		                 "step 'select' takes 'keep' or 'drop', not both");
	return 0;
}

static int no_field(struct stage *s, const struct stream *st, const char *name)
{
	const char *cand[256];
	size_t n = 0;
	const char *hint;

	for (size_t i = 0; i < st->schema->n && n < 255; i++)
		cand[n++] = st->schema->f[i].name;
	cand[n] = NULL;
	hint = suggest_word(name, cand);
	return gp_fail(GP_EX_DATAERR, "step '%s': no field '%s' in layer '%s' of '%s'%s%s%s",
	               s->step->label, name, st->layer, st->path, hint ? " (did you mean '" : "",
	               hint ? hint : "", hint ? "'?)" : "");
}

static int select_begin(struct stage *s, struct stream *st)
{
	struct select_conf *c = s->step->conf;
	struct schema *in = st->schema, *out;

	out = schema_copy(st->arena, in);
	if (out == NULL)
		return -1;
	if (c->has_keep) {
		out->n = 0;
		for (size_t i = 0; i < c->keep.n; i++) {
			int k = schema_find(in, c->keep.v[i]);

			if (k < 0)
				return no_field(s, st, c->keep.v[i]);
			out->f[out->n++] = in->f[k];
		}
	}
	if (c->has_drop) {
		for (size_t i = 0; i < c->drop.n; i++)
			if (schema_find(in, c->drop.v[i]) < 0)
				return no_field(s, st, c->drop.v[i]);
		out->n = 0;
		for (size_t k = 0; k < in->n; k++) {
			bool dropped = false;

			for (size_t i = 0; i < c->drop.n; i++)
				dropped |= schema_find(in, c->drop.v[i]) == (int)k;
			if (!dropped)
				out->f[out->n++] = in->f[k];
		}
	}
	for (size_t i = 0; i < c->rename.n; i++) {
		int k = schema_find(out, c->rename.key[i]);

		if (k < 0)
			return no_field(s, st, c->rename.key[i]);
		out->f[k].name = c->rename.val[i];
	}
	for (size_t i = 0; i < out->n; i++)
		for (size_t j = i + 1; j < out->n; j++)
			if (strcasecmp(out->f[i].name, out->f[j].name) == 0)
				return gp_fail(GP_EX_DATAERR, "step '%s': two fields named '%s'",
				               s->step->label, out->f[i].name);
	st->schema = out;
	return 0;
}

static int select_process(struct stage *s, struct batch *b)
{
	/* Values stay in the source features; the schema maps them. */
	(void)s;
	(void)b;
	return 0;
}

static const struct vector_ops select_ops = {
	.begin = select_begin,
	.process = select_process,
};

const struct step_desc step_select = {
	.name = "select",
	.summary = "keep, drop or rename attribute fields",
	.role = STEP_TRANSFORM,
	.opts = select_opts,
	.conf_size = sizeof(struct select_conf),
	.details = "A field that does not exist is an error (exit 65), with a suggestion.",
	.check = select_check,
	.vec = &select_ops,
};
