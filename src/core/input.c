/* input.c - the inputs of the read step, of both kinds (input.h). */
#include "core/input.h"

#include <errno.h>
#include <float.h>
#include <glob.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cpl_error.h>
#include <gdal.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/step.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "config/yaml_load.h"

static const char *const synth_geoms[] = {"point", "line", "polygon", NULL};

static const struct opt_desc synth_raster_opts[] = {
	{"width", OPT_INT, offsetof(struct synth_raster_conf, width), OPT_REQUIRED,
	 "columns", NULL, NULL, NULL, 0, 1, 1048576},
	{"height", OPT_INT, offsetof(struct synth_raster_conf, height), OPT_REQUIRED,
	 "rows", NULL, NULL, NULL, 0, 1, 1048576},
	{"type", OPT_STRING, offsetof(struct synth_raster_conf, type_name), 0,
	 "pixel type: Byte, Int16, UInt16, Int32, UInt32, Float32, Float64", "Int16", NULL, NULL,
	 offsetof(struct synth_raster_conf, has_type), 0, 0},
	{"block", OPT_DOUBLE2, offsetof(struct synth_raster_conf, block), 0,
	 "[width, height] of the natural block", "[256, 256]", NULL, NULL,
	 offsetof(struct synth_raster_conf, has_block), 1, 65536},
	{"crs", OPT_STRING, offsetof(struct synth_raster_conf, crs), 0, "CRS of the grid",
	 "EPSG:32632", NULL, NULL, offsetof(struct synth_raster_conf, has_crs), 0, 0},
	{"origin", OPT_DOUBLE2, offsetof(struct synth_raster_conf, origin), 0,
	 "[x, y] of the upper-left corner", "[300000, 5600000]", NULL, NULL,
	 offsetof(struct synth_raster_conf, has_origin), -1e15, 1e15},
	{"resolution", OPT_DOUBLE2, offsetof(struct synth_raster_conf, resolution), OPT_POSITIVE,
	 "pixel size, one number or [x, y]", "10", NULL, NULL,
	 offsetof(struct synth_raster_conf, has_resolution), 0, 1e15},
	{"bands", OPT_INT, offsetof(struct synth_raster_conf, bands), 0,
	 "number of bands", "1", NULL, NULL, offsetof(struct synth_raster_conf, has_bands), 1, 1024},
	{"seed", OPT_INT, offsetof(struct synth_raster_conf, seed), 0, "random seed", "1", NULL,
	 NULL, offsetof(struct synth_raster_conf, has_seed), 0, 4294967295},
	{"nodata", OPT_DOUBLE, offsetof(struct synth_raster_conf, nodata), 0,
	 "nodata value of every band (the pattern never produces it)", "none", NULL, NULL,
	 offsetof(struct synth_raster_conf, has_nodata), -DBL_MAX, DBL_MAX},
	{0},
};

static const struct opt_desc synth_opts[] = {
	{"geometry", OPT_ENUM, offsetof(struct synth_conf, geometry), 0,
	 "point, line or polygon", "polygon", synth_geoms, NULL,
	 offsetof(struct synth_conf, has_geometry), 0, 0},
	{"count", OPT_INT, offsetof(struct synth_conf, count), 0, "number of features",
	 "1000", NULL, NULL, offsetof(struct synth_conf, has_count), 0, 1000000000},
	{"crs", OPT_STRING, offsetof(struct synth_conf, crs), 0, "CRS of the coordinates",
	 "EPSG:4326", NULL, NULL, offsetof(struct synth_conf, has_crs), 0, 0},
	{"extent", OPT_BBOX, offsetof(struct synth_conf, extent), 0,
	 "[xmin, ymin, xmax, ymax] the features fall in", "[-10, 35, 30, 60]", NULL, NULL,
	 offsetof(struct synth_conf, has_extent), -1e15, 1e15},
	{"vertices", OPT_INT, offsetof(struct synth_conf, vertices), 0,
	 "points per polygon ring (closing point included) or per line", "24", NULL, NULL,
	 offsetof(struct synth_conf, has_vertices), 2, 1000000},
	{"seed", OPT_INT, offsetof(struct synth_conf, seed), 0, "random seed", "1", NULL, NULL,
	 offsetof(struct synth_conf, has_seed), 0, 4294967295},
	{"layer", OPT_STRING, offsetof(struct synth_conf, layer), 0, "layer name", "synthetic",
	 NULL, NULL, 0, 0, 0},
	{"raster", OPT_SUB, offsetof(struct synth_conf, raster), 0,
	 "a deterministic raster instead of features (options below)", NULL, NULL,
	 synth_raster_opts, offsetof(struct synth_conf, has_raster), 0, 0},
	{0},
};

