/* vector/write.c - write features with any OGR driver that can create. */
#include <errno.h>
#include <stdio.h>
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
#include "core/epoch.h"
#include "core/error.h"
#include "core/incremental.h"
#include "vector/fgb_index.h"
#include "vector/gpkg_rtree.h"
#include "core/handle.h"
#include "core/input.h"
#include "core/iocheck.h"
#include "config/opts.h"
#include "core/output.h"
#include "config/pipeline.h"
#include "vector/schema.h"
#include "vector/wkb.h"
#include "config/yaml_load.h"
#include "vector/source.h"
#include "vector/batch.h"
#include "pg_copy.h"
#include "pg_table.h"
#include "vector/drivers.h"

enum { GT_AUTO, GT_PROMOTE, GT_AS_IS, GT_ANY };

/* Sort memory of a spatial index build, GeoPackage or FlatGeobuf (spilled
 * beyond that). */
#define RTREE_SORT_BUDGET (2u * 1024 * 1024)

static const char *const modes[] = {"create", "overwrite", "append", NULL};
static const char *const gtypes[] = {"auto", "promote_to_multi", "as_is", "any", NULL};

struct write_conf {
	const char *path;
	const char *format;
	const char *layer;
	int mode;
	struct strmap options;
	struct strmap dataset_options;
	int64_t transaction_size;
	int geometry_type;
	bool has_transaction_size;
};

static const struct opt_desc write_opts[] = {
	{"path", OPT_STRING, offsetof(struct write_conf, path), OPT_REQUIRED,
	 "output; {stem} {name} {layer} {index} make one per input, a fixed path merges", NULL,
	 NULL, NULL, 0, 0, 0},
	{"format", OPT_STRING, offsetof(struct write_conf, format), 0,
	 "GDAL driver short name (gispipe formats)", "from the extension", NULL, NULL, 0, 0, 0},
	{"layer", OPT_STRING, offsetof(struct write_conf, layer), 0,
	 "output layer name; the same templates as path", "{layer}", NULL, NULL, 0, 0, 0},
	{"mode", OPT_ENUM, offsetof(struct write_conf, mode), 0,
	 "create (fail if it exists), overwrite or append", "create", modes, NULL, 0, 0, 0},
	{"options", OPT_MAP, offsetof(struct write_conf, options), 0,
	 "layer creation options, passed to GDAL", NULL, NULL, NULL, 0, 0, 0},
	{"dataset_options", OPT_MAP, offsetof(struct write_conf, dataset_options), 0,
	 "dataset creation options, passed to GDAL", NULL, NULL, NULL, 0, 0, 0},
	{"transaction_size", OPT_INT, offsetof(struct write_conf, transaction_size), 0,
	 "features per transaction where the format has transactions", "100000", NULL, NULL,
	 offsetof(struct write_conf, has_transaction_size), 1, 1000000000},
	{"geometry_type", OPT_ENUM, offsetof(struct write_conf, geometry_type), 0,
	 "auto, promote_to_multi, as_is or any (declare no type)", "auto", gtypes, NULL, 0, 0, 0},
	{0},
};

struct out_layer {
	struct out_layer *next;
	const char *name;
	OGRLayerH lyr;
	OGRwkbGeometryType declared;
	struct handle *feat;       /* reused output feature */
	struct rtree_build *rt;    /* GeoPackage index built in bulk, or NULL */
	struct fgb_index *fgb;     /* FlatGeobuf index built after the close, or NULL */
	char *fgb_empty;           /* GDAL's file for it if it stays empty, or NULL */
	const char *geomcol;
	struct pg_table *pg;       /* a PostgreSQL table, or NULL */
	/* binary COPY (pg_copy.h): the table's fields (lyr is NULL), its
	 * columns, CRS and row layout for the current stream */
	OGRFeatureDefnH defn;
	int ncols;
	OGRSpatialReferenceH srs;
	struct handle *defn_h, *srs_h;
	struct pg_rows rows;
};

struct voutput {
	struct output out;         /* first: the writer's list holds these */
	GDALDatasetH dsh;
	bool db;                   /* a database (pg_table.h), not a staged file */
	struct pg_copy *pq;        /* db by binary COPY: the connection, else GDAL's */
	struct outset_hook hook;   /* db: its COMMIT, run by the run's commit */
	bool closed;
	bool in_txn;
	uint64_t txn_count;
	struct out_layer *layers;
	uint64_t features;
	struct arena *work;        /* lives while the output is open (index sorts) */
};

struct write_state {
	GDALDriverH drv;
	struct output *outputs;    /* struct voutput, newest first */
	struct voutput *cur;
	struct out_layer *lyr;
	int *map;                  /* source field -> output field, this stream */
	int *extra_map;            /* computed value -> output field, this stream */
	size_t nextra;
	bool promote;              /* this stream: single parts become multi */
	struct engine *eng;
	bool aborted;
};

static bool writes_vector(GDALDriverH d)
{
	return GDALGetMetadataItem(d, GDAL_DCAP_VECTOR, NULL) &&
	       GDALGetMetadataItem(d, GDAL_DCAP_CREATE, NULL);
}

static GDALDriverH find_driver(const char *path, const char *format, const char **why)
{
	if (format == NULL && source_is_db(path))
		format = "PostgreSQL";
	return output_find_driver(path, format, writes_vector,
	                          "this format cannot create vector datasets", why);
}

static int write_check(struct step *s, struct pipeline *pl)
{
	struct write_conf *c = s->conf;
	const char *why = NULL;

	if (output_check_path(pl, s, c->path) != 0)
		return -1;
	if (c->layer && output_check_template(pl, s, "layer", c->layer) != 0)
		return -1;
	if (pl->rejects_path && strchr(c->path, '{') == NULL &&
	    strchr(pl->rejects_path, '{') == NULL && outfile_same_target(c->path, pl->rejects_path))
		return ydoc_fail(pl->doc, ynode_get(s->node, "path"),
		                 "'%s' is the same file as the rejects dataset '%s': two outputs "
		                 "cannot share one",
		                 c->path, pl->rejects_path);
	if (!c->has_transaction_size)
		c->transaction_size = 100000;
	if (find_driver(c->path, c->format, &why) == NULL)
		return ydoc_fail(pl->doc, ynode_get(s->node, c->format ? "format" : "path"),
		                 "cannot write '%s': %s", c->format ? c->format : c->path, why);
	return 0;
}

