/*
 * raster/pixel.h - pixel values as the raster transforms calc, nodata and
 * set_type see them.  Private to its directory.
 *
 * These steps convert a window to doubles a run of RASTER_RUN pixels at a
 * time (so their scratch is a few pages, not a window), decide per pixel,
 * and convert back.  They agree on what nodata is: a pixel equal to its
 * band's nodata value, or NaN in a floating-point band whether or not the
 * band declares a nodata value (NaN is never a measurement).
 */
#ifndef GISPIPE_RASTER_PIXEL_H
#define GISPIPE_RASTER_PIXEL_H

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>

#include "raster/raster.h"

#define RASTER_RUN 4096

/* Whether pixel value `v` of band `b` is nodata (integer pixels are never
 * NaN, so the NaN test needs no type). */
static inline bool raster_is_nodata(double v, const struct rband *b)
{
	return isnan(v) || (b->has_nodata && v == b->nodata);
}

/* Whether `*v` can be a pixel of type `t`, as raster_value_fits, except
 * that a Float32 value in range is rounded to the nearest float first (0.1
 * is a Float32 nodata value, as GDAL takes it). */
static inline bool raster_value_cast(double *v, GDALDataType t)
{
	if (t == GDT_Float32 && isfinite(*v) && fabs(*v) <= FLT_MAX)
		*v = (double)(float)*v;
	return raster_value_fits(*v, t);
}

/* `text` as a pixel value from an option: a finite number or "nan" (any
 * case).  0, or -1 without touching the error slot. */
static inline int raster_value_parse(const char *text, double *out)
{
	char *end;

	if (strcasecmp(text, "nan") == 0 || strcasecmp(text, ".nan") == 0) {
		*out = NAN;
		return 0;
	}
	*out = strtod(text, &end);
	if (end == text || *end != '\0' || !isfinite(*out))
		return -1;
	return 0;
}

#endif
