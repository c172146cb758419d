/* vector/drivers.c - the audit of vector output drivers: which of them keep
 * memory that grows with the output.
 *
 * Each row was measured by bench/drivers.py (N and 4N synthetic features
 * written without a limit, peak RSS compared) and explained from GDAL 3.6's
 * source; man/gispipe-pipeline.5 prints the same table.  A driver that is
 * not here (a newer GDAL's, or one the audit could not write: it needs a
 * server or a schema) is unaudited, and a memory limit refuses it like one
 * that grows: the limit is a promise, and an unknown writer cannot keep it.
 *
 * The table and every string handed out are static: nothing to own. */
#include "vector/drivers.h"

#include <stdbool.h>
#include <stddef.h>
#include <strings.h>

#include <cpl_string.h>

struct driver_row {
	const char *name;                 /* GDAL short name */
	enum drivers_verdict verdict;     /* with `option` unset or false */
	const char *why;                  /* DRIVERS_GROWS: the mechanism */
	const char *option;               /* a creation option that makes it grow when true */
	bool dataset_option;              /* `option` is a dataset creation option */
	const char *option_why;           /* the mechanism under that option */
	const char *option_summary;       /* for gispipe formats: "streams*" */
};

#define STREAMS(n) {n, DRIVERS_STREAMS, NULL, NULL, false, NULL, NULL}
#define GROWS(n, w) {n, DRIVERS_GROWS, w, NULL, false, NULL, NULL}

static const struct driver_row rows[] = {
	STREAMS("CSV"),
	STREAMS("DGN"),
	STREAMS("FlatGeobuf"), /* without GDAL's index; gispipe builds the index in bounded memory */
	STREAMS("GML"),
	STREAMS("Interlis 1"),
	STREAMS("GPKG"),       /* SQLite's page cache, sized by the memory plan */
	STREAMS("GPX"),
	STREAMS("GeoJSON"),
	STREAMS("GeoJSONSeq"),
	STREAMS("GeoRSS"),
	STREAMS("Geoconcept"),
	STREAMS("JML"),
	STREAMS("KML"),
	STREAMS("MapInfo File"),
	STREAMS("OGR_GMT"),
	STREAMS("PCIDSK"),
	STREAMS("PDS4"),
	STREAMS("PGDUMP"),
	STREAMS("PostgreSQL"), /* COPY: each row is sent as it comes (measured through ogr2ogr) */
	STREAMS("SQLite"),     /* as GPKG; SpatiaLite's index is an SQLite R*Tree */
	STREAMS("VDV"),
	STREAMS("WAsP"),
	{"ESRI Shapefile", DRIVERS_STREAMS, NULL, "SPATIAL_INDEX", false,
	 "with SPATIAL_INDEX=YES the ESRI Shapefile driver builds the .qix quadtree of every "
	 "shape in memory when the file closes",
	 "streams*"},
	GROWS("DXF", "the DXF driver keeps the handle of every entity it writes in memory, to keep "
	             "them unique, until the file closes"),
	GROWS("LIBKML", "the LIBKML driver builds the whole document as a tree in memory and "
	                "writes it when the file closes"),
	GROWS("MBTiles", "the MBTiles driver, through GDAL's MVT writer, assembles each tile in "
	                 "memory, and a tile of a low zoom level holds every feature it covers"),
	GROWS("MVT", "the MVT driver assembles each tile in memory, and a tile of a low zoom "
	             "level holds every feature it covers"),
	GROWS("MapML", "the MapML driver builds the whole document as an XML tree in memory and "
	               "writes it when the file closes"),
	GROWS("Memory", "the Memory driver keeps every feature in memory"),
	GROWS("ODS", "the ODS driver keeps every row in memory and writes the whole document "
	             "when the file closes"),
	GROWS("OpenFileGDB", "the OpenFileGDB driver keeps an entry for every feature in memory "
	                     "(its offset, and its place in the spatial index) until the file "
	                     "closes"),
	GROWS("PDF", "the PDF driver keeps every feature in memory and composes the document "
	             "when the file closes"),
	GROWS("XLSX", "the XLSX driver keeps every row in memory and writes the whole document "
	              "when the file closes"),
};

static const struct driver_row *find_row(const char *name)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		if (strcasecmp(rows[i].name, name) == 0)
			return &rows[i];
	return NULL;
}

/* Whether `m` sets `key` to a true value, the way GDAL reads it
 * (CPLTestBool: anything but NO, FALSE, OFF and 0). */
static bool option_true(const struct strmap *m, const char *key)
{
	if (m == NULL)
		return false;
	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->key[i], key) == 0)
			return CPLTestBool(m->val[i]);
	return false;
}

enum drivers_verdict drivers_verdict(const char *name, const struct strmap *lco,
                                     const struct strmap *dsco, const char **why)
{
	const struct driver_row *r = find_row(name);
	const char *w = NULL;
	enum drivers_verdict v;

	if (r == NULL) {
		v = DRIVERS_UNAUDITED;
		w = "not in gispipe's audit of output drivers";
	} else if (r->option && option_true(r->dataset_option ? dsco : lco, r->option)) {
		v = DRIVERS_GROWS;
		w = r->option_why;
	} else {
		v = r->verdict;
		w = r->why;
	}
	if (why)
		*why = w;
	return v;
}

const char *drivers_summary(const char *name)
{
	const struct driver_row *r = find_row(name);

	if (r == NULL)
		return "unaudited";
	if (r->verdict == DRIVERS_GROWS)
		return "grows";
	return r->option ? r->option_summary : "streams";
}