static int write_open(struct stage *s, struct engine *e)
{
	struct write_conf *c = s->step->conf;
	struct write_state *st = s->state;
	const char *why;

	st->eng = e;
	st->drv = find_driver(c->path, c->format, &why);
	if (st->drv == NULL)
		return gp_fail(GP_EX_CONFIG, "cannot write '%s': %s", c->path, why);
	if (e->plan.limit)
		switch (drivers_verdict(GDALGetDriverShortName(st->drv), &c->options,
		                        &c->dataset_options, &why)) {
		case DRIVERS_STREAMS:
			break;
		case DRIVERS_GROWS:
			return gp_fail(GP_EX_TEMPFAIL,
			               "cannot write '%s' under a memory limit: %s, so its memory "
			               "grows with the output; run without a memory limit, or choose "
			               "a format that streams (gispipe formats)",
			               c->path, why);
		case DRIVERS_UNAUDITED:
			return gp_fail(GP_EX_TEMPFAIL,
			               "cannot write '%s' under a memory limit: the %s driver is %s, "
			               "so whether its memory grows with the output is not known; run "
			               "without a memory limit, or choose a format that streams "
			               "(gispipe formats)",
			               c->path, GDALGetDriverShortName(st->drv), why);
		}
	/* The rejects writer (index -1) is no output of an incremental run:
	 * incr_create refuses one. */
	if (s->step->index >= 0 && incr_sink(e->incr, c->path, c->mode) != 0)
		return -1;
	if (!incr_reads_any(e->incr))
		return 0; /* up to date: nothing will be created */
	return output_check_absent(s->arena, c->path, c->mode, "overwrite or append",
	                           e->opts->shard_index, e->opts->shard_count);
}

static char **to_csl(const struct strmap *m)
{
	char **l = NULL;

	for (size_t i = 0; i < m->n; i++)
		l = CSLSetNameValue(l, m->key[i], m->val[i]);
	return l;
}

static char **to_csl(const struct strmap *m);
static int close_db(struct stage *s, struct voutput *o, bool ok);

/* The file of a FlatGeobuf layer: the output itself, or for several
 * layers GDAL's directory of one file each, named after the layer. */
