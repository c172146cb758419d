/* raster/warp_kernel.c - a bilinear warp kernel of our own, pixel for
 * pixel the one GDAL 3.6 runs for a piece with no masks (its
 * GWKBilinearNoMasksOrDstDensityOnly* kernels with the 4-sample formula,
 * scales >= 0.95), only faster: no call a pixel, no floor() call, one
 * straight loop a band over the row.
 *
 * Same pixels, because the same arithmetic on the same numbers: the row of
 * destination pixel centres (i + 0.5, j + 0.5) goes through the very
 * transformer GDAL's kernel would call (the piece's approximate one), and
 * each value is the 4-sample bilinear formula in GDAL's order of double
 * operations, rounded as GDAL rounds (floor(v + 0.5) for signed types, a
 * cast of v + 0.5 for unsigned ones).  GDAL works in a source window of
 * its own inside ours; the weights do not depend on where that window
 * starts (a source coordinate minus a whole number is exact), so only the
 * window's borders could make a difference.  Hence: a pixel whose four
 * samples are all in our window is computed here; one whose samples reach
 * past a side of our window that is also the raster's gets GDAL's
 * renormalised border formula (GDAL's window stops there too); anything
 * else (a failed or off-window coordinate, samples past a side that is not
 * the raster's) and the kernel declines the whole piece, which the caller
 * then warps through GDAL.
 *
 * Memory: none of its own; all buffers are the caller's (warp_kernel.h). */
#include <math.h>
#include <stdint.h>

#include "warp_kernel.h"

bool warp_kernel_type_ok(GDALDataType t)
{
	return t == GDT_Byte || t == GDT_Int16 || t == GDT_UInt16;
}

/* GDAL's rounding: floor(v + 0.5) for a signed type, which for the values
 * a bilinear mix of Int16 can take is the cast corrected when it went up;
 * the plain cast for unsigned types (v + 0.5 is never negative there). */
static inline int round_signed(double v)
{
	double u = v + 0.5;
	int t = (int)u;

	return t - (t > u);
}

/* The border formula, in GDAL's order (upper left, upper right, lower
 * right, lower left), for a pixel whose samples reach past the raster. */
static double border_value(const struct warp_kernel *k, const void *band, int ix, int iy,
                           double rx, double ry)
{
	int xs[4] = {ix, ix + 1, ix + 1, ix}, ys[4] = {iy, iy, iy + 1, iy + 1};
	double w[4] = {rx * ry, (1.0 - rx) * ry, (1.0 - rx) * (1.0 - ry), rx * (1.0 - ry)};
	double div = 0, acc = 0;

	for (int q = 0; q < 4; q++) {
		size_t o;
		double v;

		if (xs[q] < 0 || xs[q] >= k->sw || ys[q] < 0 || ys[q] >= k->sh)
			continue;
		o = (size_t)ys[q] * (size_t)k->sw + (size_t)xs[q];
		switch (k->type) {
		case GDT_Byte:
			v = ((const uint8_t *)band)[o];
			break;
		case GDT_Int16:
			v = ((const int16_t *)band)[o];
			break;
		default:
			v = ((const uint16_t *)band)[o];
			break;
		}
		div += w[q];
		acc += v * w[q];
	}
	if (div < 0.00001)
		return NAN;
	return div == 1.0 ? acc : acc / div;
}

/* The interior rows of one band: branch-free, one pass over the row. */
#define INTERIOR(name, T, ROUND)                                                                   \
	static void name(const T *restrict s, T *restrict d, const size_t *restrict off,           \
	                 const double *restrict rx, const double *restrict ry, int n, size_t sw)   \
	{                                                                                          \
		for (int i = 0; i < n; i++) {                                                      \
			const T *p = s + off[i];                                                   \
			double a = rx[i], b = ry[i];                                               \
			double v = (p[0] * a + p[1] * (1.0 - a)) * b +                             \
			           (p[sw] * a + p[sw + 1] * (1.0 - a)) * (1.0 - b);                \
			d[i] = (T)ROUND(v);                                                        \
		}                                                                                  \
	}
