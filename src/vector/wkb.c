/* wkb.c - the one reader of ISO WKB: headers, counts and point runs, in place. */
#include "vector/wkb.h"

#include <math.h>
#include <string.h>

/* The cursor's bodies are static so that walk() and mend_geom() get them
 * inlined; the wkb_read_* names (exported, so interposable in a PIC build)
 * are for other files. */
static int read_count(struct wkb_cursor *c, int le, uint32_t *n)
{
	uint32_t v;

	if (c->end - c->p < 4) {
		c->why = "truncated WKB";
		return -1;
	}
	memcpy(&v, c->p, 4);
	if (!le)
		v = __builtin_bswap32(v);
	*n = v;
	c->p += 4;
	return 0;
}

static int read_head(struct wkb_cursor *c, struct wkb_head *h)
{
	uint32_t type = 0, dims;

	if (c->end - c->p < 5) {
		c->why = "truncated WKB";
		return -1;
	}
	h->at = c->p;
	h->le = c->p[0];
	if (h->le != 0 && h->le != 1) {
		c->why = "bad WKB byte order";
		return -1;
	}
	c->p++;
	(void)read_count(c, h->le, &type); /* 4 bytes are there */
	/* ISO dims in the thousands; also accept the old EWKB-style flags. */
	h->has_z = (type & 0x80000000u) != 0;
	h->has_m = (type & 0x40000000u) != 0;
	/* EWKB's SRID flag (0x20000000) puts 4 more bytes in the header: not
	 * ISO WKB, refused rather than misread. */
	if (type & 0x20000000u) {
		c->why = "unsupported WKB geometry type";
		return -1;
	}
	type &= 0x0fffffffu;
	dims = type / 1000;
	if (dims > 3) {
		c->why = "unsupported WKB geometry type";
		return -1;
	}
	if (dims == 1 || dims == 3)
		h->has_z = 1;
	if (dims == 2 || dims == 3)
		h->has_m = 1;
	h->type = type % 1000;
	h->stride = 16 + (h->has_z ? 8 : 0) + (h->has_m ? 8 : 0);
	return 0;
}

static int read_points(struct wkb_cursor *c, uint32_t n, size_t stride, const unsigned char **at)
{
	/* Divided, not multiplied: 2^32-1 points of 32 bytes overflow nothing. */
	if ((size_t)(c->end - c->p) / stride < n) {
		c->why = "truncated WKB";
		return -1;
	}
	*at = c->p;
	c->p += (size_t)n * stride;
	return 0;
}

int wkb_read_head(struct wkb_cursor *c, struct wkb_head *h)
{
	return read_head(c, h);
}

int wkb_read_count(struct wkb_cursor *c, int le, uint32_t *n)
{
	return read_count(c, le, n);
}

int wkb_read_points(struct wkb_cursor *c, uint32_t n, size_t stride, const unsigned char **at)
{
	return read_points(c, n, stride, at);
}

/* The run of `n` points at `at`.  The walk's cursor reads the caller's
 * writable buffer (wkb_walk takes it so), hence the cast. */
static struct wkb_run run_of(const struct wkb_head *h, const unsigned char *at, uint32_t n)
{
	return (struct wkb_run){(unsigned char *)at, n, h->stride, h->has_z, h->le};
}

static int walk(struct wkb_cursor *c, wkb_run_fn fn, void *ctx, int depth)
{
	struct wkb_head h;
	const unsigned char *at;
	struct wkb_run run;
	uint32_t n;
	int r;

	if (depth > WKB_MAX_DEPTH) {
		c->why = "WKB nested too deeply";
		return -2;
	}
	if (read_head(c, &h) != 0)
		return -2;
	switch (h.type) {
	case 1: /* point */
		if (read_points(c, 1, h.stride, &at) != 0)
			return -2;
		/* POINT EMPTY is NaN, NaN (in the WKB's byte order): no run. */
		if (isnan(wkb_get_d(at, h.le)))
			return 0;
		run = run_of(&h, at, 1);
		return fn ? fn(&run, ctx) : 0;
	case 2:  /* linestring */
	case 8:  /* circularstring */
		if (read_count(c, h.le, &n) != 0 || read_points(c, n, h.stride, &at) != 0)
			return -2;
		run = run_of(&h, at, n);
		return (n && fn) ? fn(&run, ctx) : 0;
	case 3:  /* polygon: rings */
	case 17: /* triangle */
		if (read_count(c, h.le, &n) != 0)
			return -2;
		for (uint32_t i = 0; i < n; i++) {
			uint32_t np;

			if (read_count(c, h.le, &np) != 0 ||
			    read_points(c, np, h.stride, &at) != 0)
				return -2;
			run = run_of(&h, at, np);
			if (np && fn && (r = fn(&run, ctx)) != 0)
				return r;
		}
		return 0;
	case 4: case 5: case 6: case 7: /* multi*, collection */
	case 9: case 10: case 11: case 12: /* compound, curvepolygon, multicurve, multisurface */
	case 15: case 16: /* polyhedral surface, TIN */
		if (read_count(c, h.le, &n) != 0)
			return -2;
		for (uint32_t i = 0; i < n; i++)
			if ((r = walk(c, fn, ctx, depth + 1)) != 0)
				return r;
		return 0;
	default:
		c->why = "unsupported WKB geometry type";
		return -2;
	}
}

