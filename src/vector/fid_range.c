/*
 * fid_range.c - one shard's part of a layer, as a range of FIDs
 * (fid_range.h).  The scans read FIDs only: every field and the geometry
 * are set ignored for them, and nothing of them is kept.
 */
#include "vector/fid_range.h"

#include <string.h>

#include <cpl_error.h>
#include <cpl_conv.h>
#include <cpl_string.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/shard.h"

/* Ignore every field and the geometry (on), or nothing (off). */
static void fids_only(OGRLayerH lyr, bool on)
{
	OGRFeatureDefnH d = OGR_L_GetLayerDefn(lyr);
	char **names = NULL;

	if (on) {
		for (int i = 0; i < OGR_FD_GetFieldCount(d); i++)
			names = CSLAddString(names, OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(d, i)));
		names = CSLAddString(names, "OGR_GEOMETRY");
		names = CSLAddString(names, "OGR_STYLE");
	}
	OGR_L_SetIgnoredFields(lyr, (const char **)names);
	CSLDestroy(names);
}

struct scan {
	int64_t n, min, max;
	bool ascending, null_fid;
};

/* Count the features, and see whether their FIDs ascend. */
static void scan_fids(OGRLayerH lyr, struct scan *s)
{
	OGRFeatureH f;

	*s = (struct scan){.ascending = true};
	OGR_L_ResetReading(lyr);
	while ((f = OGR_L_GetNextFeature(lyr)) != NULL) {
		int64_t fid = OGR_F_GetFID(f);

		OGR_F_Destroy(f);
		if (fid == OGRNullFID) {
			s->null_fid = true;
			continue;
		}
		if (s->n > 0 && fid < s->max)
			s->ascending = false;
		if (s->n == 0 || fid < s->min)
			s->min = fid;
		if (s->n == 0 || fid > s->max)
			s->max = fid;
		s->n++;
	}
}

/* The FIDs at positions `p` and `q` (p <= q) of a layer read in
 * ascending FID order. */
static void fids_at(OGRLayerH lyr, int64_t p, int64_t q, int64_t *fp, int64_t *fq)
{
	OGRFeatureH f;
	int64_t i = 0;

	OGR_L_ResetReading(lyr);
	while (i <= q && (f = OGR_L_GetNextFeature(lyr)) != NULL) {
		if (i == p)
			*fp = OGR_F_GetFID(f);
		if (i == q)
			*fq = OGR_F_GetFID(f);
		OGR_F_Destroy(f);
		i++;
	}
}

/* Drivers whose attribute filters are their own SQL, where FIDs are a
 * column by its name (OGR SQL's FID would not be known there). */
static bool sql_filters(GDALDatasetH ds)
{
	static const char *const sql[] = {"GPKG", "SQLite", "PostgreSQL", "MySQL", "OCI",
	                                  "MSSQLSpatial", NULL};
	GDALDriverH d = GDALGetDatasetDriver(ds);
	const char *name = d ? GDALGetDriverShortName(d) : "";

	for (const char *const *p = sql; *p; p++)
		if (strcmp(name, *p) == 0)
			return true;
	return false;
}

/* `name` as an SQL identifier, its quotes doubled; CPLFree it. */
static char *quoted(const char *name)
{
	size_t len = strlen(name), k = 0;
	char *q = CPLMalloc(2 * len + 3);

	q[k++] = '"';
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '"')
			q[k++] = '"';
		q[k++] = name[i];
	}
	q[k++] = '"';
	q[k] = '\0';
	return q;
}

/* A GeoPackage or SQLite table: its FIDs are its rowids, which SQLite
 * counts and finds by position without building a feature. */
static bool sqlite_table(GDALDatasetH ds, OGRLayerH lyr)
{
	GDALDriverH d = GDALGetDatasetDriver(ds);
	const char *name = d ? GDALGetDriverShortName(d) : "";
	const char *col = OGR_L_GetFIDColumn(lyr);

	return (strcmp(name, "GPKG") == 0 || strcmp(name, "SQLite") == 0) && col && *col;
}

/* The lowest (`max` false) or highest FID of the table of `lyr`, which
 * SQLite reads off its rowid index at once. */
