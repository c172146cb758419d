/* vector/read.c - the read step of vector pipelines: OGR datasets or
 * synthetic features.  Its options, summary and details are shared with the
 * raster read step (raster/read.c): one 'read' to the user, whose options
 * tell (step_read_kind) which of the two a pipeline runs. */
#include <stddef.h>
#include <stdio.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "config/yaml_load.h"
#include "vector/source.h"

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
	{"synthetic", OPT_SUB, offsetof(struct read_conf, synthetic), 0,
	 "deterministic generated features instead of a path (options below)", NULL, NULL,
	 synth_opts, offsetof(struct read_conf, has_synthetic), 0, 0},
	{0},
};

static bool synthetic(const struct step *s)
{
	return ((const struct read_conf *)s->conf)->has_synthetic;
}

int step_read_kind(const struct step *s, const struct pipeline *pl, bool look)
{
	const struct read_conf *c = s->conf;

	if (c->has_synthetic)
		return c->synthetic.has_raster ? STEP_RASTER : STEP_VECTOR;
	if (c->has_bands || c->has_nodata)
		return STEP_RASTER;
	if (c->has_layer || c->has_where)
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

int read_check_inputs(struct step *s, struct pipeline *pl)
{
	struct read_conf *c = s->conf;

	if (c->has_synthetic == c->has_path)
		return ydoc_fail(pl->doc, s->node, "step 'read' needs either 'path' or 'synthetic'");
	return 0;
}

static int read_check(struct step *s, struct pipeline *pl)
{
	struct read_conf *c = s->conf;

	if (read_check_inputs(s, pl) != 0)
		return -1;
	{
		/* Raster options in a vector pipeline are a mistake, not noise. */
		static const char *const raster_only[] = {"bands", "nodata", NULL};

		for (const char *const *k = raster_only; *k; k++)
			if (ynode_get(s->node, *k))
				return ydoc_fail(pl->doc, ynode_get(s->node, *k),
				                 "'%s' applies to rasters, and this pipeline reads vector "
				                 "features",
				                 *k);
	}
	if (c->has_synthetic) {
		/* Options of datasets mean nothing to generated features: say so
		 * rather than ignore them. */
		static const char *const dataset_only[] = {"where", "bbox", "layer", "open_options",
		                                           NULL};

		for (const char *const *k = dataset_only; *k; k++)
			if (ynode_get(s->node, *k))
				return ydoc_fail(pl->doc, ynode_get(s->node, *k),
				                 "'%s' does not apply to 'synthetic' in step 'read' (use a "
				                 "'filter' step)",
				                 *k);
	}
	return synthetic(s) ? source_synth_check(s, pl) : source_ogr_check(s, pl);
}

static int read_open(struct stage *s, struct engine *e)
{
	return synthetic(s->step) ? source_synth_open(s, e) : source_ogr_open(s, e);
}

static int read_next_stream(struct stage *s, struct stream *st)
{
	return synthetic(s->step) ? source_synth_next_stream(s, st) : source_ogr_next_stream(s, st);
}

static int read_read(struct stage *s, struct batch *b)
{
	return synthetic(s->step) ? source_synth_read(s, b) : source_ogr_read(s, b);
}

static int read_end(struct stage *s, struct stream *st)
{
	return synthetic(s->step) ? source_synth_end(s, st) : source_ogr_end(s, st);
}

static int read_close(struct stage *s, bool ok)
{
	return synthetic(s->step) ? source_synth_close(s, ok) : source_ogr_close(s, ok);
}

static void read_explain(struct stage *s, struct engine *e, FILE *out)
{
	if (synthetic(s->step))
		source_synth_explain(s, e, out);
	else
		source_ogr_explain(s, e, out);
}

static void read_explain_memory(struct stage *s, struct engine *e, FILE *out)
{
	(void)s;
	fprintf(out, "  memory: batch arena of up to %zu features (~%.1f MiB), stream arena for "
	             "schema and CRS\n",
	        e->plan.batch_items, (double)e->plan.batch_bytes / (1024.0 * 1024.0));
}

static const struct vector_ops read_ops = {
	.next_stream = read_next_stream,
	.read = read_read,
	.end = read_end,
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
	           "A pipeline is a raster pipeline when its read step opens a raster (or\n"
	           "has synthetic.raster, bands or nodata); its other steps must then be\n"
	           "raster steps.";

const struct step_desc step_read = {
	.name = "read",
	.summary = read_summary,
	.role = STEP_SOURCE,
	.opts = read_opts,
	.conf_size = sizeof(struct read_conf),
	.details = read_details,
	.check = read_check,
	.open = read_open,
	.close = read_close,
	.explain = read_explain,
	.explain_memory = read_explain_memory,
	.vec = &read_ops,
};
