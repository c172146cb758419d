/* vector/read.c - the read step of vector pipelines: OGR datasets or
 * synthetic features.  Its options, summary and details are shared with the
 * raster read step (raster/read.c) and live in core/input.c: one 'read' to
 * the user, whose options tell (step_read_kind) which of the two a pipeline
 * runs. */
#include <stddef.h>
#include <stdio.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "config/yaml_load.h"
#include "vector/source.h"

static bool synthetic(const struct step *s)
{
	return ((const struct read_conf *)s->conf)->has_synthetic;
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
