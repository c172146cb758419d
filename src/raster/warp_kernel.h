/* raster/warp_kernel.h - our own bilinear warp kernel, giving the pixels of
 * GDAL 3.6's GWKBilinearNoMasksOrDstDensityOnly* kernels (see warp_kernel.c
 * for when).  Private to src/raster. */
#ifndef GISPIPE_RASTER_WARP_KERNEL_H
#define GISPIPE_RASTER_WARP_KERNEL_H

#include <gdal.h>
#include <gdal_alg.h>
#include <stdbool.h>
#include <stddef.h>

/* One piece to warp.  Everything is the caller's and outlives the call:
 * the source window (band-sequential, `sband` bytes a band), the
 * destination (band-sequential, `line` pixels a row, `dband` bytes a
 * band), the band lists (1-based, `nbands` each), and the scratch row
 * buffers: x, y, z of `dw` doubles, ok and off of `dw` ints / size_t. */
struct warp_kernel {
	GDALTransformerFunc fn;    /* destination pixel -> source window pixel */
	void *arg;
	GDALDataType type;         /* source and destination: Byte, Int16, UInt16 */
	int nbands;
	const int *src_bands, *dst_bands;
	const void *src;
	int sw, sh;
	size_t sband;
	bool edge[4];              /* the window's left, top, right, bottom side is the raster's */
	double raster[4];          /* the raster's extent in window pixels: x0, y0, x1, y1 */
	void *dst;
	int dw, dh;
	size_t line, dband;
	double *x, *y, *z;
	int *ok;
	size_t *off;
	bool (*stopping)(void *);  /* asked once a row */
	void *stop_arg;
};

/* Warp the piece.  0: done, every destination pixel written; 1: declined
 * (a pixel the kernel cannot vouch for), the destination is then
 * partly written and the caller warps the piece through GDAL; -1: stopped
 * (k->stopping said so). */
int warp_kernel_bilinear(const struct warp_kernel *k);

/* Whether warp_kernel_bilinear handles this type. */
bool warp_kernel_type_ok(GDALDataType t);

#endif
