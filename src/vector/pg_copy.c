/* vector/pg_copy.c - binary COPY of a PostGIS write on gispipe's own
 * libpq connection (pg_copy.h). */
#include "pg_copy.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cpl_conv.h>
#include <cpl_string.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/outfile.h"
#include "vector/schema.h"
#include "vector/wkb.h"

/* Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch. */
#define PG_EPOCH_DAYS 10957

/* Layer creation options the binary route makes as GDAL does; any other
 * keeps GDAL's route. */
static const char *const known_lco[] = {"GEOMETRY_NAME", "FID", "SPATIAL_INDEX", "LAUNDER",
                                        NULL};

/* The JSON column type GDAL makes (OGR_PG_JSON_TYPE), when it is one
 * whose binary form is written here: json (the text) or jsonb (a version
 * byte, then the text); else NULL. */
static const char *json_type(void)
{
	const char *t = CPLGetConfigOption("OGR_PG_JSON_TYPE", "JSON");

	return strcasecmp(t, "JSON") == 0 || strcasecmp(t, "JSONB") == 0 ? t : NULL;
}

/* Has a field of this type a column type and a binary form here?  Every
 * type OGR still makes has, with the JSON and UUID column types that
 * pg_copy_can requires: the wide strings are left to GDAL. */
static bool type_can(OGRFieldType t, OGRFieldSubType st)
{
	switch (t) {
	case OFTInteger:
	case OFTInteger64:
	case OFTReal:
	case OFTDate:
	case OFTTime:
	case OFTDateTime:
	case OFTBinary:
	case OFTIntegerList:
	case OFTInteger64List:
	case OFTRealList:
	case OFTStringList:
		return true;
	case OFTString:
		return st != OFSTJSON || json_type();
	default:
		return false;
	}
}

bool pg_copy_can(const struct schema *sc, OGRSpatialReferenceH srs, int mode, char **lco,
                 const char **why)
{
	const char *auth = srs ? OSRGetAuthorityName(srs, NULL) : NULL;

	*why = NULL;
	if (!CPLTestBool(CPLGetConfigOption("GISPIPE_PG_BINARY_COPY", "YES"))) {
		*why = "GISPIPE_PG_BINARY_COPY is off";
		return false;
	}
	if (mode == OUTFILE_APPEND) {
		*why = "append writes into a table of the server's making";
		return false;
	}
	for (char **o = lco; o && *o; o++) {
		const char *const *k = known_lco;
		size_t n = strcspn(*o, "=");

		while (*k && (strlen(*k) != n || strncasecmp(*k, *o, n) != 0))
			k++;
		/* an index GDAL would build as the table is made */
		if (*k && strcmp(*k, "SPATIAL_INDEX") == 0 && (*o)[n] == '=' &&
		    CPLTestBool((*o) + n + 1) && strcasecmp((*o) + n + 1, "NONE") != 0)
			k = &known_lco[4];
		if (*k == NULL) {
			*why = "a layer creation option";
			return false;
		}
	}
	/* GDAL finds other CRSs by their text, or adds them to spatial_ref_sys */
	if (srs && (auth == NULL || strcasecmp(auth, "EPSG") != 0 ||
	            OSRGetAuthorityCode(srs, NULL) == NULL)) {
		*why = "a CRS without an EPSG code";
		return false;
	}
	if (wkbFlatten(sc->gtype) > wkbGeometryCollection && sc->gtype != wkbNone) {
		*why = "a geometry type beyond the simple features";
		return false;
	}
	/* a column type GDAL would give to a field a later stream may bring */
	if (json_type() == NULL ||
	    strcasecmp(CPLGetConfigOption("OGR_PG_UUID_TYPE", "UUID"), "UUID") != 0) {
		*why = "OGR_PG_JSON_TYPE or OGR_PG_UUID_TYPE";
		return false;
	}
	for (size_t i = 0; i < sc->n; i++)
		if (!type_can(sc->f[i].type, sc->f[i].subtype)) {
			*why = "a field type without an exact binary form here";
			return false;
		}
	return true;
}

/* GDAL's own keys of a PG: string, which libpq does not know. */
static bool gdal_key(const char *k, size_t n)
{
	static const char *const keys[] = {"tables", "list_all_tables", "schemas",
	                                   "active_schema", NULL};

	for (const char *const *p = keys; *p; p++)
		if (strlen(*p) == n && strncasecmp(*p, k, n) == 0)
			return true;
	return false;
}

/* libpq's conninfo from GDAL's "PG:key=value ..." string: the pairs as
 * written (quoted values kept quoted), GDAL's own keys left out. */
static char *conninfo(struct arena *a, const char *path)
{
	const char *s = path + 3;
	char *out = arena_alloc(a, strlen(s) + 1, 1);
	size_t k = 0;

	if (out == NULL)
		return NULL;
	if (strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0) {
		strcpy(out, s);
		return out;
	}
	while (*s) {
		const char *start, *key;
		size_t keylen;

		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			break;
		start = key = s;
		while (*s && *s != '=' && !isspace((unsigned char)*s))
			s++;
		keylen = (size_t)(s - key);
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '=') {
			s++;
			while (isspace((unsigned char)*s))
				s++;
			if (*s == '\'') {
				for (s++; *s && *s != '\''; s++)
					if (*s == '\\' && s[1])
						s++;
				if (*s)
					s++;
			} else {
				while (*s && !isspace((unsigned char)*s))
					s++;
			}
		}
		if (gdal_key(key, keylen))
			continue;
		memcpy(out + k, start, (size_t)(s - start));
		k += (size_t)(s - start);
		out[k++] = ' ';
	}
	out[k] = '\0';
	return out;
}

