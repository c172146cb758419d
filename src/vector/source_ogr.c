/* source_ogr.c - reading OGR datasets: paths, lists, globs, layers. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <glob.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include "core/arena.h"
#include "core/step.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/incremental.h"
#include "core/input.h"
#include "core/shard.h"
#include "config/pipeline.h"
#include "vector/schema.h"
#include "config/yaml_load.h"
#include "vector/source.h"
#include "vector/batch.h"
#include "vector/fid_range.h"

struct ogr_state {
	const char **inputs;       /* resolved dataset paths, in order */
	size_t ninputs;
	size_t next_input;         /* index of the next dataset to open */
	/* --shard: the inputs this shard reads whole, or NULL when it reads
	 * every input (FID ranges of each layer when sharded, shard.h) */
	bool *mine;
	struct handle *ds;         /* current dataset */
	GDALDatasetH dsh;
	size_t ds_index;           /* index of the open dataset in inputs */
	int nlayers;
	int next_layer;            /* next layer index to try in ds */
	OGRLayerH lyr;             /* current layer */
	OGRLayerH sql_lyr;         /* read's sql result on ds, or NULL */
	struct layer_iter *it;
	struct engine *eng;
	int64_t layers_found;      /* over the run, for "layer not found" */
	/* GDAL's errors, recorded around every call into the driver: each
	 * goes to a feature or to the run (gdal_errs in source.h). */
	struct gdal_errs errs;
	/* Failures raised while opening the current dataset that GDAL opened
	 * all the same (GeoJSON parses every feature then): they come again
	 * when the features are read, and must by the end of the dataset. */
	uint64_t open_errors;
	char open_msg[GDAL_ERRS_MSG];
	uint64_t feature_errors; /* failures handed to features of the dataset */
	bool read_through;       /* a layer of it was read to its end */
	int64_t layer_read;      /* features read from the current layer */
	int64_t pending_at;      /* layer_read when a failure was left pending, or -1 */
	/* A second handle on the current dataset, opened on the first failure
	 * to tie to a feature: its random reads tell which feature raised it.
	 * It lives in the arena of the stage read() was given (vds_forget). */
	struct handle *vds;
	GDALDatasetH vdsh;
	bool vds_failed;
	int vds_warm; /* layer whose first random read was made */
	struct gdal_errs verrs;
};

int source_ogr_check(struct step *s, struct pipeline *pl)
{
	struct read_conf *c = s->conf;

	(void)pl;
	for (size_t i = 0; i < c->path.n; i++)
		if (*c->path.v[i] == '\0')
			return ydoc_fail(pl->doc, c->path.at[i], "empty path in step 'read'");
	return 0;
}

/* Turn the configured paths into datasets. */
static int resolve_inputs(struct stage *s, struct ogr_state *st)
{
	struct read_conf *c = s->step->conf;

	const struct run_opts *o = st->eng->opts;

	if (source_resolve_inputs(s->arena, &c->path, &st->inputs, &st->ninputs) != 0)
		return -1;
	return shard_mine(s->arena, st->inputs, st->ninputs, o->shard_index, o->shard_count, false,
	                  &st->mine);
}

/* Layers are cut into FID ranges: sharded, with few inputs. */
static bool by_fid_range(const struct ogr_state *st)
{
	return st->eng->opts->shard_count > 1 && st->mine == NULL;
}

static char **open_options(struct read_conf *c)
{
	char **o = NULL;

	for (size_t i = 0; i < c->open_options.n; i++)
		o = CSLSetNameValue(o, c->open_options.key[i], c->open_options.val[i]);
	return o;
}

int source_ogr_open(struct stage *s, struct engine *e)
{
	struct ogr_state *st = arena_calloc(s->arena, 1, sizeof *st);

	if (st == NULL)
		return -1;
	s->state = st;
	st->eng = e;
	st->errs.quiet = e->opts->quiet;
	st->verrs.quiet = true; /* the reader has shown its warnings */
	if (resolve_inputs(s, st) != 0)
		return -1;
	return incr_inputs(e->incr, st->inputs, st->ninputs);
}