static const char *fgb_layer_path(struct voutput *o, struct out_layer *l)
{
	struct stat sb;

	if (stat(o->out.of.tmppath, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		char *p = arena_alloc(o->work, strlen(o->out.of.tmppath) + strlen(l->name) + 6, 1);

		if (p)
			sprintf(p, "%s/%s.fgb", o->out.of.tmppath, l->name);
		return p ? p : "";
	}
	return o->out.of.tmppath;
}

/* GDAL writes a FlatGeobuf file's header with its first feature when it
 * writes no index: a layer left empty would be an empty file.  GDAL's
 * own empty layer (made with its index, which for no features costs
 * nothing) takes its place: `dst`, renamed over the layer's file after
 * the close. */
static int fgb_empty_layer(struct voutput *o, struct out_layer *l, char **dst)
{
	OGRFeatureDefnH defn = OGR_L_GetLayerDefn(l->lyr);
	GDALDriverH drv = GDALGetDriverByName("FlatGeobuf");
	GDALDatasetH ds;
	OGRLayerH lyr;
	int bad = 0;

	*dst = arena_alloc(o->work, strlen(o->out.of.tmpdir) + 48, 1);
	if (*dst == NULL)
		return -1;
	sprintf(*dst, "%s/.fgb-empty-%p.fgb", o->out.of.tmpdir, (void *)l);
	CPLErrorReset();
	ds = GDALCreate(drv, *dst, 0, 0, 0, GDT_Unknown, NULL);
	lyr = ds ? GDALDatasetCreateLayer(ds, l->name, OGR_L_GetSpatialRef(l->lyr), l->declared,
	                                  NULL)
	         : NULL;
	for (int i = 0; lyr && i < OGR_FD_GetFieldCount(defn); i++)
		bad |= OGR_L_CreateField(lyr, OGR_FD_GetFieldDefn(defn, i), TRUE) != OGRERR_NONE;
	if (ds) {
		CPLErrorReset();
		GDALClose(ds); /* writes the file */
		bad |= CPLGetLastErrorType() >= CE_Failure;
	}
	if (ds == NULL || lyr == NULL || bad) {
		return gp_fail(GP_EX_IOERR, "cannot write the empty layer '%s' of '%s': %s", l->name,
		               o->out.path, iocheck_gdal_msg());
	}
	return 0;
}

/* Close the dataset of an output and check that the close worked: the
 * driver flushes then, and a full disk shows up here.  Then build the
 * GeoPackage indexes.  The output's work arena goes whatever happens, so an
 * output finished costs nothing while later ones are written. */
static int close_output(struct stage *s, struct voutput *o, bool ok)
{
	int r = 0;

	if (o->closed)
		return 0;
	o->closed = true;
	for (struct out_layer *l = o->layers; l; l = l->next)
		if (l->feat)
			handle_release(l->feat);
	if (o->out.ds == NULL && o->pq == NULL)
		goto out;
	if (o->db) {
		r = close_db(s, o, ok);
		goto out;
	}
	CPLErrorReset();
	if (o->in_txn && GDALDatasetCommitTransaction(o->dsh) != OGRERR_NONE) {
		output_drop(&o->out);
		r = output_fail(&o->out, GP_EX_IOERR, "cannot commit to '%s': %s", o->out.path,
		                iocheck_gdal_msg());
		goto out;
	}
	o->in_txn = false;
	for (struct out_layer *l = o->layers; l && r == 0; l = l->next)
		if (l->fgb && fgb_index_count(l->fgb) == 0 && fgb_empty_layer(o, l, &l->fgb_empty) != 0)
			r = -1;
	if (r != 0) {
		output_drop(&o->out);
		goto out;
	}
	r = output_close(&o->out);
	for (struct out_layer *l = o->layers; l && r == 0; l = l->next) {
		char **dsco;

		if (l->rt == NULL)
			continue;
		dsco = to_csl(&((struct write_conf *)s->step->conf)->dataset_options);
		if (rtree_build_finish(l->rt, o->out.of.tmppath, l->name, l->geomcol, dsco) != 0)
			r = gp_fail_prefix("'%s', layer '%s'", o->out.path, l->name);
		CSLDestroy(dsco);
	}
	for (struct out_layer *l = o->layers; l && r == 0; l = l->next)
		if (l->fgb_empty && rename(l->fgb_empty, fgb_layer_path(o, l)) != 0)
			r = gp_fail(GP_EX_IOERR, "cannot write the empty layer '%s' of '%s': %s",
			            l->name, o->out.path, strerror(errno));
		else if (l->fgb &&
		         fgb_index_finish(l->fgb, fgb_layer_path(o, l), FGB_NODE_SIZE) != 0)
			r = gp_fail_prefix("'%s', layer '%s'", o->out.path, l->name);
out:
	for (struct out_layer *l = o->layers; l; l = l->next) {
		if (l->defn_h)
			handle_release(l->defn_h);
		if (l->srs_h)
			handle_release(l->srs_h);
		l->defn_h = l->srs_h = NULL;
		l->rt = NULL;
		l->fgb = NULL;
		l->fgb_empty = NULL;
	}
	arena_destroy(o->work);
	o->work = NULL;
	return r;
}

/* The COMMIT of a database output, run by outset_commit() with the
 * signals held, so that the exit status tells what the database holds. */
static int db_commit(void *ctx)
{
	struct voutput *o = ctx;
	int r = 0;

	if (o->pq) {
		r = pg_copy_commit(o->pq);
		pg_copy_close(o->pq);
		o->in_txn = false;
		return r;
	}
	CPLErrorReset();
	if (GDALDatasetCommitTransaction(o->dsh) != OGRERR_NONE ||
	    CPLGetLastErrorType() >= CE_Failure) {
		const char *msg = iocheck_gdal_msg();

		r = gp_fail(pg_error_code(msg, GP_EX_IOERR), "cannot commit to '%s': %s",
		            o->out.path, msg);
	}
	o->in_txn = false;
	GDALClose(o->dsh);
	o->dsh = NULL;
	return r;
}

static void db_rollback(struct voutput *o)
{
	if (o->pq) {
		pg_copy_close(o->pq); /* the server rolls back */
		o->in_txn = false;
		return;
	}
	if (!o->in_txn)
		return;
	/* GDAL would commit a transaction still open when it disconnects. */
	CPLPushErrorHandler(CPLQuietErrorHandler);
	GDALDatasetRollbackTransaction(o->dsh);
	CPLPopErrorHandler();
	o->in_txn = false;
}

static void db_abort(void *ctx)
{
	struct voutput *o = ctx;

	db_rollback(o);
	if (o->dsh)
		GDALClose(o->dsh);
	o->dsh = NULL;
}

/* The writer's arena goes: a transaction neither committed nor aborted
 * yet (a run that failed on its way to the commit) is rolled back before
 * the dataset handle closes. */
static void db_cleanup(void *ctx)
{
	struct voutput *o = ctx;

	if (o->hook.set)
		outset_hook_abort(&o->hook);
	else if (o->out.ds || o->pq)
		db_rollback(o);
}

/* A database output: finish its tables (index, swap) when the run
 * succeeded and leave the COMMIT to the run's commit, else roll back. */
static int close_db(struct stage *s, struct voutput *o, bool ok)
{
	struct write_state *st = s->state;
	int r = 0;

	if (ok && o->pq && pg_copy_end(o->pq) != 0)
		r = -1;
	for (struct out_layer *l = o->layers; ok && r == 0 && l; l = l->next)
		if (l->pg && pg_table_finish(l->pg, o->dsh, l->lyr, o->out.path, o->work) != 0)
			r = -1;
	if (ok && r == 0) {
		/* No longer the stage's handle: the commit or the abort
		 * closes it. */
		if (o->out.ds)
			handle_take(o->out.ds);
		o->out.ds = NULL;
		o->hook.commit = db_commit;
		o->hook.abort = db_abort;
		o->hook.ctx = o;
		outset_add_hook(st->eng->outs, &o->hook);
		return 0;
	}
	db_rollback(o);
	if (o->out.ds)
		handle_release(o->out.ds);
	o->out.ds = NULL;
	return r;
}

/* A database target: connected, in its transaction, listed with the
 * files (it has no staged file: its outfile is done from the start).  Its
 * rows go by binary COPY on a connection of gispipe's own when the first
 * stream's fields and the options allow (pg_copy_can), else through GDAL. */
static int open_db(struct stage *s, struct voutput *o, const char *path,
                   const struct stream *stm)
{
	struct write_conf *c = s->step->conf;
	struct write_state *st = s->state;
	GDALDatasetH ds;
	char **lco = to_csl(&c->options);
	const char *why;
	bool binary = pg_copy_can(stm->schema, stm->srs, c->mode, lco, &why);

	o->db = true;
	o->out.path = arena_strdup(s->arena, path);
	if (o->out.path == NULL)
		return -1;
	o->out.of.done = true;
	o->out.of.tmp_fd = -1;
	o->out.next = st->outputs;
	st->outputs = &o->out;
	if (binary) {
		o->pq = pg_copy_connect(s->arena, path, o->out.path);
		if (o->pq == NULL) {
			CSLDestroy(lco);
			return -1;
		}
	}
	CSLDestroy(lco);
	if (binary) {
		o->in_txn = true;
		if (arena_defer(s->arena, db_cleanup, o) != 0) {
			pg_copy_close(o->pq);
			return -1;
		}
		return 0;
	}
	CPLDebug("gispipe", "'%s' is written through GDAL: %s", o->out.path, why);
	CPLErrorReset();
	ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_UPDATE, NULL, NULL, NULL);
	if (ds == NULL) {
		const char *msg = iocheck_gdal_msg();

		return gp_fail(pg_error_code(msg, GP_EX_CANTCREAT), "cannot open '%s' for writing: %s",
		               path, *msg ? msg : "not a database GDAL can write");
	}
	o->out.ds = handle_own(s->arena, &s->acct, HANDLE_GDAL_DATASET, ds, NULL);
	if (o->out.ds == NULL || arena_defer(s->arena, db_cleanup, o) != 0)
		return -1;
	o->dsh = ds;
	CPLErrorReset();
	if (GDALDatasetStartTransaction(ds, FALSE) != OGRERR_NONE)
		return gp_fail(GP_EX_IOERR, "cannot begin a transaction in '%s': %s", path,
		               iocheck_gdal_msg());
	o->in_txn = true;
	return 0;
}

