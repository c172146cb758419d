/*
 * wkb.h - the one reader of ISO WKB: geometries walked in place.
 *
 * Every place that looks inside a batch's WKB goes through here, so that
 * byte order, dimensions, counts and bounds are decoded and checked once.
 * Nothing here allocates or keeps a pointer: a cursor, a header and a run
 * point into the caller's buffer and are valid as long as it is.  Points
 * handed out may be rewritten in place (reprojection does), never moved.
 *
 * Three levels, each built on the one below:
 *  - wkb_get_d()/wkb_put_d(): one coordinate, in either byte order (inline:
 *    the reprojection path reads and writes every coordinate of a run);
 *  - struct wkb_cursor: headers, counts and point arrays read one after the
 *    other, each checked against the bytes left;
 *  - wkb_walk(): every run of points of a geometry, with the nesting limit;
 *    wkb_npoints(), wkb_envelope() and wkb_mend() on top.
 */
#ifndef GISPIPE_WKB_H
#define GISPIPE_WKB_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Collections nest at most this deep (a point inside 32 collections). */
#define WKB_MAX_DEPTH 32

/* The double at `p`, stored little-endian when `le`, else big-endian. */
static inline double wkb_get_d(const unsigned char *p, int le)
{
	uint64_t u;
	double d;

	memcpy(&u, p, 8);
	if (!le)
		u = __builtin_bswap64(u);
	memcpy(&d, &u, 8);
	return d;
}

/* Store `d` at `p` in the byte order `le` says. */
static inline void wkb_put_d(unsigned char *p, double d, int le)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	if (!le)
		u = __builtin_bswap64(u);
	memcpy(p, &u, 8);
}

/* Reading position in a buffer of WKB.  On failure `why` is set to a static
 * reason ("truncated WKB", ...) and the position is unspecified. */
struct wkb_cursor {
	const unsigned char *p;
	const unsigned char *end;
	const char *why;
};

static inline struct wkb_cursor wkb_cursor_at(const unsigned char *wkb, size_t len)
{
	return (struct wkb_cursor){wkb, wkb + len, NULL};
}

/* A geometry's header: byte order, base type (1 point ... 17 triangle, as
 * ISO numbers them) and the dimensions, in the ISO thousands or the old
 * 0x80000000 (Z) / 0x40000000 (M) flags. */
struct wkb_head {
	const unsigned char *at; /* its 5 bytes, for a caller that copies them */
	uint32_t type;           /* base type; not checked against known types */
	size_t stride;           /* bytes per point: 16, 24 or 32 */
	int le;                  /* 1: little-endian (NDR) */
	int has_z;               /* Z at offset 16 of each point */
	int has_m;
};

/* Read a header; 0, or -1 when truncated, of a byte order other than 0 and
 * 1, of dimensions past ZM, or EWKB with an SRID (4 more header bytes that
 * would be misread as a count). */
int wkb_read_head(struct wkb_cursor *c, struct wkb_head *h);

/* Read a count (points, rings or parts) in byte order `le`; 0 or -1. */
int wkb_read_count(struct wkb_cursor *c, int le, uint32_t *n);

/* Step over `n` points of `stride` bytes, setting *at to the first; -1 when
 * fewer are left (without overflow, whatever `n`). */
int wkb_read_points(struct wkb_cursor *c, uint32_t n, size_t stride, const unsigned char **at);

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

/*
 * The one run of a point or a linestring in ISO WKB's plain encodings (2D
 * or Z, either byte order), decoded inline for a caller that sees many
 * small geometries and would spend more in wkb_walk() than on its points.
 * 1 with *run set; 0 for anything else (other types, the old Z flag, M,
 * empty, truncated), which wkb_walk() then walks or refuses.  What it
 * accepts, wkb_walk() hands out as the same one run.
 */
static inline int wkb_simple_run(unsigned char *wkb, size_t len, struct wkb_run *run)
{
	size_t head = 5, stride;
	uint32_t type, n = 1;
	int le;

	if (len < 21 || wkb[0] > 1)
		return 0;
	le = wkb[0];
	memcpy(&type, wkb + 1, 4);
	if (!le)
		type = __builtin_bswap32(type);
	switch (type) {
	case 1: case 1001: /* point */
		stride = type == 1 ? 16 : 24;
		/* POINT EMPTY is NaN, NaN: no run. */
		if (len - 5 < stride || isnan(wkb_get_d(wkb + 5, le)))
			return 0;
		break;
	case 2: case 1002: /* linestring */
		stride = type == 2 ? 16 : 24;
		head = 9;
		memcpy(&n, wkb + 5, 4);
		if (!le)
			n = __builtin_bswap32(n);
		/* 2^32-1 points of 24 bytes: 2^37, no overflow in 64 bits. */
		if (n == 0 || (uint64_t)n * stride > len - 9)
			return 0;
		break;
	default:
		return 0;
	}
	*run = (struct wkb_run){wkb + head, n, stride, stride == 24, le};
	return 1;
}

/* Call fn for each point run of the geometry; stops at the first non-zero
 * return and returns it.  -2 when the WKB is malformed or truncated (with
 * *why set to a static reason).  Nesting is limited to WKB_MAX_DEPTH.
 * Empty runs (POINT EMPTY, empty rings) are not handed out. */
int wkb_walk(unsigned char *wkb, size_t len, wkb_run_fn fn, void *ctx, const char **why);

/* Number of points, or -1 when malformed. */
int64_t wkb_npoints(unsigned char *wkb, size_t len);

/* Envelope; returns 0, 1 for an empty geometry, -2 malformed. */
int wkb_envelope(unsigned char *wkb, size_t len, double env[4]);

/*
 * A rewrite of `wkb` GEOS can read: rings closed (in x and y) and padded
 * with their first point to 4 points, a one-point linestring given its
 * point twice; byte orders, dimensions and everything else kept.  Only
 * points, linestrings, polygons, multi* and collections; anything else,
 * malformed WKB, or bytes after the geometry give 0.  With `out` NULL only
 * measures; otherwise writes into `out`, which has room for the measured
 * size.  Returns the size.
 */
size_t wkb_mend(const unsigned char *wkb, size_t len, unsigned char *out);

#endif
