/*
 * vars.c - the variable table: a list in definition order (explain prints
 * it) and a hash index over it, so that a file of many variables and many
 * ${...} references costs time in proportion to its size.
 */
#include "config/vars.h"

#include <string.h>

#include "core/arena.h"

static size_t name_hash(const char *name)
{
	size_t h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h;
}

/* The slot of `name`, or of the free slot where it would go. */
static size_t var_slot(const struct vars *v, const char *name)
{
	size_t mask = v->nslots - 1, i = name_hash(name) & mask;

	while (v->slots[i] != 0 && strcmp(v->item[v->slots[i] - 1].name, name) != 0)
		i = (i + 1) & mask;
	return i;
}

const char *vars_get(const struct vars *v, const char *name)
{
	size_t i;

	if (v->slots == NULL) {
		for (i = 0; i < v->n; i++)
			if (strcmp(v->item[i].name, name) == 0)
				return v->item[i].value;
		return NULL;
	}
	i = var_slot(v, name);
	return v->slots[i] ? v->item[v->slots[i] - 1].value : NULL;
}

static int index_vars(struct vars *v, struct arena *a)
{
	size_t n = v->nslots ? v->nslots * 2 : 64;
	uint32_t *slots = arena_calloc(a, n, sizeof *slots);

	if (slots == NULL)
		return -1;
	v->slots = slots;
	v->nslots = n;
	for (size_t i = 0; i < v->n; i++)
		slots[var_slot(v, v->item[i].name)] = (uint32_t)(i + 1);
	return 0;
}

int vars_set(struct vars *v, struct arena *a, const char *name, const char *value, bool from_cli)
{
	struct var *nv;
	size_t i;

	if (v->slots == NULL && index_vars(v, a) != 0)
		return -1;
	i = var_slot(v, name);
	if (v->slots[i] != 0) {
		struct var *old = &v->item[v->slots[i] - 1];

		/* --set twice: the last one wins, as on any command line */
		if (from_cli || !old->from_cli) {
			old->value = value;
			old->from_cli = from_cli;
		}
		return 0;
	}
	if (v->n == v->cap) {
		/* doubling: the arena keeps old copies, so growing by one would
		 * hold n^2/2 of them */
		size_t cap = v->cap ? v->cap * 2 : 16;

		nv = arena_realloc(a, v->item, v->n * sizeof *nv, cap * sizeof *nv);
		if (nv == NULL)
			return -1;
		v->item = nv;
		v->cap = cap;
	}
	v->item[v->n++] = (struct var){.name = name, .value = value, .from_cli = from_cli};
	v->slots[i] = (uint32_t)v->n;
	if (v->n * 2 > v->nslots)
		return index_vars(v, a);
	return 0;
}
