/* wkb.c - coordinate runs of ISO WKB, in place. */
#include "vector/wkb.h"

#include <string.h>

struct cur {
	unsigned char *p;
	unsigned char *end;
	const char *why;
};

static int get_u32(struct cur *c, int le, uint32_t *out)
{
	uint32_t v;

	if (c->end - c->p < 4) {
		c->why = "truncated WKB";
		return -1;
	}
	memcpy(&v, c->p, 4);
	if (!le)
		v = __builtin_bswap32(v);
	*out = v;
	c->p += 4;
	return 0;
}

static double get_d(const unsigned char *p, int le);

static int walk(struct cur *c, wkb_run_fn fn, void *ctx, int depth)
{
	uint32_t type, base, dims, n;
	int le, has_z, has_m, r;
	size_t stride;

	if (depth > 32) {
		c->why = "WKB nested too deeply";
		return -2;
	}
	if (c->end - c->p < 5) {
		c->why = "truncated WKB";
		return -2;
	}
	le = c->p[0];
	if (le != 0 && le != 1) {
		c->why = "bad WKB byte order";
		return -2;
	}
	c->p++;
	if (get_u32(c, le, &type) != 0)
		return -2;
	/* ISO dims in the thousands; also accept the old EWKB-style flags. */
	has_z = (type & 0x80000000u) != 0;
	has_m = (type & 0x40000000u) != 0;
	/* EWKB's SRID flag (0x20000000) puts 4 more bytes in the header: not
	 * ISO WKB, refused rather than misread. */
	if (type & 0x20000000u) {
		c->why = "unsupported WKB geometry type";
		return -2;
	}
	type &= 0x0fffffffu;
	base = type % 1000;
	dims = type / 1000;
	if (dims > 3) {
		c->why = "unsupported WKB geometry type";
		return -2;
	}
	if (dims == 1 || dims == 3)
		has_z = 1;
	if (dims == 2 || dims == 3)
		has_m = 1;
	stride = 16 + (has_z ? 8 : 0) + (has_m ? 8 : 0);
	switch (base) {
	case 1: /* point */
		if ((size_t)(c->end - c->p) < stride) {
			c->why = "truncated WKB";
			return -2;
		}
		{
			struct wkb_run run = {c->p, 1, stride, has_z, le};
			double x = get_d(c->p, le);

			c->p += stride;
			/* POINT EMPTY is NaN, NaN (in the WKB's byte order): no run. */
			if (x != x)
				return 0;
			return fn ? fn(&run, ctx) : 0;
		}
	case 2:  /* linestring */
	case 8:  /* circularstring */
		if (get_u32(c, le, &n) != 0)
			return -2;
		if ((size_t)(c->end - c->p) / stride < n) {
			c->why = "truncated WKB";
			return -2;
		}
		{
			struct wkb_run run = {c->p, n, stride, has_z, le};

			c->p += (size_t)n * stride;
			return (n && fn) ? fn(&run, ctx) : 0;
		}
	case 3:  /* polygon: rings */
	case 17: /* triangle */
		if (get_u32(c, le, &n) != 0)
			return -2;
		for (uint32_t i = 0; i < n; i++) {
			uint32_t np;
			struct wkb_run run;

			if (get_u32(c, le, &np) != 0)
				return -2;
			if ((size_t)(c->end - c->p) / stride < np) {
				c->why = "truncated WKB";
				return -2;
			}
			run = (struct wkb_run){c->p, np, stride, has_z, le};
			c->p += (size_t)np * stride;
			if (np && fn && (r = fn(&run, ctx)) != 0)
				return r;
		}
		return 0;
	case 4: case 5: case 6: case 7: /* multi*, collection */
	case 9: case 10: case 11: case 12: /* compound, curvepolygon, multicurve, multisurface */
	case 15: case 16: /* polyhedral surface, TIN */
		if (get_u32(c, le, &n) != 0)
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
	struct cur c = {wkb, wkb + len, NULL};
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

static double get_d(const unsigned char *p, int le)
{
	double d;

	if (le) {
		memcpy(&d, p, 8);
	} else {
		uint64_t u;

		memcpy(&u, p, 8);
		u = __builtin_bswap64(u);
		memcpy(&d, &u, 8);
	}
	return d;
}

struct env_ctx {
	double e[4];
	int any;
};

static int env_run(const struct wkb_run *run, void *ctx)
{
	struct env_ctx *ec = ctx;

	for (size_t i = 0; i < run->n; i++) {
		double x = get_d(run->p + i * run->stride, run->le);
		double y = get_d(run->p + i * run->stride + 8, run->le);

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