int pg_error_code(const char *msg, int other)
{
	static const char *const lost[] = {"server closed the connection",
	                                   "terminating connection",
	                                   "no connection to the server",
	                                   "connection to server was lost",
	                                   "could not receive data from server",
	                                   "could not send data to server",
	                                   "connection not open",
	                                   "SSL SYSCALL error",
	                                   NULL};
	static const char *const denied[] = {"permission denied", "must be owner of", NULL};
	/* The server's own words (lc_messages C) for SQLSTATE classes 22,
	 * data exception, and 23, integrity constraint violation, and
	 * PostGIS's for a geometry its column cannot take. */
	static const char *const refused[] = {"invalid input syntax for",
	                                      "invalid input value for",
	                                      "out of range",
	                                      "numeric field overflow",
	                                      "value too long for type",
	                                      "invalid byte sequence for encoding",
	                                      "malformed array literal",
	                                      "violates not-null constraint",
	                                      "violates check constraint",
	                                      "violates unique constraint",
	                                      "violates foreign key constraint",
	                                      "violates exclusion constraint",
	                                      "does not match column",
	                                      "invalid geometry",
	                                      NULL};

	for (const char *const *p = lost; *p; p++)
		if (strcasestr(msg, *p))
			return GP_EX_IOERR;
	for (const char *const *p = denied; *p; p++)
		if (strcasestr(msg, *p))
			return GP_EX_CANTCREAT;
	for (const char *const *p = refused; *p; p++)
		if (strcasestr(msg, *p))
			return GP_EX_DATAERR;
	return other;
}

char *pg_one_line(char *msg)
{
	size_t n = strlen(msg);

	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return msg;
}

/* The server's message for the last failure, one line. */
static const char *pq_msg(struct pg_copy *c)
{
	static _Thread_local char msg[512];
	const char *m = c->pq ? PQerrorMessage(c->pq) : "";

	snprintf(msg, sizeof msg, "%s", *m ? m : "the server gave no reason");
	return pg_one_line(msg);
}

/* The error of a failure: 74 when the connection is gone, 73 when the
 * server refuses the privilege, else `other`. */
static int fail(struct pg_copy *c, int other, const char *what)
{
	const char *msg = pq_msg(c);
	int code = PQstatus(c->pq) == CONNECTION_BAD ? GP_EX_IOERR : pg_error_code(msg, other);

	if (c->table)
		return gp_fail(code, "cannot %s of table '%s' in '%s': %s", what, c->table,
		               c->shown, msg);
	return gp_fail(code, "cannot %s in '%s': %s", what, c->shown, msg);
}

/* Is the session's TimeZone UTC?  A date-time of no known zone is then
 * sent as UTC, as the server would read GDAL's text of it. */