static int64_t table_fid(GDALDatasetH ds, OGRLayerH lyr, bool max)
{
	char *col = quoted(OGR_L_GetFIDColumn(lyr)), *table = quoted(OGR_L_GetName(lyr));
	char *sql = CPLStrdup(CPLSPrintf("SELECT %s(%s) + 0 AS n FROM %s", max ? "MAX" : "MIN",
	                                 col, table));
	OGRLayerH res = GDALDatasetExecuteSQL(ds, sql, NULL, NULL);
	OGRFeatureH f = res ? OGR_L_GetNextFeature(res) : NULL;
	int64_t v = 0;

	if (f != NULL)
		v = OGR_F_GetFieldAsInteger64(f, 0);
	OGR_F_Destroy(f);
	if (res != NULL)
		GDALDatasetReleaseResultSet(ds, res);
	CPLFree(sql);
	CPLFree(table);
	CPLFree(col);
	return v;
}

/* The layer's FIDs: their count, lowest, highest, and whether they come
 * in order.  A GeoPackage or SQLite table is not read: its count is
 * stored, its lowest and highest FIDs are at the ends of the rowid index,
 * and it is cut into equal spans (ascending false), since finding FIDs by
 * position would walk the whole table in every shard. */
static void count_fids(GDALDatasetH ds, OGRLayerH lyr, struct scan *s)
{
	if (!sqlite_table(ds, lyr)) {
		scan_fids(lyr, s);
		return;
	}
	*s = (struct scan){.n = OGR_L_GetFeatureCount(lyr, TRUE)};
	if (s->n > 0) {
		s->min = table_fid(ds, lyr, false);
		s->max = table_fid(ds, lyr, true);
	}
}

int fid_range_plan(GDALDatasetH ds, OGRLayerH lyr, const char *what, int index, int count,
                   struct fid_range *r)
{
	struct scan s;

	*r = (struct fid_range){.part = -1};
	OGR_L_SetAttributeFilter(lyr, NULL);
	OGR_L_SetSpatialFilter(lyr, NULL);
	CPLErrorReset();
	fids_only(lyr, true);
	count_fids(ds, lyr, &s);
	r->features = s.n;
	if (s.null_fid || count <= 1 || s.n == 0) {
		/* No FIDs to cut by: one shard reads it all (an empty layer
		 * too, which a write makes like an unsharded run would). */
		r->none = index != 0;
	} else if (s.ascending) {
		int64_t p = shard_cut(s.n, index, count), q = shard_cut(s.n, index + 1, count);
		int64_t fp = 0, fq = 0;

		r->part = q - p;
		if (p == q) {
			r->none = true; /* fewer features than shards */
		} else {
			fids_at(lyr, p, q < s.n ? q : q - 1, &fp, &fq);
			r->has_lo = index > 0;
			r->lo = fp;
			r->has_hi = index + 1 < count;
			r->hi = fq;
		}
	} else {
		/* Equal spans of [min, max]: FIDs in any order. */
		__int128 span = (__int128)s.max - s.min + 1;

		r->has_lo = index > 0;
		r->lo = (int64_t)(s.min + span * index / count);
		r->has_hi = index + 1 < count;
		r->hi = (int64_t)(s.min + span * (index + 1) / count);
	}
	fids_only(lyr, false);
	OGR_L_ResetReading(lyr);
	if (CPLGetLastErrorType() >= CE_Failure)
		return gp_fail(GP_EX_DATAERR,
		               "cannot read the FIDs of layer '%s' of '%s' to cut it into shards: %s",
		               OGR_L_GetName(lyr), what, CPLGetLastErrorMsg());
	return 0;
}

int fid_range_where(struct arena *a, GDALDatasetH ds, OGRLayerH lyr, const char *where,
                    const struct fid_range *r, const char **out)
{
	const char *col = OGR_L_GetFIDColumn(lyr);
	char *fid = NULL;
	const char *f = "FID";

	*out = where;
	if (!r->has_lo && !r->has_hi)
		return 0;
	if (sql_filters(ds) && col != NULL && *col != '\0')
		f = fid = quoted(col);
	if (r->has_lo && r->has_hi)
		*out = arena_printf(a, "%s%s%s%s >= %lld AND %s < %lld", where ? "(" : "",
		                    where ? where : "", where ? ") AND " : "", f, (long long)r->lo, f,
		                    (long long)r->hi);
	else
		*out = arena_printf(a, "%s%s%s%s %s %lld", where ? "(" : "", where ? where : "",
		                    where ? ") AND " : "", f, r->has_lo ? ">=" : "<",
		                    (long long)(r->has_lo ? r->lo : r->hi));
	CPLFree(fid);
	return *out ? 0 : -1;
}
