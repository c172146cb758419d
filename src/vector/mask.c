/* mask.c - a dataset's polygons, unioned and prepared, in a given CRS. */
#include "vector/mask.h"

#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "vector/geos.h"
#include "core/handle.h"

static _Thread_local GEOSContextHandle_t prep_ctx;

static void destroy_prepared(void *p)
{
	GEOSPreparedGeom_destroy_r(prep_ctx, p);
}

int mask_init(struct mask *m, struct arena *perm, struct stage_acct *acct, struct geos *g,
              const char *path, const char *layer)
{
	*m = (struct mask){.path = path, .layer = layer, .geos = g, .acct = acct};
	m->a = arena_create(&acct->mem, 0);
	if (m->a == NULL)
		return -1;
	if (arena_defer_destroy(perm, m->a) != 0)
		return -1;
	prep_ctx = geos_handle(g);
	return 0;
}

static char *wkt_of(OGRSpatialReferenceH srs)
{
	char *wkt = NULL;

	if (srs == NULL || OSRExportToWkt(srs, &wkt) != OGRERR_NONE) {
		CPLFree(wkt);
		return NULL;
	}
	return wkt;
}

int mask_for(struct mask *m, OGRSpatialReferenceH srs)
{
	GEOSContextHandle_t h = geos_handle(m->geos);
	char *want = wkt_of(srs);
	GDALDatasetH ds;
	OGRLayerH lyr;
	OGRCoordinateTransformationH ct = NULL;
	OGRFeatureH f;
	GEOSGeometry **parts = NULL;
	size_t n = 0, cap = 0;
	GEOSGeometry *coll, *u;
	struct handle *dsh;
	int r = -1;

	if (m->have && ((want == NULL && m->crs_wkt == NULL) ||
	                (want && m->crs_wkt && strcmp(want, m->crs_wkt) == 0))) {
		CPLFree(want);
		return 0;
	}
	arena_reset(m->a);
	m->have = false;
	m->crs_wkt = want ? arena_strdup(m->a, want) : NULL;
	CPLFree(want);
	CPLErrorReset();
	ds = GDALOpenEx(m->path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
	if (ds == NULL)
		return gp_fail(GP_EX_NOINPUT, "cannot open '%s': %s", m->path,
		               *CPLGetLastErrorMsg() ? CPLGetLastErrorMsg() : "not a vector dataset");
	dsh = handle_own(m->a, m->acct, HANDLE_GDAL_DATASET, ds, NULL);
	if (dsh == NULL)
		return -1;
	lyr = m->layer ? GDALDatasetGetLayerByName(ds, m->layer) : GDALDatasetGetLayer(ds, 0);
	if (lyr == NULL) {
		handle_release(dsh);
		return gp_fail(GP_EX_NOINPUT, "no layer '%s' in '%s'", m->layer ? m->layer : "0",
		               m->path);
	}
	if (srs && OGR_L_GetSpatialRef(lyr) && !OSRIsSame(srs, OGR_L_GetSpatialRef(lyr))) {
		ct = OCTNewCoordinateTransformation(OGR_L_GetSpatialRef(lyr), srs);
		if (ct == NULL) {
			handle_release(dsh);
			return gp_fail(GP_EX_DATAERR, "cannot transform '%s' to the features' CRS",
			               m->path);
		}
	}
	OGR_L_ResetReading(lyr);
	while ((f = OGR_L_GetNextFeature(lyr)) != NULL) {
		OGRGeometryH g = OGR_F_GetGeometryRef(f);
		int dim = g ? OGR_G_GetDimension(g) : -1;
		size_t len;
		unsigned char *wkb;
		GEOSGeometry *gg;

		if (g == NULL || dim != 2 || OGR_G_IsEmpty(g)) {
			OGR_F_Destroy(f);
			continue;
		}
		if (ct && OGR_G_Transform(g, ct) != OGRERR_NONE) {
			OGR_F_Destroy(f);
			gp_fail(GP_EX_DATAERR, "cannot transform a polygon of '%s' to the features' CRS",
			        m->path);
			goto out;
		}
		len = (size_t)OGR_G_WkbSizeEx(g);
		wkb = arena_alloc(m->a, len, 8);
		if (wkb == NULL || OGR_G_ExportToIsoWkb(g, wkbNDR, wkb) != OGRERR_NONE) {
			OGR_F_Destroy(f);
			goto out;
		}
		OGR_F_Destroy(f);
		{
			struct handle *hh = geos_read(m->geos, m->a, m->acct, wkb, len);

			if (hh == NULL) {
				if (gp_err_code())
					goto out;
				gp_fail(GP_EX_DATAERR, "a polygon of '%s' does not decode: %s", m->path,
				        geos_reason(m->geos, "?"));
				goto out;
			}
			gg = handle_take(hh);
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			GEOSGeometry **np = arena_realloc(m->a, parts, cap * sizeof *np,
			                                  ncap * sizeof *np);

			if (np == NULL) {
				GEOSGeom_destroy_r(h, gg);
				goto out;
			}
			parts = np;
			cap = ncap;
		}
		parts[n++] = gg;
	}
	if (n == 0) {
		gp_fail(GP_EX_DATAERR, "'%s' has no polygons to clip or filter by", m->path);
		goto out;
	}
	/* The collection takes the parts; union and prepare once. */
	coll = GEOSGeom_createCollection_r(h, GEOS_GEOMETRYCOLLECTION, parts, (unsigned)n);
	if (coll == NULL) {
		gp_fail(GP_EX_SOFTWARE, "cannot collect the polygons of '%s'", m->path);
		goto out;
	}
	n = 0;
	geos_reset(m->geos);
	u = GEOSUnaryUnion_r(h, coll);
	GEOSGeom_destroy_r(h, coll);
	if (u == NULL) {
		gp_fail(GP_EX_DATAERR, "cannot union the polygons of '%s': %s", m->path,
		        geos_reason(m->geos, "GEOS failed"));
		goto out;
	}
	m->geom = geos_own(m->geos, m->a, m->acct, u);
	if (m->geom == NULL)
		goto out;
	{
		const GEOSPreparedGeometry *p = GEOSPrepare_r(h, m->geom->ptr);

		if (p == NULL) {
			gp_fail(GP_EX_SOFTWARE, "cannot prepare the polygons of '%s'", m->path);
			goto out;
		}
		m->prepared = handle_own(m->a, m->acct, HANDLE_GEOS_PREPARED, (void *)p,
		                         destroy_prepared);
		if (m->prepared == NULL)
			goto out; /* destroyed by handle_own, error set */
	}
	m->have = true;
	r = 0;
out:
	for (size_t i = 0; i < n; i++)
		GEOSGeom_destroy_r(h, parts[i]);
	if (ct)
		OCTDestroyCoordinateTransformation(ct);
	handle_release(dsh); /* read once: the file is not kept open */
	return r;
}