static bool utc(struct pg_copy *c)
{
	static const char *const names[] = {"UTC", "Etc/UTC", "GMT", "Etc/GMT", "UCT", "Etc/UCT",
	                                    "Universal", "Etc/Universal", "Zulu", "Etc/Zulu",
	                                    "GMT0", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", NULL};
	const char *tz = PQparameterStatus(c->pq, "TimeZone");

	for (const char *const *p = names; tz && *p; p++)
		if (strcmp(tz, *p) == 0)
			return c->utc = true;
	return c->utc = false;
}

/* A session whose TimeZone is not UTC: a second connection, in the
 * writer's TimeZone, that reads date-times of no known zone (pg_zone). */
static int zone_connect(struct pg_copy *c, const char *info)
{
	const char *tz = PQparameterStatus(c->pq, "TimeZone");
	char *lit, sql[256];
	PGresult *r;
	ExecStatusType st;

	c->zone = PQconnectdb(info);
	if (c->zone == NULL || PQstatus(c->zone) != CONNECTION_OK)
		return gp_fail(GP_EX_CANTCREAT, "cannot open '%s' for writing: %s", c->shown,
		               c->zone ? PQerrorMessage(c->zone) : "out of memory");
	lit = PQescapeLiteral(c->zone, tz ? tz : "UTC", strlen(tz ? tz : "UTC"));
	if (lit == NULL)
		return gp_fail(GP_EX_SOFTWARE, "cannot quote a TimeZone for '%s'", c->shown);
	snprintf(sql, sizeof sql, "SET TimeZone = %s", lit);
	PQfreemem(lit);
	r = PQexec(c->zone, sql);
	st = PQresultStatus(r);
	PQclear(r);
	if (st != PGRES_COMMAND_OK)
		return gp_fail(GP_EX_CANTCREAT, "cannot set the TimeZone of '%s': %s", c->shown,
		               PQerrorMessage(c->zone));
	return 0;
}

struct pg_copy *pg_copy_connect(struct arena *a, const char *path, const char *shown)
{
	struct pg_copy *c = arena_calloc(a, 1, sizeof *c);
	char *info = conninfo(a, path);

	if (c == NULL || info == NULL)
		return NULL;
	c->shown = shown;
	c->buf = arena_alloc(a, PG_COPY_BUFFER, 8);
	if (c->buf == NULL)
		return NULL;
	c->pq = PQconnectdb(info);
	if (c->pq == NULL || PQstatus(c->pq) != CONNECTION_OK) {
		memset(info, 0, strlen(info)); /* it may hold the password */
		gp_fail(GP_EX_CANTCREAT, "cannot open '%s' for writing: %s", shown, pq_msg(c));
		pg_copy_close(c);
		return NULL;
	}
	/* As GDAL's connection: UTF-8 text. */
	if (PQsetClientEncoding(c->pq, "UTF8") != 0 ||
	    pg_copy_exec(c, "BEGIN", "begin a transaction") != 0) {
		memset(info, 0, strlen(info));
		if (gp_err_code() == 0)
			fail(c, GP_EX_IOERR, "begin a transaction");
		pg_copy_close(c);
		return NULL;
	}
	c->in_txn = true;
	if (!utc(c) && zone_connect(c, info) != 0) {
		memset(info, 0, strlen(info));
		pg_copy_close(c);
		return NULL;
	}
	memset(info, 0, strlen(info)); /* it may hold the password */
	return c;
}

void pg_copy_close(struct pg_copy *c)
{
	if (c == NULL || c->pq == NULL)
		return;
	/* PQfinish alone ends the session, and the server rolls back what
	 * it was doing: no COMMIT can slip in. */
	PQfinish(c->pq);
	c->pq = NULL;
	if (c->zone)
		PQfinish(c->zone);
	c->zone = NULL;
	c->copying = false;
	c->in_txn = false;
}

int pg_copy_exec(struct pg_copy *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c->pq, sql);
	ExecStatusType st = PQresultStatus(r);

	PQclear(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		return fail(c, GP_EX_CANTCREAT, what);
	return 0;
}

int pg_copy_query_int(struct pg_copy *c, const char *sql, long long *v, const char *what)
{
	PGresult *r = PQexec(c->pq, sql);

	*v = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return fail(c, GP_EX_CANTCREAT, what);
	}
	if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
		*v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

int pg_copy_srid(struct pg_copy *c, struct arena *a, OGRSpatialReferenceH srs)
{
	const char *code;
	char *sql;
	long long srid;

	if (srs == NULL)
		return 0;
	code = OSRGetAuthorityCode(srs, NULL);
	sql = arena_printf(a,
	                   "SELECT srid FROM spatial_ref_sys WHERE auth_name = 'EPSG' AND "
	                   "auth_srid = %d",
	                   atoi(code ? code : "0"));
	if (sql == NULL || pg_copy_query_int(c, sql, &srid, "look up a CRS") != 0)
		return -1;
	if (srid <= 0)
		return gp_fail(GP_EX_CANTCREAT, "cannot write EPSG:%s to '%s': not in its "
		               "spatial_ref_sys", code ? code : "?", c->shown);
	return (int)srid;
}

/* The scale of the NUMERIC(width, scale) column GDAL makes for a number
 * with a width (its PRECISION option, YES by default), or -1: an integer
 * with a width (not a boolean or int16) gets NUMERIC(width,0), a real
 * (not a float32) with a width and a precision NUMERIC(width,precision). */
static int numeric_scale(OGRFieldDefnH fd)
{
	int w = OGR_Fld_GetWidth(fd), p = OGR_Fld_GetPrecision(fd);
	OGRFieldSubType st = OGR_Fld_GetSubType(fd);

	switch (OGR_Fld_GetType(fd)) {
	case OFTInteger:
		return w > 0 && st != OFSTBoolean && st != OFSTInt16 ? 0 : -1;
	case OFTInteger64:
		return w > 0 ? 0 : -1;
	case OFTReal:
		return w > 0 && p > 0 && st != OFSTFloat32 ? p : -1;
	default:
		return -1;
	}
}

/* The column type GDAL makes for a number of OGR type `t` (a list's
 * item type for lists) and subtype `st`, or NULL for another type. */
static const char *number_type(OGRFieldType t, OGRFieldSubType st)
{
	switch (t) {
	case OFTInteger:
		if (st == OFSTBoolean)
			return "BOOLEAN";
		return st == OFSTInt16 ? "SMALLINT" : "INTEGER";
	case OFTInteger64:
		return "INT8";
	case OFTReal:
		return st == OFSTFloat32 ? "REAL" : "FLOAT8";
	default:
		return NULL;
	}
}

const char *pg_copy_type(struct arena *a, OGRFieldDefnH fd)
{
	int w = OGR_Fld_GetWidth(fd);
	OGRFieldSubType st = OGR_Fld_GetSubType(fd);

	if (!type_can(OGR_Fld_GetType(fd), st))
		return NULL; /* pg_copy_can keeps these on GDAL's route */
	if (numeric_scale(fd) >= 0)
		return arena_printf(a, "NUMERIC(%d,%d)", w, numeric_scale(fd));
	switch (OGR_Fld_GetType(fd)) {
	case OFTInteger:
	case OFTInteger64:
	case OFTReal:
		return number_type(OGR_Fld_GetType(fd), st);
	case OFTString:
		if (st == OFSTJSON)
			return json_type();
		if (st == OFSTUUID)
			return "UUID";
		if (w > 0 && w < 10485760)
			return arena_printf(a, "VARCHAR(%d)", w);
		return CPLGetConfigOption("OGR_PG_STRING_TYPE", "VARCHAR");
	case OFTDate:
		return "date";
	case OFTTime:
		return "time";
	case OFTDateTime:
		return "timestamp with time zone";
	case OFTBinary:
		return "bytea";
	case OFTIntegerList:
		return arena_printf(a, "%s[]", st == OFSTInt16 ? "INT2" : number_type(OFTInteger, st));
	case OFTInteger64List:
		return "INT8[]";
	case OFTRealList:
		return arena_printf(a, "%s[]", number_type(OFTReal, st));
	case OFTStringList:
		return "varchar[]";
	default:
		return NULL;
	}
}

/* Send the queued bytes. */
static int flush(struct pg_copy *c)
{
	if (c->len && PQputCopyData(c->pq, (const char *)c->buf, (int)c->len) != 1)
		return fail(c, GP_EX_IOERR, "send the rows");
	c->len = 0;
	return 0;
}

/* Queue `n` bytes; more than the buffer holds go straight out. */
static int put(struct pg_copy *c, const void *p, size_t n)
{
	if (c->len + n > PG_COPY_BUFFER && flush(c) != 0)
		return -1;
	if (n > PG_COPY_BUFFER) {
		for (size_t k = 0; k < n; k += (1u << 30)) {
			size_t part = n - k < (1u << 30) ? n - k : (1u << 30);

			if (PQputCopyData(c->pq, (const char *)p + k, (int)part) != 1)
				return fail(c, GP_EX_IOERR, "send the rows");
		}
		return 0;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	return 0;
}

static int put16(struct pg_copy *c, int v)
{
	unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};

	return put(c, b, 2);
}

static int put32(struct pg_copy *c, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 8), (unsigned char)v};

	return put(c, b, 4);
}

static int put64(struct pg_copy *c, uint64_t v)
{
	return put32(c, (uint32_t)(v >> 32)) || put32(c, (uint32_t)v) ? -1 : 0;
}

/* A value with its length word. */
static int put_value(struct pg_copy *c, const void *p, size_t n)
{
	if (n > INT32_MAX)
		return gp_fail(GP_EX_DATAERR, "a value of %zu bytes is too large for '%s'", n,
		               c->shown);
	return put32(c, (uint32_t)n) || put(c, p, n) ? -1 : 0;
}