static void close_dataset(struct ogr_state *st)
{
	if (st->sql_lyr) {
		GDALDatasetReleaseResultSet(st->dsh, st->sql_lyr);
		st->sql_lyr = NULL;
	}
	if (st->vds) {
		handle_release(st->vds);
		st->vds = NULL;
		st->vdsh = NULL;
	}
	st->vds_failed = false;
	if (st->ds) {
		handle_release(st->ds);
		st->ds = NULL;
		st->dsh = NULL;
	}
}

static int open_next_dataset(struct stage *s, struct ogr_state *st)
{
	struct read_conf *c = s->step->conf;
	const char *path = st->inputs[st->next_input];
	char **oo = open_options(c);
	GDALDatasetH ds;
	VSIStatBufL sb;
	int r = 0;

	close_dataset(st);
	st->errs.what = path;
	gdal_errs_clear(&st->errs);
	gdal_errs_push(&st->errs);
	ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, (const char *const *)oo,
	                NULL);
	CSLDestroy(oo);
	if (ds == NULL) {
		char why[GDAL_ERRS_MSG];
		GDALDatasetH rds;

		snprintf(why, sizeof why, "%s",
		         gdal_errs_pending(&st->errs) ? gdal_errs_peek(&st->errs)
		                                      : "not recognised by any OGR driver");
		rds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
		gdal_errs_clear(&st->errs);
		gdal_errs_pop();
		if (rds != NULL) {
			GDALClose(rds);
			snprintf(why, sizeof why,
			         "it is a raster dataset, and this pipeline reads vector features");
		}
		/* Missing is 66; there, but not something GDAL can read, 65. */
		return gp_fail(VSIStatL(path, &sb) != 0 ? GP_EX_NOINPUT : GP_EX_DATAERR,
		               "cannot open '%s' as a vector dataset: %s", path, why);
	}
	st->open_errors = gdal_errs_pending(&st->errs);
	snprintf(st->open_msg, sizeof st->open_msg, "%s", gdal_errs_peek(&st->errs));
	gdal_errs_clear(&st->errs);
	st->feature_errors = 0;
	st->read_through = false;
	st->ds = handle_own(s->arena, &s->acct, HANDLE_GDAL_DATASET, ds, NULL);
	if (st->ds == NULL) {
		gdal_errs_pop();
		return -1;
	}
	st->dsh = ds;
	st->ds_index = st->next_input++;
	/* A directory of shapefiles opens its files here, and one that cannot
	 * be opened is an error, not a layer fewer. */
	st->nlayers = GDALDatasetGetLayerCount(ds);
	if (gdal_errs_pending(&st->errs))
		r = gp_fail(GP_EX_DATAERR, "cannot read '%s': %s", path, gdal_errs_peek(&st->errs));
	gdal_errs_clear(&st->errs);
	gdal_errs_pop();
	st->next_layer = 0;
	engine_dataset_opened(st->eng);
	return r;
}

/* The end of a dataset: failures raised while opening it must have come
 * again from its features (when its layers were read through). */
static int settle_dataset(struct ogr_state *st)
{
	if (st->dsh == NULL || !st->read_through || st->feature_errors >= st->open_errors)
		return 0;
	st->open_errors = 0;
	return gp_fail(GP_EX_DATAERR,
	               "cannot read '%s': %s (raised while opening it, and by none of the "
	               "features read)",
	               st->inputs[st->ds_index], st->open_msg);
}

/* Whether `l` of `ds` is one of read's layers: by its name, or by the
 * name the driver also knows it by (PostgreSQL: "public.t" is layer "t",
 * and a table outside the search path is "schema.table"). */
