/*
 * opts.h - option tables: one description drives parsing, checking,
 * `gispipe stages` and the did-you-mean for unknown keys.
 */
#ifndef GISPIPE_OPTS_H
#define GISPIPE_OPTS_H

#include <float.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct vars;
struct ydoc;
struct ynode;

/* What parsing options needs of the file they come from, and no more of the
 * pipeline: the arena the values are made in (strings, lists: they live as
 * long as it), the document errors point into, and what ${...} may refer
 * to.  A pipeline keeps one for its whole load, so that `expanded` counts
 * every value of the file. */
struct opt_env {
	struct arena *arena;
	struct ydoc *doc;
	const struct vars *vars; /* ${name} (vars.h); an empty table for none */
	const char *dir;         /* ${pipeline_dir} */
	size_t expanded;         /* bytes made by ${...} substitution so far */
};

enum opt_type {
	OPT_STRING,   /* const char * (variables substituted) */
	OPT_STRINGS,  /* struct strlist: a string or a list of strings */
	OPT_INT,      /* int64_t */
	OPT_DOUBLE,   /* double */
	OPT_BOOL,     /* bool */
	OPT_BBOX,     /* double[4]: [xmin, ymin, xmax, ymax], xmin<=xmax, ymin<=ymax */
	OPT_DOUBLE2,  /* double[2]: [a, b], or one number for both */
	OPT_ENUM,     /* int: index in choices */
	OPT_MAP,      /* struct strmap: scalar keys to scalar values */
	OPT_SIZE,     /* uint64_t bytes ("64MiB") */
	OPT_SUB,      /* a mapping parsed with `sub` into the bytes at offset */
};

#define OPT_REQUIRED 1u
#define OPT_POSITIVE 2u  /* numbers > 0: with a range from 0, 0 itself is out */
#define OPT_NONNEG   4u  /* numbers >= 0 */
#define OPT_ZERO_NONE 8u /* sizes: 0 or 'none' is "no value", stored as 0 */

struct strlist {
	size_t n;
	const char **v;
	const struct ynode **at; /* where each came from */
};

struct strmap {
	size_t n;
	const char **key;
	const char **val;
};

struct opt_desc {
	const char *name;
	enum opt_type type;
	size_t offset;            /* in the conf struct */
	unsigned flags;
	const char *doc;          /* one line, for `gispipe stages` */
	const char *def;          /* default, as text, for the docs */
	const char *const *choices; /* OPT_ENUM, NULL-terminated */
	const struct opt_desc *sub; /* OPT_SUB */
	size_t present_offset;    /* if non-zero: bool set when the key was given */
	/* Numbers (each item of a pair or a bbox) and sizes: the values allowed,
	 * min..max inclusive (OPT_POSITIVE excludes a min of 0).  Every numeric
	 * option states one; `gispipe stages` prints it. */
	double min, max;
};

/* Parse mapping `node` into `conf` with `table`.  `where` names the context
 * for messages ("step 'buffer'").  Unknown keys, wrong types and missing
 * required keys fail at their position (exit 78). */
int opts_parse(struct opt_env *env, const struct ynode *node, const struct opt_desc *table,
               void *conf, const char *where);

/* What ${...} references may produce: one value, and all the values of a
 * pipeline together (opt_env.expanded).  Checked before a value is built,
 * so a reference bomb costs neither memory nor time. */
#define OPTS_EXPAND_VALUE_MAX (64 * 1024)
#define OPTS_EXPAND_TOTAL_MAX (1024 * 1024)

/* The scalar's text with ${name}, ${env:NAME} and ${pipeline_dir}
 * substituted, allocated in env->arena (or the scalar's own text when it
 * has no reference); NULL with a positioned error otherwise (78, also for a
 * value over the bounds above; 75 when memory runs out). */
const char *opts_expand(struct opt_env *env, const struct ynode *scalar);

/* The name of a type, for messages and `gispipe stages`. */
const char *opt_type_name(enum opt_type t);

/* The range of a numeric option as text ("1..1000", ">0..1e+15", "any
 * finite number", "1MiB..1024TiB, or 0/none"), in `buf`; "" for options
 * without one.  Returns buf. */
const char *opt_range_text(const struct opt_desc *o, char *buf, size_t size);

#endif
