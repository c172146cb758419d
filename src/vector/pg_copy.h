/*
 * pg_copy.h - the rows of a PostGIS write, sent by binary COPY on a libpq
 * connection of gispipe's own.
 *
 * GDAL's PostgreSQL driver sends rows as text COPY (hex EWKB and text
 * attributes the server parses); it cannot send binary COPY.  When every
 * column of a new table has a binary form written here exactly
 * (pg_copy_can), the write of a PG: output goes on its own connection
 * instead of GDAL's: pg_table's lock and checks, the CREATE TABLE that
 * GDAL would run (same columns, types, geometry column, SRID and FID
 * column), `COPY ... FROM STDIN (FORMAT binary)`, the keys and index after
 * the load and the swap, all in one transaction, as on GDAL's route.
 * Geometries go as EWKB (PostGIS's binary send format) made from the
 * feature's WKB; attributes in PostgreSQL's send formats; NULL is length
 * -1.  Rows are gathered in a buffer of PG_COPY_BUFFER bytes, sent with
 * PQputCopyData when it fills, so memory does not grow with the output.
 *
 * Ownership: a pg_copy and its buffer live in the arena given to
 * pg_copy_connect (the writer's step arena: the COMMIT runs after the
 * output's own arena is gone); the connection, and the second one a
 * session not in UTC opens to read local date-times, are the pg_copy's
 * until pg_copy_close, which the writer calls from its commit, abort or
 * cleanup.  Closing a connection whose transaction is open rolls it back
 * (the server does so itself when a connection drops).
 */
#ifndef GISPIPE_PG_COPY_H
#define GISPIPE_PG_COPY_H

#include <libpq-fe.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vector/batch.h"

struct arena;
struct schema;

/* Bytes of COPY data gathered before they are sent. */
#define PG_COPY_BUFFER (256u * 1024)

/* Local hours whose TimeZone offset is kept (a power of two). */
#define PG_ZONE_HOURS 64

struct pg_copy {
	PGconn *pq;
	const char *shown;   /* the output as messages name it (no password) */
	unsigned char *buf;  /* COPY data not sent yet */
	size_t len;
	bool copying;        /* a COPY is under way */
	bool utc;            /* the session's TimeZone is UTC */
	/* Not UTC: a second session in the same TimeZone, not in the
	 * transaction, that reads date-times of no known zone as the server
	 * reads GDAL's text of them (no query can run on a connection in
	 * COPY); the offsets of the last local hours it gave. */
	PGconn *zone;
	long long zone_hour[PG_ZONE_HOURS];
	long long zone_off[PG_ZONE_HOURS];
	bool zone_set[PG_ZONE_HOURS];
	const char *table;   /* its table, as the user named it: for messages */
	bool in_txn;
};

/* One table's row layout: its attribute columns (a definition of the
 * writer's, with the table's column names and types), and its geometry. */
struct pg_rows {
	OGRFeatureDefnH defn;
	int ncols;            /* columns the table has (the definition may have more) */
	const int *src;       /* column -> source field, or -2 - extra value, or -1 */
	int srid;             /* 0: none */
	bool has_geom;
	OGRwkbGeometryType declared;
	bool promote;         /* single parts are sent as one-part multis */
};

/* May the tables of a write in `mode` (enum outfile_mode), with the
 * layer creation options `lco`, for a stream of schema `sc` in `srs`, go
 * by binary COPY?  false with *why saying what keeps GDAL's route.  A
 * later stream's fields always can (pg_copy_type). */
bool pg_copy_can(const struct schema *sc, OGRSpatialReferenceH srs, int mode, char **lco,
                 const char **why);

/* Connect to `path` (GDAL's "PG:..." string; GDAL's own keys are left
 * out) and begin the transaction.  NULL with the error set (73; the
 * message names `shown`, never the password). */
struct pg_copy *pg_copy_connect(struct arena *a, const char *path, const char *shown);

/* Close the connection; an open transaction is rolled back. */
void pg_copy_close(struct pg_copy *c);

/* Run `sql` (no rows wanted); -1 with the error set, `what` naming it. */
int pg_copy_exec(struct pg_copy *c, const char *sql, const char *what);

/* The first column of the first row of `sql` as an integer (0 without a
 * row); -1 with the error set. */
int pg_copy_query_int(struct pg_copy *c, const char *sql, long long *v, const char *what);

/* The SRID of `srs` in the server's spatial_ref_sys (0 for no CRS); -1
 * with the error set when it has none. */
int pg_copy_srid(struct pg_copy *c, struct arena *scratch, OGRSpatialReferenceH srs);

/* The PostgreSQL type GDAL gives a field of this definition. */
const char *pg_copy_type(struct arena *a, OGRFieldDefnH fd);

/* Start `COPY <target> FROM STDIN (FORMAT binary)` (`target`: the table
 * and its column list, quoted; `table` names it in messages and must live
 * until pg_copy_end) and queue the header.  -1 with the error. */
int pg_copy_begin(struct pg_copy *c, const char *target, const char *table);

/* Queue one row: its FID, the attribute columns of `r` from `ft`, and its
 * geometry.  -1 with the error set (a value the column cannot hold: 65;
 * the connection lost: 74). */
int pg_copy_row(struct pg_copy *c, const struct pg_rows *r, long long fid,
                const struct feature *ft);

/* Send what is queued, end the COPY and read the server's verdict on it.
 * -1 with the error set.  Nothing to do when no COPY is under way. */
int pg_copy_end(struct pg_copy *c);

/* The exit code of a PostgreSQL error message (libpq's, or GDAL's from its
 * driver): 74 when the connection is gone, 73 when the server refuses the
 * privilege, 65 when it refuses a value (a data exception or a violated
 * constraint: GDAL's text COPY reports those only when the load ends),
 * else `other`. */
int pg_error_code(const char *msg, int other);

/* A PostgreSQL error message (ERROR, DETAIL, CONTEXT lines) made one line
 * in place: its trailing newlines dropped, the others made spaces. */
char *pg_one_line(char *msg);

/* COMMIT; -1 with the error set. */
int pg_copy_commit(struct pg_copy *c);

#endif
