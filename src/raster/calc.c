/* raster/calc.c - the calc step: band arithmetic with muparser.
 *
 * Each expression gives one output band.  Its variables are the bands of
 * the raster it receives, b1, b2, ..., and the aliases 'names' gives them.
 * Expressions are parsed at check, so that a mistake is reported at its
 * place in the pipeline file before anything is opened, and again at open,
 * where each gets its own parser, owned by the step's arena.  A window is
 * converted to doubles a run of RASTER_RUN pixels at a time.
 *
 * Pixels go through mupEval one by one, not mupEvalBulk: Debian builds
 * muparser with OpenMP, and its bulk mode starts a team of up to 16 threads
 * on every call, which would ignore --threads and the owner-thread rule and
 * measured 2.4 times slower on two cores than one thread.  Held to one
 * thread, bulk mode is no faster than mupEval (both walk the same byte code
 * per pixel: ~25 ns for an NDVI, either way), so no OpenMP runtime is
 * involved at all.  muparser's C API keeps messages in static buffers: one
 * thread at a time, which the engine is.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <muParserDLL.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/arena.h"
#include "core/error.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "raster/raster.h"
#include "core/step.h"
#include "config/yaml_load.h"
#include "raster/pixel.h"

/* muparser formats its messages, which quote the offending token, into a
 * 2048-byte static buffer with sprintf: longer expressions could overflow
 * it, so they are refused. */
#define CALC_MAX_EXPR 1000

enum calc_nodata { CALC_ND_AUTO, CALC_ND_VALUE, CALC_ND_NONE };

struct calc_conf {
	struct strlist expr;
	struct strmap names;
	const char *type_name;
	const char *nodata_text;
	bool has_names, has_type, has_nodata;
	/* from check */
	GDALDataType type;
	enum calc_nodata nodata_mode;
	double nodata;   /* CALC_ND_VALUE */
	int *alias_band; /* band of each alias in names */
};

static const struct opt_desc calc_opts[] = {
	{"expr", OPT_STRINGS, offsetof(struct calc_conf, expr), OPT_REQUIRED,
	 "an expression, or a list of them: one output band each", NULL, NULL, NULL, 0, 0, 0},
	{"names", OPT_MAP, offsetof(struct calc_conf, names), 0,
	 "aliases of bands ({ nir: 4, red: 3 }); b1, b2, ... always work", NULL, NULL, NULL,
	 offsetof(struct calc_conf, has_names), 0, 0},
	{"type", OPT_STRING, offsetof(struct calc_conf, type_name), 0,
	 "output pixel type: Byte, UInt16, Int16, UInt32, Int32, Float32, Float64", "Float32", NULL,
	 NULL, offsetof(struct calc_conf, has_type), 0, 0},
	{"nodata", OPT_STRING, offsetof(struct calc_conf, nodata_text), 0,
	 "output nodata value: a number, nan, or none",
	 "the nodata of the lowest band used if the type holds it, else NaN (Float32/64), the "
	 "type's minimum (Int16/32) or maximum (Byte, UInt16/32)",
	 NULL, NULL, offsetof(struct calc_conf, has_nodata), 0, 0},
	{0},
};

struct calc_expr {
	muParserHandle_t h;
	int nvars;
	const char **var; /* the variables it uses */
	int *var_band;    /* their bands, 1-based */
	int nu;
	int *u; /* distinct indexes in calc_state.used */
};

struct calc_state {
	struct calc_expr *ex;
	size_t nex;
	int *used; /* bands any expression uses, ascending */
	int nused;
	double *cur; /* nused: the pixel being evaluated */
	/* this stream's output nodata (begin) */
	bool has_nodata;
	double nodata;
};

/* Positions: a caret into the expression. */

static size_t utf8_chars(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xC0) != 0x80;
	return c;
}

/* The line and column of byte `pos` of `text`, the value of scalar `n`,
 * when the scalar is written on one line as it is (plain, or quoted with
 * no escapes and no ${...}); otherwise the scalar's own position. */
