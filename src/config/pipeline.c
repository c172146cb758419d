/* pipeline.c - the pipeline file: top-level sections and the step list. */
#include "config/pipeline.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/error.h"
#include "config/opts.h"
#include "core/step.h"
#include "config/yaml_load.h"

static const char *const top_keys[] = {"version", "name",     "vars",      "memory", "threads",
                                       "transform_cache", "on_error", "rejects", "max_rejects",
                                       "steps",   NULL};

const char *pipeline_var(const struct pipeline *pl, const char *name)
{
	return vars_get(&pl->vars, name);
}

static int parse_sets(struct pipeline *pl, const char *const *sets)
{
	for (; sets && *sets; sets++) {
		const char *eq = strchr(*sets, '=');
		char *name;

		if (eq == NULL || eq == *sets)
			return gp_fail(GP_EX_USAGE, "--set wants key=value, not '%s'", *sets);
		name = arena_strndup(pl->arena, *sets, (size_t)(eq - *sets));
		if (name == NULL || vars_set(&pl->vars, pl->arena, name, eq + 1, true) != 0)
			return -1;
	}
	return 0;
}

static int parse_vars(struct pipeline *pl, const struct ynode *v)
{
	if (v->type != YNODE_MAP)
		return ydoc_fail(pl->doc, v, "'vars' must be a mapping of names to values");
	/* Values may refer to earlier variables and to ${env:...}. */
	for (size_t i = 0; i < v->n; i++) {
		const char *val;

		if (v->items[i]->type != YNODE_SCALAR)
			return ydoc_fail(pl->doc, v->items[i], "variable '%s' must be a scalar",
			                 v->keys[i]->str);
		if (pipeline_var(pl, v->keys[i]->str) != NULL)
			continue; /* --set wins */
		val = opts_expand(&pl->env, v->items[i]);
		if (val == NULL || vars_set(&pl->vars, pl->arena, v->keys[i]->str, val, false) != 0)
			return -1;
	}
	return 0;
}

struct memory_conf {
	uint64_t limit;
	const char *batch;
};

static const struct opt_desc memory_opts[] = {
	{"limit", OPT_SIZE, offsetof(struct memory_conf, limit), OPT_ZERO_NONE,
	 "hard cap on the process's peak RSS", "none", NULL, NULL, 0, PIPELINE_MEMORY_LIMIT_MIN,
	 PIPELINE_MEMORY_LIMIT_MAX},
	{"batch", OPT_STRING, offsetof(struct memory_conf, batch), 0,
	 "features per batch, or auto", "auto", NULL, NULL, 0, 0, 0},
	{0},
};

/* These two sections parse straight into the pipeline: a key not given
 * leaves the default pipeline_load set. */
static const struct opt_desc xc_opts[] = {
	{"max_entries", OPT_INT, offsetof(struct pipeline, xc_max_entries), 0,
	 "coordinate operations kept per thread (LRU)", "16", NULL, NULL, 0, 1,
	 PIPELINE_XC_ENTRIES_MAX},
	{"clear_every", OPT_INT, offsetof(struct pipeline, xc_clear_every), 0,
	 "drop every cached operation after this many input datasets (0: never)", "50", NULL,
	 NULL, 0, 0, 1000000},
	{0},
};

static const struct opt_desc rejects_opts[] = {
	{"path", OPT_STRING, offsetof(struct pipeline, rejects_path), OPT_REQUIRED,
	 "dataset receiving failed features", NULL, NULL, NULL, 0, 0, 0},
	{"format", OPT_STRING, offsetof(struct pipeline, rejects_format), 0,
	 "GDAL driver; default from the extension", NULL, NULL, NULL, 0, 0, 0},
	{0},
};

