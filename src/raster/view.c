/*
 * raster/view.c - raster views, window buffers and pixel conversions: what
 * raster steps work with.  Everything here lives in the arena the caller
 * passes (a view in the stream arena, a MEM dataset over a window buffer in
 * a block arena); nothing here knows of the run (that is raster/run.c).
 */
#include "raster/raster.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <ogr_srs_api.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/step.h"

size_t raster_tsize(GDALDataType t)
{
	int n = GDALGetDataTypeSizeBytes(t);

	return n > 0 ? (size_t)n : 1;
}

size_t raster_win_bytes(const struct rview *v, const struct rwin *w)
{
	return (size_t)w->w * (size_t)w->h * (size_t)v->nbands * raster_tsize(v->type);
}

int raster_view_bands(struct arena *a, struct rview *v, int nbands)
{
	v->band = arena_calloc(a, nbands > 0 ? (size_t)nbands : 1, sizeof *v->band);
	if (v->band == NULL)
		return -1;
	v->nbands = nbands;
	for (int b = 0; b < nbands; b++)
		v->band[b].interp = GCI_GrayIndex;
	return 0;
}

struct rview *raster_view_dup(struct arena *a, const struct rview *v)
{
	struct rview *d = arena_alloc(a, sizeof *d, 0);

	if (d == NULL)
		return NULL;
	*d = *v;
	d->band = arena_alloc(a, sizeof *d->band * (size_t)(v->nbands > 0 ? v->nbands : 1), 0);
	if (d->band == NULL)
		return NULL;
	memcpy(d->band, v->band, sizeof *d->band * (size_t)v->nbands);
	if (v->crs && (d->crs = arena_strdup(a, v->crs)) == NULL)
		return NULL;
	return d;
}

const char *const raster_type_names[] = {"Byte",  "UInt16",  "Int16",   "UInt32",
                                         "Int32", "Float32", "Float64", NULL};
static const GDALDataType raster_types[] = {GDT_Byte,  GDT_UInt16,  GDT_Int16,  GDT_UInt32,
                                            GDT_Int32, GDT_Float32, GDT_Float64};

bool raster_band_number(const char *text, int *band)
{
	char *end;
	long b;

	errno = 0;
	b = strtol(text, &end, 10);
	if (errno || *end || end == text || b < 1 || b > 65535)
		return false;
	*band = (int)b;
	return true;
}

GDALDataType raster_type_parse(const char *name)
{
	for (int i = 0; raster_type_names[i]; i++)
		if (strcasecmp(name, raster_type_names[i]) == 0)
			return raster_types[i];
	return GDT_Unknown;
}

static void range_of(GDALDataType t, double *lo, double *hi)
{
	switch (t) {
	case GDT_Byte:
		*lo = 0, *hi = 255;
		return;
	case GDT_UInt16:
		*lo = 0, *hi = 65535;
		return;
	case GDT_Int16:
		*lo = -32768, *hi = 32767;
		return;
	case GDT_UInt32:
		*lo = 0, *hi = 4294967295.0;
		return;
	case GDT_Int32:
		*lo = -2147483648.0, *hi = 2147483647.0;
		return;
	case GDT_Float32:
		*lo = -FLT_MAX, *hi = FLT_MAX;
		return;
	default:
		*lo = -DBL_MAX, *hi = DBL_MAX;
		return;
	}
}

bool raster_value_fits(double v, GDALDataType t)
{
	double lo, hi;

	if (isnan(v))
		return t == GDT_Float32 || t == GDT_Float64;
	if (isinf(v))
		return t == GDT_Float32 || t == GDT_Float64;
	range_of(t, &lo, &hi);
	if (v < lo || v > hi)
		return false;
	if (t == GDT_Float32)
		return (double)(float)v == v;
	if (t == GDT_Float64)
		return true;
	return v == floor(v);
}

void raster_to_double(const void *src, GDALDataType t, size_t n, double *dst)
{
	GDALCopyWords64(src, t, (int)raster_tsize(t), dst, GDT_Float64, sizeof(double),
	                (GPtrDiff_t)n);
}

void raster_from_double(const double *src, size_t n, GDALDataType t, void *dst)
{
	/* GDALCopyWords rounds to the nearest and clamps to the type's range. */
	GDALCopyWords64(src, GDT_Float64, sizeof(double), dst, t, (int)raster_tsize(t),
	                (GPtrDiff_t)n);
}

static void close_mem(void *ds)
{
	GDALClose(ds);
}

GDALDatasetH raster_mem_dataset(struct stage *s, struct arena *a, const struct rview *v,
                                const struct rwin *w, void *buf, size_t line_pixels,
                                size_t band_bytes)
{
	GDALDriverH mem = GDALGetDriverByName("MEM");
	GDALDatasetH ds;
	size_t ts = raster_tsize(v->type);
	double gt[6];

	if (mem == NULL) {
		gp_fail(GP_EX_SOFTWARE, "GDAL's MEM driver is missing");
		return NULL;
	}
	ds = GDALCreate(mem, "", w->w, w->h, 0, v->type, NULL);
	if (ds == NULL) {
		gp_fail(GP_EX_SOFTWARE, "cannot create a %dx%d MEM dataset: %s", w->w, w->h,
		        CPLGetLastErrorMsg());
		return NULL;
	}
	if (handle_own(a, &s->acct, HANDLE_GDAL_DATASET, ds, close_mem) == NULL)
		return NULL;
	for (int b = 0; b < v->nbands; b++) {
		char opt[3][64];
		char *opts[4] = {opt[0], opt[1], opt[2], NULL};
		char ptr[48];

		/* CPLPrintPointer does not terminate what it prints. */
		ptr[CPLPrintPointer(ptr, (char *)buf + (size_t)b * band_bytes, sizeof ptr - 1)] = '\0';
		snprintf(opt[0], sizeof opt[0], "DATAPOINTER=%s", ptr);
		snprintf(opt[1], sizeof opt[1], "PIXELOFFSET=%zu", ts);
		snprintf(opt[2], sizeof opt[2], "LINEOFFSET=%zu", line_pixels * ts);
		if (GDALAddBand(ds, v->type, opts) != CE_None) {
			gp_fail(GP_EX_SOFTWARE, "cannot wrap a window buffer: %s", CPLGetLastErrorMsg());
			return NULL;
		}
		if (v->band[b].has_nodata)
			GDALSetRasterNoDataValue(GDALGetRasterBand(ds, b + 1), v->band[b].nodata);
		GDALSetRasterColorInterpretation(GDALGetRasterBand(ds, b + 1), v->band[b].interp);
	}
	memcpy(gt, v->gt, sizeof gt);
	gt[0] = v->gt[0] + w->x * v->gt[1] + w->y * v->gt[2];
	gt[3] = v->gt[3] + w->x * v->gt[4] + w->y * v->gt[5];
	if (v->has_gt)
		GDALSetGeoTransform(ds, gt);
	if (v->crs)
		GDALSetProjection(ds, v->crs);
	return ds;
}