int pg_copy_begin(struct pg_copy *c, const char *target, const char *table)
{
	static const unsigned char header[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r',
	                                         '\n', 0};
	char sql[1024];
	PGresult *r;
	ExecStatusType st;

	if (snprintf(sql, sizeof sql, "COPY %s FROM STDIN (FORMAT binary)", target) >=
	    (int)sizeof sql)
		return gp_fail(GP_EX_SOFTWARE, "a COPY statement too long for '%s'", c->shown);
	r = PQexec(c->pq, sql);
	st = PQresultStatus(r);
	PQclear(r);
	if (st != PGRES_COPY_IN)
		return fail(c, GP_EX_CANTCREAT, "begin the load");
	c->copying = true;
	c->table = table;
	c->len = 0;
	return put(c, header, sizeof header); /* signature, flags 0, no extension */
}

/* Days since 2000-01-01 of a civil date (Howard Hinnant's days_from_civil). */
static long days_from_2000(int y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468 - PG_EPOCH_DAYS;
}

/* A string as GDAL sends it: cut to `width` characters (UTF-8) when the
 * column has one, as GDAL's text COPY cuts it. */
static size_t cut_utf8(const char *s, int width)
{
	size_t n = 0;
	int chars = 0;

	if (width <= 0)
		return strlen(s);
	for (; s[n]; n++) {
		if (((unsigned char)s[n] & 0xc0) != 0x80 && chars++ == width)
			break;
	}
	return n;
}

/* An integer field's value: OGR clamps a wider one. */
static long long as_int(long long i)
{
	return i < INT32_MIN ? INT32_MIN : i > INT32_MAX ? INT32_MAX : i;
}

/* PostgreSQL's numeric signs (numeric.c: NUMERIC_POS ... NUMERIC_NINF). */
#define NUMERIC_NEG 0x4000
#define NUMERIC_NAN 0xC000
#define NUMERIC_PINF 0xD000
#define NUMERIC_NINF 0xF000

/* A decimal as PostgreSQL's numeric send format: ndigits, weight, sign and
 * dscale (the digits after the point, as numeric_in counts them), then
 * the base-10000 digits, the first of weight `weight`.  The server
 * applies the column's typmod to it as it does to text (numeric_recv and
 * numeric_in both round to the scale and fail on overflow), so the value
 * is the one GDAL's text would make.  `s`: [-]digits[.digits], or NaN,
 * Infinity, -Infinity. */
static int put_numeric(struct pg_copy *c, const char *s)
{
	int16_t dig[128]; /* 80 characters of text at most: 20 groups either side */
	int nd = 0, sign = 0, dscale = 0, weight, nint = 0, lead, first, last;
	const char *ip, *fp;

	if (strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0)
		return put32(c, 8) || put16(c, 0) || put16(c, 0) ||
		               put16(c, s[0] == 'N' ? NUMERIC_NAN : s[0] == '-' ? NUMERIC_NINF
		                                                                 : NUMERIC_PINF) ||
		               put16(c, 0)
		               ? -1
		               : 0;
	if (*s == '-') {
		sign = NUMERIC_NEG;
		s++;
	}
	while (*s == '0')
		s++;
	ip = s;
	while (isdigit((unsigned char)s[nint]))
		nint++;
	fp = ip[nint] == '.' ? ip + nint + 1 : ip + nint;
	while (isdigit((unsigned char)fp[dscale]))
		dscale++;
	/* groups of four digits aligned on the point: the integer part padded
	 * on the left, the fraction on the right */
	lead = (4 - nint % 4) % 4;
	weight = (nint + lead) / 4 - 1;
	for (int k = -lead; k < nint + dscale; k += 4) {
		int g = 0;

		for (int j = k; j < k + 4; j++)
			g = g * 10 + (j < 0 || j >= nint + dscale ? 0
			              : j < nint                  ? ip[j] - '0'
			                                          : fp[j - nint] - '0');
		if (nd == (int)(sizeof dig / sizeof *dig))
			return gp_fail(GP_EX_SOFTWARE, "a number too long for '%s'", c->shown);
		dig[nd++] = (int16_t)g;
	}
	/* no leading or trailing zero groups, as the server stores it */
	for (first = 0; first < nd && dig[first] == 0; first++)
		weight--;
	for (last = nd; last > first && dig[last - 1] == 0; last--)
		;
	if (first == last) { /* zero, whatever its sign */
		weight = 0;
		sign = 0;
	}
	if (put32(c, (uint32_t)(8 + 2 * (last - first))) || put16(c, last - first) ||
	    put16(c, weight) || put16(c, sign) || put16(c, dscale))
		return -1;
	for (int k = first; k < last; k++)
		if (put16(c, dig[k]) != 0)
			return -1;
	return 0;
}

/* A number into a NUMERIC column, as the text GDAL's route sends: OGR's
 * GetFieldAsString of the field (an integer in full; a real with
 * "%.<precision>f", in OGR's 80-byte buffer, so at most 79 characters),
 * NaN and infinities named as GDAL names them. */
static int put_decimal(struct pg_copy *c, OGRFieldDefnH fd, long long i, double d)
{
	char text[80];

	if (OGR_Fld_GetType(fd) != OFTReal)
		snprintf(text, sizeof text, "%lld", i);
	else if (isnan(d))
		strcpy(text, "NaN");
	else if (isinf(d))
		strcpy(text, d > 0 ? "Infinity" : "-Infinity");
	else
		CPLsnprintf(text, sizeof text, "%.*f", OGR_Fld_GetPrecision(fd), d);
	return put_numeric(c, text);
}

/* PostgreSQL's OIDs of the array elements GDAL's lists become. */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_VARCHAR 1043

/* The length of a string list's item as the server's array parser reads
 * GDAL's text of it: GDAL quotes the item and escapes its '"' but not its
 * backslashes, so each backslash escapes the character after it; -1 when
 * the item ends in an unpaired one (it then escapes GDAL's closing quote
 * and the server refuses the array). */
static long array_item_len(const char *s)
{
	long n = 0;

	for (; *s; s++, n++)
		if (*s == '\\' && *++s == '\0')
			return -1;
	return n;
}

/* The item as the server reads it (array_item_len). */
static int put_array_item(struct pg_copy *c, const char *s)
{
	while (*s) {
		size_t run = strcspn(s, "\\");

		if (put(c, s, run) != 0)
			return -1;
		s += run;
		if (*s && put(c, ++s, 1) != 0) /* the escaped character */
			return -1;
		if (*s)
			s++;
	}
	return 0;
}

