/*
 * opts.c - table-driven parsing of option mappings, and the ${...}
 * expansion every value goes through.
 *
 * What parsing makes (expanded strings, lists, maps) is allocated in
 * env->arena and lives as long as it.  A value with no reference is the
 * node's own text, and strlist.at points at nodes: those live as long as
 * env->doc (in a pipeline, the same arena).  Nothing here keeps `env`.
 */
#include "config/opts.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/error.h"
#include "config/vars.h"
#include "config/yaml_load.h"

static const char *const type_names[] = {
	[OPT_STRING] = "string", [OPT_STRINGS] = "string or list of strings",
	[OPT_INT] = "integer",   [OPT_DOUBLE] = "number",
	[OPT_BOOL] = "boolean",  [OPT_BBOX] = "list of 4 numbers [xmin, ymin, xmax, ymax]",
	[OPT_DOUBLE2] = "number or list of 2", [OPT_ENUM] = "one of",
	[OPT_MAP] = "mapping of strings", [OPT_SIZE] = "size (e.g. 256MiB)",
	[OPT_SUB] = "mapping",
};

const char *opt_type_name(enum opt_type t)
{
	return type_names[t];
}

/* Variable expansion: ${name} (from 'vars' or --set), ${env:NAME} and
 * ${pipeline_dir} in any scalar value.  resolve() looks one reference up,
 * expanded_length() measures the result without building it, opts_expand()
 * holds that against the bounds in opts.h and then builds it.  What a
 * reference produces is not expanded again ('vars' values were expanded
 * when they were defined, in file order). */

/* What the reference at `s` ("${...") stands for, and where the text after
 * it starts; -1 with a positioned error. */
static int resolve(struct opt_env *env, const struct ynode *n, const char *s, const char **val,
                   const char **next)
{
	const char *end = strchr(s + 2, '}');
	char name[256];
	size_t nlen;

	if (end == NULL)
		return ydoc_fail(env->doc, n, "unterminated '${' in '%s'", n->str);
	nlen = (size_t)(end - (s + 2));
	if (nlen == 0 || nlen >= sizeof name)
		return ydoc_fail(env->doc, n, "bad variable reference in '%s'", n->str);
	memcpy(name, s + 2, nlen);
	name[nlen] = '\0';
	*next = end + 1;
	if (strncmp(name, "env:", 4) == 0) {
		*val = getenv(name + 4);
		if (*val == NULL)
			return ydoc_fail(env->doc, n, "environment variable '%s' is not set",
			                 name + 4);
		return 0;
	}
	if (strcmp(name, "pipeline_dir") == 0) {
		*val = env->dir;
		return 0;
	}
	*val = vars_get(env->vars, name);
	if (*val == NULL) {
		const char *cand[64];
		size_t k = 0;
		const char *hint;

		for (size_t i = 0; i < env->vars->n && k < 62; i++)
			cand[k++] = env->vars->item[i].name;
		cand[k++] = "pipeline_dir";
		cand[k] = NULL;
		hint = suggest_word(name, cand);
		if (hint)
			return ydoc_fail(env->doc, n,
			                 "undefined variable '%s' (did you mean '%s'?)", name,
			                 hint);
		return ydoc_fail(
		        env->doc, n,
		        "undefined variable '%s' (define it under 'vars' or with --set %s=...)",
		        name, name);
	}
	return 0;
}

/* The length of the value with its references substituted, counted without
 * building it and given up as soon as it passes `most`.  A referenced value
 * is measured only up to what is still allowed, so a long one costs no more
 * than the bound. */
static int expanded_length(struct opt_env *env, const struct ynode *n, size_t most, size_t *len)
{
	const char *s = n->str;
	size_t total = 0;

	while (*s) {
		const char *val, *next;
		size_t vlen;

		if (s[0] != '$' || s[1] != '{') {
			total++;
			s++;
		} else {
			if (resolve(env, n, s, &val, &next) != 0)
				return -1;
			vlen = strnlen(val, most - total + 1);
			total += vlen;
			s = next;
		}
		if (total > most)
			break;
	}
	*len = total;
	return 0;
}

