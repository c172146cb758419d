/* core/registry.c - the step catalogue.  Adding a step: one line here. */
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
extern const struct step_desc step_raster_write;
extern const struct step_desc step_raster_calc;
extern const struct step_desc step_raster_nodata;
extern const struct step_desc step_raster_set_type;
extern const struct step_desc step_raster_clip;
extern const struct step_desc step_raster_reproject;
extern const struct step_desc step_resample;

static const struct step_desc *const catalogue[] = {
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
	/* raster */
	&step_raster_reproject,
	&step_resample,
	&step_raster_clip,
	&step_raster_calc,
	&step_raster_nodata,
	&step_raster_set_type,
	&step_raster_write,
	NULL,
};

const struct step_desc *const *step_catalogue(void)
{
	return catalogue;
}

static unsigned kinds_of(const struct step_desc *d)
{
	return d->kinds ? d->kinds : STEP_VECTOR;
}

const struct step_desc *step_lookup(const char *name, unsigned kind)
{
	for (const struct step_desc *const *d = catalogue; *d; d++)
		if (strcmp((*d)->name, name) == 0 && (kinds_of(*d) & kind))
			return *d;
	return NULL;
}

const struct step_desc *step_lookup_any(const char *name)
{
	for (const struct step_desc *const *d = catalogue; *d; d++)
		if (strcmp((*d)->name, name) == 0)
			return *d;
	return NULL;
}

const char *step_suggest(const char *name)
{
	const char *cand[sizeof catalogue / sizeof catalogue[0]];
	size_t n = 0;

	for (const struct step_desc *const *d = catalogue; *d; d++)
		cand[n++] = (*d)->name;
	cand[n] = NULL;
	return suggest_word(name, cand);
}