/* An item of a real list, as float8in or float4in reads GDAL's "%.16g"
 * text of it (float4in refuses what strtof takes to 0 or infinity). */
static int put_list_real(struct pg_copy *c, OGRFieldDefnH fd, double d, bool f4,
                         long long fid)
{
	char num[64];
	uint64_t u;
	uint32_t w;
	float fl;

	if (isfinite(d)) {
		CPLsnprintf(num, sizeof num, "%.16g", d);
		d = CPLAtof(num);
	}
	if (!f4) {
		memcpy(&u, &d, 8);
		return put32(c, 8) || put64(c, u) ? -1 : 0;
	}
	errno = 0;
	fl = isfinite(d) ? CPLStrtof(num, NULL) : (float)d;
	if (errno == ERANGE && (fl == 0 || isinf(fl)))
		return gp_fail(GP_EX_DATAERR, "feature %lld: %s is out of range for column '%s' "
		               "of '%s'", fid, num, OGR_Fld_GetNameRef(fd), c->shown);
	memcpy(&w, &fl, 4);
	return put32(c, 4) || put32(c, w) ? -1 : 0;
}

/* A list as PostgreSQL's binary array (array_send): its dimensions (none
 * when empty, as '{}' reads), whether it holds a NULL, the element type,
 * each dimension's size and lower bound 1, then the elements with their
 * lengths.  The values are those of GDAL's text: reals with "%.16g",
 * empty strings as NULL (GDAL writes them so). */
static int put_list(struct pg_copy *c, OGRFieldDefnH fd, OGRFeatureH f, int k, long long fid)
{
	int n = 0;
	const int *iv = NULL;
	const GIntBig *lv = NULL;
	const double *dv = NULL;
	char **sv = NULL;
	uint32_t oid, nulls = 0;
	uint64_t len = 12;

	switch (OGR_Fld_GetType(fd)) {
	case OFTIntegerList:
		iv = OGR_F_GetFieldAsIntegerList(f, k, &n);
		oid = OGR_Fld_GetSubType(fd) == OFSTBoolean ? OID_BOOL
		      : OGR_Fld_GetSubType(fd) == OFSTInt16 ? OID_INT2
		                                            : OID_INT4;
		len += (uint64_t)n * (oid == OID_BOOL ? 5 : oid == OID_INT2 ? 6 : 8);
		/* GDAL's text of them: what boolean or smallint cannot read */
		for (int j = 0; j < n; j++)
			if ((oid == OID_BOOL && iv[j] != 0 && iv[j] != 1) ||
			    (oid == OID_INT2 && (iv[j] < INT16_MIN || iv[j] > INT16_MAX)))
				return gp_fail(GP_EX_DATAERR, "feature %lld: %d is out of range for "
				               "column '%s' of '%s'", fid, iv[j], OGR_Fld_GetNameRef(fd),
				               c->shown);
		break;
	case OFTInteger64List:
		lv = OGR_F_GetFieldAsInteger64List(f, k, &n);
		oid = OID_INT8;
		len += (uint64_t)n * 12;
		break;
	case OFTRealList:
		dv = OGR_F_GetFieldAsDoubleList(f, k, &n);
		oid = OGR_Fld_GetSubType(fd) == OFSTFloat32 ? OID_FLOAT4 : OID_FLOAT8;
		len += (uint64_t)n * (oid == OID_FLOAT4 ? 8 : 12);
		break;
	default:
		sv = OGR_F_GetFieldAsStringList(f, k);
		n = CSLCount(sv);
		oid = OID_VARCHAR;
		for (int j = 0; j < n; j++) {
			long m = array_item_len(sv[j]);

			if (m < 0)
				return gp_fail(GP_EX_DATAERR, "feature %lld: item '%s' of column '%s' of "
				               "'%s' ends in a backslash, which GDAL's array text cannot "
				               "hold", fid, sv[j], OGR_Fld_GetNameRef(fd), c->shown);
			nulls |= m == 0;
			len += 4 + (uint64_t)m;
		}
		break;
	}
	if (n > 0)
		len += 8;
	if (len > INT32_MAX)
		return gp_fail(GP_EX_DATAERR, "feature %lld: a list too large for '%s'", fid,
		               c->shown);
	if (put32(c, (uint32_t)len) || put32(c, n > 0) || put32(c, nulls) || put32(c, oid) ||
	    (n > 0 && (put32(c, (uint32_t)n) || put32(c, 1))))
		return -1;
	for (int j = 0; j < n; j++) {
		int rc;

		if (iv && oid == OID_BOOL)
			rc = put32(c, 1) || put(c, (unsigned char[]){iv[j] != 0}, 1);
		else if (iv && oid == OID_INT2)
			rc = put32(c, 2) || put16(c, iv[j]);
		else if (iv)
			rc = put32(c, 4) || put32(c, (uint32_t)iv[j]);
		else if (lv)
			rc = put32(c, 8) || put64(c, (uint64_t)lv[j]);
		else if (dv)
			rc = put_list_real(c, fd, dv[j], oid == OID_FLOAT4, fid); else if (*sv[j] == '\0')
			rc = put32(c, UINT32_MAX);
		else
			rc = put32(c, (uint32_t)array_item_len(sv[j])) || put_array_item(c, sv[j]);
		if (rc)
			return -1;
	}
	return 0;
}

/* A UUID as uuid_in reads its text (16 pairs of hex digits, a hyphen
 * allowed after any second pair but the last, in braces or not) and
 * uuid_send sends it: its 16 bytes. */