static bool layer_wanted(const struct read_conf *c, GDALDatasetH ds, OGRLayerH l)
{
	if (!c->has_layer)
		return true;
	for (size_t i = 0; i < c->layer.n; i++)
		if (strcmp(c->layer.v[i], OGR_L_GetName(l)) == 0)
			return true;
	for (size_t i = 0; i < c->layer.n; i++)
		if (GDALDatasetGetLayerByName(ds, c->layer.v[i]) == l)
			return true;
	return false;
}

static int check_layers_exist(struct stage *s, struct ogr_state *st)
{
	struct read_conf *c = s->step->conf;

	for (size_t i = 0; i < c->layer.n; i++) {
		if (GDALDatasetGetLayerByName(st->dsh, c->layer.v[i]) == NULL) {
			char names[512] = "";

			for (int k = 0; k < st->nlayers && strlen(names) < 400; k++) {
				OGRLayerH l = GDALDatasetGetLayer(st->dsh, k);

				if (k)
					strcat(names, ", ");
				strncat(names, OGR_L_GetName(l), sizeof names - strlen(names) - 1);
			}
			return gp_fail(GP_EX_NOINPUT, "layer '%s' not found in '%s' (layers: %s)",
			               c->layer.v[i], st->inputs[st->ds_index],
			               *names ? names : "none");
		}
	}
	return 0;
}

static int where_fail(struct stage *s, const struct stream *out, const char *why)
{
	struct read_conf *c = s->step->conf;

	return ydoc_fail(s->step->pl->doc, ynode_get(s->step->node, "where"),
	                 "where '%s' cannot be applied to layer '%s' of '%s': %s", c->where,
	                 out->layer, out->path, why);
}

/* Set read's where on the layer, with the recorder pushed.  Drivers that
 * hand the filter to SQLite (GPKG, SQLite) report a bad one only when
 * reading starts: read one feature to know, then start again. */
static int prepare_where(struct stage *s, struct ogr_state *st, const struct stream *out,
                         const char *where)
{
	char why[GDAL_ERRS_MSG];
	OGRFeatureH f;
	bool data_fault;

	gdal_errs_clear(&st->errs);
	if (OGR_L_SetAttributeFilter(st->lyr, where) != OGRERR_NONE ||
	    gdal_errs_pending(&st->errs)) {
		snprintf(why, sizeof why, "%s",
		         gdal_errs_pending(&st->errs) ? gdal_errs_peek(&st->errs)
		                                      : "the driver refuses it");
		gdal_errs_clear(&st->errs);
		return where_fail(s, out, why);
	}
	OGR_L_ResetReading(st->lyr);
	f = OGR_L_GetNextFeature(st->lyr);
	if (f != NULL)
		OGR_F_Destroy(f);
	if (gdal_errs_pending(&st->errs) == 0)
		return 0; /* a feature, or none: an empty result is no error */
	snprintf(why, sizeof why, "%s", gdal_errs_peek(&st->errs));
	gdal_errs_clear(&st->errs);
	/* The filter's fault, or the data's?  Read the first feature without
	 * it: if that fails too, the data will fail again when it is read, and
	 * go where read errors go. */
	OGR_L_SetAttributeFilter(st->lyr, NULL);
	OGR_L_ResetReading(st->lyr);
	f = OGR_L_GetNextFeature(st->lyr);
	if (f != NULL)
		OGR_F_Destroy(f);
	data_fault = gdal_errs_pending(&st->errs) > 0;
	gdal_errs_clear(&st->errs);
	if (!data_fault)
		return where_fail(s, out, why);
	OGR_L_SetAttributeFilter(st->lyr, where);
	gdal_errs_clear(&st->errs);
	return 0;
}