static void text_position(const struct ydoc *doc, const struct ynode *n, const char *text,
                          size_t pos, int *line, int *col)
{
	const char *p = doc->text;
	size_t len = strlen(text);
	int q = 0;

	*line = n->line;
	*col = n->col;
	for (int l = 1; l < n->line && p; l++)
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	if (p == NULL)
		return;
	for (int c = 1; c < n->col && *p && *p != '\n'; c++)
		for (p++; ((unsigned char)*p & 0xC0) == 0x80; p++)
			;
	if (n->quoted) {
		if (*p != '"' && *p != '\'')
			return; /* a block scalar */
		p++;
		q = 1;
	}
	if (memchr(text, '\n', len) || strncmp(p, text, len) != 0)
		return;
	*col = n->col + q + (int)utf8_chars(text, pos > len ? len : pos);
}

static int expr_fail(const struct step *s, const struct ynode *at, const char *text, size_t pos,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int expr_fail(const struct step *s, const struct ynode *at, const char *text, size_t pos,
                     const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int line, col;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	text_position(s->pl->doc, at, text, pos, &line, &col);
	return ydoc_fail_at(s->pl->doc, line, col, "step '%s': %s", s->label, msg);
}

static bool ident_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Offset of the first identifier `name` in expression `e` (numbers such as
 * 1e5 skipped), or 0. */
static size_t find_ident(const char *e, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; e[i];) {
		if (isdigit((unsigned char)e[i]) ||
		    (e[i] == '.' && isdigit((unsigned char)e[i + 1]))) {
			while (isalnum((unsigned char)e[i]) || e[i] == '.' ||
			       ((e[i] == '+' || e[i] == '-') &&
			        (e[i - 1] == 'e' || e[i - 1] == 'E')))
				i++;
		} else if (ident_start(e[i])) {
			size_t j = i;

			while (ident_char(e[j]))
				j++;
			if (j - i == nl && strncmp(e + i, name, nl) == 0)
				return i;
			i = j;
		} else {
			i++;
		}
	}
	return 0;
}

/* Offset of an '=' that is not part of ==, <=, >= or !=, or -1: muparser
 * would assign to the band's variable, which is scratch shared by every
 * expression. */
static long find_assignment(const char *e)
{
	for (size_t i = 0; e[i]; i++) {
		if (e[i] != '=')
			continue;
		if (e[i + 1] == '=') {
			i++;
			continue;
		}
		if (i == 0 || !strchr("<>!", e[i - 1]))
			return (long)i;
	}
	return -1;
}

/* N when `name` is bN, a band's own variable; else 0. */
static int band_number(const char *name)
{
	char *end;
	long b;

	if (name[0] != 'b' || name[1] < '1' || name[1] > '9')
		return 0;
	errno = 0;
	b = strtol(name + 1, &end, 10);
	return *end == '\0' && errno == 0 && b <= 65535 ? (int)b : 0;
}

/* The band variable `name` stands for: bN, or an alias; 0 for neither. */
static int var_band(const struct calc_conf *c, const char *name)
{
	if (band_number(name) > 0)
		return band_number(name);
	for (size_t i = 0; i < c->names.n; i++)
		if (strcmp(c->names.key[i], name) == 0)
			return c->alias_band[i];
	return 0;
}