static void with_fast_sqlite(bool on)
{
	/* The output is a private temporary file until it is renamed into
	 * place, so SQLite's journal and syncs buy nothing: a crash leaves
	 * only the temporary. outfile_commit() syncs before the rename. */
	CPLSetThreadLocalConfigOption("OGR_SQLITE_JOURNAL", on ? "OFF" : NULL);
	CPLSetThreadLocalConfigOption("OGR_SQLITE_SYNCHRONOUS", on ? "OFF" : NULL);
}

static int open_output(struct stage *s, const char *path, const struct stream *stm)
{
	struct write_conf *c = s->step->conf;
	struct write_state *st = s->state;
	struct voutput *o;
	GDALDatasetH ds;

	if (output_find(st->outputs, path))
		return gp_fail(GP_EX_CANTCREAT,
		               "output '%s' was finished for an earlier input; to merge inputs "
		               "into it, give them in order, or use {stem} or {index}",
		               path);
	o = arena_calloc(s->arena, 1, sizeof *o);
	if (o != NULL && source_is_db(path)) {
		o->work = arena_create(&s->acct.mem, 0);
		st->cur = o;
		return o->work ? open_db(s, o, path, stm) : -1;
	}
	if (o == NULL ||
	    output_begin(&st->outputs, &o->out, st->eng->outs, s->arena, path, c->mode) != 0)
		return -1;
	o->work = arena_create(&s->acct.mem, 0);
	if (o->work == NULL)
		return -1;
	st->cur = o;
	CPLErrorReset();
	with_fast_sqlite(true);
	if (c->mode == OUTFILE_APPEND && o->out.of.existed) {
		/* SOURCE_DATE_EPOCH: the date an update writes (epoch.h) */
		char **oo = epoch_options(NULL, GDALGetMetadataItem(st->drv, GDAL_DMD_OPENOPTIONLIST,
		                                                     NULL));

		ds = GDALOpenEx(o->out.gdal_path, GDAL_OF_VECTOR | GDAL_OF_UPDATE, NULL,
		                (const char *const *)oo, NULL);
		CSLDestroy(oo);
	} else {
		char **dsco = to_csl(&c->dataset_options);

		ds = GDALCreate(st->drv, o->out.gdal_path, 0, 0, 0, GDT_Unknown, dsco);
		CSLDestroy(dsco);
	}
	with_fast_sqlite(false);
	if (output_own_dataset(&o->out, s->arena, &s->acct, ds) != 0)
		return -1;
	o->dsh = ds;
	return 0;
}

static OGRwkbGeometryType declared_type(struct stage *s, const struct stream *st)
{
	struct write_conf *c = s->step->conf;
	struct write_state *ws = s->state;
	OGRwkbGeometryType t = st->schema->gtype;
	const char *drv = GDALGetDriverShortName(ws->drv);
	OGRwkbGeometryType flat = wkbFlatten(t);
	bool single = flat == wkbPolygon || flat == wkbLineString;
	bool strict = strcmp(drv, "FlatGeobuf") == 0 || strcmp(drv, "Parquet") == 0 ||
	              strcmp(drv, "Arrow") == 0 || strcmp(drv, "PostgreSQL") == 0;

	switch (c->geometry_type) {
	case GT_AS_IS:
		return t;
	case GT_ANY:
		return wkbUnknown;
	case GT_PROMOTE:
		return single ? OGR_GT_GetCollection(t) : t;
	default:
		/* Shapefiles say Polygon and hold MultiPolygons too; formats that
		 * enforce the declared type would refuse those features. */
		if (single && !st->schema->gtype_exact &&
		    (strcmp(st->driver, "ESRI Shapefile") == 0 || strict))
			return OGR_GT_GetCollection(t);
		return t;
	}
}

static const char *crs_name(OGRSpatialReferenceH srs, char *buf, size_t size)
{
	const char *auth = OSRGetAuthorityName(srs, NULL), *code = OSRGetAuthorityCode(srs, NULL);

	if (auth && code)
		snprintf(buf, size, "%s:%s", auth, code);
	else
		snprintf(buf, size, "%s", OSRGetName(srs) ? OSRGetName(srs) : "an unnamed CRS");
	return buf;
}

/* Features go into a layer that already has some (appended to, or made by
 * an earlier input): refuse rather than mix two CRSs in one layer.  A
 * layer or a stream without a CRS takes anything. */
static int check_layer_crs(const struct out_layer *l, const struct voutput *o,
                           const struct stream *stm)
{
	static const char *const same[] = {"IGNORE_DATA_AXIS_TO_SRS_AXIS_MAPPING=YES",
	                                   "CRITERION=EQUIVALENT_EXCEPT_AXIS_ORDER_GEOGCRS", NULL};
	OGRSpatialReferenceH have = l->lyr ? OGR_L_GetSpatialRef(l->lyr) : l->srs;
	char a[256], b[256];

	if (have == NULL || stm->srs == NULL || OSRIsSameEx(stm->srs, have, same))
		return 0;
	return gp_fail(GP_EX_DATAERR,
	               "cannot append '%s' features to layer '%s' of '%s' in '%s'; add a "
	               "reproject step",
	               crs_name(stm->srs, a, sizeof a), l->name, o->out.path,
	               crs_name(have, b, sizeof b));
}

/* Sort memory of a spatial index build: --config GISPIPE_RTREE_SORT_BUDGET
 * bytes, which tests make small to exercise the spill and merge path. */
static size_t sort_budget(void)
{
	size_t budget =
		(size_t)CPLAtoGIntBig(CPLGetConfigOption("GISPIPE_RTREE_SORT_BUDGET", "0"));

	return budget ? budget : RTREE_SORT_BUDGET;
}

/* Binary COPY: the writer's own definition of a new table's fields (it
 * has no OGR layer), its CRS, and the names of its FID and geometry
 * columns, as GDAL would name them (the table is created by
 * pg_copy_stream, once the fields are known). */