static int put_uuid(struct pg_copy *c, OGRFieldDefnH fd, const char *s, size_t n,
                    long long fid)
{
	unsigned char u[16];
	const char *p = s, *end = s + n;
	bool braces = p < end && *p == '{';

	p += braces;
	for (int i = 0; i < 16; i++) {
		if (end - p < 2 || !isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
			goto bad;
		u[i] = (unsigned char)((isdigit((unsigned char)p[0]) ? p[0] - '0'
		                                                     : (tolower(p[0]) - 'a' + 10)) << 4 |
		                       (isdigit((unsigned char)p[1]) ? p[1] - '0'
		                                                     : (tolower(p[1]) - 'a' + 10)));
		p += 2;
		if (p < end && *p == '-' && i % 2 == 1 && i < 15)
			p++;
	}
	if (braces && (p == end || *p++ != '}'))
		goto bad;
	if (p != end)
		goto bad;
	return put32(c, 16) || put(c, u, 16) ? -1 : 0;
bad:
	return gp_fail(GP_EX_DATAERR, "feature %lld: invalid UUID '%.*s' for column '%s' of '%s'",
	               fid, (int)n, s, OGR_Fld_GetNameRef(fd), c->shown);
}

/* A value of a list, JSON or UUID column whose source is not of the
 * column's type, or is computed: a one-field feature of the column's type
 * set as GDAL's route sets its feature (OGR_F_SetFromWithMap, or the
 * setter of the computed value's type).  NULL with the error set. */
static OGRFeatureH convert(OGRFieldDefnH fd, OGRFeatureH f, int src, const struct fvalue *v)
{
	OGRFeatureDefnH d = OGR_FD_Create("");
	OGRFeatureH t;
	int *map = NULL;

	OGR_FD_Reference(d);
	OGR_FD_AddFieldDefn(d, fd);
	t = OGR_F_Create(d);
	OGR_FD_Release(d);
	if (t && v == NULL) {
		map = CPLMalloc(sizeof *map * (size_t)OGR_F_GetFieldCount(f));
		for (int j = 0; j < OGR_F_GetFieldCount(f); j++)
			map[j] = j == src ? 0 : -1;
		OGR_F_SetFromWithMap(t, f, TRUE, map);
		CPLFree(map);
	} else if (t && v->type == OFTString) {
		OGR_F_SetFieldString(t, 0, v->v.s);
	} else if (t && v->type == OFTReal) {
		OGR_F_SetFieldDouble(t, 0, v->v.d);
	} else if (t) {
		OGR_F_SetFieldInteger64(t, 0, v->v.i);
	}
	if (t == NULL)
		gp_fail(GP_EX_SOFTWARE, "cannot create a feature");
	return t;
}

static bool is_list(OGRFieldDefnH fd)
{
	OGRFieldType t = OGR_Fld_GetType(fd);

	return t == OFTIntegerList || t == OFTInteger64List || t == OFTRealList ||
	       t == OFTStringList;
}

/* A string, JSON or UUID column's value from its text, cut to the
 * column's width as GDAL's text COPY cuts it.  json's binary form is the
 * text (the server checks it as it checks text), jsonb's a version byte 1
 * and the text. */
static int put_text(struct pg_copy *c, OGRFieldDefnH fd, const char *s, long long fid)
{
	size_t n = cut_utf8(s, OGR_Fld_GetWidth(fd));

	if (OGR_Fld_GetSubType(fd) == OFSTUUID)
		return put_uuid(c, fd, s, n, fid);
	if (OGR_Fld_GetSubType(fd) == OFSTJSON && strcasecmp(json_type(), "JSONB") == 0)
		return n >= INT32_MAX ? put_value(c, s, n) /* too large: its error */
		                      : put32(c, (uint32_t)n + 1) || put(c, "\1", 1) || put(c, s, n);
	return put_value(c, s, n);
}

/* The server's answer to `sql` on the zone connection (pg_copy.h): the
 * seconds the session's TimeZone is ahead of UTC at each local time of
 * `t` (two), as the server reads that text as a timestamptz. */
static int zone_query(struct pg_copy *c, const char *const t[2], long long off[2])
{
	PGresult *r = PQexecParams(c->zone,
	                           "SELECT extract(epoch FROM $1::timestamp) - "
	                           "extract(epoch FROM $1::timestamptz), "
	                           "extract(epoch FROM $2::timestamp) - "
	                           "extract(epoch FROM $2::timestamptz)",
	                           2, NULL, t, NULL, NULL, 0);

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		const char *msg = PQerrorMessage(c->zone);

		PQclear(r);
		return gp_fail(PQstatus(c->zone) == CONNECTION_BAD ? GP_EX_IOERR : GP_EX_DATAERR,
		               "cannot read the date-time '%s' in the TimeZone of '%s': %.200s", t[0],
		               c->shown, msg);
	}
	for (int k = 0; k < 2; k++)
		off[k] = llround(CPLAtof(PQgetvalue(r, 0, k)));
	PQclear(r);
	return 0;
}

/* The microseconds the session's TimeZone is ahead of UTC at a local
 * date-time of no known zone, as the server reads GDAL's text of it.
 * Asked of the server once per local hour (`hour`, since 2000) and kept
 * in a small table: when the hour's first and last microsecond have one
 * offset the hour has it; an hour with a transition inside (a half-hour
 * zone, a historical one) is asked for each value. */
static int zone_offset(struct pg_copy *c, long long hour, int y, int m, int d, int h, int mi,
                       long long ms, long long *off)
{
	size_t slot = (size_t)(hour & (PG_ZONE_HOURS - 1));
	char a[64], b[64];
	const char *t[2] = {a, b};
	long long o[2];

	if (c->zone_set[slot] && c->zone_hour[slot] == hour) {
		*off = c->zone_off[slot] * 1000000;
		return 0;
	}
	snprintf(a, sizeof a, "%04d-%02d-%02d %02d:00:00", y, m, d, h);
	snprintf(b, sizeof b, "%04d-%02d-%02d %02d:59:59.999999", y, m, d, h);
	if (zone_query(c, t, o) != 0)
		return -1;
	if (o[0] == o[1]) {
		c->zone_set[slot] = true;
		c->zone_hour[slot] = hour;
		c->zone_off[slot] = o[0];
	} else {
		snprintf(a, sizeof a, "%04d-%02d-%02d %02d:%02d:%02lld.%03lld", y, m, d, h, mi,
		         ms / 1000, ms % 1000);
		t[1] = a;
		if (zone_query(c, t, o) != 0)
			return -1;
	}
	*off = o[0] * 1000000;
	return 0;
}

/* One attribute value.  The values are read with OGR's accessors for the
 * column's type, which convert as OGR_F_SetFromWithMap would. */