/* 'auto' (0) or an integer from 1 to `max`. */
static int parse_auto_int(struct pipeline *pl, const struct ynode *v, const char *what, int64_t max,
                          int64_t *out)
{
	struct ynode tmp;
	const char *s;

	if (v->type != YNODE_SCALAR)
		goto bad;
	s = opts_expand(&pl->env, v);
	if (s == NULL)
		return -1;
	if (strcmp(s, "auto") == 0) {
		*out = 0;
		return 0;
	}
	tmp = *v;
	tmp.str = s;
	tmp.len = strlen(s);
	if (yscalar_i64(&tmp, out) == 0 && *out >= 1 && *out <= max)
		return 0;
bad:
	return ydoc_fail(pl->doc, v, "'%s' must be 'auto' or an integer from 1 to %lld", what,
	                 (long long)max);
}

/* Raster or vector: what the read step says (synthetic raster, bands), or
 * failing that (with `look`) what its first input is, or failing that (an
 * input that is not there yet) what the other steps are: calc is raster
 * only, buffer vector only.  Vector when nothing tells. */
static int decide_kind(struct pipeline *pl, const struct ynode *steps, bool look)
{
	int k = 0;

	if (pl->steps[0].desc->role == STEP_SOURCE) {
		k = step_read_kind(&pl->steps[0], pl, false);
		if (k == 0 && look)
			k = step_read_kind(&pl->steps[0], pl, true);
		if (k < 0)
			return -1;
	}
	for (size_t i = 1; i < steps->n && k == 0; i++) {
		const struct ynode *it = steps->items[i];
		const struct step_desc *v, *r;

		if (it->type != YNODE_MAP || it->n != 1)
			continue;
		v = step_lookup(it->keys[0]->str, STEP_VECTOR);
		r = step_lookup(it->keys[0]->str, STEP_RASTER);
		if (v && !r)
			k = STEP_VECTOR;
		else if (r && !v)
			k = STEP_RASTER;
	}
	pl->raster = k == STEP_RASTER;
	return 0;
}

static int parse_steps(struct pipeline *pl, const struct ynode *v, bool look)
{
	if (v->type != YNODE_SEQ || v->n == 0)
		return ydoc_fail(pl->doc, v, "'steps' must be a non-empty list");
	pl->nsteps = v->n;
	pl->steps = arena_calloc(pl->arena, v->n, sizeof *pl->steps);
	if (pl->steps == NULL)
		return -1;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *it = v->items[i];
		struct step *s = &pl->steps[i];
		const struct step_desc *d;
		char where[128];
		int dup = 0;

		if (it->type != YNODE_MAP || it->n != 1)
			return ydoc_fail(pl->doc, it,
			                 "each step is a mapping with one key, the step's name "
			                 "(e.g. '- reproject: { to: \"EPSG:3035\" }')");
		if (i == 1 && decide_kind(pl, v, look) != 0)
			return -1;
		/* The read steps of both kinds parse the same options: the one
		 * of the pipeline's kind takes over from the one parsed with. */
		if (i == 1 && pl->raster &&
		    (d = step_lookup(pl->steps[0].desc->name, STEP_RASTER)) != NULL)
			pl->steps[0].desc = d;
		d = i == 0 ? step_lookup_any(it->keys[0]->str)
		           : step_lookup(it->keys[0]->str, pl->raster ? STEP_RASTER : STEP_VECTOR);
		if (d == NULL && step_lookup_any(it->keys[0]->str) != NULL)
			return ydoc_fail(pl->doc, it->keys[0],
			                 "'%s' is a %s step, and this pipeline reads %s", it->keys[0]->str,
			                 pl->raster ? "vector" : "raster",
			                 pl->raster ? "a raster" : "vector features");
		if (d == NULL) {
			const char *hint = step_suggest(it->keys[0]->str);

			if (hint)
				return ydoc_fail(pl->doc, it->keys[0],
				                 "unknown step '%s' (did you mean '%s'?)", it->keys[0]->str,
				                 hint);
			return ydoc_fail(pl->doc, it->keys[0],
			                 "unknown step '%s' (gispipe stages lists them)",
			                 it->keys[0]->str);
		}
		for (size_t j = 0; j < i; j++)
			if (pl->steps[j].desc == d)
				dup++;
		s->desc = d;
		s->index = (int)i;
		s->pl = pl;
		s->node = it->items[0];
		s->label = dup ? arena_printf(pl->arena, "%s#%d", d->name, dup + 1) : d->name;
		if (s->label == NULL)
			return -1;
		s->conf = arena_calloc(pl->arena, 1, d->conf_size ? d->conf_size : 1);
		if (s->conf == NULL)
			return -1;
		snprintf(where, sizeof where, "step '%s'", d->name);
		if (s->node->type == YNODE_SCALAR && s->node->len == 0 && !s->node->quoted) {
			/* "- make_valid:" with no options */
			if (opts_parse(&pl->env, NULL, d->opts, s->conf, where) != 0) {
				gp_err_clear();
				return ydoc_fail(pl->doc, it->keys[0], "step '%s' needs options",
				                 d->name);
			}
		} else if (opts_parse(&pl->env, s->node, d->opts, s->conf, where) != 0) {
			return -1;
		}
	}
	/* Shape: one source first, one sink last, transforms between. */
	if (pl->steps[0].desc->role != STEP_SOURCE)
		return ydoc_fail(pl->doc, v->items[0], "the first step must be 'read'");
	if (pl->steps[pl->nsteps - 1].desc->role != STEP_SINK)
		return ydoc_fail(pl->doc, v->items[pl->nsteps - 1], "the last step must be 'write'");
	for (size_t i = 1; i + 1 < pl->nsteps; i++)
		if (pl->steps[i].desc->role != STEP_TRANSFORM)
			return ydoc_fail(pl->doc, v->items[i],
			                 "'%s' may only be the %s step", pl->steps[i].desc->name,
			                 pl->steps[i].desc->role == STEP_SOURCE ? "first" : "last");
	if (pl->nsteps < 2)
		return ydoc_fail(pl->doc, v, "a pipeline needs at least 'read' and 'write'");
	return 0;
}