static int fill_stream(struct stage *s, struct ogr_state *st, struct stream *out,
                       const struct fid_range *part)
{
	struct read_conf *c = s->step->conf;
	const char *path = st->inputs[st->ds_index];
	OGRSpatialReferenceH srs = OGR_L_GetSpatialRef(st->lyr);
	GDALDriverH drv = GDALGetDatasetDriver(st->dsh);
	const char *dot;
	char *stem, *shown;
	const char *where = c->where;

	out->dataset_index = st->ds_index;
	out->layer_index = st->next_layer - 1;
	/* Messages, rejects and set_field show the path: a connection
	 * string's password is masked there, and a table in a database is
	 * named after itself ({stem}, {name}). */
	shown = arena_strdup(out->arena, path);
	if (shown == NULL)
		return -1;
	out->path = gp_redact(shown);
	if (source_is_db(path))
		out->name = arena_strdup(out->arena, c->has_sql ? c->sql.name : OGR_L_GetName(st->lyr));
	else
		out->name = arena_strdup(out->arena, source_base_name(path));
	if (out->name == NULL)
		return -1;
	dot = strrchr(out->name, '.');
	stem = arena_strndup(out->arena, out->name,
	                     dot && dot != out->name ? (size_t)(dot - out->name) : strlen(out->name));
	if (stem == NULL)
		return -1;
	out->stem = stem;
	out->layer = arena_strdup(out->arena, c->has_sql ? c->sql.name : OGR_L_GetName(st->lyr));
	out->driver = drv ? GDALGetDriverShortName(drv) : "";
	/* A database target names its columns after them, as ogr2ogr does. */
	if (*OGR_L_GetFIDColumn(st->lyr) &&
	    (out->fid_column = arena_strdup(out->arena, OGR_L_GetFIDColumn(st->lyr))) == NULL)
		return -1;
	if (*OGR_L_GetGeometryColumn(st->lyr) &&
	    (out->geom_column = arena_strdup(out->arena, OGR_L_GetGeometryColumn(st->lyr))) == NULL)
		return -1;
	out->schema = schema_from_defn(out->arena, OGR_L_GetLayerDefn(st->lyr));
	if (out->layer == NULL || out->schema == NULL)
		return -1;
	out->schema->gtype = OGR_L_GetGeomType(st->lyr);
	if (srs != NULL) {
		out->srs = OSRClone(srs);
		if (out->srs == NULL)
			return gp_fail(GP_EX_SOFTWARE, "cannot copy the CRS of '%s'", path);
		if (handle_own(out->arena, &s->acct, HANDLE_OGR_SRS, out->srs, NULL) == NULL) {
			out->srs = NULL; /* released by handle_own, error set */
			return -1;
		}
		out->srs_from_source = true;
	}
	if (part && fid_range_where(out->arena, st->dsh, st->lyr, c->where, part, &where) != 0)
		return -1;
	if (where) {
		if (prepare_where(s, st, out, where) != 0)
			return -1;
	} else {
		OGR_L_SetAttributeFilter(st->lyr, NULL);
	}
	if (c->has_bbox)
		OGR_L_SetSpatialFilterRect(st->lyr, c->bbox[0], c->bbox[1], c->bbox[2], c->bbox[3]);
	else
		OGR_L_SetSpatialFilter(st->lyr, NULL);
	OGR_L_ResetReading(st->lyr);
	out->count_hint = OGR_L_GetFeatureCount(st->lyr, FALSE);
	return 0;
}

/* Run read's sql on the dataset just opened: its result is the dataset's
 * one layer, released with the dataset.  A query the source refuses is
 * the pipeline's fault (78, at its position), as a bad where is. */
static int run_sql(struct stage *s, struct ogr_state *st)
{
	struct read_conf *c = s->step->conf;
	char why[GDAL_ERRS_MSG];

	gdal_errs_clear(&st->errs);
	gdal_errs_push(&st->errs);
	st->sql_lyr = GDALDatasetExecuteSQL(st->dsh, c->sql.query, NULL, NULL);
	snprintf(why, sizeof why, "%s",
	         gdal_errs_pending(&st->errs) ? gdal_errs_peek(&st->errs) : "it gives no rows");
	gdal_errs_clear(&st->errs);
	gdal_errs_pop();
	st->nlayers = 1;
	if (st->sql_lyr != NULL)
		return 0;
	return ydoc_fail(s->step->pl->doc, ynode_get(s->step->node, "sql"),
	                 "sql '%s' cannot be run on '%s': %s", c->sql.name,
	                 st->inputs[st->ds_index], why);
}