static const struct opt_desc sql_opts[] = {
	{"query", OPT_STRING, offsetof(struct sql_conf, query), OPT_REQUIRED,
	 "the SELECT statement, in the data source's own SQL (PostGIS: run by the server)", NULL,
	 NULL, NULL, 0, 0, 0},
	{"name", OPT_STRING, offsetof(struct sql_conf, name), 0,
	 "the result's layer name ({layer} in templates)", "sql", NULL, NULL, 0, 0, 0},
	{0},
};

const struct opt_desc read_opts[] = {
	{"path", OPT_STRINGS, offsetof(struct read_conf, path), 0,
	 "a path, a list of paths or a glob (\"in/*.shp\"); any GDAL path (/vsizip/...)", NULL,
	 NULL, NULL, offsetof(struct read_conf, has_path), 0, 0},
	{"layer", OPT_STRINGS, offsetof(struct read_conf, layer), 0,
	 "a layer name or a list of them", "every layer", NULL, NULL,
	 offsetof(struct read_conf, has_layer), 0, 0},
	{"where", OPT_STRING, offsetof(struct read_conf, where), 0,
	 "OGR SQL attribute filter, pushed down to the driver", NULL, NULL, NULL,
	 offsetof(struct read_conf, has_where), 0, 0},
	{"bbox", OPT_BBOX, offsetof(struct read_conf, bbox), 0,
	 "vector: spatial filter [xmin, ymin, xmax, ymax] in the layer's CRS; raster: read only "
	 "this window (in the raster's CRS, widened to whole pixels)",
	 NULL, NULL, NULL, offsetof(struct read_conf, has_bbox), -1e15, 1e15},
	{"bands", OPT_STRINGS, offsetof(struct read_conf, bands), 0,
	 "raster: band numbers to read, in order ([4, 3])", "every band", NULL, NULL,
	 offsetof(struct read_conf, has_bands), 0, 0},
	{"nodata", OPT_DOUBLE, offsetof(struct read_conf, nodata), 0,
	 "raster: nodata value of every band read, instead of the source's", "the source's", NULL,
	 NULL, offsetof(struct read_conf, has_nodata), -DBL_MAX, DBL_MAX},
	{"open_options", OPT_MAP, offsetof(struct read_conf, open_options), 0,
	 "dataset open options, passed to GDAL", NULL, NULL, NULL,
	 offsetof(struct read_conf, has_open_options), 0, 0},
	{"sql", OPT_SUB, offsetof(struct read_conf, sql), 0,
	 "vector: read the result of a named SQL query instead of the layers (options below)",
	 NULL, NULL, sql_opts, offsetof(struct read_conf, has_sql), 0, 0},
	{"synthetic", OPT_SUB, offsetof(struct read_conf, synthetic), 0,
	 "deterministic generated features instead of a path (options below)", NULL, NULL,
	 synth_opts, offsetof(struct read_conf, has_synthetic), 0, 0},
	{0},
};

const char read_summary[] = "read features from any OGR dataset or a raster from any GDAL "
                           "one, or generate them";
const char read_details[] =
	           "Inputs are read one after another, each layer as its own stream, in the\n"
	           "order given (glob matches sorted).  Relative paths resolve against the\n"
	           "current directory; ${pipeline_dir} is the pipeline file's directory.\n"
	           "synthetic: deterministic features for tests and benchmarks, with fields\n"
	           "id (Integer64), code (Integer, 0-99) and name (String); synthetic.raster:\n"
	           "a deterministic raster (smooth relief plus noise, computed per window).\n"
	           "PG: connection strings read PostGIS tables (layer: table or\n"
	           "schema.table) through a server-side cursor, where and bbox run by the\n"
	           "server; credentials from PG* variables, ~/.pgpass or a service file,\n"
	           "and a password in the string is shown as password=***.  A database\n"
	           "that cannot be connected to exits 66.\n"
	           "sql: { query, name } reads the result of a query run by the data source\n"
	           "(PostGIS: by the server, through a cursor) as one layer named `name`,\n"
	           "instead of the dataset's layers; where and bbox apply to the result.\n"
	           "A pipeline is a raster pipeline when its read step opens a raster (or\n"
	           "has synthetic.raster, bands or nodata); its other steps must then be\n"
	           "raster steps.";

int read_check_inputs(struct step *s, struct pipeline *pl)
{
	struct read_conf *c = s->conf;

	if (c->has_synthetic == c->has_path)
		return ydoc_fail(pl->doc, s->node, "step 'read' needs either 'path' or 'synthetic'");
	if (c->has_sql && c->has_layer)
		return ydoc_fail(pl->doc, ynode_get(s->node, "sql"),
		                 "'sql' is read as one layer of its own: give 'layer' or 'sql', not "
		                 "both");
	if (c->has_sql && !c->sql.name)
		c->sql.name = "sql";
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_glob(const char *p)
{
	return strpbrk(p, "*?[") != NULL;
}

bool source_is_db(const char *p)
{
	return strncasecmp(p, "PG:", 3) == 0;
}

/* GDAL paths that are no local file: /vsi... and database connection
 * strings, which GDAL opens itself. */
static bool is_vsi(const char *p)
{
	return strncmp(p, "/vsi", 4) == 0 || source_is_db(p);
}

static int add_input(struct arena *a, const char ***v, size_t *n, const char *p, size_t *cap)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		const char **nv = arena_realloc(a, *v, *cap * sizeof *nv, ncap * sizeof *nv);

		if (nv == NULL)
			return -1;
		*v = nv;
		*cap = ncap;
	}
	(*v)[*n] = arena_strdup(a, p);
	if ((*v)[*n] == NULL)
		return -1;
	(*n)++;
	return 0;
}

