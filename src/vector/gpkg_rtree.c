/* gpkg_rtree.c - bulk-loaded GeoPackage R-tree (see gpkg_rtree.h). */
#include "vector/gpkg_rtree.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cpl_string.h>
#include <gdal.h>
#include <ogr_api.h>
#include <sqlite3.h>

#include "core/arena.h"
#include "core/error.h"
#include "extsort.h"

/* One entry: a feature's or a node's box, and a sort key. */
struct rec {
	uint64_t key;
	int64_t id;
	float box[4]; /* minx, maxx, miny, maxy: the rtree's column order */
};

struct rtree_build {
	struct arena *a;
	const char *tmpdir;
	size_t budget;
	struct xsort leaves;
	double ext[4];        /* xmin, ymin, xmax, ymax of all boxes */
	uint64_t count;
};

struct rtree_build *rtree_build_create(struct arena *a, const char *tmpdir, size_t budget)
{
	struct rtree_build *b = arena_calloc(a, 1, sizeof *b);

	if (b == NULL)
		return NULL;
	b->a = a;
	b->tmpdir = tmpdir;
	b->budget = budget;
	b->ext[0] = b->ext[1] = INFINITY;
	b->ext[2] = b->ext[3] = -INFINITY;
	if (xsort_init(&b->leaves, a, tmpdir, "rtree", sizeof(struct rec), budget) != 0)
		return NULL;
	/* A build that never finishes (the run failed) closes its spill. */
	if (xsort_defer_close(&b->leaves, a) != 0)
		return NULL;
	return b;
}

/* The rtree keeps float32 boxes that contain the double ones. */
static float round_down(double d)
{
	float f = (float)d;

	if ((double)f > d)
		f = nextafterf(f, -INFINITY);
	return f;
}

static float round_up(double d)
{
	float f = (float)d;

	if ((double)f < d)
		f = nextafterf(f, INFINITY);
	return f;
}

int rtree_build_add(struct rtree_build *b, int64_t fid, const double env[4])
{
	struct rec r = {.id = fid};

	r.box[0] = round_down(env[0]);
	r.box[1] = round_up(env[2]);
	r.box[2] = round_down(env[1]);
	r.box[3] = round_up(env[3]);
	if (env[0] < b->ext[0])
		b->ext[0] = env[0];
	if (env[1] < b->ext[1])
		b->ext[1] = env[1];
	if (env[2] > b->ext[2])
		b->ext[2] = env[2];
	if (env[3] > b->ext[3])
		b->ext[3] = env[3];
	b->count++;
	return xsort_add(&b->leaves, &r);
}

uint64_t rtree_build_count(const struct rtree_build *b)
{
	return b->count;
}

/* Position along the Hilbert curve of the box's centre, on a grid over
 * the extent of all boxes. */
static int hilbert_key(void *rec, void *ctx)
{
	struct rec *r = rec;

	r->key = xsort_hilbert(((double)r->box[0] + r->box[1]) / 2,
	                       ((double)r->box[2] + r->box[3]) / 2, ctx);
	return 0;
}

static int id_key(void *rec, void *ctx)
{
	struct rec *r = rec;

	(void)ctx;
	r->key = (uint64_t)r->id ^ (1ull << 63); /* signed order */
	return 0;
}

static void put_be16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static void put_bef(unsigned char *p, float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	p[0] = (unsigned char)(u >> 24);
	p[1] = (unsigned char)(u >> 16);
	p[2] = (unsigned char)(u >> 8);
	p[3] = (unsigned char)u;
}

struct packer {
	sqlite3 *db;
	sqlite3_stmt *node, *parent;
	int node_size;
	int max_cells;
	int64_t next_nodeno;
	unsigned char *blob;
	struct xsort rowids;   /* (fid, leaf node) pairs, sorted by fid at the end */
};

static int sql_fail(sqlite3 *db, const char *what)
{
	return gp_fail(GP_EX_IOERR, "spatial index: %s: %s", what, sqlite3_errmsg(db));
}

/* Pack one level: `n` records from `next` become nodes; their boxes go to
 * `up` for the level above.  Returns the number of nodes written. */
