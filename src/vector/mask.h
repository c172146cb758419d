/*
 * mask.h - polygons from a dataset as one prepared GEOS geometry, for clip
 * and filter's intersects.  Private to its directory.
 *
 * The dataset is read once per CRS the features come in: its polygons are
 * transformed to that CRS, unioned and prepared, and kept until a stream
 * in another CRS needs a new one.
 */
#ifndef GISPIPE_MASK_H
#define GISPIPE_MASK_H

#include <geos_c.h>
#include <ogr_api.h>
#include <stdbool.h>

struct arena;
struct geos;
struct stage_acct;
struct handle;

struct mask {
	const char *path;          /* dataset of polygons */
	const char *layer;         /* its layer, NULL: the first */
	struct geos *geos;
	struct stage_acct *acct;
	struct arena *a;           /* the mask's geometries, reset per CRS */
	char *crs_wkt;             /* CRS the current geometry is in */
	bool have;
	struct handle *geom;       /* the union */
	struct handle *prepared;
	double env[4];
};

/* Set up (no I/O); the mask's arena is made from `acct`. */
int mask_init(struct mask *m, struct arena *perm, struct stage_acct *acct, struct geos *g,
              const char *path, const char *layer);

/* Make sure the mask is in `srs` (NULL: the dataset's own): read, transform,
 * union and prepare when needed.  66 when the dataset cannot be read. */
int mask_for(struct mask *m, OGRSpatialReferenceH srs);

#endif
