/* step_read.c - the read step: OGR datasets or synthetic features. */
#include <stddef.h>
#include <stdio.h>

#include "gispipe/opts.h"
#include "gispipe/pipeline.h"
#include "gispipe/yaml_load.h"
#include "source.h"

static const char *const synth_geoms[] = {"point", "line", "polygon", NULL};

static const struct opt_desc synth_opts[] = {
	{"geometry", OPT_ENUM, offsetof(struct synth_conf, geometry), 0,
	 "point, line or polygon", "polygon", synth_geoms, NULL,
	 offsetof(struct synth_conf, has_geometry)},
	{"count", OPT_INT, offsetof(struct synth_conf, count), OPT_NONNEG, "number of features",
	 "1000", NULL, NULL, offsetof(struct synth_conf, has_count)},
	{"crs", OPT_STRING, offsetof(struct synth_conf, crs), 0, "CRS of the coordinates",
	 "EPSG:4326", NULL, NULL, offsetof(struct synth_conf, has_crs)},
	{"extent", OPT_BBOX, offsetof(struct synth_conf, extent), 0,
	 "[xmin, ymin, xmax, ymax] the features fall in", "[-10, 35, 30, 60]", NULL, NULL,
	 offsetof(struct synth_conf, has_extent)},
	{"vertices", OPT_INT, offsetof(struct synth_conf, vertices), OPT_POSITIVE,
	 "points per polygon ring (closing point included) or per line", "24", NULL, NULL,
	 offsetof(struct synth_conf, has_vertices)},
	{"seed", OPT_INT, offsetof(struct synth_conf, seed), 0, "random seed", "1", NULL, NULL,
	 offsetof(struct synth_conf, has_seed)},
	{"layer", OPT_STRING, offsetof(struct synth_conf, layer), 0, "layer name", "synthetic",
	 NULL, NULL, 0},
	{0},
};

static const struct opt_desc read_opts[] = {
	{"path", OPT_STRINGS, offsetof(struct read_conf, path), 0,
	 "a path, a list of paths or a glob (\"in/*.shp\"); any GDAL path (/vsizip/...)", NULL,
	 NULL, NULL, offsetof(struct read_conf, has_path)},
	{"layer", OPT_STRINGS, offsetof(struct read_conf, layer), 0,
	 "a layer name or a list of them", "every layer", NULL, NULL,
	 offsetof(struct read_conf, has_layer)},
	{"where", OPT_STRING, offsetof(struct read_conf, where), 0,
	 "OGR SQL attribute filter, pushed down to the driver", NULL, NULL, NULL,
	 offsetof(struct read_conf, has_where)},
	{"bbox", OPT_BBOX, offsetof(struct read_conf, bbox), 0,
	 "spatial filter [xmin, ymin, xmax, ymax] in the layer's CRS", NULL, NULL, NULL,
	 offsetof(struct read_conf, has_bbox)},
	{"open_options", OPT_MAP, offsetof(struct read_conf, open_options), 0,
	 "dataset open options, passed to GDAL", NULL, NULL, NULL,
	 offsetof(struct read_conf, has_open_options)},
	{"synthetic", OPT_SUB, offsetof(struct read_conf, synthetic), 0,
	 "deterministic generated features instead of a path (options below)", NULL, NULL,
	 synth_opts, offsetof(struct read_conf, has_synthetic)},
	{0},
};

static bool synthetic(const struct step *s)
{
	return ((const struct read_conf *)s->conf)->has_synthetic;
}

static int read_check(struct step *s, struct pipeline *pl)
{
	struct read_conf *c = s->conf;

	if (c->has_synthetic == c->has_path)
		return ydoc_fail(pl->doc, s->node, "step 'read' needs either 'path' or 'synthetic'");
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

static int read_open(struct step *s, struct engine *e)
{
	return synthetic(s) ? source_synth_open(s, e) : source_ogr_open(s, e);
}

static int read_next_stream(struct step *s, struct stream *st)
{
	return synthetic(s) ? source_synth_next_stream(s, st) : source_ogr_next_stream(s, st);
}

static int read_read(struct step *s, struct batch *b)
{
	return synthetic(s) ? source_synth_read(s, b) : source_ogr_read(s, b);
}

static int read_end(struct step *s, struct stream *st)
{
	return synthetic(s) ? source_synth_end(s, st) : source_ogr_end(s, st);
}

static int read_close(struct step *s, bool ok)
{
	return synthetic(s) ? source_synth_close(s, ok) : source_ogr_close(s, ok);
}

static void read_explain(struct step *s, struct engine *e, FILE *out)
{
	if (synthetic(s))
		source_synth_explain(s, e, out);
	else
		source_ogr_explain(s, e, out);
}

const struct step_desc step_read = {
	.name = "read",
	.summary = "read vector features from any OGR dataset, or generate them",
	.role = STEP_SOURCE,
	.opts = read_opts,
	.conf_size = sizeof(struct read_conf),
	.details = "Inputs are read one after another, each layer as its own stream, in the\n"
	           "order given (glob matches sorted).  Relative paths resolve against the\n"
	           "current directory; ${pipeline_dir} is the pipeline file's directory.\n"
	           "synthetic: deterministic features for tests and benchmarks, with fields\n"
	           "id (Integer64), code (Integer, 0-99) and name (String).",
	.check = read_check,
	.open = read_open,
	.next_stream = read_next_stream,
	.read = read_read,
	.end = read_end,
	.close = read_close,
	.explain = read_explain,
};