static int64_t pack_level(struct packer *p, int (*next)(void *, struct rec *), void *src,
                          uint64_t n, int level, struct xsort *up)
{
	uint64_t nodes = (n + (uint64_t)p->max_cells - 1) / (uint64_t)p->max_cells;
	bool root = nodes <= 1;

	if (nodes == 0)
		nodes = 1;
	for (uint64_t k = 0; k < nodes; k++) {
		uint64_t cnt = n / nodes + (k < n % nodes ? 1 : 0);
		int64_t nodeno = root ? 1 : p->next_nodeno++;
		struct rec box = {.id = nodeno,
		                  .box = {INFINITY, -INFINITY, INFINITY, -INFINITY}};

		memset(p->blob, 0, (size_t)p->node_size);
		if (root)
			put_be16(p->blob, (unsigned)level);
		put_be16(p->blob + 2, (unsigned)cnt);
		for (uint64_t c = 0; c < cnt; c++) {
			unsigned char *cell = p->blob + 4 + c * 24;
			struct rec r;
			int got = next(src, &r);

			if (got <= 0)
				return got < 0 ? -1 : gp_fail(GP_EX_SOFTWARE, "spatial index: short level");
			put_be64(cell, (uint64_t)r.id);
			for (int i = 0; i < 4; i++)
				put_bef(cell + 8 + 4 * i, r.box[i]);
			box.box[0] = fminf(box.box[0], r.box[0]);
			box.box[1] = fmaxf(box.box[1], r.box[1]);
			box.box[2] = fminf(box.box[2], r.box[2]);
			box.box[3] = fmaxf(box.box[3], r.box[3]);
			if (level == 0) {
				struct rec pair = {.id = r.id, .box = {0}};

				memcpy(&pair.box, &nodeno, sizeof nodeno);
				if (xsort_add(&p->rowids, &pair) != 0)
					return -1;
			} else {
				sqlite3_bind_int64(p->parent, 1, r.id);
				sqlite3_bind_int64(p->parent, 2, nodeno);
				if (sqlite3_step(p->parent) != SQLITE_DONE)
					return sql_fail(p->db, "writing a parent");
				sqlite3_reset(p->parent);
			}
		}
		sqlite3_bind_int64(p->node, 1, nodeno);
		sqlite3_bind_blob(p->node, 2, p->blob, p->node_size, SQLITE_STATIC);
		if (sqlite3_step(p->node) != SQLITE_DONE)
			return sql_fail(p->db, "writing a node");
		sqlite3_reset(p->node);
		if (!root && xsort_add(up, &box) != 0)
			return -1;
	}
	return (int64_t)nodes;
}

static int next_from_sorter(void *ctx, struct rec *out)
{
	return xsort_next(ctx, out);
}

/* What GDAL itself writes for a spatial index on this table (triggers,
 * extension row), taken from a template it makes in the temporary
 * directory, so the result does not depend on which GDAL wrote it. */
