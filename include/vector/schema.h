/*
 * schema.h - the attribute fields of a stream, as steps see them.
 *
 * A schema lives in a stream's arena.  Each field remembers which field of
 * the source feature holds its value (`src`), so select can drop and rename
 * without touching features, and the writer copies values with one map.
 */
#ifndef GISPIPE_SCHEMA_H
#define GISPIPE_SCHEMA_H

#include <ogr_api.h>
#include <stdbool.h>
#include <stddef.h>

struct arena;

struct field_def {
	const char *name;
	OGRFieldType type;
	OGRFieldSubType subtype;
	int width;
	int precision;
	int nullable;
	int src;   /* index in the source feature's definition; -1: computed */
	int extra; /* computed fields: index in each feature's `extra` values */
};

struct schema {
	size_t n;
	struct field_def *f;
	int nsrc;              /* fields in the source features' definition */
	int nextra;            /* computed values each feature may carry */
	bool gtype_exact;      /* a step guarantees every geometry is of gtype */
	OGRwkbGeometryType gtype;
};

/* Fields of an OGR feature definition; NULL with the error set. */
struct schema *schema_from_defn(struct arena *a, OGRFeatureDefnH defn);

/* A copy in `a` (names are shared: they live in the stream's arena). */
struct schema *schema_copy(struct arena *a, const struct schema *s);

/* Append a computed field (src -1) whose values are each feature's
 * extra[extra]; the schema's array is reallocated in `a`.  -1 on failure. */
int schema_add_computed(struct arena *a, struct schema *s, const char *name, OGRFieldType type,
                        int extra);

/* Index of the field called `name` (exact, then case-insensitive), or -1. */
int schema_find(const struct schema *s, const char *name);

#endif