const char *opts_expand(struct opt_env *env, const struct ynode *n)
{
	const char *s = n->str;
	size_t left, most, len = 0, need;
	char *out;

	if (strstr(s, "${") == NULL)
		return s;
	left = env->expanded < OPTS_EXPAND_TOTAL_MAX ? OPTS_EXPAND_TOTAL_MAX - env->expanded : 0;
	most = left < OPTS_EXPAND_VALUE_MAX ? left : OPTS_EXPAND_VALUE_MAX;
	if (expanded_length(env, n, most, &need) != 0)
		return NULL;
	if (need > OPTS_EXPAND_VALUE_MAX) {
		ydoc_fail(env->doc, n,
		          "this value expands to more than %d bytes (%d KiB), the most a value may "
		          "have",
		          OPTS_EXPAND_VALUE_MAX, OPTS_EXPAND_VALUE_MAX / 1024);
		return NULL;
	}
	if (need > most) {
		ydoc_fail(
		        env->doc, n,
		        "the pipeline's expanded values add up to more than %d bytes (%d MiB), the "
		        "most they may have together",
		        OPTS_EXPAND_TOTAL_MAX, OPTS_EXPAND_TOTAL_MAX / (1024 * 1024));
		return NULL;
	}
	out = arena_alloc(env->arena, need + 1, 1);
	if (out == NULL)
		return NULL;
	while (*s) {
		const char *val, *next;
		size_t vlen;

		if (s[0] != '$' || s[1] != '{') {
			out[len++] = *s++;
			continue;
		}
		if (resolve(env, n, s, &val, &next) != 0)
			return NULL;
		vlen = strlen(val);
		if (vlen > need - len) /* the environment changed under us */
			vlen = need - len;
		memcpy(out + len, val, vlen);
		len += vlen;
		s = next;
	}
	out[len] = '\0';
	env->expanded += len;
	return out;
}

static int want(struct opt_env *env, const struct ynode *v, const struct opt_desc *o,
                const char *where)
{
	if (o->type == OPT_ENUM) {
		char list[512] = "";

		for (const char *const *c = o->choices; *c; c++) {
			if (c != o->choices)
				strncat(list, ", ", sizeof list - strlen(list) - 1);
			strncat(list, *c, sizeof list - strlen(list) - 1);
		}
		return ydoc_fail(env->doc, v, "'%s' in %s must be one of: %s", o->name, where,
		                 list);
	}
	{
		const char *t = opt_type_name(o->type);

		return ydoc_fail(env->doc, v, "'%s' in %s must be %s %s", o->name, where,
		                 strchr("aeiou", t[0]) ? "an" : "a", t);
	}
}

/* The text of the scalar `v` with variables substituted (in env->arena);
 * anything but a scalar is the wrong type for `o`.  NULL with the error
 * set. */
static const char *scalar_text(struct opt_env *env, const struct ynode *v, const struct opt_desc *o,
                               const char *where)
{
	if (v->type != YNODE_SCALAR) {
		want(env, v, o, where);
		return NULL;
	}
	return opts_expand(env, v);
}

/* The scalar `v`, variables substituted, as the C value `o` holds: an
 * int64_t for OPT_INT, a bool for OPT_BOOL, otherwise a double (the
 * numbers of OPT_DOUBLE, OPT_DOUBLE2 and OPT_BBOX).  `out` is written only
 * when the text is of that type. */
static int parse_scalar(struct opt_env *env, const struct ynode *v, const struct opt_desc *o,
                        const char *where, void *out)
{
	const char *s = scalar_text(env, v, o, where);
	struct ynode tmp;
	int r;

	if (s == NULL)
		return -1;
	/* a node of its own, at the same position, for the conversions */
	tmp = *v;
	tmp.str = s;
	tmp.len = strlen(s);
	if (o->type == OPT_INT)
		r = yscalar_i64(&tmp, out);
	else if (o->type == OPT_BOOL)
		r = yscalar_bool(&tmp, out);
	else
		r = yscalar_double(&tmp, out);
	return r == 0 ? 0 : want(env, v, o, where);
}

static bool has_range(const struct opt_desc *o)
{
	return o->max > o->min;
}

static void size_text(uint64_t v, char *buf, size_t size)
{
	static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};

	for (int i = 0; i < 4; i++) {
		uint64_t u = (uint64_t)1 << (40 - 10 * i);

		if (v >= u && v % u == 0) {
			snprintf(buf, size, "%" PRIu64 "%s", v / u, units[i]);
			return;
		}
	}
	snprintf(buf, size, "%" PRIu64, v);
}

static void number_text(const struct opt_desc *o, double d, char *buf, size_t size)
{
	if (o->type == OPT_SIZE)
		size_text((uint64_t)d, buf, size);
	else if (o->type == OPT_INT || (d == floor(d) && fabs(d) < 1e9))
		snprintf(buf, size, "%.0f", d);
	else
		snprintf(buf, size, "%g", d);
}

const char *opt_range_text(const struct opt_desc *o, char *buf, size_t size)
{
	char lo[32], hi[32];

	buf[0] = '\0';
	if (!has_range(o))
		return buf;
	if (o->min == -DBL_MAX && o->max == DBL_MAX) {
		snprintf(buf, size, "any finite number");
		return buf;
	}
	number_text(o, o->min, lo, sizeof lo);
	number_text(o, o->max, hi, sizeof hi);
	snprintf(buf, size, "%s%s..%s%s", (o->flags & OPT_POSITIVE) && o->min == 0 ? ">" : "", lo,
	         hi, o->flags & OPT_ZERO_NONE ? ", or 0/none" : "");
	return buf;
}