static int pg_begin_binary(struct stage *s, struct out_layer *l, const struct stream *stm,
                           char **lco)
{
	bool launder = CPLTestBool(CSLFetchNameValueDef(lco, "LAUNDER", "YES"));
	const char *fid = CSLFetchNameValueDef(lco, "FID", "ogc_fid");
	const char *geom = CSLFetchNameValueDef(lco, "GEOMETRY_NAME", "wkb_geometry");

	l->defn = OGR_FD_Create(l->name);
	if (l->defn == NULL)
		return gp_fail(GP_EX_SOFTWARE, "cannot create a feature definition");
	OGR_FD_Reference(l->defn);
	OGR_FD_SetGeomType(l->defn, wkbNone);
	l->defn_h = handle_own(s->arena, &s->acct, HANDLE_OGR_FEATURE_DEFN, l->defn, NULL);
	if (l->defn_h == NULL)
		return -1;
	if (stm->srs) {
		l->srs = OSRClone(stm->srs);
		l->srs_h = l->srs ? handle_own(s->arena, &s->acct, HANDLE_OGR_SRS, l->srs, NULL) : NULL;
		if (l->srs_h == NULL)
			return -1;
	}
	l->rows.defn = l->defn;
	l->rows.declared = l->declared;
	l->rows.has_geom = l->declared != wkbNone;
	l->pg->gcol = l->rows.has_geom ? (launder ? pg_table_launder(s->arena, geom)
	                                          : arena_strdup(s->arena, geom))
	                               : NULL;
	l->pg->pkey = launder ? pg_table_launder(s->arena, fid) : arena_strdup(s->arena, fid);
	l->geomcol = l->pg->gcol;
	return l->pg->pkey && (!l->rows.has_geom || l->pg->gcol) ? 0 : -1;
}

/* Binary COPY: add field `fd` to the table's definition, named as GDAL
 * names it; its index, or -2 with the error set.  A table already made
 * gets the column when its stream begins (pg_copy_stream). */
static int pg_add_field(struct out_layer *l, const struct field_def *fd, struct arena *a)
{
	const char *name = fd->name;
	char *lname = pg_table_launder(a, name);
	OGRFieldDefnH nf;
	int k;

	if (lname == NULL)
		return -2;
	if ((k = OGR_FD_GetFieldIndex(l->defn, lname)) >= 0)
		return k;
	nf = OGR_Fld_Create(lname, fd->type);
	if (nf == NULL)
		return gp_fail(GP_EX_SOFTWARE, "cannot create a field definition"), -2;
	OGR_Fld_SetSubType(nf, fd->subtype);
	OGR_Fld_SetWidth(nf, fd->width);
	OGR_Fld_SetPrecision(nf, fd->precision);
	OGR_FD_AddFieldDefn(l->defn, nf);
	OGR_Fld_Destroy(nf);
	if (pg_copy_type(a, OGR_FD_GetFieldDefn(l->defn, OGR_FD_GetFieldCount(l->defn) - 1)) ==
	    NULL)
		return gp_fail(GP_EX_CANTCREAT,
		               "cannot add field '%s' to table '%s': its type has no binary COPY "
		               "form here; write with --config GISPIPE_PG_BINARY_COPY NO",
		               name, l->name), -2;
	return OGR_FD_GetFieldCount(l->defn) - 1;
}

/* Binary COPY: a stream begins on table `l`: create the table (`made`),
 * or add the columns this stream brought; then its rows' layout, and the
 * COPY (one per stream: a new column needs the COPY ended). */
static int pg_copy_stream(struct stage *s, struct out_layer *l, struct stream *stm, bool made)
{
	struct write_state *st = s->state;
	struct voutput *o = st->cur;
	int n = OGR_FD_GetFieldCount(l->defn);
	int *src;

	if (pg_copy_end(o->pq) != 0)
		return -1;
	if (made) {
		int srid = pg_copy_srid(o->pq, stm->arena, l->srs);

		if (srid < 0 || pg_table_create(l->pg, l->defn, n, l->pg->pkey, l->pg->gcol,
		                                l->declared, srid, s->arena) != 0)
			return -1;
		l->rows.srid = srid;
	} else {
		for (int k = l->ncols; k < n; k++)
			if (pg_table_add_column(l->pg, OGR_FD_GetFieldDefn(l->defn, k), stm->arena) != 0)
				return -1;
	}
	l->ncols = n;
	src = arena_alloc(stm->arena, (size_t)(n + 1) * sizeof *src, 0);
	if (src == NULL)
		return -1;
	for (int k = 0; k < n; k++)
		src[k] = -1;
	for (int j = 0; j < stm->schema->nsrc; j++)
		if (st->map[j] >= 0)
			src[st->map[j]] = j;
	for (size_t e = 0; e < st->nextra; e++)
		if (st->extra_map[e] >= 0)
			src[st->extra_map[e]] = -2 - (int)e;
	l->rows.src = src;
	l->rows.ncols = n;
	st->promote = OGR_GT_IsSubClassOf(wkbFlatten(l->declared), wkbGeometryCollection) &&
	              wkbFlatten(l->declared) != wkbGeometryCollection;
	l->rows.promote = st->promote;
	return pg_copy_begin(o->pq, pg_table_copy_target(l->pg, l->defn, n, stm->arena), l->name);
}