/* muparser's last error on `h` as a positioned failure. */
static int parse_fail(const struct step *s, const struct ynode *at, const char *e,
                      muParserHandle_t h)
{
	static const char *const at_pos[] = {" at expression position ", " at position "};
	const struct calc_conf *c = s->conf;
	char msg[2048];
	size_t len = strlen(e), n;
	int pos = mupGetErrorPos(h);

	/* Copy at once: the next mupGet* call reuses the buffer. */
	snprintf(msg, sizeof msg, "%s", mupGetErrorMsg(h));
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '.' || msg[n - 1] == '!' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	msg[0] = (char)tolower((unsigned char)msg[0]);
	/* The caret shows where: drop muparser's "[found] at position N". */
	for (size_t i = 0; i < sizeof at_pos / sizeof *at_pos; i++) {
		char *t = strstr(msg, at_pos[i]);
		const char *num = t ? t + strlen(at_pos[i]) : NULL;

		if (num && *num && num[strspn(num, "0123456789")] == '\0') {
			*t = '\0';
			n = strlen(msg);
			if (n > 6 && strcmp(msg + n - 6, " found") == 0)
				msg[n - 6] = '\0';
			break;
		}
	}
	if (pos < 0 || (size_t)pos > len)
		pos = pos < 0 ? 0 : (int)len;
	/* An unknown function reads as a variable followed by a parenthesis:
	 * say what it is. */
	if (e[pos] == '(') {
		size_t end = (size_t)pos, start;
		char name[128];

		while (end > 0 && e[end - 1] == ' ')
			end--;
		for (start = end; start > 0 && ident_char(e[start - 1]); start--)
			;
		if (start < end && ident_start(e[start]) && end - start < sizeof name) {
			memcpy(name, e + start, end - start);
			name[end - start] = '\0';
			if (var_band(c, name) == 0)
				return expr_fail(
				        s, at, e, start,
				        "unknown function '%s' (gispipe stages calc lists them)",
				        name);
		}
	}
	return expr_fail(s, at, e, (size_t)pos, "bad expression: %s", msg);
}

static int unknown_var(const struct step *s, const struct ynode *at, const char *e,
                       const char *name)
{
	const struct calc_conf *c = s->conf;
	const char *cand[74];
	static const char *const bands[] = {"b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"};
	const char *hint;
	size_t n = 0;

	for (size_t i = 0; i < c->names.n && n < 64; i++)
		cand[n++] = c->names.key[i];
	for (size_t i = 0; i < 9; i++)
		cand[n++] = bands[i];
	cand[n] = NULL;
	hint = suggest_word(name, cand);
	if (hint)
		return expr_fail(s, at, e, find_ident(e, name),
		                 "unknown variable '%s' (did you mean '%s'?)", name, hint);
	return expr_fail(s, at, e, find_ident(e, name),
	                 "unknown variable '%s' (bands are b1, b2, ...; 'names' gives them other "
	                 "names)",
	                 name);
}

/* Parse expression `k` alone with every variable defined: syntax, unknown
 * variables and functions, one value. */
static int check_expr(struct step *s, size_t k)
{
	struct calc_conf *c = s->conf;
	const struct ydoc *doc = s->pl->doc;
	const char *e = c->expr.v[k];
	const struct ynode *at = c->expr.at[k];
	muParserHandle_t h;
	double one = 1;
	int n, nres = 0, r = 0;
	long eq;

	if (strlen(e) > CALC_MAX_EXPR)
		return ydoc_fail(doc, at, "step '%s': an expression has at most %d characters",
		                 s->label, CALC_MAX_EXPR);
	if (strspn(e, " \t\r\n") == strlen(e))
		return ydoc_fail(doc, at, "step '%s': empty expression", s->label);
	if ((eq = find_assignment(e)) >= 0)
		return expr_fail(s, at, e, (size_t)eq,
		                 "'=' would assign to a variable; compare with '=='");
	h = mupCreate(muBASETYPE_FLOAT);
	if (h == NULL)
		return gp_fail(GP_EX_SOFTWARE, "cannot create a muparser parser");
	mupSetExpr(h, e);
	/* muparser lists the variables, known or not, after parsing the whole
	 * expression: a syntax error shows here first. */
	n = mupGetExprVarNum(h);
	if (mupError(h)) {
		r = parse_fail(s, at, e, h);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const char *name;
		double *ptr;
		char copy[1024];

		mupGetExprVar(h, (unsigned)i, &name, &ptr);
		if (mupError(h) || name == NULL) {
			r = parse_fail(s, at, e, h);
			goto out;
		}
		snprintf(copy, sizeof copy, "%s", name);
		if (var_band(c, copy) == 0) {
			r = unknown_var(s, at, e, copy);
			goto out;
		}
		mupDefineVar(h, copy, &one);
	}
	mupEvalMulti(h, &nres);
	if (mupError(h)) {
		r = parse_fail(s, at, e, h);
		goto out;
	}
	if (nres != 1)
		r = ydoc_fail(doc, at,
		              "step '%s': this expression gives %d values; give a list of "
		              "expressions, one per output band",
		              s->label, nres);
out:
	mupRelease(h);
	return r;
}