/* `d` against the option's range, or its sign flags when it has none. */
static int check_range(struct opt_env *env, const struct ynode *v, const struct opt_desc *o,
                       const char *where, double d)
{
	char range[96], bound[32];

	if (!has_range(o)) {
		if ((o->flags & OPT_POSITIVE) && !(d > 0))
			return ydoc_fail(env->doc, v, "'%s' in %s must be greater than 0", o->name,
			                 where);
		if ((o->flags & OPT_NONNEG) && d < 0)
			return ydoc_fail(env->doc, v, "'%s' in %s must not be negative", o->name,
			                 where);
		return 0;
	}
	opt_range_text(o, range, sizeof range);
	if ((o->flags & OPT_POSITIVE) && o->min == 0 && !(d > 0))
		return ydoc_fail(env->doc, v, "'%s' in %s must be greater than 0 (%s)", o->name,
		                 where, range);
	if (d < o->min) {
		if (o->min == 0)
			return ydoc_fail(env->doc, v, "'%s' in %s must not be negative (%s)",
			                 o->name, where, range);
		number_text(o, o->min, bound, sizeof bound);
		return ydoc_fail(env->doc, v, "'%s' in %s must be at least %s (%s)", o->name, where,
		                 bound, range);
	}
	if (d > o->max) {
		number_text(o, o->max, bound, sizeof bound);
		return ydoc_fail(env->doc, v, "'%s' in %s must be at most %s (%s)", o->name, where,
		                 bound, range);
	}
	return 0;
}

/* A number of `o`, in its range. */
static int parse_number(struct opt_env *env, const struct ynode *v, const struct opt_desc *o,
                        const char *where, double *out)
{
	if (parse_scalar(env, v, o, where, out) != 0)
		return -1;
	return check_range(env, v, o, where, *out);
}

/* A list of exactly `n` numbers of `o`: all of them numbers first, then
 * each in the range. */
static int parse_doubles(struct opt_env *env, const struct ynode *v, const struct opt_desc *o,
                         const char *where, double *out, size_t n)
{
	if (v->type != YNODE_SEQ || v->n != n)
		return want(env, v, o, where);
	for (size_t i = 0; i < n; i++)
		if (parse_scalar(env, v->items[i], o, where, &out[i]) != 0)
			return -1;
	for (size_t i = 0; i < n; i++)
		if (check_range(env, v->items[i], o, where, out[i]) != 0)
			return -1;
	return 0;
}

