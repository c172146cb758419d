/* vector/pg_table.c - a PostgreSQL table as a target of the write step
 * (pg_table.h): its lock, its temporary name, its keys built after the
 * load and the swap. */
#include "pg_table.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <ogr_api.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/iocheck.h"
#include "pg_copy.h"
#include "source.h"

/* The first key of gispipe's advisory locks ("gisp"); the second is a
 * hash of the table's schema-qualified name. */
#define LOCK_CLASS 1734963056

/* `s` between `q`s, a `q` inside doubled: "identifier" or 'literal'. */
static char *quoted(struct arena *a, const char *s, char q)
{
	size_t n = strlen(s), k = 0;
	char *out = arena_alloc(a, 2 * n + 3, 1);

	if (out == NULL)
		return NULL;
	out[k++] = q;
	for (; *s; s++) {
		if (*s == q)
			out[k++] = q;
		out[k++] = *s;
	}
	out[k++] = q;
	out[k] = '\0';
	return out;
}

/* Run `sql` on the table's connection, gispipe's own or GDAL's; 0, or -1
 * with the server's message in the error. */
static int exec(const struct pg_table *t, GDALDatasetH ds, const char *sql, const char *what,
                const char *shown)
{
	OGRLayerH r;

	if (t->pq)
		return pg_copy_exec(t->pq, sql, what);
	CPLErrorReset();
	r = GDALDatasetExecuteSQL(ds, sql, NULL, NULL);
	if (r)
		GDALDatasetReleaseResultSet(ds, r);
	if (CPLGetLastErrorType() >= CE_Failure) {
		const char *msg = iocheck_gdal_msg();

		return gp_fail(pg_error_code(msg, GP_EX_CANTCREAT), "cannot %s in '%s': %s", what,
		               shown, msg);
	}
	return 0;
}

/* The first column of the first row of `sql` as an integer; -1 with the
 * error set when the query fails. */
static int query_int(const struct pg_table *t, GDALDatasetH ds, const char *sql, long long *v,
                     const char *what, const char *shown)
{
	OGRLayerH r;
	OGRFeatureH f = NULL;

	if (t->pq)
		return pg_copy_query_int(t->pq, sql, v, what);
	CPLErrorReset();
	r = GDALDatasetExecuteSQL(ds, sql, NULL, NULL);
	if (r)
		f = OGR_L_GetNextFeature(r);
	*v = f ? OGR_F_GetFieldAsInteger64(f, 0) : 0;
	if (f)
		OGR_F_Destroy(f);
	if (r)
		GDALDatasetReleaseResultSet(ds, r);
	if (r == NULL || CPLGetLastErrorType() >= CE_Failure) {
		const char *msg = iocheck_gdal_msg();

		return gp_fail(pg_error_code(msg, GP_EX_CANTCREAT), "cannot %s in '%s': %s", what,
		               shown, *msg ? msg : "the query failed");
	}
	return 0;
}

/* The table name GDAL creates for `name` (OGRPGCommonLaunderName): lower
 * case, with ' - # made _ ; ogr2ogr's default, so the swap ends on it. */
