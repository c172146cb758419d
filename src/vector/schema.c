/* schema.c - attribute schemas of streams. */
#include "vector/schema.h"

#include <string.h>
#include <strings.h>

#include "core/arena.h"

struct schema *schema_from_defn(struct arena *a, OGRFeatureDefnH defn)
{
	struct schema *s = arena_calloc(a, 1, sizeof *s);
	int n = OGR_FD_GetFieldCount(defn);

	if (s == NULL)
		return NULL;
	s->n = (size_t)n;
	s->nsrc = n;
	s->gtype = OGR_FD_GetGeomType(defn);
	s->f = arena_calloc(a, s->n ? s->n : 1, sizeof *s->f);
	if (s->f == NULL)
		return NULL;
	for (int i = 0; i < n; i++) {
		OGRFieldDefnH fd = OGR_FD_GetFieldDefn(defn, i);
		struct field_def *f = &s->f[i];

		f->name = arena_strdup(a, OGR_Fld_GetNameRef(fd));
		if (f->name == NULL)
			return NULL;
		f->type = OGR_Fld_GetType(fd);
		f->subtype = OGR_Fld_GetSubType(fd);
		f->width = OGR_Fld_GetWidth(fd);
		f->precision = OGR_Fld_GetPrecision(fd);
		f->nullable = OGR_Fld_IsNullable(fd);
		f->src = i;
	}
	return s;
}

struct schema *schema_copy(struct arena *a, const struct schema *s)
{
	struct schema *c = arena_calloc(a, 1, sizeof *c);

	if (c == NULL)
		return NULL;
	*c = *s;
	c->f = arena_calloc(a, s->n ? s->n : 1, sizeof *c->f);
	if (c->f == NULL)
		return NULL;
	if (s->n)
		memcpy(c->f, s->f, s->n * sizeof *c->f);
	return c;
}

int schema_add_computed(struct arena *a, struct schema *s, const char *name, OGRFieldType type,
                        int extra)
{
	struct field_def *f = arena_calloc(a, s->n + 1, sizeof *f);

	if (f == NULL)
		return -1;
	if (s->n)
		memcpy(f, s->f, s->n * sizeof *f);
	f[s->n] = (struct field_def){.name = name, .type = type, .subtype = OFSTNone,
	                             .nullable = 1, .src = -1, .extra = extra};
	s->f = f;
	s->n++;
	return 0;
}

int schema_find(const struct schema *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->f[i].name, name) == 0)
			return (int)i;
	for (size_t i = 0; i < s->n; i++)
		if (strcasecmp(s->f[i].name, name) == 0)
			return (int)i;
	return -1;
}