static int open_layer(struct stage *s, struct stream *stm)
{
	struct write_conf *c = s->step->conf;
	struct write_state *st = s->state;
	struct voutput *o = st->cur;
	const struct schema *sc = stm->schema;
	char *name = output_expand(stm->arena, c->layer ? c->layer : "{layer}", stm,
	                           s->eng->opts->shard_index,
	                           s->eng->opts->shard_count);
	struct out_layer *l;
	OGRFeatureDefnH defn;
	OGRFeatureH f;
	bool made = false;

	if (name == NULL)
		return -1;
	if (c->layer == NULL) {
		/* A single-file shapefile (x.shp) holds one layer, named after the
		 * file: GDAL names a created layer so, and a layer of another name
		 * would become a sibling y.shp (on append, or when inputs merge). */
		const char *ext = output_path_ext(o->out.path);

		if (ext && strcasecmp(ext, "shp") == 0 &&
		    strcmp(GDALGetDriverShortName(st->drv), "ESRI Shapefile") == 0) {
			const char *b = strrchr(o->out.path, '/');

			b = b ? b + 1 : o->out.path;
			name = arena_strndup(stm->arena, b, strlen(b) - 4);
			if (name == NULL)
				return -1;
		}
	}
	for (l = o->layers; l; l = l->next)
		if (strcmp(l->name, name) == 0)
			break;
	if (l == NULL) {
		OGRLayerH lyr = o->dsh ? GDALDatasetGetLayerByName(o->dsh, name) : NULL;

		const char *create_as = name;
		char **lco = epoch_options(to_csl(&c->options),
		                           GDALGetMetadataItem(st->drv, GDAL_DS_LAYER_CREATIONOPTIONLIST,
		                                               NULL));

		l = arena_calloc(s->arena, 1, sizeof *l);
		if (l == NULL || (l->name = arena_strdup(s->arena, name)) == NULL) {
			CSLDestroy(lco);
			return -1;
		}
		if (o->db) {
			/* Columns named as ogr2ogr names them: after the source's
			 * FID and geometry columns, unless the options say. */
			if (stm->fid_column && CSLFetchNameValue(lco, "FID") == NULL)
				lco = CSLSetNameValue(lco, "FID", stm->fid_column);
			if (stm->geom_column && CSLFetchNameValue(lco, "GEOMETRY_NAME") == NULL)
				lco = CSLSetNameValue(lco, "GEOMETRY_NAME", stm->geom_column);
			/* Its lock, its existence, the name it is loaded under. */
			l->pg = pg_table_begin(s->arena, o->dsh, o->pq, o->out.path, l->name, c->mode,
			                       st->eng->opts->lock_wait, st->eng->stop, &lco);
			if (l->pg == NULL) {
				CSLDestroy(lco);
				return -1;
			}
			lyr = l->pg->exists && c->mode == OUTFILE_APPEND
			              ? GDALDatasetGetLayerByName(o->dsh, l->name)
			              : NULL;
			create_as = l->pg->layer;
		}
		if (o->pq) {
			made = true;
			l->declared = declared_type(s, stm);
			if (pg_begin_binary(s, l, stm, lco) != 0) {
				CSLDestroy(lco);
				return -1;
			}
		} else if (lyr == NULL) {
			bool bulk = strcmp(GDALGetDriverShortName(st->drv), "GPKG") == 0 &&
			            CPLTestBool(CSLFetchNameValueDef(lco, "SPATIAL_INDEX", "YES"));

			bool fgb = strcmp(GDALGetDriverShortName(st->drv), "FlatGeobuf") == 0 &&
			           CPLTestBool(CSLFetchNameValueDef(lco, "SPATIAL_INDEX", "YES"));

			/* GeoPackage: the index is built in bulk after the close
			 * (gpkg_rtree.h) instead of row by row by GDAL; FlatGeobuf:
			 * GDAL's writer streams without its index, and ours is built
			 * in bounded memory after the close (fgb_index.h). */
			if (bulk || fgb)
				lco = CSLSetNameValue(lco, "SPATIAL_INDEX", "NO");
			made = true;
			l->declared = declared_type(s, stm);
			CPLErrorReset();
			lyr = GDALDatasetCreateLayer(o->dsh, create_as, stm->srs, l->declared, lco);
			CSLDestroy(lco);
			lco = NULL;
			if (lyr == NULL && o->db)
				return gp_fail(pg_error_code(iocheck_gdal_msg(), GP_EX_CANTCREAT),
				               "cannot create table '%s' in '%s': %s", name, o->out.path,
				               iocheck_gdal_msg());
			if (lyr == NULL)
				return output_fail(&o->out, GP_EX_CANTCREAT,
				                   "cannot create layer '%s' in '%s': %s", name,
				                   o->out.path, iocheck_gdal_msg());
			if (bulk && l->declared != wkbNone) {
				l->geomcol = arena_strdup(s->arena, OGR_L_GetGeometryColumn(lyr));
				l->rt = l->geomcol ? rtree_build_create(o->work, o->out.of.tmpdir,
				                                        sort_budget())
				                   : NULL;
				if (l->rt == NULL)
					return -1;
			}
			if (fgb && l->declared != wkbNone &&
			    (l->fgb = fgb_index_create(o->work, o->out.of.tmpdir,
			                               sort_budget())) == NULL)
				return -1;
		} else {
			l->declared = OGR_L_GetGeomType(lyr);
		}
		CSLDestroy(lco);
		l->lyr = lyr;
		l->next = o->layers;
		o->layers = l;
	}
	st->lyr = l;
	if (!made && check_layer_crs(l, o, stm) != 0)
		return -1;
	/* Fields: by name; missing ones are created where the format can. */
	defn = l->lyr ? OGR_L_GetLayerDefn(l->lyr) : l->defn;
	st->map = arena_alloc(stm->arena, (size_t)(sc->nsrc + 1) * sizeof *st->map, 0);
	if (st->map == NULL)
		return -1;
	for (int i = 0; i < sc->nsrc; i++)
		st->map[i] = -1;
	st->nextra = 0;
	for (size_t i = 0; i < sc->n; i++)
		if (sc->f[i].src < 0 && (size_t)sc->f[i].extra + 1 > st->nextra)
			st->nextra = (size_t)sc->f[i].extra + 1;
	st->extra_map = arena_alloc(stm->arena, (st->nextra + 1) * sizeof *st->extra_map, 0);
	if (st->extra_map == NULL)
		return -1;
	for (size_t i = 0; i < st->nextra; i++)
		st->extra_map[i] = -1;
	for (size_t i = 0; i < sc->n; i++) {
		const struct field_def *fd = &sc->f[i];
		int k = OGR_FD_GetFieldIndex(defn, fd->name);

		if (k < 0 && l->defn) {
			if ((k = pg_add_field(l, fd, stm->arena)) == -2)
				return -1;
		} else if (k < 0) {
			OGRFieldDefnH nf = OGR_Fld_Create(fd->name, fd->type);

			/* A feature must not outlive its definition's shape. */
			if (l->feat) {
				handle_release(l->feat);
				l->feat = NULL;
			}

			OGR_Fld_SetSubType(nf, fd->subtype);
			OGR_Fld_SetWidth(nf, fd->width);
			OGR_Fld_SetPrecision(nf, fd->precision);
			CPLErrorReset();
			if (OGR_L_CreateField(l->lyr, nf, TRUE) != OGRERR_NONE) {
				OGR_Fld_Destroy(nf);
				return output_fail(&o->out, GP_EX_DATAERR,
				                   "cannot add field '%s' to layer '%s' of '%s': %s",
				                   fd->name, l->name, o->out.path, iocheck_gdal_msg());
			}
			OGR_Fld_Destroy(nf);
			defn = OGR_L_GetLayerDefn(l->lyr);
			k = OGR_FD_GetFieldIndex(defn, fd->name);
			if (k < 0) /* the driver renamed it (say, shapefile's 10 chars) */
				k = OGR_FD_GetFieldCount(defn) - 1;
		}
		if (fd->src >= 0)
			st->map[fd->src] = k;
		else
			st->extra_map[fd->extra] = k;
	}
	if (l->defn)
		return pg_copy_stream(s, l, stm, made);
	if (made && l->pg && pg_table_created(l->pg, o->dsh, l->lyr, o->out.path, o->work) != 0)
		return -1;
	if (l->feat == NULL) {
		f = OGR_F_Create(OGR_L_GetLayerDefn(l->lyr));
		if (f == NULL)
			return gp_fail(GP_EX_SOFTWARE, "cannot create an output feature");
		l->feat = handle_own(s->arena, &s->acct, HANDLE_OGR_FEATURE, f, NULL);
		if (l->feat == NULL)
			return -1;
	}
	st->promote = OGR_GT_IsSubClassOf(wkbFlatten(l->declared), wkbGeometryCollection) &&
	              wkbFlatten(l->declared) != wkbGeometryCollection;
	if (!o->in_txn && GDALDatasetTestCapability(o->dsh, ODsCTransactions)) {
		if (GDALDatasetStartTransaction(o->dsh, FALSE) == OGRERR_NONE)
			o->in_txn = true;
	}
	return 0;
}

