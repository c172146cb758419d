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

/* One entry: a feature's or a node's box, and a sort key. */
struct rec {
	uint64_t key;
	int64_t id;
	float box[4]; /* minx, maxx, miny, maxy: the rtree's column order */
};

typedef uint64_t (*key_fn)(const struct rec *r, const void *ctx);

/* An external sorter: records buffered in memory; when the buffer fills
 * they go to a raw file; finishing keys and sorts chunks into runs and
 * merges them.  Memory is the buffer, whatever the number of records. */
struct sorter {
	const char *dir;
	const char *name;
	struct rec *buf;
	size_t cap, n;
	int raw_fd;           /* unsorted spill, -1 until needed */
	uint64_t raw_n;
	int run_fd;           /* sorted runs, one after another */
	size_t nruns;
	uint64_t *run_start;  /* record index of each run in run_fd */
	uint64_t *run_len;
	/* merge state */
	struct rec **rbuf;    /* per-run window into buf */
	size_t *rpos, *rfill, rcap;
	uint64_t *rdone;
	size_t mem_pos;       /* in-memory streaming position */
	bool in_memory;
	uint64_t total;
};

struct rtree_build {
	struct arena *a;
	const char *tmpdir;
	size_t budget;
	struct sorter leaves;
	double ext[4];        /* xmin, ymin, xmax, ymax of all boxes */
	uint64_t count;
};

static int io_fail(const char *what, const char *name)
{
	return gp_fail(GP_EX_IOERR, "spatial index: cannot %s %s: %s", what, name, strerror(errno));
}

static int open_spill(struct sorter *s, const char *suffix)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof path, "%s/.%s-%s-XXXXXX", s->dir, s->name, suffix);
	fd = mkstemp(path);
	if (fd < 0)
		return io_fail("create", path);
	unlink(path); /* gone with the descriptor, whatever happens */
	return fd;
}

static int write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len > 0) {
		ssize_t w = write(fd, c, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		len -= (size_t)w;
	}
	return 0;
}