int wkb_walk(unsigned char *wkb, size_t len, wkb_run_fn fn, void *ctx, const char **why)
{
	struct wkb_cursor c = wkb_cursor_at(wkb, len);
	int r = walk(&c, fn, ctx, 0);

	if (r == -2 && why)
		*why = c.why;
	return r;
}

static int count_run(const struct wkb_run *run, void *ctx)
{
	*(int64_t *)ctx += (int64_t)run->n;
	return 0;
}

int64_t wkb_npoints(unsigned char *wkb, size_t len)
{
	int64_t n = 0;

	return wkb_walk(wkb, len, count_run, &n, NULL) == 0 ? n : -1;
}

struct env_ctx {
	double e[4];
	int any;
};

static int env_run(const struct wkb_run *run, void *ctx)
{
	struct env_ctx *ec = ctx;

	for (size_t i = 0; i < run->n; i++) {
		double x = wkb_get_d(run->p + i * run->stride, run->le);
		double y = wkb_get_d(run->p + i * run->stride + 8, run->le);

		if (!ec->any) {
			ec->e[0] = ec->e[2] = x;
			ec->e[1] = ec->e[3] = y;
			ec->any = 1;
			continue;
		}
		if (x < ec->e[0])
			ec->e[0] = x;
		if (x > ec->e[2])
			ec->e[2] = x;
		if (y < ec->e[1])
			ec->e[1] = y;
		if (y > ec->e[3])
			ec->e[3] = y;
	}
	return 0;
}

int wkb_envelope(unsigned char *wkb, size_t len, double env[4])
{
	struct env_ctx ec = {{0}, 0};
	int r = wkb_walk(wkb, len, env_run, &ec, NULL);

	if (r != 0)
		return -2;
	if (!ec.any)
		return 1;
	memcpy(env, ec.e, sizeof ec.e);
	return 0;
}

/*
 * wkb_mend: GEOS refuses to read rings that are not closed or have fewer
 * than 4 points and lines of one point.  Like liblwgeom's "GEOS-friendly"
 * pass (PostGIS, SpatiaLite), such WKB is rewritten so GEOS can read it and
 * MakeValid can decide what collapsed.  Two passes over the same code: one
 * measures (out NULL), one writes.
 */
struct mend {
	struct wkb_cursor in;
	unsigned char *out; /* NULL: only measure */
	size_t n;           /* bytes written (or measured) */
};

static void mend_put(struct mend *m, const void *src, size_t n)
{
	if (m->out)
		memcpy(m->out + m->n, src, n);
	m->n += n;
}

static void mend_put_count(struct mend *m, uint32_t v, int le)
{
	if (!le)
		v = __builtin_bswap32(v);
	mend_put(m, &v, 4);
}

static int mend_ring(struct mend *m, const struct wkb_head *h)
{
	const unsigned char *pts, *last;
	uint32_t np, out;
	int closed;

	if (read_count(&m->in, h->le, &np) != 0 ||
	    read_points(&m->in, np, h->stride, &pts) != 0)
		return -1;
	/* Closed in x and y, as GEOS tests it. */
	last = pts + (size_t)(np ? np - 1 : 0) * h->stride;
	closed = np == 0 || (wkb_get_d(pts, h->le) == wkb_get_d(last, h->le) &&
	                     wkb_get_d(pts + 8, h->le) == wkb_get_d(last + 8, h->le));
	out = np + !closed;
	if (out > 0 && out < 4)
		out = 4;
	mend_put_count(m, out, h->le);
	mend_put(m, pts, (size_t)np * h->stride);
	for (uint32_t k = np; k < out; k++)
		mend_put(m, pts, h->stride); /* the first point closes and pads */
	return 0;
}

static int mend_geom(struct mend *m, int depth)
{
	struct wkb_head h;
	const unsigned char *pts;
	uint32_t n;

	if (depth > WKB_MAX_DEPTH || read_head(&m->in, &h) != 0)
		return -1;
	mend_put(m, h.at, 5);
	switch (h.type) {
	case 1: /* point */
		if (read_points(&m->in, 1, h.stride, &pts) != 0)
			return -1;
		mend_put(m, pts, h.stride);
		return 0;
	case 2: /* linestring */
		if (read_count(&m->in, h.le, &n) != 0 ||
		    read_points(&m->in, n, h.stride, &pts) != 0)
			return -1;
		mend_put_count(m, n == 1 ? 2 : n, h.le);
		mend_put(m, pts, (size_t)n * h.stride);
		if (n == 1)
			mend_put(m, pts, h.stride);
		return 0;
	case 3: /* polygon */
		if (read_count(&m->in, h.le, &n) != 0)
			return -1;
		mend_put_count(m, n, h.le);
		for (uint32_t i = 0; i < n; i++)
			if (mend_ring(m, &h) != 0)
				return -1;
		return 0;
	case 4: case 5: case 6: case 7: /* multi*, collection */
		if (read_count(&m->in, h.le, &n) != 0)
			return -1;
		mend_put_count(m, n, h.le);
		for (uint32_t i = 0; i < n; i++)
			if (mend_geom(m, depth + 1) != 0)
				return -1;
		return 0;
	default: /* curves and the rest: GEOS cannot read them anyway */
		return -1;
	}
}

size_t wkb_mend(const unsigned char *wkb, size_t len, unsigned char *out)
{
	struct mend m = {wkb_cursor_at(wkb, len), out, 0};

	if (mend_geom(&m, 0) != 0 || m.in.p != m.in.end)
		return 0;
	return m.n;
}
