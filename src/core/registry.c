/* core/registry.c - the step catalogues, one per kind.  Adding a step: one
 * line in its kind's table. */
#include <string.h>

#include "core/step.h"
#include "config/yaml_load.h"

extern const struct step_desc step_read;
extern const struct step_desc step_reproject;
extern const struct step_desc step_filter;
extern const struct step_desc step_select;
extern const struct step_desc step_buffer;
extern const struct step_desc step_simplify;
extern const struct step_desc step_centroid;
extern const struct step_desc step_make_valid;
extern const struct step_desc step_segmentize;
extern const struct step_desc step_explode;
extern const struct step_desc step_clip;
extern const struct step_desc step_set_field;
extern const struct step_desc step_zonal_stats;
extern const struct step_desc step_write;
extern const struct step_desc step_raster_read;
extern const struct step_desc step_raster_write;
extern const struct step_desc step_raster_calc;
extern const struct step_desc step_raster_nodata;
extern const struct step_desc step_raster_set_type;
extern const struct step_desc step_raster_clip;
extern const struct step_desc step_raster_reproject;
extern const struct step_desc step_resample;

static const struct step_desc *const vector_catalogue[] = {
	&step_read,
	&step_reproject,
	&step_filter,
	&step_select,
	&step_buffer,
	&step_simplify,
	&step_centroid,
	&step_make_valid,
	&step_segmentize,
	&step_clip,
	&step_explode,
	&step_set_field,
	&step_zonal_stats,
	&step_write,
	NULL,
};

static const struct step_desc *const raster_catalogue[] = {
	&step_raster_read,
	&step_raster_reproject,
	&step_resample,
	&step_raster_clip,
	&step_raster_calc,
	&step_raster_nodata,
	&step_raster_set_type,
	&step_raster_write,
	NULL,
};

const struct step_desc *const *step_catalogue(unsigned kind)
{
	return kind == STEP_RASTER ? raster_catalogue : vector_catalogue;
}

unsigned step_kind(const struct step_desc *d)
{
	return d->ras ? STEP_RASTER : STEP_VECTOR;
}

const struct step_desc *step_lookup(const char *name, unsigned kind)
{
	for (const struct step_desc *const *d = step_catalogue(kind); *d; d++)
		if (strcmp((*d)->name, name) == 0)
			return *d;
	return NULL;
}

const struct step_desc *step_lookup_any(const char *name)
{
	const struct step_desc *d = step_lookup(name, STEP_VECTOR);

	return d ? d : step_lookup(name, STEP_RASTER);
}

/* What the engine calls for each role, and what it never calls (a callback
 * there would be a step written for another role). */
static const char *check_vector(const struct vector_ops *v, enum step_role role)
{
	switch (role) {
	case STEP_SOURCE:
		if (!v->next_stream || !v->read || !v->end)
			return "a vector source needs next_stream, read and end";
		if (v->begin || v->process)
			return "a vector source has no begin or process";
		return NULL;
	case STEP_TRANSFORM:
	case STEP_SINK:
		if (!v->process)
			return "a vector transform or sink needs process";
		if (role == STEP_SINK && (!v->begin || !v->end))
			return "a vector sink needs begin and end";
		if (v->next_stream || v->read)
			return "only a vector source has next_stream or read";
		return NULL;
	}
	return "unknown role";
}

static const char *check_raster(const struct raster_ops *r, enum step_role role)
{
	switch (role) {
	case STEP_SOURCE:
		if (!r->next_stream || !r->pull || !r->end)
			return "a raster source needs next_stream, pull and end";
		if (r->begin || r->put)
			return "a raster source has no begin or put";
		return NULL;
	case STEP_TRANSFORM:
		if (!r->pull)
			return "a raster transform needs pull";
		if (r->next_stream || r->put)
			return "a raster transform has no next_stream or put";
		return NULL;
	case STEP_SINK:
		if (!r->begin || !r->put || !r->end)
			return "a raster sink needs begin, put and end";
		if (r->next_stream || r->pull)
			return "a raster sink has no next_stream or pull";
		return NULL;
	}
	return "unknown role";
}

const char *step_desc_check(const struct step_desc *d)
{
	if (!d->name || !d->summary || !d->opts)
		return "a step needs a name, a summary and an option table";
	if ((d->vec == NULL) == (d->ras == NULL))
		return "a step has the operations of exactly one kind";
	return d->vec ? check_vector(d->vec, d->role) : check_raster(d->ras, d->role);
}

const char *step_suggest(const char *name)
{
	const char *cand[sizeof vector_catalogue / sizeof vector_catalogue[0] +
	                 sizeof raster_catalogue / sizeof raster_catalogue[0]];
	size_t n = 0;

	for (unsigned kind = STEP_VECTOR; kind <= STEP_RASTER; kind++)
		for (const struct step_desc *const *d = step_catalogue(kind); *d; d++)
			cand[n++] = (*d)->name;
	cand[n] = NULL;
	return suggest_word(name, cand);
}