int source_ogr_next_stream(struct stage *s, struct stream *out)
{
	struct ogr_state *st = s->state;
	struct read_conf *c = s->step->conf;

	for (;;) {
		int r = 0;

		if (st->dsh == NULL || st->next_layer >= st->nlayers) {
			if (settle_dataset(st) != 0)
				return -1;
			while (st->mine && st->next_input < st->ninputs && !st->mine[st->next_input])
				st->next_input++; /* another shard's */
			if (st->next_input >= st->ninputs) {
				close_dataset(st);
				return 0;
			}
			/* Up to date (--incremental): not even opened. */
			if (incr_skip(st->eng->incr, st->next_input)) {
				close_dataset(st);
				st->next_input++;
				continue;
			}
			if (open_next_dataset(s, st) != 0)
				return -1;
			if (c->has_layer && check_layers_exist(s, st) != 0)
				return -1;
			if (c->has_sql && run_sql(s, st) != 0)
				return -1;
			continue;
		}
		st->errs.what = st->inputs[st->ds_index];
		gdal_errs_push(&st->errs);
		st->lyr = c->has_sql ? st->sql_lyr : GDALDatasetGetLayer(st->dsh, st->next_layer);
		st->next_layer++;
		if (st->lyr != NULL && layer_wanted(c, st->dsh, st->lyr)) {
			struct fid_range part;
			const struct run_opts *o = st->eng->opts;
			/* A query's rows have no FIDs to cut by: it goes whole to
			 * shard 0. */
			bool cut = by_fid_range(st) && !c->has_sql;

			r = 1;
			if (by_fid_range(st) && c->has_sql)
				r = o->shard_index == 0;
			else if (cut) {
				if (fid_range_plan(st->dsh, st->lyr, st->errs.what, o->shard_index,
				                   o->shard_count, &part) != 0)
					r = -1;
				else if (part.none)
					r = 0; /* another shard's */
			}
			if (r > 0)
				r = fill_stream(s, st, out, cut ? &part : NULL) != 0 ? -1 : 1;
			if (r > 0 && gdal_errs_pending(&st->errs))
				r = gp_fail(GP_EX_DATAERR, "cannot read layer '%s' of '%s': %s",
				            out->layer, out->path, gdal_errs_peek(&st->errs));
		} else if (gdal_errs_pending(&st->errs)) {
			r = gp_fail(GP_EX_DATAERR, "cannot read layer %d of '%s': %s",
			            st->next_layer - 1, st->inputs[st->ds_index],
			            gdal_errs_peek(&st->errs));
		}
		gdal_errs_clear(&st->errs);
		gdal_errs_pop();
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		st->errs.what =
		        arena_printf(out->arena, "layer '%s' of '%s'", out->layer, out->path);
		if (st->errs.what == NULL)
			return -1;
		st->layer_read = 0;
		st->pending_at = -1;
		st->it = layer_iter_open(out->arena, &s->acct, out->layer);
		if (st->it == NULL)
			return -1;
		return 1;
	}
}

static void drop_geometry_handle(void *g)
{
	OGR_G_DestroyGeometry(g);
}

enum verdict { FEATURE_CLEAN, FEATURE_FAILED, FEATURE_UNKNOWN };

/* The second handle, as registered in the arena of the stage that read. */
struct vds_ref {
	struct ogr_state *st;
	struct handle *h;
};

/* The arena the second handle was made in goes (before the handle does):
 * the state forgets it.  A pooled run's reader thread reads with a stage
 * arena of its own, which it resets at each stream's end (vector/run.c),
 * so that the handle is closed by the thread that opened it; a 1-thread
 * run's stage arena outlives the handle, closed with its dataset. */
static void vds_forget(void *ctx)
{
	struct vds_ref *r = ctx;

	if (r->st->vds != r->h)
		return;
	r->st->vds = NULL;
	r->st->vdsh = NULL;
}