#define ROUND_UNSIGNED(v) ((v) + 0.5)
INTERIOR(row_byte, uint8_t, ROUND_UNSIGNED)
INTERIOR(row_uint16, uint16_t, ROUND_UNSIGNED)
INTERIOR(row_int16, int16_t, round_signed)

static void store(const struct warp_kernel *k, void *d, int i, double v)
{
	if (isnan(v))
		v = 0; /* GDAL's kernel writes 0 when no sample has weight */
	switch (k->type) {
	case GDT_Byte:
		((uint8_t *)d)[i] = (uint8_t)(v + 0.5);
		break;
	case GDT_Int16:
		((int16_t *)d)[i] = (int16_t)round_signed(v);
		break;
	default:
		((uint16_t *)d)[i] = (uint16_t)(v + 0.5);
		break;
	}
}

/* Where pixel i of row j samples: its offset and weights for the
 * interior loop (1), or past a raster side (2, done by border_value), or
 * off the raster (3, GDAL skips it: it keeps INIT_DEST's 0), or declined
 * (0).  As GDAL's kernel does, a coordinate off the window by less than a
 * pixel is transformed again alone (exactly, not interpolated) and the
 * new one is kept. */
static int place(const struct warp_kernel *k, int i, int j, int *ix, int *iy)
{
	double *x = k->x + i, *y = k->y + i, ux, uy;

	for (int attempt = 0;; attempt++) {
		int side;
		bool near;

		if (attempt == 1) {
			double z = 0;

			*x = i + 0.5;
			*y = j + 0.5;
			k->fn(k->arg, TRUE, 1, x, y, &z, k->ok + i);
		}
		if (!k->ok[i] || isnan(*x) || isnan(*y))
			return 0;
		/* GDAL's order of tests: left, top, right, bottom. */
		side = *x < 0 ? 0 : *y < 0 ? 1 : *x + 1e-10 > k->sw ? 2 : *y + 1e-10 > k->sh ? 3 : -1;
		if (side < 0)
			break;
		near = side == 0 ? *x > -1 : side == 1 ? *y > -1 : side == 2 ? *x < k->sw + 1 : *y < k->sh + 1;
		if (attempt == 0 && near)
			continue;
		/* Off the window: GDAL skips it, and off a side of the raster
		 * its window ends where ours does; elsewhere not ours to guess. */
		return k->edge[side] ? 3 : 0;
	}
	ux = *x - 0.5;
	uy = *y - 0.5;
	*ix = ux < 0 ? -1 : (int)ux;
	*iy = uy < 0 ? -1 : (int)uy;
	if (*ix >= 0 && *ix + 1 < k->sw && *iy >= 0 && *iy + 1 < k->sh)
		return 1;
	if ((*ix < 0 && !k->edge[0]) || (*iy < 0 && !k->edge[1]) ||
	    (*ix + 1 >= k->sw && !k->edge[2]) || (*iy + 1 >= k->sh && !k->edge[3]))
		return 0;
	return 2;
}

/* GDAL splits a chunk whose source footprint is less than half on the
 * raster (its SRC_FILL_RATIO_HEURISTICS), and the parts get other
 * coordinates from the approximate transformer: such a piece is GDAL's.
 * Its ratio is taken on a few samples, ours on every pixel: a margin. */
static bool mostly_on_raster(const struct warp_kernel *k, const double *b)
{
	double w = b[2] - b[0] + 2, h = b[3] - b[1] + 2;
	double cw = fmin(b[2] + 1, k->raster[2]) - fmax(b[0] - 1, k->raster[0]);
	double ch = fmin(b[3] + 1, k->raster[3]) - fmax(b[1] - 1, k->raster[1]);

	if (k->dw <= 100 && k->dh <= 100)
		return true;
	return cw > 0 && ch > 0 && cw * ch >= 0.7 * w * h;
}