static int check_names(struct step *s, struct pipeline *pl)
{
	struct calc_conf *c = s->conf;
	const struct ynode *node = ynode_get(s->node, "names");
	muParserHandle_t h;
	double slot = 0;

	c->alias_band = arena_calloc(pl->arena, c->names.n ? c->names.n : 1, sizeof *c->alias_band);
	if (c->alias_band == NULL)
		return -1;
	h = mupCreate(muBASETYPE_FLOAT);
	if (h == NULL)
		return gp_fail(GP_EX_SOFTWARE, "cannot create a muparser parser");
	for (size_t i = 0; i < c->names.n; i++) {
		const char *key = c->names.key[i], *val = c->names.val[i];
		const struct ynode *kn = node->keys[i], *vn = node->items[i];
		char *end;
		long b;
		int r = 0;

		if (!ident_start(key[0]) ||
		    key[strspn(key, "abcdefghijklmnopqrstuvwxyz"
		                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")])
			r = ydoc_fail(
			        pl->doc, kn,
			        "step '%s': '%s' cannot be a name: letters, digits and '_', not "
			        "starting with a digit",
			        s->label, key);
		else if (band_number(key) > 0)
			r = ydoc_fail(pl->doc, kn, "step '%s': '%s' already names band %s",
			              s->label, key, key + 1);
		if (r == 0) {
			mupDefineVar(h, key, &slot);
			if (mupError(h))
				r = ydoc_fail(
				        pl->doc, kn,
				        "step '%s': '%s' cannot be a name: muparser has a constant "
				        "of that name",
				        s->label, key);
		}
		if (r == 0) {
			errno = 0;
			b = strtol(val, &end, 10);
			if (errno || *end || end == val || b < 1 || b > 65535)
				r = ydoc_fail(
				        pl->doc, vn,
				        "step '%s': names map to band numbers from 1, not '%s'",
				        s->label, val);
			else
				c->alias_band[i] = (int)b;
		}
		if (r != 0) {
			mupRelease(h);
			return -1;
		}
	}
	mupRelease(h);
	return 0;
}

static int calc_check(struct step *s, struct pipeline *pl)
{
	struct calc_conf *c = s->conf;

	c->type = c->has_type ? raster_type_parse(c->type_name) : GDT_Float32;
	if (c->type == GDT_Unknown)
		return ydoc_fail(pl->doc, ynode_get(s->node, "type"),
		                 "step '%s': unknown pixel type '%s' (one of Byte, UInt16, Int16, "
		                 "UInt32, Int32, Float32, Float64)",
		                 s->label, c->type_name);
	c->nodata_mode = CALC_ND_AUTO;
	if (c->has_nodata) {
		if (strcasecmp(c->nodata_text, "none") == 0) {
			c->nodata_mode = CALC_ND_NONE;
		} else if (raster_value_parse(c->nodata_text, &c->nodata) != 0) {
			return ydoc_fail(pl->doc, ynode_get(s->node, "nodata"),
			                 "step '%s': 'nodata' is a number, nan or none, not '%s'",
			                 s->label, c->nodata_text);
		} else if (!raster_value_cast(&c->nodata, c->type)) {
			return ydoc_fail(pl->doc, ynode_get(s->node, "nodata"),
			                 "step '%s': nodata %s is not a %s value", s->label,
			                 c->nodata_text, GDALGetDataTypeName(c->type));
		} else {
			c->nodata_mode = CALC_ND_VALUE;
		}
	}
	if (check_names(s, pl) != 0)
		return -1;
	for (size_t k = 0; k < c->expr.n; k++)
		if (check_expr(s, k) != 0)
			return -1;
	return 0;
}

static void release_parser(void *h)
{
	mupRelease(h);
}

static int used_index(const struct calc_state *cs, int band)
{
	for (int u = 0; u < cs->nused; u++)
		if (cs->used[u] == band)
			return u;
	return -1;
}

/* One parser per expression, each variable bound to the slot of its band
 * in cs->cur. */
static int calc_open(struct stage *s, struct engine *e)
{
	struct calc_conf *c = s->step->conf;
	struct calc_state *cs = s->state;
	int total = 0;

	(void)e;
	cs->nex = c->expr.n;
	cs->ex = arena_calloc(s->arena, cs->nex, sizeof *cs->ex);
	if (cs->ex == NULL)
		return -1;
	for (size_t k = 0; k < cs->nex; k++) {
		struct calc_expr *x = &cs->ex[k];

		x->h = mupCreate(muBASETYPE_FLOAT);
		if (x->h == NULL)
			return gp_fail(GP_EX_SOFTWARE, "cannot create a muparser parser");
		if (arena_defer(s->arena, release_parser, x->h) != 0)
			return -1;
		mupSetExpr(x->h, c->expr.v[k]);
		x->nvars = mupGetExprVarNum(x->h);
		if (mupError(x->h))
			return gp_fail(GP_EX_SOFTWARE, "step '%s': muparser fails on '%s' at open",
			               s->step->label, c->expr.v[k]);
		x->var = arena_calloc(s->arena, (size_t)x->nvars + 1, sizeof *x->var);
		x->var_band = arena_calloc(s->arena, (size_t)x->nvars + 1, sizeof *x->var_band);
		x->u = arena_calloc(s->arena, (size_t)x->nvars + 1, sizeof *x->u);
		if (x->var == NULL || x->var_band == NULL || x->u == NULL)
			return -1;
		for (int i = 0; i < x->nvars; i++) {
			const char *name;
			double *ptr;

			mupGetExprVar(x->h, (unsigned)i, &name, &ptr);
			if (name == NULL || (x->var[i] = arena_strdup(s->arena, name)) == NULL)
				return name ? -1
				            : gp_fail(GP_EX_SOFTWARE, "muparser lost a variable");
			x->var_band[i] = var_band(c, x->var[i]);
		}
		total += x->nvars;
	}
	cs->used = arena_calloc(s->arena, (size_t)total + 1, sizeof *cs->used);
	cs->cur = arena_calloc(s->arena, (size_t)total + 1, sizeof *cs->cur);
	if (cs->used == NULL || cs->cur == NULL)
		return -1;
	for (size_t k = 0; k < cs->nex; k++)
		for (int i = 0; i < cs->ex[k].nvars; i++) {
			int b = cs->ex[k].var_band[i], j;

			if (used_index(cs, b) >= 0)
				continue;
			for (j = cs->nused; j > 0 && cs->used[j - 1] > b; j--)
				cs->used[j] = cs->used[j - 1];
			cs->used[j] = b;
			cs->nused++;
		}
	for (size_t k = 0; k < cs->nex; k++) {
		struct calc_expr *x = &cs->ex[k];

		for (int i = 0; i < x->nvars; i++) {
			int u = used_index(cs, x->var_band[i]), j;

			mupDefineVar(x->h, x->var[i], &cs->cur[u]);
			for (j = 0; j < x->nu && x->u[j] != u; j++)
				;
			if (j == x->nu)
				x->u[x->nu++] = u;
		}
		/* Parse now, so the pixels only run the byte code. */
		mupEval(x->h);
		if (mupError(x->h))
			return gp_fail(GP_EX_SOFTWARE, "step '%s': muparser fails on '%s' at open",
			               s->step->label, c->expr.v[k]);
	}
	return 0;
}

static double type_fill(GDALDataType t)
{
	switch (t) {
	case GDT_Byte:
		return 255;
	case GDT_UInt16:
		return 65535;
	case GDT_UInt32:
		return 4294967295.0;
	case GDT_Int16:
		return -32768;
	case GDT_Int32:
		return -2147483648.0;
	default:
		return NAN;
	}
}

/* A band number beyond the input's, at the place it came from: the alias
 * in names, or the variable in the expression. */
static int band_fail(const struct stage *s, const struct stream *st, size_t k, int i)
{
	const struct calc_conf *c = s->step->conf;
	const struct calc_expr *x = &((struct calc_state *)s->state)->ex[k];
	const char *name = x->var[i];
	int b = x->var_band[i], nb = s->rin->nbands;
	const struct ynode *names = ynode_get(s->step->node, "names");

	for (size_t j = 0; j < c->names.n; j++)
		if (strcmp(c->names.key[j], name) == 0)
			return ydoc_fail(s->step->pl->doc, names->items[j],
			                 "step '%s': '%s' is band %d, and '%s' has %d band%s",
			                 s->step->label, name, b,
			                 st->path ? st->path : "the raster", nb,
			                 nb == 1 ? "" : "s");
	return expr_fail(s->step, c->expr.at[k], c->expr.v[k], find_ident(c->expr.v[k], name),
	                 "there is no band %d: '%s' has %d band%s", b,
	                 st->path ? st->path : "the raster", nb, nb == 1 ? "" : "s");
}

static int calc_begin(struct stage *s, struct stream *st)
{
	struct calc_conf *c = s->step->conf;
	struct calc_state *cs = s->state;
	const struct rview *in = s->rin;
	struct rview *v = st->raster;

	for (size_t k = 0; k < cs->nex; k++)
		for (int i = 0; i < cs->ex[k].nvars; i++)
			if (cs->ex[k].var_band[i] > in->nbands)
				return band_fail(s, st, k, i);
	cs->has_nodata = c->nodata_mode != CALC_ND_NONE;
	cs->nodata = c->nodata;
	if (c->nodata_mode == CALC_ND_AUTO) {
		cs->nodata = type_fill(c->type);
		for (int u = 0; u < cs->nused; u++) {
			const struct rband *b = &in->band[cs->used[u] - 1];

			if (!b->has_nodata)
				continue;
			if (raster_value_fits(b->nodata, c->type))
				cs->nodata = b->nodata;
			break;
		}
	}
	if (raster_view_bands(st->arena, v, (int)cs->nex) != 0)
		return -1;
	v->type = c->type;
	v->alpha = -1;
	for (size_t k = 0; k < cs->nex; k++) {
		v->band[k].has_nodata = cs->has_nodata;
		v->band[k].nodata = cs->nodata;
		v->band[k].desc = c->expr.v[k];
	}
	return 0;
}

/* Expression `x` over a run of `n` pixels whose used bands are in vals;
 * results in res.  Pixels where a band it uses is nodata are nodata without
 * being evaluated, and so are results that are not finite, when the output
 * has a nodata value; without one, every pixel is evaluated as it is. */
static void eval_run(struct calc_state *cs, const struct rview *in, struct calc_expr *x,
                     double *const *vals, size_t n, double *res)
{
	for (size_t i = 0; i < n; i++) {
		bool nd = false;
		double r;

		for (int j = 0; j < x->nu && !nd; j++) {
			int u = x->u[j];
			double v = vals[u][i];

			nd = cs->has_nodata && raster_is_nodata(v, &in->band[cs->used[u] - 1]);
			cs->cur[u] = v;
		}
		if (nd) {
			res[i] = cs->nodata;
			continue;
		}
		r = mupEval(x->h);
		res[i] = cs->has_nodata && !isfinite(r) ? cs->nodata : r;
	}
}

static int calc_pull(struct stage *s, const struct rwin *w, void *buf)
{
	struct calc_conf *c = s->step->conf;
	struct calc_state *cs = s->state;
	const struct rview *in = s->rin;
	struct arena *a = raster_blocks(s);
	size_t npx = (size_t)w->w * (size_t)w->h;
	size_t its = raster_tsize(in->type), ots = raster_tsize(c->type);
	bool int_out = c->type != GDT_Float32 && c->type != GDT_Float64;
	double **vals = arena_alloc(a, sizeof *vals * (size_t)(cs->nused + 1), 0);
	double *res = arena_alloc(a, sizeof *res * RASTER_RUN, 0);
	char *inbuf;

	if (vals == NULL || res == NULL)
		return -1;
	for (int u = 0; u < cs->nused; u++)
		if ((vals[u] = arena_alloc(a, sizeof **vals * RASTER_RUN, 0)) == NULL)
			return -1;
	if ((inbuf = raster_pull_input(s, w)) == NULL)
		return -1;
	for (size_t off = 0; off < npx; off += RASTER_RUN) {
		size_t n = npx - off < RASTER_RUN ? npx - off : RASTER_RUN;

		for (int u = 0; u < cs->nused; u++)
			raster_to_double(inbuf + ((size_t)(cs->used[u] - 1) * npx + off) * its,
			                 in->type, n, vals[u]);
		for (size_t k = 0; k < cs->nex; k++) {
			eval_run(cs, in, &cs->ex[k], vals, n, res);
			if (mupError(cs->ex[k].h))
				return gp_fail(GP_EX_DATAERR, "step '%s': '%s': %s", s->step->label,
				               c->expr.v[k], mupGetErrorMsg(cs->ex[k].h));
			/* Without a nodata value, an integer band has nothing to
			 * write for NaN; ±inf are clamped like any value. */
			for (size_t i = 0; int_out && !cs->has_nodata && i < n; i++)
				if (isnan(res[i]))
					return gp_fail(
					        GP_EX_DATAERR,
					        "step '%s': '%s' is NaN at pixel %zu,%zu, and the "
					        "output has no nodata value for it (see 'nodata')",
					        s->step->label, c->expr.v[k],
					        (size_t)w->x + (off + i) % (size_t)w->w,
					        (size_t)w->y + (off + i) / (size_t)w->w);
			raster_from_double(res, n, c->type, (char *)buf + (k * npx + off) * ots);
		}
	}
	return 0;
}

static void calc_explain(struct stage *s, struct engine *e, FILE *out)
{
	struct calc_conf *c = s->step->conf;

	(void)e;
	for (size_t k = 0; k < c->expr.n; k++)
		fprintf(out, "  band %zu (%s): %s\n", k + 1, GDALGetDataTypeName(c->type),
		        c->expr.v[k]);
}

static const struct raster_ops raster_calc_ops = {
	.begin = calc_begin,
	.pull = calc_pull,
};

const struct step_desc step_raster_calc = {
	.name = "calc",
	.summary = "band arithmetic: one output band per expression (muparser)",
	.role = STEP_TRANSFORM,
	.opts = calc_opts,
	.conf_size = sizeof(struct calc_conf),
	.details = "Expressions are muparser's: numbers, the variables b1, b2, ... (the bands\n"
	           "this step receives) and the aliases of 'names'; + - * / ^, comparisons\n"
	           "== != < <= > >= (1 or 0), && ||, cond ? a : b; functions sin cos tan asin\n"
	           "acos atan atan2 sinh cosh tanh asinh acosh atanh exp ln log log2 log10\n"
	           "sqrt abs sign rint min max sum avg; constants _pi and _e.  '=' is refused\n"
	           "(it would assign).  Values are computed in doubles and converted to\n"
	           "'type' rounding to the nearest and clamping to its range.\n"
	           "A pixel where a band the expression uses is nodata (its band's nodata\n"
	           "value, or NaN in a Float32/64 band) is nodata, and so is a result that\n"
	           "is NaN or infinite (0/0, x/0, sqrt(-1)).  With 'nodata: none' the output\n"
	           "declares no nodata and every pixel is computed from the values as they\n"
	           "are; a NaN for an integer type then stops the run (exit 65).  A\n"
	           "computed value equal to the nodata value reads as nodata: choose one\n"
	           "outside the results' range.  Each output band's description is its\n"
	           "expression.",
	.check = calc_check,
	.state_size = sizeof(struct calc_state),
	.open = calc_open,
	.explain = calc_explain,
	.ras = &raster_calc_ops,
};