/* Read feature `fid` again, alone, through a second handle on the dataset:
 * whether GDAL raises a failure for it tells whether it is the feature a
 * pending failure belongs to (drivers that parse ahead, like GeoJSON,
 * raise a feature's errors while returning an earlier one).  The reason
 * goes to `why`. */
static enum verdict verify_feature(struct stage *s, struct ogr_state *st, int64_t fid, char *why,
                                   size_t len)
{
	int layer = st->next_layer - 1;
	enum verdict v;
	OGRLayerH l;
	OGRFeatureH f;

	/* A query's rows cannot be read again one by one. */
	if (st->sql_lyr)
		return FEATURE_UNKNOWN;
	if (st->vdsh == NULL && !st->vds_failed) {
		char **oo = open_options(s->step->conf);

		gdal_errs_push(&st->verrs);
		st->vdsh = GDALOpenEx(st->inputs[st->ds_index], GDAL_OF_VECTOR | GDAL_OF_READONLY,
		                      NULL, (const char *const *)oo, NULL);
		gdal_errs_pop();
		CSLDestroy(oo);
		st->vds_failed = st->vdsh == NULL;
		st->vds_warm = -1;
		if (st->vdsh != NULL) {
			struct vds_ref *ref = arena_alloc(s->arena, sizeof *ref, 0);

			st->vds = ref ? handle_own(s->arena, &s->acct, HANDLE_GDAL_DATASET,
			                           st->vdsh, NULL)
			              : NULL;
			if (ref == NULL)
				GDALClose(st->vdsh);
			if (st->vds != NULL) {
				*ref = (struct vds_ref){.st = st, .h = st->vds};
				/* a record that cannot be made forgets at once: the
				 * dataset then stays open, unused, until its arena goes */
				(void)arena_defer(s->arena, vds_forget, ref);
			}
			if (st->vds == NULL) {
				st->vdsh = NULL;
				st->vds_failed = true;
			}
		}
	}
	if (st->vdsh == NULL)
		return FEATURE_UNKNOWN;
	gdal_errs_push(&st->verrs);
	l = GDALDatasetGetLayer(st->vdsh, layer);
	if (l != NULL && st->vds_warm != layer) {
		/* The first random read may scan the layer (GeoJSON indexes its
		 * features then) and raise every feature's errors. */
		f = OGR_L_GetFeature(l, fid);
		if (f != NULL)
			OGR_F_Destroy(f);
		st->vds_warm = layer;
	}
	gdal_errs_clear(&st->verrs);
	f = l != NULL ? OGR_L_GetFeature(l, fid) : NULL;
	if (gdal_errs_pending(&st->verrs)) {
		snprintf(why, len, "%s", gdal_errs_peek(&st->verrs));
		v = FEATURE_FAILED;
	} else if (f == NULL || OGR_F_GetGeometryRef(f) != NULL) {
		v = FEATURE_UNKNOWN;
	} else {
		v = FEATURE_CLEAN;
	}
	if (f != NULL)
		OGR_F_Destroy(f);
	gdal_errs_clear(&st->verrs);
	gdal_errs_pop();
	return v;
}

/* Feature i came without a geometry while a failure is pending: if the
 * failure is its own, it fails (on_error decides what then), with GDAL's
 * message. */
static void blame_feature(struct stage *s, struct ogr_state *st, struct batch *b, size_t i)
{
	char why[GDAL_ERRS_MSG];
	enum verdict v = verify_feature(s, st, b->f[i].fid, why, sizeof why);

	if (v == FEATURE_CLEAN)
		return;
	/* A driver that cannot read a feature alone: the failure goes to the
	 * first feature without a geometry that follows it. */
	batch_fail(b, i, s->step->label, v == FEATURE_FAILED ? why : gdal_errs_peek(&st->errs));
	gdal_errs_take(&st->errs);
	st->feature_errors++;
	if (gdal_errs_pending(&st->errs) == 0)
		st->pending_at = -1;
}

