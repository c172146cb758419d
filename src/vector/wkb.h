/*
 * wkb.h - walking the coordinates of ISO WKB in place.
 *
 * Reprojection and bbox tests work on the WKB a batch carries, without
 * building geometry objects: wkb_walk() finds every run of points and hands
 * out pointers into the buffer.
 */
#ifndef GISPIPE_WKB_H
#define GISPIPE_WKB_H

#include <stddef.h>
#include <stdint.h>

/* A run of `n` points starting at `p`, each `stride` bytes, with Z at
 * offset 16 when has_z.  Coordinates are doubles in the byte order given by
 * `le` (1: little-endian). */
struct wkb_run {
	unsigned char *p;
	size_t n;
	size_t stride;
	int has_z;
	int le;
};

typedef int (*wkb_run_fn)(const struct wkb_run *run, void *ctx);

/* Call fn for each point run of the geometry; stops at the first non-zero
 * return and returns it.  -2 when the WKB is malformed or truncated (with
 * *why set to a static reason).  Nesting is limited to 32 levels. */
int wkb_walk(unsigned char *wkb, size_t len, wkb_run_fn fn, void *ctx, const char **why);

/* Number of points, or -1 when malformed. */
int64_t wkb_npoints(unsigned char *wkb, size_t len);

/* Envelope; returns 0, 1 for an empty geometry, -2 malformed. */
int wkb_envelope(unsigned char *wkb, size_t len, double env[4]);

#endif