static int copy_template(sqlite3 *db, const char *dir, const char *table, const char *geomcol,
                         char **dsco)
{
	char path[4096];
	GDALDriverH drv = GDALGetDriverByName("GPKG");
	GDALDatasetH ds;
	OGRLayerH lyr;
	char **lco = NULL;
	sqlite3_stmt *st = NULL;
	char *attach;
	int r = 0;

	snprintf(path, sizeof path, "%s/.rtree-template.gpkg", dir);
	ds = drv ? GDALCreate(drv, path, 0, 0, 0, GDT_Unknown, dsco) : NULL;
	if (ds == NULL)
		return gp_fail(GP_EX_IOERR, "spatial index: cannot create a template");
	lco = CSLSetNameValue(lco, "GEOMETRY_NAME", geomcol);
	lco = CSLSetNameValue(lco, "SPATIAL_INDEX", "YES");
	lyr = GDALDatasetCreateLayer(ds, table, NULL, wkbUnknown, lco);
	CSLDestroy(lco);
	GDALClose(ds);
	if (lyr == NULL) {
		unlink(path);
		return gp_fail(GP_EX_IOERR, "spatial index: cannot create a template layer");
	}
	attach = sqlite3_mprintf("ATTACH DATABASE %Q AS tpl", path);
	if (sqlite3_exec(db, attach, NULL, NULL, NULL) != SQLITE_OK)
		r = sql_fail(db, "reading the template");
	sqlite3_free(attach);
	if (r == 0 &&
	    sqlite3_prepare_v2(db,
	                       "SELECT sql FROM tpl.sqlite_master WHERE type = 'trigger' AND "
	                       "lower(tbl_name) = lower(?1) AND name LIKE 'rtree%'",
	                       -1, &st, NULL) != SQLITE_OK)
		r = sql_fail(db, "reading the template");
	if (r == 0) {
		int rc;

		sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && r == 0)
			if (sqlite3_exec(db, (const char *)sqlite3_column_text(st, 0), NULL, NULL,
			                 NULL) != SQLITE_OK)
				r = sql_fail(db, "creating a trigger");
		if (r == 0 && rc != SQLITE_DONE)
			r = sql_fail(db, "reading the template");
	}
	sqlite3_finalize(st);
	if (r == 0) {
		/* A file made without any extension may lack the table. */
		const char *mk = "SELECT sql FROM tpl.sqlite_master WHERE name = 'gpkg_extensions' "
		                 "AND NOT EXISTS (SELECT 1 FROM main.sqlite_master WHERE name = "
		                 "'gpkg_extensions')";

		if (sqlite3_prepare_v2(db, mk, -1, &st, NULL) != SQLITE_OK)
			r = sql_fail(db, "reading the template");
		else if (sqlite3_step(st) == SQLITE_ROW &&
		         sqlite3_exec(db, (const char *)sqlite3_column_text(st, 0), NULL, NULL,
		                      NULL) != SQLITE_OK)
			r = sql_fail(db, "creating gpkg_extensions");
		sqlite3_finalize(st);
		st = NULL;
	}
	if (r == 0) {
		char *ins = sqlite3_mprintf(
			"INSERT INTO main.gpkg_extensions SELECT * FROM tpl.gpkg_extensions "
			"WHERE lower(table_name) = lower(%Q) AND extension_name = 'gpkg_rtree_index'",
			table);

		if (sqlite3_exec(db, ins, NULL, NULL, NULL) != SQLITE_OK)
			r = sql_fail(db, "registering the extension");
		sqlite3_free(ins);
	}
	sqlite3_exec(db, "DETACH DATABASE tpl", NULL, NULL, NULL);
	unlink(path);
	return r;
}