static int write_begin(struct stage *s, struct stream *stm)
{
	struct write_conf *c = s->step->conf;
	struct write_state *st = s->state;
	char *path = output_expand(stm->arena, c->path, stm, s->eng->opts->shard_index,
	                           s->eng->opts->shard_count);

	if (path == NULL || incr_output(st->eng->incr, stm->dataset_index, path) != 0)
		return -1;
	if (st->cur == NULL || strcmp(st->cur->out.path, path) != 0) {
		if (st->cur && close_output(s, st->cur, true) != 0)
			return -1;
		st->cur = NULL;
		if (open_output(s, path, stm) != 0)
			return -1;
	}
	return open_layer(s, stm);
}

static int write_one(struct stage *s, struct batch *b, size_t i)
{
	struct write_state *st = s->state;
	struct out_layer *l = st->lyr;
	struct feature *ft = &b->f[i];
	OGRFeatureH out;
	OGRGeometryH g = NULL;

	if (st->cur->pq) {
		/* A row the server refuses fails the COPY: the run's failure. */
		if (pg_copy_row(st->cur->pq, &l->rows, pg_table_next_fid(l->pg), ft) != 0)
			return -1;
		st->cur->features++;
		return 0;
	}
	out = l->feat->ptr;
	if (ft->attrs)
		OGR_F_SetFromWithMap(out, ft->attrs->ptr, TRUE, st->map);
	for (size_t e = 0; e < st->nextra; e++) {
		int k = st->extra_map[e];
		const struct fvalue *v = e < ft->nextra ? &ft->extra[e] : NULL;

		if (k < 0)
			continue;
		if (v == NULL || !v->set)
			OGR_F_SetFieldNull(out, k);
		else if (v->type == OFTString)
			OGR_F_SetFieldString(out, k, v->v.s);
		else if (v->type == OFTReal)
			OGR_F_SetFieldDouble(out, k, v->v.d);
		else
			OGR_F_SetFieldInteger64(out, k, v->v.i);
	}
	if (ft->wkb) {
		if (OGR_G_CreateFromWkbEx(ft->wkb, NULL, &g, ft->wkb_len) != OGRERR_NONE) {
			batch_fail(b, i, s->step->label, "geometry does not decode");
			return 0;
		}
		if (st->promote && !OGR_GT_IsSubClassOf(OGR_G_GetGeometryType(g),
		                                        wkbGeometryCollection))
			g = OGR_G_ForceTo(g, l->declared, NULL);
	}
	OGR_F_SetGeometryDirectly(out, g);
	OGR_F_SetFID(out, l->pg ? pg_table_next_fid(l->pg) : OGRNullFID);
	CPLErrorReset();
	if (OGR_L_CreateFeature(l->lyr, out) != OGRERR_NONE) {
		char reason[512];
		const char *msg = iocheck_gdal_msg();

		/* A database refusing a row aborts its transaction: every later
		 * row would fail too, so it is the run's failure. */
		if (st->cur->db)
			return gp_fail(pg_error_code(msg, GP_EX_DATAERR),
			               "cannot write feature %lld to table '%s' of '%s': %s",
			               (long long)ft->fid, l->name, st->cur->out.path,
			               *msg ? msg : "rejected by the driver");
		/* An I/O error is never the feature's fault. */
		if (output_status(&st->cur->out) != 0)
			return -1;
		if (CPLGetLastErrorNo() == CPLE_FileIO)
			return gp_fail(GP_EX_IOERR, "cannot write to '%s': %s", st->cur->out.path, msg);
		snprintf(reason, sizeof reason, "cannot write to '%s': %s", st->cur->out.path,
		         *msg ? msg : "rejected by the driver");
		batch_fail(b, i, s->step->label, reason);
		return 0;
	}
	st->cur->features++;
	if ((l->rt || l->fgb) && ft->wkb) {
		double env[4];
		bool has = wkb_envelope(ft->wkb, ft->wkb_len, env) == 0;

		if (l->rt && has && rtree_build_add(l->rt, OGR_F_GetFID(out), env) != 0)
			return -1;
		if (l->fgb && fgb_index_add(l->fgb, has ? env : NULL) != 0)
			return -1;
	} else if (l->fgb && fgb_index_add(l->fgb, NULL) != 0) {
		return -1;
	}
	return 0;
}