static char *launder(struct arena *a, const char *name)
{
	char *s = arena_strdup(a, name);

	for (char *p = s; p && *p; p++) {
		*p = (char)tolower((unsigned char)*p);
		if (*p == '\'' || *p == '-' || *p == '#')
			*p = '_';
	}
	return s;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Take the table's advisory lock for the transaction, waiting up to
 * `lock_wait` seconds; 75 naming the server process that holds it. */
static int lock_table(struct arena *a, const struct pg_table *t, GDALDatasetH ds, const char *key, const char *shown,
                      const char *name, int lock_wait, volatile sig_atomic_t *stop)
{
	char *sql = arena_printf(a, "SELECT pg_try_advisory_xact_lock(%d, hashtext(%s))::int",
	                         LOCK_CLASS, key);
	double deadline = now() + lock_wait;
	long long got = 0, pid = 0;

	if (sql == NULL)
		return -1;
	for (;;) {
		if (query_int(t, ds, sql, &got, "lock a table", shown) != 0)
			return -1;
		if (got)
			return 0;
		if (stop && *stop)
			return gp_fail(128 + *stop, "interrupted waiting for table '%s'", name);
		if (now() >= deadline)
			break;
		usleep(100000);
	}
	sql = arena_printf(a,
	                   "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
	                   "classid = %d AND objid = hashtext(%s)::oid AND objsubid = 2",
	                   LOCK_CLASS, key);
	if (sql == NULL || query_int(t, ds, sql, &pid, "find a lock's holder", shown) != 0)
		gp_err_clear();
	return gp_fail(GP_EX_TEMPFAIL,
	               "table '%s' in '%s' is being written by another run (server process %lld); "
	               "retry later or use --lock-wait",
	               name, shown, pid);
}

struct pg_table *pg_table_begin(struct arena *a, GDALDatasetH ds, struct pg_copy *pq,
                                const char *shown, const char *name, enum outfile_mode mode,
                                int lock_wait, volatile sig_atomic_t *stop, char ***lco)
{
	static unsigned serial;
	struct pg_table *t = arena_calloc(a, 1, sizeof *t);
	const char *dot = strchr(name, '.');
	const char *nsp, *key, *sql;
	bool launder_names = CPLTestBool(CSLFetchNameValueDef(*lco, "LAUNDER", "YES"));
	char *schema_name = NULL;
	long long exists;

	if (t == NULL)
		return NULL;
	t->name = name;
	t->pq = pq;
	if (dot) {
		schema_name = arena_strndup(a, name, (size_t)(dot - name));
		if (schema_name == NULL)
			return NULL;
	}
	t->table = launder_names ? launder(a, dot ? dot + 1 : name)
	                         : arena_strdup(a, dot ? dot + 1 : name);
	if (t->table == NULL)
		return NULL;
	/* The schema as SQL: the one named, else the current one, as GDAL. */
	nsp = schema_name ? quoted(a, schema_name, '\'') : "current_schema()";
	t->schema = schema_name ? arena_printf(a, "%s.", quoted(a, schema_name, '"')) : "";
	key = arena_printf(a, "%s || '.' || %s", nsp, quoted(a, t->table, '\''));
	if (nsp == NULL || t->schema == NULL || key == NULL)
		return NULL;
	if (lock_table(a, t, ds, key, shown, name, lock_wait, stop) != 0)
		return NULL;
	sql = arena_printf(a,
	                   "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
	                   "c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
	                   nsp, quoted(a, t->table, '\''));
	if (sql == NULL || query_int(t, ds, sql, &exists, "look for a table", shown) != 0)
		return NULL;
	t->exists = exists > 0;
	if (t->exists && mode == OUTFILE_CREATE) {
		gp_fail(GP_EX_CANTCREAT,
		        "cannot create table '%s' in '%s': it exists (use mode: overwrite or "
		        "append)",
		        name, shown);
		return NULL;
	}
	t->layer = name;
	if (t->exists && mode == OUTFILE_APPEND)
		return t;
	if (t->exists) {
		t->tmp = arena_printf(a, "gispipe_tmp_%ld_%u", (long)getpid(), serial++);
		t->layer = t->tmp && schema_name ? arena_printf(a, "%s.%s", schema_name, t->tmp)
		                                 : t->tmp;
		if (t->layer == NULL)
			return NULL;
	}
	/* A GiST index built once after the load beats one filled row by
	 * row; the user's own SPATIAL_INDEX choice is left alone. */
	if (CSLFetchNameValue(*lco, "SPATIAL_INDEX") == NULL) {
		*lco = CSLSetNameValue(*lco, "SPATIAL_INDEX", "NONE");
		t->geomcol = CSLFetchNameValueDef(*lco, "GEOMETRY_NAME", "wkb_geometry");
		t->geomcol = arena_strdup(a, t->geomcol);
		if (t->geomcol == NULL)
			return NULL;
	}
	return t;
}

/* The table as SQL text: the literal '"schema"."table"' for ::regclass. */
static const char *regclass(struct arena *a, const struct pg_table *t, const char *here)
{
	return quoted(a, arena_printf(a, "%s%s", t->schema, quoted(a, here, '"')), '\'');
}

int pg_table_created(struct pg_table *t, GDALDatasetH ds, OGRLayerH lyr, const char *shown,
                     struct arena *a)
{
	const char *here = t->tmp ? t->tmp : t->table;
	const char *fidcol = OGR_L_GetFIDColumn(lyr);
	const char *rel = regclass(a, t, here);
	char *sql;
	long long keys = 0;

	if (fidcol == NULL || *fidcol == '\0')
		return 0;
	/* GDAL creates the table when it is first used; reading is a use. */
	CPLErrorReset();
	OGR_L_ResetReading(lyr);
	if (CPLGetLastErrorType() >= CE_Failure) {
		const char *msg = iocheck_gdal_msg();

		return gp_fail(pg_error_code(msg, GP_EX_CANTCREAT),
		               "cannot create table '%s' in '%s': %s", t->name, shown, msg);
	}
	sql = arena_printf(a,
	                   "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND "
	                   "contype = 'p' AND conkey = ARRAY[(SELECT attnum FROM pg_attribute "
	                   "WHERE attrelid = %s::regclass AND attname = %s)]",
	                   rel, rel, quoted(a, fidcol, '\''));
	if (rel == NULL || sql == NULL || query_int(t, ds, sql, &keys, "look for a key", shown) != 0)
		return -1;
	if (keys != 1)
		return 0;
	sql = arena_printf(a,
	                   "DO $gispipe$ DECLARE k name; BEGIN SELECT conname INTO STRICT k FROM "
	                   "pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'; EXECUTE "
	                   "format('ALTER TABLE %%s DROP CONSTRAINT %%I', %s, k); END $gispipe$",
	                   rel, rel);
	if (sql == NULL || exec(t, ds, sql, "defer the primary key", shown) != 0)
		return -1;
	t->pkey = arena_strdup(a, fidcol);
	t->fid = 0;
	return t->pkey ? 0 : -1;
}

long long pg_table_next_fid(struct pg_table *t)
{
	return t->pkey ? ++t->fid : OGRNullFID;
}

int pg_table_finish(struct pg_table *t, GDALDatasetH ds, OGRLayerH lyr, const char *shown,
                    struct arena *a)
{
	const char *here = t->tmp ? t->tmp : t->table;
	char *sql;

	/* COPY ends here, and with it the rows the server may refuse. */
	CPLErrorReset();
	if (t->pq) {
		const char *rel = regclass(a, t, here);

		if (pg_copy_end(t->pq) != 0)
			return -1;
		/* The sequence goes on from the last FID, as GDAL sets it after
		 * a COPY that gave FIDs (and leaves it alone for no rows). */
		sql = arena_printf(a,
		                   "SELECT setval(pg_get_serial_sequence(%s, %s), MAX(%s)) FROM %s%s "
		                   "WHERE EXISTS (SELECT 1 FROM %s%s WHERE %s > 0 LIMIT 1)",
		                   rel, quoted(a, t->pkey, '\''), quoted(a, t->pkey, '"'), t->schema,
		                   quoted(a, here, '"'), t->schema, quoted(a, here, '"'),
		                   quoted(a, t->pkey, '"'));
		if (rel == NULL || sql == NULL || exec(t, ds, sql, "set the FID sequence", shown) != 0)
			return -1;
	} else {
		/* GDAL's text COPY ends when the next statement goes out (its
		 * SyncToDisk leaves it open), and a row the server refused
		 * aborts the transaction: a statement of nothing ends it here,
		 * and the reason is the first failure GDAL reports, not the
		 * "transaction is aborted" of what follows. */
		struct gdal_errs errs = {.quiet = true};
		OGRLayerH none;
		char why[GDAL_ERRS_MSG];
		bool failed;

		gdal_errs_push(&errs);
		failed = OGR_L_SyncToDisk(lyr) != OGRERR_NONE;
		none = GDALDatasetExecuteSQL(ds, "SELECT 1", NULL, NULL);
		if (none)
			GDALDatasetReleaseResultSet(ds, none);
		gdal_errs_pop();
		if (failed || none == NULL || gdal_errs_pending(&errs)) {
			iocheck_strip(gdal_errs_pending(&errs) ? gdal_errs_peek(&errs)
			                                       : "GDAL gave no reason",
			              why, sizeof why);
			pg_one_line(why);
			return gp_fail(pg_error_code(why, GP_EX_DATAERR),
			               "cannot load table '%s' in '%s': %s", t->name, shown, why);
		}
	}
	if (t->pkey) {
		sql = arena_printf(a, "ALTER TABLE %s%s ADD PRIMARY KEY (%s)", t->schema,
		                   quoted(a, here, '"'), quoted(a, t->pkey, '"'));
		if (sql == NULL || exec(t, ds, sql, "build the primary key", shown) != 0)
			return -1;
	}
	if (t->geomcol == NULL && t->tmp == NULL)
		return 0;
	if (t->geomcol && (lyr ? OGR_L_GetGeomType(lyr) != wkbNone : t->gcol != NULL)) {
		const char *col = lyr ? OGR_L_GetGeometryColumn(lyr) : t->gcol;

		sql = arena_printf(a, "CREATE INDEX %s ON %s%s USING GIST (%s)",
		                   quoted(a, arena_printf(a, "%s_%s_geom_idx", here, col), '"'),
		                   t->schema, quoted(a, here, '"'), quoted(a, col, '"'));
		if (sql == NULL || exec(t, ds, sql, "build the spatial index", shown) != 0)
			return -1;
	}
	if (t->tmp) {
		/* The swap: readers blocked on the old table see the new one
		 * once the transaction commits (the server looks the name up
		 * again after a lock wait). */
		sql = arena_printf(a, "DROP TABLE %s%s", t->schema, quoted(a, t->table, '"'));
		if (sql == NULL || exec(t, ds, sql, "replace the old table", shown) != 0)
			return -1;
		sql = arena_printf(a, "ALTER TABLE %s%s RENAME TO %s", t->schema,
		                   quoted(a, t->tmp, '"'), quoted(a, t->table, '"'));
		if (sql == NULL || exec(t, ds, sql, "rename the new table", shown) != 0)
			return -1;
		/* Its index, key and sequence take the names ogr2ogr gives them
		 * (and a second overwrite expects). */
		sql = arena_printf(
		        a,
		        "DO $gispipe$ DECLARE r record; BEGIN FOR r IN SELECT c.relname, c.relkind "
		        "FROM pg_class c WHERE c.relnamespace = (SELECT relnamespace FROM pg_class "
		        "WHERE oid = %s::regclass) AND c.relkind IN ('i', 'S') AND "
		        "left(c.relname, %zu) = %s LOOP EXECUTE format('ALTER %%s %%s%%I RENAME TO "
		        "%%I', CASE r.relkind WHEN 'i' THEN 'INDEX' ELSE 'SEQUENCE' END, %s, "
		        "r.relname, %s || substr(r.relname, %zu)); END LOOP; END $gispipe$",
		        quoted(a, arena_printf(a, "%s%s", t->schema, quoted(a, t->table, '"')),
		               '\''),
		        strlen(t->tmp) + 1, quoted(a, arena_printf(a, "%s_", t->tmp), '\''),
		        quoted(a, t->schema, '\''), quoted(a, t->table, '\''), strlen(t->tmp) + 1);
		if (sql == NULL || exec(t, ds, sql, "rename the new table's index", shown) != 0)
			return -1;
	}
	return 0;
}

int pg_table_create(struct pg_table *t, OGRFeatureDefnH defn, int ncols, const char *fidcol,
                    const char *gcol, OGRwkbGeometryType gtype, int srid, struct arena *a)
{
	const char *here = t->tmp ? t->tmp : t->table;
	char *sql = arena_printf(a, "CREATE TABLE %s%s ( %s SERIAL", t->schema,
	                         quoted(a, here, '"'), quoted(a, fidcol, '"'));

	for (int i = 0; sql && i < ncols; i++) {
		OGRFieldDefnH fd = OGR_FD_GetFieldDefn(defn, i);

		sql = arena_printf(a, "%s, %s %s", sql, quoted(a, OGR_Fld_GetNameRef(fd), '"'),
		                   pg_copy_type(a, fd));
	}
	if (sql && gcol) {
		const char *dims = OGR_GT_HasZ(gtype) ? (OGR_GT_HasM(gtype) ? "ZM" : "Z")
		                                      : (OGR_GT_HasM(gtype) ? "M" : "");
		static const char *const ogc[] = {"GEOMETRY", "POINT", "LINESTRING", "POLYGON",
		                                  "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON",
		                                  "GEOMETRYCOLLECTION"};
		int flat = (int)wkbFlatten(gtype);
		const char *type = ogc[flat >= 1 && flat <= 7 ? flat : 0];

		sql = arena_printf(a, "%s, %s geometry(%s%s%s)", sql, quoted(a, gcol, '"'), type, dims,
		                   srid > 0 ? arena_printf(a, ",%d", srid) : "");
	}
	sql = sql ? arena_printf(a, "%s )", sql) : NULL;
	if (sql == NULL || exec(t, NULL, sql, "create a table", t->name) != 0)
		return -1;
	t->pkey = arena_strdup(a, fidcol);
	t->gcol = gcol ? arena_strdup(a, gcol) : NULL;
	t->fid = 0;
	return t->pkey && (gcol == NULL || t->gcol) ? 0 : -1;
}

int pg_table_add_column(struct pg_table *t, OGRFieldDefnH fd, struct arena *a)
{
	const char *here = t->tmp ? t->tmp : t->table;
	char *sql = arena_printf(a, "ALTER TABLE %s%s ADD COLUMN %s %s", t->schema,
	                         quoted(a, here, '"'), quoted(a, OGR_Fld_GetNameRef(fd), '"'),
	                         pg_copy_type(a, fd));

	return sql == NULL || exec(t, NULL, sql, "add a column", t->name) != 0 ? -1 : 0;
}

const char *pg_table_copy_target(struct pg_table *t, OGRFeatureDefnH defn, int ncols,
                                 struct arena *a)
{
	const char *here = t->tmp ? t->tmp : t->table;
	char *s = arena_printf(a, "%s%s (%s", t->schema, quoted(a, here, '"'),
	                       quoted(a, t->pkey, '"'));

	for (int i = 0; s && i < ncols; i++)
		s = arena_printf(a, "%s, %s", s,
		                 quoted(a, OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(defn, i)), '"'));
	if (s && t->gcol)
		s = arena_printf(a, "%s, %s", s, quoted(a, t->gcol, '"'));
	return s ? arena_printf(a, "%s)", s) : NULL;
}

char *pg_table_launder(struct arena *a, const char *name)
{
	return launder(a, name);
}