/* The layer ended: a failure still pending is the run's. */
static int layer_done(struct ogr_state *st, const struct stream *sm)
{
	int64_t n = st->pending_at >= 0 ? st->pending_at : st->layer_read;

	if (gdal_errs_pending(&st->errs) == 0) {
		st->read_through = true;
		return 0;
	}
	return gp_fail(GP_EX_DATAERR,
	               "cannot read layer '%s' of '%s' after %" PRId64 " feature%s: %s", sm->layer,
	               sm->path, n, n == 1 ? "" : "s", gdal_errs_peek(&st->errs));
}

int source_ogr_read(struct stage *s, struct batch *b)
{
	struct ogr_state *st = s->state;
	size_t want = engine_batch_size(st->eng);
	int r = 0;

	b->f = arena_calloc(b->arena, want, sizeof *b->f);
	if (b->f == NULL)
		return -1;
	b->cap = want;
	b->n = 0;
	gdal_errs_push(&st->errs);
	while (b->n < want) {
		OGRFeatureH f;
		OGRGeometryH g;
		struct feature *ft;

		f = OGR_L_GetNextFeature(st->lyr);
		if (gdal_errs_pending(&st->errs) && st->pending_at < 0)
			st->pending_at = st->layer_read;
		if (f == NULL) {
			r = layer_done(st, b->stream);
			break;
		}
		st->layer_read++;
		ft = &b->f[b->n];
		ft->attrs = handle_own(b->arena, &s->acct, HANDLE_OGR_FEATURE, f, NULL);
		if (ft->attrs == NULL) {
			r = -1;
			break;
		}
		ft->fid = OGR_F_GetFID(f);
		b->n++;
		g = OGR_F_StealGeometry(f);
		if (g == NULL) {
			if (gdal_errs_pending(&st->errs))
				blame_feature(s, st, b, b->n - 1);
			continue;
		}
		{
			struct handle *gh = handle_own(b->arena, &s->acct, HANDLE_OGR_GEOMETRY, g,
			                               drop_geometry_handle);
			size_t len;

			if (gh == NULL) {
				r = -1;
				break;
			}
			len = (size_t)OGR_G_WkbSizeEx(g);
			ft->wkb = arena_alloc(b->arena, len, 8);
			if (ft->wkb == NULL) {
				r = -1;
				break;
			}
			if (OGR_G_ExportToIsoWkb(g, wkbNDR, ft->wkb) != OGRERR_NONE)
				batch_fail(b, b->n - 1, s->step->label,
				           "geometry cannot be encoded as WKB");
			ft->wkb_len = len;
			handle_release(gh);
		}
	}
	gdal_errs_pop();
	if (r < 0)
		return -1;
	return b->n > 0 ? 1 : 0;
}

int source_ogr_end(struct stage *s, struct stream *st)
{
	struct ogr_state *o = s->state;

	(void)st;
	if (o->it) {
		layer_iter_close(o->it);
		o->it = NULL;
	}
	o->lyr = NULL;
	return 0;
}

int source_ogr_close(struct stage *s, bool ok)
{
	struct ogr_state *st = s->state;

	(void)ok;
	if (st)
		close_dataset(st);
	return 0;
}

/* explain: the shard's share of the inputs. */
static void explain_shard(const struct ogr_state *st, FILE *out)
{
	const struct run_opts *o = st->eng->opts;
	size_t n = 0;

	if (o->shard_count == 0)
		return;
	for (size_t i = 0; st->mine && i < st->ninputs; i++)
		n += st->mine[i];
	if (st->mine)
		fprintf(out,
		        "  shard %d/%d: %zu of the %zu inputs, whole (shared out by size, largest "
		        "first to the least loaded shard)\n",
		        o->shard_index, o->shard_count, n, st->ninputs);
	else
		fprintf(out, "  shard %d/%d: part %d of every layer, by FID (%s)\n", o->shard_index,
		        o->shard_count, o->shard_index,
		        o->shard_count == 1 ? "one shard: all of it"
		                            : "fewer inputs than twice the shards");
}