int rtree_build_finish(struct rtree_build *b, const char *path, const char *table,
                       const char *geomcol, char **dsco)
{
	/* The rowid sorter is set up late: until then there is nothing to close. */
	struct packer p = {.next_nodeno = 2, .rowids = {.raw_fd = -1, .run_fd = -1}};
	struct xsort levels[2];
	char *sql = NULL, *name = NULL;
	sqlite3_stmt *st = NULL;
	uint64_t n = b->count;
	int level = 0, r = -1, cur = 0;

	memset(levels, 0, sizeof levels);
	levels[0].raw_fd = levels[0].run_fd = levels[1].raw_fd = levels[1].run_fd = -1;
	if (xsort_finish(&b->leaves, b->a, hilbert_key, b->ext) != 0)
		goto out;
	if (sqlite3_open_v2(path, &p.db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		sql_fail(p.db, "opening the output");
		goto out;
	}
	sqlite3_exec(p.db, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF", NULL, NULL, NULL);
	name = sqlite3_mprintf("rtree_%s_%s", table, geomcol);
	sql = sqlite3_mprintf("BEGIN; CREATE VIRTUAL TABLE \"%w\" USING rtree(id, minx, maxx, miny, "
	                      "maxy)",
	                      name);
	if (sqlite3_exec(p.db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		sql_fail(p.db, "creating the index");
		goto out;
	}
	sqlite3_free(sql);
	/* The module sized its empty root for this page size: every node we
	 * write must have that size. */
	sql = sqlite3_mprintf("SELECT length(data) FROM \"%w_node\" WHERE nodeno = 1", name);
	if (sqlite3_prepare_v2(p.db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		p.node_size = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	sqlite3_free(sql);
	sql = sqlite3_mprintf("DELETE FROM \"%w_node\"", name);
	if (sqlite3_exec(p.db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		sql_fail(p.db, "creating the index");
		goto out;
	}
	if (p.node_size < 4 + 24 * 3) {
		gp_fail(GP_EX_IOERR, "spatial index: cannot learn the rtree node size");
		goto out;
	}
	p.max_cells = (p.node_size - 4) / 24;
	p.blob = arena_alloc(b->a, (size_t)p.node_size, 0);
	if (p.blob == NULL)
		goto out;
	sqlite3_free(sql);
	sql = sqlite3_mprintf("INSERT INTO \"%w_node\" (nodeno, data) VALUES (?, ?)", name);
	if (sqlite3_prepare_v2(p.db, sql, -1, &p.node, NULL) != SQLITE_OK) {
		sql_fail(p.db, "preparing");
		goto out;
	}
	sqlite3_free(sql);
	sql = sqlite3_mprintf("INSERT INTO \"%w_parent\" (nodeno, parentnode) VALUES (?, ?)", name);
	if (sqlite3_prepare_v2(p.db, sql, -1, &p.parent, NULL) != SQLITE_OK) {
		sql_fail(p.db, "preparing");
		goto out;
	}
	if (xsort_init(&p.rowids, b->a, b->tmpdir, "rowid", sizeof(struct rec), b->budget / 2) != 0 ||
	    xsort_init(&levels[0], b->a, b->tmpdir, "level", sizeof(struct rec), b->budget / 4) != 0 ||
	    xsort_init(&levels[1], b->a, b->tmpdir, "level", sizeof(struct rec), b->budget / 4) != 0)
		goto out;
	{
		/* Level 0 from the sorted leaves, then up until one node. */
		int64_t nodes = pack_level(&p, next_from_sorter, &b->leaves, n, 0, &levels[0]);

		while (nodes > 1) {
			struct xsort *src = &levels[cur], *up = &levels[cur ^ 1];

			if (xsort_finish(src, b->a, id_key, NULL) != 0)
				goto out;
			xsort_reset(up);
			level++;
			nodes = pack_level(&p, next_from_sorter, src, (uint64_t)nodes, level, up);
			xsort_reset(src);
			cur ^= 1;
		}
		if (nodes < 0)
			goto out;
	}
	/* The rowid table, in rowid order so that its B-tree is appended to. */
	if (xsort_finish(&p.rowids, b->a, id_key, NULL) != 0)
		goto out;
	sqlite3_free(sql);
	sql = sqlite3_mprintf("INSERT INTO \"%w_rowid\" (rowid, nodeno) VALUES (?, ?)", name);
	if (sqlite3_prepare_v2(p.db, sql, -1, &st, NULL) != SQLITE_OK) {
		sql_fail(p.db, "preparing");
		goto out;
	}
	for (;;) {
		struct rec pair;
		int64_t nodeno;
		int got = xsort_next(&p.rowids, &pair);

		if (got < 0)
			goto out;
		if (got == 0)
			break;
		memcpy(&nodeno, &pair.box, sizeof nodeno);
		sqlite3_bind_int64(st, 1, pair.id);
		sqlite3_bind_int64(st, 2, nodeno);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sql_fail(p.db, "writing a rowid");
			goto out;
		}
		sqlite3_reset(st);
	}
	if (copy_template(p.db, b->tmpdir, table, geomcol, dsco) != 0)
		goto out;
	if (sqlite3_exec(p.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sql_fail(p.db, "committing the index");
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(p.node);
	sqlite3_finalize(p.parent);
	if (p.db)
		sqlite3_close(p.db);
	sqlite3_free(sql);
	sqlite3_free(name);
	xsort_close(&b->leaves);
	xsort_close(&p.rowids);
	xsort_close(&levels[0]);
	xsort_close(&levels[1]);
	return r;
}