static char *dir_of(struct arena *a, const char *path)
{
	char *copy = arena_strdup(a, path);
	char *d;

	if (copy == NULL)
		return NULL;
	d = dirname(copy);
	return arena_strdup(a, d);
}

struct pipeline *pipeline_load(struct arena *a, struct mem_account *acct, const char *path,
                               const struct pipeline_load_opts *o)
{
	struct pipeline *pl = arena_calloc(a, 1, sizeof *pl);
	const struct ynode *root, *v;
	struct ynode *steps_node = NULL;

	if (pl == NULL)
		return NULL;
	pl->arena = a;
	pl->acct = acct;
	pl->path = path;
	pl->xc_max_entries = 16;
	pl->xc_clear_every = 50;
	pl->max_rejects = -1;
	pl->dir = dir_of(a, path);
	if (pl->dir == NULL)
		return NULL;
	if (o && parse_sets(pl, o->sets) != 0)
		return NULL;
	pl->doc = ydoc_load_file(a, path);
	if (pl->doc == NULL)
		return NULL;
	pl->env = (struct opt_env){.arena = a, .doc = pl->doc, .vars = &pl->vars, .dir = pl->dir};
	root = pl->doc->root;
	if (root == NULL || root->type != YNODE_MAP) {
		ydoc_fail(pl->doc, root, "a pipeline is a mapping with 'version' and 'steps'");
		return NULL;
	}
	for (size_t i = 0; i < root->n; i++) {
		const char *k = root->keys[i]->str;
		bool known = false;

		for (const char *const *t = top_keys; *t; t++)
			known |= strcmp(*t, k) == 0;
		if (!known) {
			const char *hint = suggest_word(k, top_keys);

			if (hint)
				ydoc_fail(pl->doc, root->keys[i],
				          "unknown key '%s' at the top level (did you mean '%s'?)", k, hint);
			else
				ydoc_fail(pl->doc, root->keys[i], "unknown key '%s' at the top level", k);
			return NULL;
		}
		if (strcmp(k, "steps") == 0)
			steps_node = root->items[i];
	}
	v = ynode_get(root, "version");
	if (v == NULL) {
		ydoc_fail(pl->doc, root, "missing 'version: 1'");
		return NULL;
	}
	{
		int64_t ver;

		if (v->type != YNODE_SCALAR || yscalar_i64(v, &ver) != 0 || ver != 1) {
			ydoc_fail(pl->doc, v, "unsupported version '%s' (this gispipe reads version 1)",
			          v->type == YNODE_SCALAR ? v->str : "?");
			return NULL;
		}
		pl->version = 1;
	}
	if ((v = ynode_get(root, "vars")) != NULL && parse_vars(pl, v) != 0)
		return NULL;
	if ((v = ynode_get(root, "name")) != NULL) {
		if (v->type != YNODE_SCALAR) {
			ydoc_fail(pl->doc, v, "'name' must be a string");
			return NULL;
		}
		pl->name = opts_expand(&pl->env, v);
		if (pl->name == NULL)
			return NULL;
	}
	if ((v = ynode_get(root, "memory")) != NULL) {
		struct memory_conf mc = {0};

		if (opts_parse(&pl->env, v, memory_opts, &mc, "'memory'") != 0)
			return NULL;
		pl->memory_limit = mc.limit;
		if (mc.batch != NULL) {
			const struct ynode *bn = ynode_get(v, "batch");

			if (parse_auto_int(pl, bn, "memory.batch", PIPELINE_BATCH_MAX,
			                   &pl->batch) != 0)
				return NULL;
		}
	}
	if ((v = ynode_get(root, "threads")) != NULL &&
	    parse_auto_int(pl, v, "threads", PIPELINE_THREADS_MAX, &pl->threads))
		return NULL;
	if ((v = ynode_get(root, "transform_cache")) != NULL &&
	    opts_parse(&pl->env, v, xc_opts, pl, "'transform_cache'") != 0)
		return NULL;
	if ((v = ynode_get(root, "on_error")) != NULL) {
		if (v->type == YNODE_SCALAR && strcmp(v->str, "fail") == 0) {
			pl->on_error = ON_ERROR_FAIL;
		} else if (v->type == YNODE_SCALAR && strcmp(v->str, "reject") == 0) {
			pl->on_error = ON_ERROR_REJECT;
		} else {
			ydoc_fail(pl->doc, v, "'on_error' must be 'fail' or 'reject'");
			return NULL;
		}
	}
	if ((v = ynode_get(root, "rejects")) != NULL &&
	    opts_parse(&pl->env, v, rejects_opts, pl, "'rejects'") != 0)
		return NULL;
	if ((v = ynode_get(root, "max_rejects")) != NULL) {
		if (v->type != YNODE_SCALAR || yscalar_i64(v, &pl->max_rejects) != 0 ||
		    pl->max_rejects < 0 || pl->max_rejects > PIPELINE_MAX_REJECTS_MAX) {
			ydoc_fail(pl->doc, v, "'max_rejects' must be an integer from 0 to %lld",
			          (long long)PIPELINE_MAX_REJECTS_MAX);
			return NULL;
		}
	}
	if (pl->on_error == ON_ERROR_REJECT && pl->rejects_path == NULL) {
		ydoc_fail(pl->doc, ynode_get(root, "on_error"),
		          "'on_error: reject' needs 'rejects: { path: ... }' to put them in");
		return NULL;
	}
	if (pl->on_error != ON_ERROR_REJECT && pl->rejects_path != NULL) {
		ydoc_fail(pl->doc, ynode_get(root, "rejects"),
		          "'rejects' is only used with 'on_error: reject'");
		return NULL;
	}
	if (steps_node == NULL) {
		ydoc_fail(pl->doc, root, "missing 'steps'");
		return NULL;
	}
	if (parse_steps(pl, steps_node, !(o && o->skip_inputs)) != 0)
		return NULL;
	for (size_t i = 0; i < pl->nsteps; i++) {
		struct step *s = &pl->steps[i];

		if (s->desc->check && s->desc->check(s, pl) != 0)
			return NULL;
	}
	return pl;
}