static int put_field(struct pg_copy *c, OGRFieldDefnH fd, const struct feature *ft, int src)
{
	OGRFeatureH f = ft->attrs ? ft->attrs->ptr : NULL;
	const struct fvalue *v = NULL;

	if (src <= -2) {
		size_t e = (size_t)(-2 - src);

		v = e < ft->nextra && ft->extra[e].set ? &ft->extra[e] : NULL;
		if (v == NULL)
			return put32(c, UINT32_MAX);
	} else if (src < 0 || f == NULL || !OGR_F_IsFieldSetAndNotNull(f, src)) {
		return put32(c, UINT32_MAX); /* NULL */
	}
#define AS_I64 (v ? (v->type == OFTReal ? (long long)v->v.d : v->type == OFTString ? \
                     atoll(v->v.s) : (long long)v->v.i) : OGR_F_GetFieldAsInteger64(f, src))
#define AS_DBL (v ? (v->type == OFTReal ? v->v.d : v->type == OFTString ? \
                     CPLAtof(v->v.s) : (double)v->v.i) : OGR_F_GetFieldAsDouble(f, src))
	if (numeric_scale(fd) >= 0) {
		if (OGR_Fld_GetType(fd) == OFTReal)
			return put_decimal(c, fd, 0, AS_DBL);
		if (OGR_Fld_GetType(fd) == OFTInteger64)
			return put_decimal(c, fd, AS_I64, 0);
		return put_decimal(c, fd, as_int(v ? AS_I64 : OGR_F_GetFieldAsInteger(f, src)), 0);
	}
	if (is_list(fd) || OGR_Fld_GetSubType(fd) == OFSTJSON || OGR_Fld_GetSubType(fd) == OFSTUUID) {
		OGRFeatureH t = NULL;
		int rc;

		if (v || OGR_Fld_GetType(OGR_F_GetFieldDefnRef(f, src)) != OGR_Fld_GetType(fd)) {
			if ((t = convert(fd, f, src, v)) == NULL)
				return -1;
		}
		if (t && !OGR_F_IsFieldSetAndNotNull(t, 0))
			rc = put32(c, UINT32_MAX);
		else if (is_list(fd))
			rc = put_list(c, fd, t ? t : f, t ? 0 : src, (long long)ft->fid);
		else
			rc = put_text(c, fd, OGR_F_GetFieldAsString(t ? t : f, t ? 0 : src),
			              (long long)ft->fid);
		if (t)
			OGR_F_Destroy(t);
		return rc;
	}
	switch (OGR_Fld_GetType(fd)) {
	case OFTInteger: {
		long long i = v ? AS_I64 : OGR_F_GetFieldAsInteger(f, src);

		if (OGR_Fld_GetSubType(fd) == OFSTBoolean)
			return put32(c, 1) || put(c, (unsigned char[]){i != 0}, 1) ? -1 : 0;
		if (OGR_Fld_GetSubType(fd) == OFSTInt16) {
			if (i < INT16_MIN || i > INT16_MAX)
				return gp_fail(GP_EX_DATAERR, "feature %lld: %lld is out of range for "
				               "smallint column '%s' of '%s'", (long long)ft->fid, i,
				               OGR_Fld_GetNameRef(fd), c->shown);
			return put32(c, 2) || put16(c, (int)i) ? -1 : 0;
		}
		return put32(c, 4) || put32(c, (uint32_t)(int32_t)as_int(i)) ? -1 : 0;
	}
	case OFTInteger64:
		return put32(c, 8) || put64(c, (uint64_t)AS_I64) ? -1 : 0;
	case OFTReal: {
		double d = AS_DBL;
		uint64_t u;

		if (OGR_Fld_GetSubType(fd) == OFSTFloat32) {
			float fl = (float)d;
			uint32_t w;

			memcpy(&w, &fl, 4);
			return put32(c, 4) || put32(c, w) ? -1 : 0;
		}
		memcpy(&u, &d, 8);
		return put32(c, 8) || put64(c, u) ? -1 : 0;
	}
	case OFTString: {
		const char *s = v ? (v->type == OFTString ? v->v.s : NULL) :
		                    OGR_F_GetFieldAsString(f, src);
		char num[64];

		if (s == NULL) { /* a computed number into a text column */
			if (v->type == OFTReal)
				CPLsnprintf(num, sizeof num, "%.15g", v->v.d);
			else
				snprintf(num, sizeof num, "%lld", (long long)v->v.i);
			s = num;
		}
		return put_text(c, fd, s, (long long)ft->fid);
	}
	case OFTDate:
	case OFTTime:
	case OFTDateTime: {
		int y, m, d, h, mi, tz;
		float sec;
		long long us;

		if (v || !OGR_F_GetFieldAsDateTimeEx(f, src, &y, &m, &d, &h, &mi, &sec, &tz))
			return gp_fail(GP_EX_DATAERR, "feature %lld: no date or time for column '%s' "
			               "of '%s'", (long long)ft->fid, OGR_Fld_GetNameRef(fd), c->shown);
		if (OGR_Fld_GetType(fd) == OFTDate)
			return put32(c, 4) || put32(c, (uint32_t)(int32_t)days_from_2000(y, m, d)) ? -1
			                                                                          : 0;
		/* milliseconds, as GDAL prints them in text COPY */
		us = ((long long)h * 3600 + mi * 60) * 1000000 + llround(sec * 1000.0) * 1000;
		if (OGR_Fld_GetType(fd) == OFTDateTime) {
			long long hour = (long long)days_from_2000(y, m, d) * 24 + h, off = 0;

			us += (long long)days_from_2000(y, m, d) * 86400000000LL;
			if (tz > 1)
				us -= (long long)(tz - 100) * 15 * 60000000LL;
			else if (!c->utc && zone_offset(c, hour, y, m, d, h, mi,
			                                llround(sec * 1000.0), &off) != 0)
				return -1;
			us -= off;
		}
		return put32(c, 8) || put64(c, (uint64_t)us) ? -1 : 0;
	}
	case OFTBinary: {
		int n = 0;
		const GByte *p = v ? NULL : OGR_F_GetFieldAsBinary(f, src, &n);

		if (v) {
			const char *s = v->type == OFTString ? v->v.s : "";

			return put_value(c, s, strlen(s));
		}
		return put_value(c, p, (size_t)n);
	}
	default:
		break;
	}
