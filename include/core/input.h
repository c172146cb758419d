/*
 * input.h - the inputs of the read step, of both kinds.
 *
 * One 'read' to the user, two descriptors: vector/read.c (OGR datasets and
 * synthetic features) and raster/read.c (GDAL rasters and the synthetic
 * raster).  Both parse the same options into a struct read_conf, with the
 * same help, and resolve their paths the same way; which of the two a
 * pipeline runs is told from the options, or from the first input, by
 * step_read_kind (step.h), defined here.  Nothing here outlives its caller:
 * the tables and texts are static, resolved paths are in the caller's
 * arena.
 */
#ifndef GISPIPE_INPUT_H
#define GISPIPE_INPUT_H

#include <stdbool.h>
#include <stdint.h>

#include <gdal.h>

#include "config/opts.h"

struct arena;
struct pipeline;
struct step;

enum synth_geom { SYNTH_POINT, SYNTH_LINE, SYNTH_POLYGON };

struct synth_raster_conf {
	int64_t width, height;
	GDALDataType type;     /* from type_name */
	const char *type_name;
	double block[2];
	const char *crs;
	double origin[2];      /* upper-left corner */
	double resolution[2];
	int64_t bands;
	int64_t seed;
	double nodata;
	bool has_block, has_crs, has_origin, has_resolution, has_bands, has_seed, has_nodata,
	    has_type;
};

struct synth_conf {
	int geometry;          /* enum synth_geom */
	int64_t count;
	const char *crs;
	double extent[4];
	int64_t vertices;
	int64_t seed;
	const char *layer;
	struct synth_raster_conf raster;
	bool has_geometry, has_count, has_crs, has_extent, has_vertices, has_seed, has_raster;
};

/* A named SQL query, run by the data source instead of reading its layers. */
struct sql_conf {
	const char *query;
	const char *name;      /* the result's layer name ({layer} in templates) */
};

struct read_conf {
	struct strlist path;
	struct strlist layer;
	const char *where;
	double bbox[4];
	struct strmap open_options;
	struct synth_conf synthetic;
	struct sql_conf sql;
	struct strlist bands;      /* rasters: band numbers, 1-based */
	double nodata;             /* rasters: nodata of every band */
	bool has_path, has_layer, has_bbox, has_synthetic, has_open_options, has_where;
	bool has_bands, has_nodata, has_sql;
};

/* The options of both read steps (vector/read.c, raster/read.c), into a
 * struct read_conf, with their shared help; read_check_inputs: the check
 * both make first (a path or synthetic, not both). */
extern const struct opt_desc read_opts[];
extern const char read_summary[];
extern const char read_details[];
int read_check_inputs(struct step *s, struct pipeline *pl);

/* Input paths: globs expanded and sorted, plain paths checked to exist
 * (exit 66 otherwise), /vsi paths and PG: connection strings taken as they
 * are. */
int source_resolve_inputs(struct arena *a, const struct strlist *paths, const char ***out,
                          size_t *n);
const char *source_base_name(const char *p);
/* Whether `p` is a database connection string (GDAL's "PG:..."), not a
 * file: no file checks, and its password is masked wherever it is shown. */
bool source_is_db(const char *p);

#endif