static int parse_one(struct opt_env *env, const struct ynode *v, const struct opt_desc *o,
                     void *conf, const char *where)
{
	void *dst = (char *)conf + o->offset;
	double d;

	switch (o->type) {
	case OPT_STRING: {
		const char *s = scalar_text(env, v, o, where);

		if (s == NULL)
			return -1;
		if ((o->flags & OPT_REQUIRED) && *s == '\0')
			return ydoc_fail(env->doc, v, "'%s' in %s must not be empty", o->name,
			                 where);
		*(const char **)dst = s;
		return 0;
	}
	case OPT_STRINGS: {
		struct strlist *l = dst;
		size_t n = v->type == YNODE_SEQ ? v->n : 1;

		if (v->type == YNODE_MAP || (v->type == YNODE_SEQ && v->n == 0))
			return want(env, v, o, where);
		l->n = n;
		l->v = arena_calloc(env->arena, n, sizeof *l->v);
		l->at = arena_calloc(env->arena, n, sizeof *l->at);
		if (l->v == NULL || l->at == NULL)
			return -1;
		for (size_t i = 0; i < n; i++) {
			const struct ynode *it = v->type == YNODE_SEQ ? v->items[i] : v;

			l->v[i] = scalar_text(env, it, o, where);
			if (l->v[i] == NULL)
				return -1;
			l->at[i] = it;
		}
		return 0;
	}
	case OPT_INT: {
		int64_t i;

		if (parse_scalar(env, v, o, where, &i) != 0 ||
		    check_range(env, v, o, where, (double)i) != 0)
			return -1;
		*(int64_t *)dst = i;
		return 0;
	}
	case OPT_DOUBLE:
		if (parse_number(env, v, o, where, &d) != 0)
			return -1;
		*(double *)dst = d;
		return 0;
	case OPT_BOOL:
		return parse_scalar(env, v, o, where, dst);
	case OPT_BBOX: {
		double *bb = dst;

		if (parse_doubles(env, v, o, where, bb, 4) != 0)
			return -1;
		if (bb[0] > bb[2] || bb[1] > bb[3])
			return ydoc_fail(env->doc, v,
			                 "'%s' in %s must be [xmin, ymin, xmax, ymax] with "
			                 "xmin <= xmax and ymin <= ymax",
			                 o->name, where);
		return 0;
	}
	case OPT_DOUBLE2:
		/* A pair, or one number meaning both ("resolution: 10"). */
		if (v->type != YNODE_SCALAR)
			return parse_doubles(env, v, o, where, dst, 2);
		if (parse_number(env, v, o, where, &d) != 0)
			return -1;
		((double *)dst)[0] = ((double *)dst)[1] = d;
		return 0;
	case OPT_ENUM: {
		const char *s = scalar_text(env, v, o, where);

		if (s == NULL)
			return -1;
		for (int i = 0; o->choices[i]; i++) {
			if (strcmp(o->choices[i], s) == 0) {
				*(int *)dst = i;
				return 0;
			}
		}
		{
			const char *hint = suggest_word(s, o->choices);

			if (hint)
				return ydoc_fail(
				        env->doc, v,
				        "unknown value '%s' for '%s' in %s (did you mean '%s'?)", s,
				        o->name, where, hint);
		}
		return want(env, v, o, where);
	}
	case OPT_MAP: {
		struct strmap *m = dst;

		if (v->type != YNODE_MAP)
			return want(env, v, o, where);
		m->n = v->n;
		m->key = arena_calloc(env->arena, v->n + 1, sizeof *m->key);
		m->val = arena_calloc(env->arena, v->n + 1, sizeof *m->val);
		if (m->key == NULL || m->val == NULL)
			return -1;
		for (size_t i = 0; i < v->n; i++) {
			if (v->items[i]->type != YNODE_SCALAR)
				return ydoc_fail(env->doc, v->items[i],
				                 "values of '%s' in %s must be scalars", o->name,
				                 where);
			m->key[i] = v->keys[i]->str;
			m->val[i] = opts_expand(env, v->items[i]);
			if (m->val[i] == NULL)
				return -1;
		}
		return 0;
	}
	case OPT_SIZE: {
		const char *s = scalar_text(env, v, o, where);

		if (s == NULL)
			return -1;
		if ((o->flags & OPT_ZERO_NONE) && strcmp(s, "none") == 0) {
			*(uint64_t *)dst = 0;
			return 0;
		}
		if (parse_size(s, dst) != 0)
			return ydoc_fail(
			        env->doc, v,
			        "'%s' in %s: '%s' is not a size (a whole number of bytes, or "
			        "with a unit: KiB, MiB, GiB, TiB)",
			        o->name, where, s);
		if ((o->flags & OPT_ZERO_NONE) && *(uint64_t *)dst == 0)
			return 0;
		return check_range(env, v, o, where, (double)*(uint64_t *)dst);
	}
	case OPT_SUB: {
		char sub_where[256];

		if (v->type != YNODE_MAP)
			return want(env, v, o, where);
		snprintf(sub_where, sizeof sub_where, "'%s' of %s", o->name, where);
		return opts_parse(env, v, o->sub, dst, sub_where);
	}
	}
	return gp_fail(GP_EX_SOFTWARE, "bad option type");
}

int opts_parse(struct opt_env *env, const struct ynode *node, const struct opt_desc *table,
               void *conf, const char *where)
{
	if (node == NULL || (node->type == YNODE_SCALAR && node->len == 0 && !node->quoted))
		goto required;
	if (node->type != YNODE_MAP)
		return ydoc_fail(env->doc, node, "%s takes a mapping of options", where);
	for (size_t i = 0; i < node->n; i++) {
		const struct ynode *k = node->keys[i];
		const struct opt_desc *o = NULL;

		for (const struct opt_desc *t = table; t->name; t++)
			if (strcmp(t->name, k->str) == 0)
				o = t;
		if (o == NULL) {
			const char *cand[64];
			size_t n = 0;
			const char *hint;

			for (const struct opt_desc *t = table; t->name && n < 63; t++)
				cand[n++] = t->name;
			cand[n] = NULL;
			hint = suggest_word(k->str, cand);
			if (hint)
				return ydoc_fail(env->doc, k,
				                 "unknown key '%s' in %s (did you mean '%s'?)",
				                 k->str, where, hint);
			return ydoc_fail(env->doc, k, "unknown key '%s' in %s", k->str, where);
		}
		if (parse_one(env, node->items[i], o, conf, where) != 0)
			return -1;
		if (o->present_offset)
			*(bool *)((char *)conf + o->present_offset) = true;
	}
required:
	for (const struct opt_desc *t = table; t->name; t++) {
		if ((t->flags & OPT_REQUIRED) && ynode_get(node, t->name) == NULL)
			return ydoc_fail(env->doc, node, "%s needs '%s'", where, t->name);
	}
	return 0;
}