#undef AS_I64
#undef AS_DBL
	return gp_fail(GP_EX_SOFTWARE, "column '%s' of '%s' has no binary form",
	               OGR_Fld_GetNameRef(fd), c->shown);
}

/* The WKB head of a little-endian ISO WKB: its type and what follows. */
static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The dimensions of an ISO WKB type code: bit 0 Z, bit 1 M. */
static int iso_dims(uint32_t t)
{
	switch (t / 1000) {
	case 1:
		return 1;
	case 2:
		return 2;
	case 3:
		return 3;
	default:
		return 0;
	}
}

/* wkb_walk: a ring whose last point is not its first (x, y and z, as OGR
 * compares them). */
static int ring_open(const struct wkb_run *run, void *ctx)
{
	const unsigned char *a = run->p, *b = run->p + (run->n - 1) * run->stride;
	size_t k = run->has_z ? 24 : 16;

	(void)ctx;
	return memcmp(a, b, k) != 0;
}

/* The geometry as EWKB: the WKB's head with the SRID flag and the SRID,
 * then its body; a single part promoted to a one-part multi when the
 * column is multi.  A geometry whose dimensions differ from the column's
 * goes through OGR to be made like it, as GDAL's route does. */
static int put_geom(struct pg_copy *c, const struct pg_rows *r, const struct feature *ft)
{
	const unsigned char *w = ft->wkb;
	size_t n = ft->wkb_len;
	unsigned char head[18], *made = NULL;
	size_t hn = 0;
	uint32_t t;
	int dims = (OGR_GT_HasZ(r->declared) ? 1 : 0) | (OGR_GT_HasM(r->declared) ? 2 : 0);
	int rc;

	if (w == NULL || n < 5)
		return put32(c, UINT32_MAX);
	t = w[0] == 1 ? le32(w + 1) : (uint32_t)w[1] << 24 | (uint32_t)w[2] << 16 |
	                                      (uint32_t)w[3] << 8 | w[4];
	/* OGR makes it when the column's dimensions differ, and closes open
	 * rings, as GDAL's route does before it sends a geometry. */
	if (w[0] != 1 || iso_dims(t) != dims || t % 1000 == 7 ||
	    ((t % 1000 == 3 || t % 1000 == 6) &&
	     wkb_walk(ft->wkb, ft->wkb_len, ring_open, NULL, &(const char *){NULL}) != 0)) {
		OGRGeometryH g = NULL;
		size_t m;

		if (OGR_G_CreateFromWkbEx(w, NULL, &g, n) != OGRERR_NONE)
			return gp_fail(GP_EX_DATAERR, "feature %lld: geometry does not decode",
			               (long long)ft->fid);
		OGR_G_CloseRings(g);
		OGR_G_Set3D(g, dims & 1);
		OGR_G_SetMeasured(g, (dims & 2) != 0);
		m = (size_t)OGR_G_WkbSizeEx(g);
		made = CPLMalloc(m);
		OGR_G_ExportToIsoWkb(g, wkbNDR, made);
		OGR_G_DestroyGeometry(g);
		w = made;
		n = m;
		t = le32(w + 1);
	}
	if (r->promote && t % 1000 >= 1 && t % 1000 <= 3) {
		/* the multi's own head, then the part as it is (an ISO WKB
		 * with its SRID-less head, as the parts of an EWKB are); an
		 * empty line or polygon makes an empty multi, as OGR's */
		uint32_t mt = (t + 3) | (r->srid ? 0x20000000u : 0);
		bool empty = t % 1000 != 1 && n >= 9 && le32(w + 5) == 0;

		head[hn++] = 1;
		for (int k = 0; k < 4; k++)
			head[hn++] = (unsigned char)(mt >> (8 * k));
		for (int k = 0; r->srid && k < 4; k++)
			head[hn++] = (unsigned char)((uint32_t)r->srid >> (8 * k));
		for (int k = 0; k < 4; k++)
			head[hn++] = k == 0 && !empty ? 1 : 0; /* parts */
		if (empty)
			n = 0;
		rc = put32(c, (uint32_t)(hn + n)) || put(c, head, hn) || put(c, w, n) ? -1 : 0;
	} else {
		uint32_t et = t | (r->srid ? 0x20000000u : 0);

		head[hn++] = 1;
		for (int k = 0; k < 4; k++)
			head[hn++] = (unsigned char)(et >> (8 * k));
		for (int k = 0; r->srid && k < 4; k++)
			head[hn++] = (unsigned char)((uint32_t)r->srid >> (8 * k));
		rc = put32(c, (uint32_t)(hn + n - 5)) || put(c, head, hn) || put(c, w + 5, n - 5)
		             ? -1
		             : 0;
	}
	CPLFree(made);
	return rc;
}

int pg_copy_row(struct pg_copy *c, const struct pg_rows *r, long long fid,
                const struct feature *ft)
{
	if (put16(c, 1 + r->ncols + (r->has_geom ? 1 : 0)) != 0)
		return -1;
	if (put32(c, 4) != 0 || put32(c, (uint32_t)(int32_t)fid) != 0)
		return -1;
	for (int k = 0; k < r->ncols; k++)
		if (put_field(c, OGR_FD_GetFieldDefn(r->defn, k), ft, r->src[k]) != 0)
			return -1;
	return r->has_geom ? put_geom(c, r, ft) : 0;
}

int pg_copy_end(struct pg_copy *c)
{
	PGresult *r;
	int rc = 0;

	if (!c->copying)
		return 0;
	c->copying = false;
	if (put16(c, -1) != 0 || flush(c) != 0)
		rc = -1;
	else if (PQputCopyEnd(c->pq, NULL) != 1)
		rc = fail(c, GP_EX_IOERR, "end the load");
	/* The server's verdict on the rows: read every result, keep the
	 * first failure. */
	while (rc == 0 && (r = PQgetResult(c->pq)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = fail(c, GP_EX_DATAERR, "load the rows");
		PQclear(r);
	}
	c->table = NULL;
	return rc;
}

int pg_copy_commit(struct pg_copy *c)
{
	if (pg_copy_exec(c, "COMMIT", "commit") != 0)
		return -1;
	c->in_txn = false;
	return 0;
}