/* explain: the FID range of layer `l` this shard reads. */
static void explain_range(const struct ogr_state *st, GDALDatasetH ds, OGRLayerH l,
                          const char *path, FILE *out)
{
	const struct run_opts *o = st->eng->opts;
	struct fid_range r;

	if (fid_range_plan(ds, l, path, o->shard_index, o->shard_count, &r) != 0) {
		fprintf(out, "        shard: %s\n", gp_err_msg());
		gp_err_clear();
		return;
	}
	if (r.none) {
		fprintf(out, "        shard: none of its %lld features\n", (long long)r.features);
		return;
	}
	fprintf(out, "        shard: FIDs ");
	if (r.has_lo)
		fprintf(out, ">= %lld", (long long)r.lo);
	if (r.has_lo && r.has_hi)
		fprintf(out, " and ");
	if (r.has_hi)
		fprintf(out, "< %lld", (long long)r.hi);
	if (!r.has_lo && !r.has_hi)
		fprintf(out, "all");
	if (r.part >= 0)
		fprintf(out, ": %lld of its %lld features\n", (long long)r.part, (long long)r.features);
	else
		fprintf(out, " of its %lld features (equal spans of its FIDs)\n",
		        (long long)r.features);
}

void source_ogr_explain(struct stage *s, struct engine *e, FILE *out)
{
	struct ogr_state *st = s->state;

	(void)e;
	if (st == NULL)
		return;
	fprintf(out, "  inputs: %zu dataset%s\n", st->ninputs, st->ninputs == 1 ? "" : "s");
	explain_shard(st, out);
	for (size_t i = 0, nshown = 0; i < st->ninputs; i++) {
		char shown[1024], why[1024];
		GDALDatasetH ds;
		char **oo;

		if (st->mine && !st->mine[i])
			continue;
		if (nshown++ == 20) {
			fprintf(out, "    ... and more\n");
			break;
		}
		oo = open_options(s->step->conf);
		ds = GDALOpenEx(st->inputs[i], GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL,
		                (const char *const *)oo, NULL);
		CSLDestroy(oo);
		snprintf(shown, sizeof shown, "%s", st->inputs[i]);
		gp_redact(shown);
		if (ds == NULL) {
			snprintf(why, sizeof why, "%s", CPLGetLastErrorMsg());
			fprintf(out, "    %s  (cannot open: %s)\n", shown, gp_redact(why));
			continue;
		}
		fprintf(out, "    %s  [%s]\n", shown, GDALGetDriverShortName(GDALGetDatasetDriver(ds)));
		if (((struct read_conf *)s->step->conf)->has_sql) {
			const struct sql_conf *q = &((struct read_conf *)s->step->conf)->sql;

			fprintf(out, "      sql %s: %s\n", q->name, q->query);
			GDALClose(ds);
			continue;
		}
		for (int k = 0; k < GDALDatasetGetLayerCount(ds); k++) {
			OGRLayerH l = GDALDatasetGetLayer(ds, k);
			OGRSpatialReferenceH srs = OGR_L_GetSpatialRef(l);
			const char *auth = NULL, *code = NULL;

			if (!layer_wanted(s->step->conf, ds, l))
				continue;
			if (srs) {
				auth = OSRGetAuthorityName(srs, NULL);
				code = OSRGetAuthorityCode(srs, NULL);
			}
			fprintf(out, "      layer %-20s %-16s %8lld features  %s%s%s\n", OGR_L_GetName(l),
			        OGRGeometryTypeToName(OGR_L_GetGeomType(l)),
			        (long long)OGR_L_GetFeatureCount(l, FALSE), srs ? (auth ? auth : "custom CRS") : "no CRS",
			        code ? ":" : "", code ? code : "");
			if (by_fid_range(st))
				explain_range(st, ds, l, st->inputs[i], out);
		}
		GDALClose(ds);
	}
}
