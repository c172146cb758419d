/*
 * vars.h - a pipeline's variables: the names `vars:` and --set define, and
 * what ${name} looks up.  The expansion itself is opts_expand (opts.h).
 *
 * The table's arrays live in the arena given to vars_set (the pipeline's);
 * names and values are borrowed, and must live at least as long.  A zeroed
 * table is empty.  A table built by hand (items and n, no index) is looked
 * up by scanning, which is what the option tests do; only a table that
 * vars_set made may be added to.
 */
#ifndef GISPIPE_VARS_H
#define GISPIPE_VARS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

struct var {
	const char *name;
	const char *value;
	bool from_cli;
};

struct vars {
	struct var *item; /* in the order they were first defined */
	size_t n, cap;    /* cap: room in item (grows by doubling) */
	uint32_t *slots;  /* open addressing: index + 1 into item, 0 free; NULL: scan */
	size_t nslots;    /* a power of two, at least twice n */
};

/* Define `name` as `value`, or redefine it: a --set (from_cli) value wins
 * over the file's whatever the order, and among --sets the last one wins.
 * -1 with the error set when `a` runs out. */
int vars_set(struct vars *v, struct arena *a, const char *name, const char *value, bool from_cli);

/* The value of `name`, NULL if not defined (borrowed, as given to vars_set). */
const char *vars_get(const struct vars *v, const char *name);

#endif