int source_resolve_inputs(struct arena *a, const struct strlist *paths, const char ***out,
                          size_t *n)
{
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < paths->n; i++) {
		const char *p = paths->v[i];
		struct stat sb;

		if (is_vsi(p)) {
			if (add_input(a, out, n, p, &cap) != 0)
				return -1;
		} else if (has_glob(p)) {
			glob_t g;
			int r = glob(p, GLOB_NOSORT, NULL, &g);

			if (r == GLOB_NOMATCH) {
				globfree(&g);
				return gp_fail(GP_EX_NOINPUT, "no input matches '%s'", p);
			}
			if (r != 0) {
				globfree(&g);
				return gp_fail(GP_EX_IOERR, "cannot expand '%s'", p);
			}
			qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, cmp_str);
			for (size_t k = 0; k < g.gl_pathc; k++) {
				if (add_input(a, out, n, g.gl_pathv[k], &cap) != 0) {
					globfree(&g);
					return -1;
				}
			}
			globfree(&g);
		} else if (stat(p, &sb) != 0) {
			return gp_fail(GP_EX_NOINPUT, "cannot open '%s': %s", p, strerror(errno));
		} else if (add_input(a, out, n, p, &cap) != 0) {
			return -1;
		}
	}
	return 0;
}

const char *source_base_name(const char *p)
{
	const char *b = strrchr(p, '/');

	return b ? b + 1 : p;
}

static const char *const raster_exts[] = {"tif", "tiff", "vrt", "img", "jp2", "asc", "nc",
                                          "dem", "png", "jpg", "jpeg", "webp", "hgt", "bil",
                                          "dt0", "dt1", "dt2", "grd", "bt", "ecw", "sid", "xyz",
                                          NULL};

/* STEP_RASTER when `path` opens as a raster (and not as vector layers),
 * STEP_VECTOR when it opens as vector layers; when it does not open,
 * STEP_RASTER for a raster format's extension, else 0 (cannot tell). */
static unsigned raster_path_kind(const char *path)
{
	GDALDatasetH ds;
	const char *dot;

	CPLPushErrorHandler(CPLQuietErrorHandler);
	ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
	if (ds != NULL && GDALDatasetGetLayerCount(ds) > 0) {
		GDALClose(ds);
		CPLPopErrorHandler();
		return STEP_VECTOR;
	}
	if (ds != NULL)
		GDALClose(ds);
	ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
	if (ds != NULL) {
		bool raster = GDALGetRasterCount(ds) > 0;

		GDALClose(ds);
		CPLPopErrorHandler();
		return raster ? STEP_RASTER : STEP_VECTOR;
	}
	CPLPopErrorHandler();
	/* Nothing opened (missing, or not a dataset at all): a raster format's
	 * extension says raster; anything else is left undecided. */
	dot = strrchr(path, '.');
	if (dot == NULL || strchr(dot, '/'))
		return 0;
	for (const char *const *x = raster_exts; *x; x++)
		if (strcasecmp(dot + 1, *x) == 0)
			return STEP_RASTER;
	return 0;
}

int step_read_kind(const struct step *s, const struct pipeline *pl, bool look)
{
	const struct read_conf *c = s->conf;

	if (c->has_synthetic)
		return c->synthetic.has_raster ? STEP_RASTER : STEP_VECTOR;
	if (c->has_bands || c->has_nodata)
		return STEP_RASTER;
	if (c->has_layer || c->has_where || c->has_sql)
		return STEP_VECTOR;
	if (!look)
		return 0;
	/* The first input decides; a glob is expanded for it. */
	for (size_t i = 0; i < c->path.n; i++) {
		struct strlist one = {.n = 1, .v = &c->path.v[i], .at = &c->path.at[i]};
		const char **v;
		size_t n;
		struct arena *a = arena_create(pl->acct, 0);
		int k;

		if (a == NULL)
			return -1;
		if (source_resolve_inputs(a, &one, &v, &n) == 0 && n > 0) {
			k = (int)raster_path_kind(v[0]);
		} else if (gp_err_code() == GP_EX_TEMPFAIL) {
			/* Out of memory is no answer; an input not there yet is. */
			arena_destroy(a);
			return -1;
		} else {
			k = (int)raster_path_kind(c->path.v[i]);
		}
		gp_err_clear();
		arena_destroy(a);
		return k;
	}
	return 0;
}