static ssize_t read_at(int fd, void *p, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = pread(fd, (char *)p + got, len - got, off + (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -1 : (ssize_t)got;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int sorter_init(struct sorter *s, struct arena *a, const char *dir, const char *name,
                       size_t budget)
{
	*s = (struct sorter){.dir = dir, .name = name, .raw_fd = -1, .run_fd = -1};
	s->cap = budget / sizeof(struct rec);
	if (s->cap < 1024)
		s->cap = 1024;
	s->buf = arena_alloc(a, s->cap * sizeof *s->buf, 0);
	if (s->buf == NULL)
		return -1;
	/* Resident now rather than as records fill it: the budget is planned
	 * for, and a run's memory should not look like it grows with the
	 * first records of an output. */
	memset(s->buf, 0, s->cap * sizeof *s->buf);
	return 0;
}

static void sorter_close(struct sorter *s)
{
	if (s->raw_fd >= 0)
		close(s->raw_fd);
	if (s->run_fd >= 0)
		close(s->run_fd);
	s->raw_fd = s->run_fd = -1;
}

static int sorter_add(struct sorter *s, const struct rec *r)
{
	if (s->n == s->cap) {
		if (s->raw_fd < 0 && (s->raw_fd = open_spill(s, "raw")) < 0)
			return -1;
		if (write_all(s->raw_fd, s->buf, s->n * sizeof *s->buf) != 0)
			return io_fail("write", "a spill file");
		s->raw_n += s->n;
		s->n = 0;
	}
	s->buf[s->n++] = *r;
	s->total++;
	return 0;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void key_and_sort(struct rec *r, size_t n, key_fn key, const void *ctx)
{
	for (size_t i = 0; i < n; i++)
		r[i].key = key(&r[i], ctx);
	qsort(r, n, sizeof *r, cmp_rec);
}

/* Turn what was added into sorted runs, ready to stream. */
static int sorter_finish(struct sorter *s, struct arena *a, key_fn key, const void *ctx)
{
	if (s->raw_fd < 0) {
		key_and_sort(s->buf, s->n, key, ctx);
		s->in_memory = true;
		s->mem_pos = 0;
		return 0;
	}
	if (s->n && write_all(s->raw_fd, s->buf, s->n * sizeof *s->buf) != 0)
		return io_fail("write", "a spill file");
	s->raw_n += s->n;
	s->n = 0;
	if ((s->run_fd = open_spill(s, "runs")) < 0)
		return -1;
	s->nruns = (size_t)((s->raw_n + s->cap - 1) / s->cap);
	s->run_start = arena_calloc(a, s->nruns, sizeof *s->run_start);
	s->run_len = arena_calloc(a, s->nruns, sizeof *s->run_len);
	s->rbuf = arena_calloc(a, s->nruns, sizeof *s->rbuf);
	s->rpos = arena_calloc(a, s->nruns, sizeof *s->rpos);
	s->rfill = arena_calloc(a, s->nruns, sizeof *s->rfill);
	s->rdone = arena_calloc(a, s->nruns, sizeof *s->rdone);
	if (!s->run_start || !s->run_len || !s->rbuf || !s->rpos || !s->rfill || !s->rdone)
		return -1;
	for (size_t i = 0; i < s->nruns; i++) {
		uint64_t start = (uint64_t)i * s->cap;
		size_t len = (size_t)(s->raw_n - start < s->cap ? s->raw_n - start : s->cap);
		ssize_t got = read_at(s->raw_fd, s->buf, len * sizeof *s->buf,
		                      (off_t)(start * sizeof *s->buf));

		if (got != (ssize_t)(len * sizeof *s->buf))
			return io_fail("read", "a spill file");
		key_and_sort(s->buf, len, key, ctx);
		if (write_all(s->run_fd, s->buf, len * sizeof *s->buf) != 0)
			return io_fail("write", "a spill file");
		s->run_start[i] = start;
		s->run_len[i] = len;
	}
	close(s->raw_fd);
	s->raw_fd = -1;
	/* Split the buffer into one window per run for the merge. */
	s->rcap = s->cap / s->nruns;
	if (s->rcap == 0)
		return gp_fail(GP_EX_TEMPFAIL, "spatial index: too many runs for the sort buffer");
	for (size_t i = 0; i < s->nruns; i++)
		s->rbuf[i] = s->buf + i * s->rcap;
	return 0;
}

static int refill(struct sorter *s, size_t i)
{
	uint64_t left = s->run_len[i] - s->rdone[i];
	size_t len = (size_t)(left < s->rcap ? left : s->rcap);
	ssize_t got;

	s->rpos[i] = 0;
	s->rfill[i] = len;
	if (len == 0)
		return 0;
	got = read_at(s->run_fd, s->rbuf[i], len * sizeof(struct rec),
	              (off_t)((s->run_start[i] + s->rdone[i]) * sizeof(struct rec)));
	if (got != (ssize_t)(len * sizeof(struct rec)))
		return io_fail("read", "a spill file");
	s->rdone[i] += len;
	return 0;
}

/* Next record in sorted order: 1, 0 at the end, -1 on error.  The merge is
 * a linear scan of the run heads: runs are few (records / buffer). */
static int sorter_next(struct sorter *s, struct rec *out)
{
	size_t best = SIZE_MAX;

	if (s->in_memory) {
		if (s->mem_pos >= s->n)
			return 0;
		*out = s->buf[s->mem_pos++];
		return 1;
	}
	for (size_t i = 0; i < s->nruns; i++) {
		if (s->rpos[i] == s->rfill[i]) {
			if (s->rdone[i] == s->run_len[i] && s->rfill[i] != 0) {
				continue;
			}
			if (s->rdone[i] < s->run_len[i] && refill(s, i) != 0)
				return -1;
			if (s->rfill[i] == 0)
				continue;
		}
		if (s->rpos[i] == s->rfill[i])
			continue;
		if (best == SIZE_MAX ||
		    cmp_rec(&s->rbuf[i][s->rpos[i]], &s->rbuf[best][s->rpos[best]]) < 0)
			best = i;
	}
	if (best == SIZE_MAX)
		return 0;
	*out = s->rbuf[best][s->rpos[best]++];
	return 1;
}

static void build_cleanup(void *ctx)
{
	struct rtree_build *b = ctx;

	sorter_close(&b->leaves);
}

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
	if (sorter_init(&b->leaves, a, tmpdir, "rtree", budget) != 0)
		return NULL;
	/* A build that never finishes (the run failed) closes its spill. */
	if (arena_defer(a, build_cleanup, b) != 0)
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
	return sorter_add(&b->leaves, &r);
}

uint64_t rtree_build_count(const struct rtree_build *b)
{
	return b->count;
}

/* Position along a Hilbert curve of order 16 of the box's centre, on a
 * grid over the extent of all boxes. */
static uint64_t hilbert_key(const struct rec *r, const void *ctx)
{
	const double *ext = ctx;
	double w = ext[2] - ext[0], h = ext[3] - ext[1];
	double cx = ((double)r->box[0] + r->box[1]) / 2, cy = ((double)r->box[2] + r->box[3]) / 2;
	uint32_t x = w > 0 ? (uint32_t)((cx - ext[0]) / w * 65535.0) : 0;
	uint32_t y = h > 0 ? (uint32_t)((cy - ext[1]) / h * 65535.0) : 0;
	uint64_t d = 0;

	if (x > 65535)
		x = 65535;
	if (y > 65535)
		y = 65535;
	for (uint32_t s = 1u << 15; s > 0; s >>= 1) {
		uint32_t rx = (x & s) != 0, ry = (y & s) != 0;

		d += (uint64_t)s * s * ((3 * rx) ^ ry);
		if (ry == 0) {
			if (rx == 1) {
				x = 65535 - x;
				y = 65535 - y;
			}
			uint32_t t = x;

			x = y;
			y = t;
		}
	}
	return d;
}

static uint64_t id_key(const struct rec *r, const void *ctx)
{
	(void)ctx;
	return (uint64_t)r->id ^ (1ull << 63); /* signed order */
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
	struct sorter rowids;   /* (fid, leaf node) pairs, sorted by fid at the end */
};

static int sql_fail(sqlite3 *db, const char *what)
{
	return gp_fail(GP_EX_IOERR, "spatial index: %s: %s", what, sqlite3_errmsg(db));
}

/* Pack one level: `n` records from `next` become nodes; their boxes go to
 * `up` for the level above.  Returns the number of nodes written. */
static int64_t pack_level(struct packer *p, int (*next)(void *, struct rec *), void *src,
                          uint64_t n, int level, struct sorter *up)
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
				if (sorter_add(&p->rowids, &pair) != 0)
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
		if (!root && sorter_add(up, &box) != 0)
			return -1;
	}
	return (int64_t)nodes;
}

static int next_from_sorter(void *ctx, struct rec *out)
{
	return sorter_next(ctx, out);
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
	struct sorter levels[2];
	char *sql = NULL, *name = NULL;
	sqlite3_stmt *st = NULL;
	uint64_t n = b->count;
	int level = 0, r = -1, cur = 0;

	memset(levels, 0, sizeof levels);
	levels[0].raw_fd = levels[0].run_fd = levels[1].raw_fd = levels[1].run_fd = -1;
	if (sorter_finish(&b->leaves, b->a, hilbert_key, b->ext) != 0)
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
	if (sorter_init(&p.rowids, b->a, b->tmpdir, "rowid", b->budget / 2) != 0 ||
	    sorter_init(&levels[0], b->a, b->tmpdir, "level", b->budget / 4) != 0 ||
	    sorter_init(&levels[1], b->a, b->tmpdir, "level", b->budget / 4) != 0)
		goto out;
	{
		/* Level 0 from the sorted leaves, then up until one node. */
		int64_t nodes = pack_level(&p, next_from_sorter, &b->leaves, n, 0, &levels[0]);

		while (nodes > 1) {
			struct sorter *src = &levels[cur], *up = &levels[cur ^ 1];

			if (sorter_finish(src, b->a, id_key, NULL) != 0)
				goto out;
			sorter_close(up);
			up->n = up->raw_n = up->total = 0;
			up->in_memory = false;
			up->nruns = 0;
			level++;
			nodes = pack_level(&p, next_from_sorter, src, (uint64_t)nodes, level, up);
			sorter_close(src);
			src->n = src->raw_n = src->total = 0;
			src->in_memory = false;
			src->nruns = 0;
			cur ^= 1;
		}
		if (nodes < 0)
			goto out;
	}
	/* The rowid table, in rowid order so that its B-tree is appended to. */
	if (sorter_finish(&p.rowids, b->a, id_key, NULL) != 0)
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
		int got = sorter_next(&p.rowids, &pair);

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
	sorter_close(&b->leaves);
	sorter_close(&p.rowids);
	sorter_close(&levels[0]);
	sorter_close(&levels[1]);
	return r;
}