static int write_process(struct stage *s, struct batch *b)
{
	struct write_conf *c = s->step->conf;
	struct write_state *st = s->state;
	struct voutput *o = st->cur;

	for (size_t i = 0; i < b->n; i++) {
		if (b->f[i].state != FEAT_LIVE)
			continue;
		if (write_one(s, b, i) != 0)
			return -1;
		/* A database output is one transaction, whatever its size. */
		if (o->in_txn && !o->db && ++o->txn_count >= (uint64_t)c->transaction_size) {
			o->txn_count = 0;
			CPLErrorReset();
			if (GDALDatasetCommitTransaction(o->dsh) != OGRERR_NONE) {
				o->in_txn = false;
				return output_fail(&o->out, GP_EX_IOERR, "cannot commit to '%s': %s",
				                   o->out.path, iocheck_gdal_msg());
			}
			o->in_txn = GDALDatasetStartTransaction(o->dsh, FALSE) == OGRERR_NONE;
		}
	}
	/* Drivers that buffer, or ignore short writes, fail here at the
	 * latest: after the batch that filled the disk. */
	return output_status(&o->out);
}

static int write_end(struct stage *s, struct stream *stm)
{
	struct write_state *st = s->state;

	(void)stm;
	st->map = NULL; /* lived in the stream arena */
	return 0;
}

static int write_close(struct stage *s, bool ok)
{
	struct write_state *st = s->state;
	int r = 0;

	if (st == NULL)
		return 0;
	for (struct output *o = st->outputs; o; o = o->next)
		if (close_output(s, (struct voutput *)o, ok) != 0 && r == 0) {
			r = -1;
			ok = false;
		}
	if (!ok)
		output_abort_all(st->outputs);
	return r;
}

static void write_explain(struct stage *s, struct engine *e, FILE *out)
{
	struct write_conf *c = s->step->conf;
	struct write_state *st = s->state;

	(void)e;
	output_explain(out, c->path, st ? st->drv : NULL, modes[c->mode], NULL);
}

static void write_explain_memory(struct stage *s, struct engine *e, FILE *out)
{
	struct write_state *st = s->state;

	fprintf(out, "  memory: one reused output feature per layer; SQLite page cache %.1f MiB "
	             "where the format is SQLite-based\n",
	        (double)e->plan.sqlite_cache / (1024.0 * 1024.0));
	if (st && st->drv && strcmp(GDALGetDriverShortName(st->drv), "FlatGeobuf") == 0)
		fprintf(out, "  FlatGeobuf index: %.2f MiB of memory (sort %.2f MiB, I/O %.2f MiB), "
		             "whatever the output's size; temporary disk beside the output: a copy "
		             "of the file and %u bytes a feature (%.1f MiB a million)\n",
		        (double)(sort_budget() + FGB_INDEX_IO_BYTES) / (1024.0 * 1024.0),
		        (double)sort_budget() / (1024.0 * 1024.0),
		        (double)FGB_INDEX_IO_BYTES / (1024.0 * 1024.0),
		        (unsigned)(fgb_index_temp_bytes(1000000) / 1000000),
		        (double)fgb_index_temp_bytes(1000000) / (1024.0 * 1024.0));
	if (st && st->drv && strcmp(GDALGetDriverShortName(st->drv), "PostgreSQL") == 0)
		fprintf(out, "  PostgreSQL: a new table's rows go by binary COPY (where its "
		             "fields allow) through a %u KiB buffer (pg_copy.h)\n",
		        PG_COPY_BUFFER / 1024);
}

static const struct vector_ops write_ops = {
	.begin = write_begin,
	.process = write_process,
	.end = write_end,
};

const struct step_desc step_write = {
	.name = "write",
	.summary = "write features to any OGR format that can create",
	.role = STEP_SINK,
	.opts = write_opts,
	.conf_size = sizeof(struct write_conf),
	.details = "Each output is written in a temporary directory beside its target and\n"
	           "renamed into place when the whole run has succeeded; a failed or\n"
	           "interrupted run leaves every target as it was.  Features are written in\n"
	           "the order they are read (FlatGeobuf's spatial index stores its own).\n"
	           "GeoPackage spatial indexes are built in bulk when an output closes.\n"
	           "FlatGeobuf is written by GDAL without an index, then gispipe sorts the\n"
	           "features along a Hilbert curve in bounded memory (temporary files\n"
	           "beside the output) and writes the standard packed R-tree and the\n"
	           "features in its order: memory does not grow with the output.\n"
	           "geometry_type auto declares multi types where single-part\n"
	           "ones would lose features: Shapefile inputs (which mix Polygon and\n"
	           "MultiPolygon) and formats that enforce the declared type (FlatGeobuf,\n"
	           "Parquet, Arrow, PostgreSQL); single parts are promoted to match.\n"
	           "A PG: connection string writes PostGIS tables (layer: table or\n"
	           "schema.table) in one transaction committed when the run succeeds:\n"
	           "create exits 73 when the table exists; overwrite loads a temporary\n"
	           "table with COPY and swaps it for the old one at the commit (readers see\n"
	           "one or the other); append adds all rows or none.  A new table is loaded\n"
	           "by binary COPY on gispipe's own connection, with the columns and values\n"
	           "GDAL's text COPY gives (GDAL's route for append, a CRS without an EPSG\n"
	           "code, other layer options, OGR_PG_JSON_TYPE or OGR_PG_UUID_TYPE).  A\n"
	           "table is locked\n"
	           "for the run (advisory lock: 75, or --lock-wait); a lost connection is\n"
	           "74, a table the role may not write 73.",
	.check = write_check,
	.state_size = sizeof(struct write_state),
	.open = write_open,
	.close = write_close,
	.explain = write_explain,
	.explain_memory = write_explain_memory,
	.vec = &write_ops,
};

int write_init_rejects(struct step *s, struct pipeline *pl, const char *path, const char *format)
{
	struct write_conf *c = arena_calloc(pl->arena, 1, sizeof *c);
	const char *why = NULL;

	if (c == NULL)
		return -1;
	c->path = path;
	c->format = format;
	c->mode = OUTFILE_OVERWRITE;
	c->transaction_size = 100000;
	c->geometry_type = GT_ANY; /* failed geometries are of any type */
	if (find_driver(path, format, &why) == NULL)
		return gp_fail(GP_EX_CONFIG, "cannot write rejects to '%s': %s", path, why);
	*s = (struct step){.desc = &step_write, .index = -1, .label = "rejects", .conf = c,
	                   .pl = pl};
	return 0;
}
