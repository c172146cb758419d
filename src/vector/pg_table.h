/*
 * pg_table.h - a PostgreSQL table as a target of the write step.
 *
 * A `PG:` output is no file: it is written on one connection, gispipe's
 * own with binary COPY (pg_copy.h) or GDAL's PostgreSQL driver's with text
 * COPY, in ONE transaction that the writer starts
 * when it opens the dataset and that commits only when the whole run has
 * succeeded; any failure, signal or lost connection rolls it back (the
 * server does so by itself when the connection drops, even on kill -9).
 * The table's lock is a transaction-level advisory lock keyed on its
 * name, the file lock's equivalent: a second run exits 75 (or waits
 * --lock-wait seconds).  mode create refuses an existing table (73);
 * overwrite of an existing table loads a new table under a temporary name
 * (COPY), builds its spatial index and primary key, then drops the old
 * one and renames the new one and its index, key and sequence to the
 * names ogr2ogr gives them, all in that transaction:
 * readers see the old table until the commit and the new one after, never
 * none; append adds to the table in the same transaction, so all rows or
 * none.  A table the run creates is loaded without its primary key, which
 * is built after the load (pg_table_created).
 *
 * Ownership: a pg_table and its strings live in the arena given to
 * pg_table_begin (the writer's step arena); the dataset and its layers are
 * the writer's.
 */
#ifndef GISPIPE_PG_TABLE_H
#define GISPIPE_PG_TABLE_H

#include <gdal.h>
#include <signal.h>
#include <stdbool.h>

#include "core/outfile.h"

struct arena;
struct pg_copy;

struct pg_table {
	const char *name;    /* the target as the user named it (schema.table) */
	const char *layer;   /* what GDAL creates or opens: the table, or the temporary */
	const char *schema;  /* quoted "schema". or "" */
	const char *table;   /* the final table name, laundered as GDAL does */
	const char *tmp;     /* the temporary table's name, or NULL */
	const char *geomcol; /* index built after the load: its column, or NULL */
	const char *pkey;    /* primary key built after the load: its column, or NULL */
	const char *gcol;    /* binary COPY: the geometry column, or NULL */
	struct pg_copy *pq;  /* binary COPY: the connection (pg_copy.h), or NULL: GDAL's */
	long long fid;       /* pkey: the last FID given, counted from 1 as its sequence */
	bool exists;         /* the table was there when the run began */
};

/* Begin table `name` of `ds`, or of `pq` when not NULL (in the
 * transaction the writer started):
 * take its lock, refuse it in create mode when it exists, and say which
 * layer to create or open.  `*lco` (GDAL layer creation options, owned by
 * the caller) may be changed: the spatial index is built after the load.
 * `shown` names the output in messages.  NULL with the error set. */
struct pg_table *pg_table_begin(struct arena *a, GDALDatasetH ds, struct pg_copy *pq,
                                const char *shown, const char *name, enum outfile_mode mode,
                                int lock_wait, volatile sig_atomic_t *stop, char ***lco);

/* Layer `lyr` of `t` was just created, with its fields: create its table
 * now and drop its primary key, built again after the load (a sorted build
 * instead of a B-tree insertion per row); the writer then gives each row
 * its FID itself (pg_table_next_fid), the values its fresh sequence would
 * have given, so that the server calls no nextval() per row.  The error
 * set on failure. */
int pg_table_created(struct pg_table *t, GDALDatasetH ds, OGRLayerH lyr, const char *shown,
                     struct arena *scratch);

/* The FID of the next row written to `t`: OGRNullFID (the server's
 * sequence gives it), or the next of the FIDs the writer gives. */
long long pg_table_next_fid(struct pg_table *t);

/* The load of `t` is over (`lyr` NULL on binary COPY): build its indexes and swap it in place of the
 * old table, still inside the transaction; its SQL is built in `scratch`.
 * The error set on failure. */
int pg_table_finish(struct pg_table *t, GDALDatasetH ds, OGRLayerH lyr, const char *shown,
                    struct arena *scratch);

/* Binary COPY (t->pq): create the table as GDAL would create it for a
 * layer of `defn`'s first `ncols` fields (their names already laundered),
 * FID column `fidcol` (SERIAL), geometry column `gcol` (NULL: none) of
 * `gtype` and `srid`, without its primary key, built after the load.  The
 * writer then gives the FIDs (pg_table_next_fid).  SQL built in `a`. */
int pg_table_create(struct pg_table *t, OGRFeatureDefnH defn, int ncols, const char *fidcol,
                    const char *gcol, OGRwkbGeometryType gtype, int srid, struct arena *a);

/* Binary COPY: add the column of `fd` to the table, as GDAL would. */
int pg_table_add_column(struct pg_table *t, OGRFieldDefnH fd, struct arena *a);

/* Binary COPY: the table and its columns, quoted, as COPY names them:
 * the FID, `defn`'s first `ncols` fields, the geometry. */
const char *pg_table_copy_target(struct pg_table *t, OGRFeatureDefnH defn, int ncols,
                                 struct arena *a);

/* A column or table name laundered as GDAL launders it. */
char *pg_table_launder(struct arena *a, const char *name);

#endif