int warp_kernel_bilinear(const struct warp_kernel *k)
{
	size_t ts = (size_t)GDALGetDataTypeSizeBytes(k->type);
	double b[4] = {INFINITY, INFINITY, -INFINITY, -INFINITY};

	for (int j = 0; j < k->dh; j++) {
		int nborder = 0;

		if (k->stopping && k->stopping(k->stop_arg))
			return -1;
		for (int i = 0; i < k->dw; i++) {
			k->x[i] = i + 0.5;
			k->y[i] = j + 0.5;
			k->z[i] = 0;
		}
		if (!k->fn(k->arg, TRUE, k->dw, k->x, k->y, k->z, k->ok))
			return 1;
		for (int i = 0; i < k->dw; i++) {
			double x = k->x[i], y = k->y[i];
			int ix = 0, iy = 0, where;

			if (x < b[0])
				b[0] = x;
			if (y < b[1])
				b[1] = y;
			if (x > b[2])
				b[2] = x;
			if (y > b[3])
				b[3] = y;
			/* Surely inside, with its four samples (NaN fails the tests):
			 * what place() would find, without its questions. */
			if (k->ok[i] && x >= 1 && y >= 1 && x < k->sw - 1 && y < k->sh - 1) {
				ix = (int)(x - 0.5);
				iy = (int)(y - 0.5);
				k->x[i] = 1.5 - (x - ix);
				k->y[i] = 1.5 - (y - iy);
				k->off[i] = (size_t)iy * (size_t)k->sw + (size_t)ix;
				k->ok[i] = 1;
				continue;
			}
			where = place(k, i, j, &ix, &iy);
			if (where == 0)
				return 1;
			/* place() may have transformed it again */
			b[0] = fmin(b[0], k->x[i]);
			b[1] = fmin(b[1], k->y[i]);
			b[2] = fmax(b[2], k->x[i]);
			b[3] = fmax(b[3], k->y[i]);
			if (where == 3) {
				/* Written 0 below, from a safe place. */
				k->x[i] = k->y[i] = 1;
				k->off[i] = 0;
				k->ok[i] = -1;
				nborder++;
				continue;
			}
			/* GDAL's weights: 1.5 - (x - floor(x - 0.5)), exact. */
			k->z[i] = 1.5 - (k->y[i] - iy);
			k->x[i] = 1.5 - (k->x[i] - ix);
			k->y[i] = k->z[i];
			if (where == 2) {
				/* Done below; the interior loop reads a safe place. */
				k->off[i] = 0;
				k->ok[i] = -2 - (iy + 1) * (k->sw + 2) - (ix + 1);
				nborder++;
			} else {
				k->off[i] = (size_t)iy * (size_t)k->sw + (size_t)ix;
				k->ok[i] = 1;
			}
		}
		for (int b = 0; b < k->nbands; b++) {
			const char *s = (const char *)k->src + (size_t)(k->src_bands[b] - 1) * k->sband;
			char *d = (char *)k->dst + (size_t)(k->dst_bands[b] - 1) * k->dband +
			          (size_t)j * k->line * ts;

			switch (k->type) {
			case GDT_Byte:
				row_byte((const uint8_t *)s, (uint8_t *)d, k->off, k->x, k->y, k->dw,
				         (size_t)k->sw);
				break;
			case GDT_Int16:
				row_int16((const int16_t *)s, (int16_t *)d, k->off, k->x, k->y, k->dw,
				          (size_t)k->sw);
				break;
			default:
				row_uint16((const uint16_t *)s, (uint16_t *)d, k->off, k->x, k->y,
				           k->dw, (size_t)k->sw);
				break;
			}
			for (int i = 0; nborder > 0 && i < k->dw; i++) {
				int code = -1 - k->ok[i]; /* 0: off the raster */

				if (k->ok[i] >= 0)
					continue;
				if (code == 0) {
					store(k, d, i, 0);
					continue;
				}
				store(k, d, i,
				      border_value(k, s, (code - 1) % (k->sw + 2) - 1,
				                   (code - 1) / (k->sw + 2) - 1,
				                   k->x[i], k->y[i]));
			}
		}
	}
	return mostly_on_raster(k, b) ? 0 : 1;
}
