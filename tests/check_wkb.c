/* check_wkb.c - unit tests for the WKB reader (src/vector/wkb.c). */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <ogr_api.h>

#include "vector/wkb.h"

#define MAX_RUNS 8

struct wkb_case {
	const char *wkt;
	size_t nruns;
	size_t run_n[MAX_RUNS];
	size_t stride;
	int has_z;
	double env[4];     /* of the points as stored (curves: control points) */
	const char *moved; /* after x += 100, y *= 2, z += 1000 */
};

static const struct wkb_case cases[] = {
        {"POINT (1 2)", 1, {1}, 16, 0, {1, 2, 1, 2}, "POINT (101 4)"},
        {"POINT EMPTY", 0, {0}, 16, 0, {0}, "POINT EMPTY"},
        {"LINESTRING (0 0,1 1,2 3)", 1, {3}, 16, 0, {0, 0, 2, 3}, "LINESTRING (100 0,101 2,102 6)"},
        {"LINESTRING EMPTY", 0, {0}, 16, 0, {0}, "LINESTRING EMPTY"},
        {"POLYGON ((0 0,10 0,10 10,0 10,0 0),(2 2,2 4,4 4,2 2))",
         2,
         {5, 4},
         16,
         0,
         {0, 0, 10, 10},
         "POLYGON ((100 0,110 0,110 20,100 20,100 0),(102 4,102 8,104 8,102 4))"},
        {"MULTIPOLYGON (((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 6,5 5),(5.25 5.25,5.5 5.25,5.5 5.5,"
         "5.25 5.25)))",
         3,
         {4, 5, 4},
         16,
         0,
         {0, 0, 6, 6},
         "MULTIPOLYGON (((100 0,101 0,101 2,100 0)),((105 10,106 10,106 12,105 12,105 10),"
         "(105.25 10.5,105.5 10.5,105.5 11,105.25 10.5)))"},
        {"GEOMETRYCOLLECTION (POINT (1 2),LINESTRING (0 0,1 1),POLYGON ((0 0,1 0,1 1,0 0)),"
         "MULTIPOINT ((3 4),(-5 6)))",
         5,
         {1, 2, 4, 1, 1},
         16,
         0,
         {-5, 0, 3, 6},
         "GEOMETRYCOLLECTION (POINT (101 4),LINESTRING (100 0,101 2),POLYGON ((100 0,101 0,101 2,"
         "100 0)),MULTIPOINT ((103 8),(95 12)))"},
        {"POINT Z (1 2 3)", 1, {1}, 24, 1, {1, 2, 1, 2}, "POINT Z (101 4 1003)"},
        {"POINT M (1 2 3)", 1, {1}, 24, 0, {1, 2, 1, 2}, "POINT M (101 4 3)"},
        {"POINT ZM (1 2 3 4)", 1, {1}, 32, 1, {1, 2, 1, 2}, "POINT ZM (101 4 1003 4)"},
        {"POINT Z EMPTY", 0, {0}, 24, 1, {0}, "POINT Z EMPTY"},
        {"LINESTRING M (0 0 5,1 1 6)",
         1,
         {2},
         24,
         0,
         {0, 0, 1, 1},
         "LINESTRING M (100 0 5,101 2 6)"},
        {"MULTILINESTRING Z ((0 0 0,1 1 1),(2 2 2,3 -3 3))",
         2,
         {2, 2},
         24,
         1,
         {0, -3, 3, 2},
         "MULTILINESTRING Z ((100 0 1000,101 2 1001),(102 4 1002,103 -6 1003))"},
        {"POLYGON ZM ((0 0 1 2,1 0 1 2,1 1 1 2,0 0 1 2))",
         1,
         {4},
         32,
         1,
         {0, 0, 1, 1},
         "POLYGON ZM ((100 0 1001 2,101 0 1001 2,101 2 1001 2,100 0 1001 2))"},
        {"GEOMETRYCOLLECTION Z (POINT Z (1 2 3),LINESTRING Z (0 0 0,1 1 1))",
         2,
         {1, 2},
         24,
         1,
         {0, 0, 1, 2},
         "GEOMETRYCOLLECTION Z (POINT Z (101 4 1003),LINESTRING Z (100 0 1000,"
         "101 2 1001))"},
        {"CIRCULARSTRING (0 0,1 1,2 0)",
         1,
         {3},
         16,
         0,
         {0, 0, 2, 1},
         "CIRCULARSTRING (100 0,101 2,102 0)"},
        {"CIRCULARSTRING Z (0 0 1,1 1 2,2 0 3)",
         1,
         {3},
         24,
         1,
         {0, 0, 2, 1},
         "CIRCULARSTRING Z (100 0 1001,101 2 1002,102 0 1003)"},
        {"COMPOUNDCURVE (CIRCULARSTRING (0 0,1 1,2 0),(2 0,3 0))",
         2,
         {3, 2},
         16,
         0,
         {0, 0, 3, 1},
         "COMPOUNDCURVE (CIRCULARSTRING (100 0,101 2,102 0),(102 0,103 0))"},
        {"CURVEPOLYGON (CIRCULARSTRING (0 0,2 0,2 2,0 2,0 0))",
         1,
         {5},
         16,
         0,
         {0, 0, 2, 2},
         "CURVEPOLYGON (CIRCULARSTRING (100 0,102 0,102 4,100 4,100 0))"},
        {"TRIANGLE ((0 0,1 0,0 1,0 0))",
         1,
         {4},
         16,
         0,
         {0, 0, 1, 1},
         "TRIANGLE ((100 0,101 0,100 2,100 0))"},
        {"MULTIPOINT ZM ((1 2 3 4),(5 6 7 8))",
         2,
         {1, 1},
         32,
         1,
         {1, 2, 5, 6},
         "MULTIPOINT ZM ((101 4 1003 4),(105 12 1007 8))"},
        {"MULTICURVE ((0 0,1 1),CIRCULARSTRING (1 1,2 2,3 1))",
         2,
         {2, 3},
         16,
         0,
         {0, 0, 3, 2},
         "MULTICURVE ((100 0,101 2),CIRCULARSTRING (101 2,102 4,103 2))"},
        {"MULTISURFACE (((0 0,1 0,1 1,0 0)),CURVEPOLYGON (CIRCULARSTRING (0 0,2 0,2 2,0 2,0 0)))",
         2,
         {4, 5},
         16,
         0,
         {0, 0, 2, 2},
         "MULTISURFACE (((100 0,101 0,101 2,100 0)),CURVEPOLYGON (CIRCULARSTRING (100 0,102 0,"
         "102 4,100 4,100 0)))"},
        {"POLYHEDRALSURFACE Z (((0 0 0,1 0 0,0 1 0,0 0 0)),((0 0 0,0 1 0,0 0 1,0 0 0)))",
         2,
         {4, 4},
         24,
         1,
         {0, 0, 1, 1},
         "POLYHEDRALSURFACE Z (((100 0 1000,101 0 1000,100 2 1000,100 0 1000)),((100 0 1000,"
         "100 2 1000,100 0 1001,100 0 1000)))"},
        {"TIN M (((0 0 5,1 0 5,0 1 5,0 0 5)))",
         1,
         {4},
         24,
         0,
         {0, 0, 1, 1},
         "TIN M (((100 0 5,101 0 5,100 2 5,100 0 5)))"},
        {"MULTIPOLYGON M (((0 0 1,1 0 2,1 1 3,0 0 1)),EMPTY)",
         1,
         {4},
         24,
         0,
         {0, 0, 1, 1},
         "MULTIPOLYGON M (((100 0 1,101 0 2,101 2 3,100 0 1)),EMPTY)"},
};

#define NCASES (sizeof cases / sizeof cases[0])

/* Byte orders in the loop tests: _i / 2 is the case, _i % 2 the order. */
static OGRwkbByteOrder order_of(int i)
{
	return i % 2 ? wkbXDR : wkbNDR;
}

static OGRGeometryH from_wkt(const char *wkt)
{
	OGRGeometryH g = NULL;
	char *w = (char *)wkt;

	ck_assert_msg(OGR_G_CreateFromWkt(&w, NULL, &g) == OGRERR_NONE && g != NULL,
	              "OGR cannot read '%s'", wkt);
	return g;
}

/* ISO WKB of `wkt` in a malloc'd buffer of exactly its size. */
static unsigned char *make_wkb(const char *wkt, OGRwkbByteOrder order, size_t *len)
{
	OGRGeometryH g = from_wkt(wkt);
	unsigned char *buf;

	*len = OGR_G_WkbSizeEx(g);
	ck_assert_uint_gt(*len, 0);
	buf = malloc(*len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(OGR_G_ExportToIsoWkb(g, order, buf), OGRERR_NONE);
	OGR_G_DestroyGeometry(g);
	return buf;
}

static char *iso_wkt(OGRGeometryH g)
{
	char *s = NULL;

	ck_assert_int_eq(OGR_G_ExportToIsoWkt(g, &s), OGRERR_NONE);
	return s;
}

static double rd(const unsigned char *p, int le)
{
	unsigned char b[8];
	double d;

	for (int i = 0; i < 8; i++)
		b[i] = le ? p[i] : p[7 - i];
	memcpy(&d, b, 8);
	return d;
}

static void wr(unsigned char *p, double d, int le)
{
	unsigned char b[8];

	memcpy(b, &d, 8);
	for (int i = 0; i < 8; i++)
		p[i] = le ? b[i] : b[7 - i];
}

struct collect {
	size_t n;
	struct wkb_run r[MAX_RUNS];
	const unsigned char *start, *end;
};

static int collect_run(const struct wkb_run *run, void *ctx)
{
	struct collect *c = ctx;

	/* every point of the run lies inside the buffer */
	ck_assert(run->p >= c->start);
	ck_assert(run->p + run->n * run->stride <= c->end);
	ck_assert_uint_gt(run->n, 0);
	if (c->n < MAX_RUNS)
		c->r[c->n] = *run;
	c->n++;
	return 0;
}

static int move_run(const struct wkb_run *run, void *ctx)
{
	(void)ctx;
	for (size_t i = 0; i < run->n; i++) {
		unsigned char *pt = run->p + i * run->stride;

		wr(pt, rd(pt, run->le) + 100, run->le);
		wr(pt + 8, rd(pt + 8, run->le) * 2, run->le);
		if (run->has_z)
			wr(pt + 16, rd(pt + 16, run->le) + 1000, run->le);
	}
	return 0;
}

/* ---- wkb_walk -------------------------------------------------------- */

START_TEST(walk_runs)
{
	const struct wkb_case *t = &cases[_i / 2];
	OGRwkbByteOrder order = order_of(_i);
	size_t len;
	unsigned char *wkb = make_wkb(t->wkt, order, &len);
	struct collect c = {.start = wkb, .end = wkb + len};
	const char *why = "untouched";

	ck_assert_int_eq(wkb_walk(wkb, len, collect_run, &c, &why), 0);
	ck_assert_str_eq(why, "untouched");
	ck_assert_msg(c.n == t->nruns, "%s: %zu runs, want %zu", t->wkt, c.n, t->nruns);
	for (size_t i = 0; i < c.n; i++) {
		ck_assert_uint_eq(c.r[i].n, t->run_n[i]);
		ck_assert_uint_eq(c.r[i].stride, t->stride);
		ck_assert_int_eq(c.r[i].has_z, t->has_z);
		ck_assert_int_eq(c.r[i].le, order == wkbNDR);
		/* runs come in order, without overlap */
		if (i > 0)
			ck_assert(c.r[i].p >= c.r[i - 1].p + c.r[i - 1].n * c.r[i - 1].stride);
	}
	/* validation only: no callback */
	ck_assert_int_eq(wkb_walk(wkb, len, NULL, NULL, NULL), 0);
	free(wkb);
}
END_TEST

START_TEST(walk_run_offsets)
{
	size_t len;
	unsigned char *wkb = make_wkb("LINESTRING Z (1 2 3,4 5 6)", wkbNDR, &len);
	struct collect c = {.start = wkb, .end = wkb + len};

	/* 1 byte order, 4 type, 4 count, then the points */
	ck_assert_uint_eq(len, 9 + 2 * 24);
	ck_assert_int_eq(wkb_walk(wkb, len, collect_run, &c, NULL), 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_ptr_eq(c.r[0].p, wkb + 9);
	ck_assert(rd(c.r[0].p + 24 + 16, 1) == 6.0);
	free(wkb);

	wkb = make_wkb("POLYGON ((0 0,1 0,1 1,0 0),(0.25 0.25,0.5 0.25,0.5 0.5,0.25 0.25))", wkbXDR,
	               &len);
	c = (struct collect){.start = wkb, .end = wkb + len};
	ck_assert_int_eq(wkb_walk(wkb, len, collect_run, &c, NULL), 0);
	ck_assert_uint_eq(c.n, 2);
	/* header 9, ring count 4... first ring's points after its own count */
	ck_assert_ptr_eq(c.r[0].p, wkb + 9 + 4);
	ck_assert_ptr_eq(c.r[1].p, wkb + 9 + 4 + 4 * 16 + 4);
	ck_assert(rd(c.r[1].p, 0) == 0.25);
	free(wkb);
}
END_TEST

START_TEST(walk_move_and_reimport)
{
	const struct wkb_case *t = &cases[_i / 2];
	OGRwkbByteOrder order = order_of(_i);
	size_t len;
	unsigned char *wkb = make_wkb(t->wkt, order, &len);
	OGRGeometryH got = NULL, want = from_wkt(t->moved);
	char *got_wkt, *want_wkt;

	ck_assert_int_eq(wkb_walk(wkb, len, move_run, NULL, NULL), 0);
	ck_assert_int_eq(OGR_G_CreateFromWkbEx(wkb, NULL, &got, len), OGRERR_NONE);
	got_wkt = iso_wkt(got);
	want_wkt = iso_wkt(want);
	ck_assert_str_eq(got_wkt, want_wkt);
	CPLFree(got_wkt);
	CPLFree(want_wkt);
	OGR_G_DestroyGeometry(got);
	OGR_G_DestroyGeometry(want);
	free(wkb);
}
END_TEST

static int stop_at_second(const struct wkb_run *run, void *ctx)
{
	int *calls = ctx;

	(void)run;
	return ++*calls == 2 ? 42 : 0;
}

START_TEST(walk_stops_on_callback)
{
	size_t len;
	unsigned char *wkb = make_wkb("MULTIPOINT ((1 2),(3 4),(5 6))", wkbNDR, &len);
	int calls = 0;

	ck_assert_int_eq(wkb_walk(wkb, len, stop_at_second, &calls, NULL), 42);
	ck_assert_int_eq(calls, 2);
	free(wkb);
	/* the same inside a polygon's rings */
	wkb = make_wkb("POLYGON ((0 0,1 0,1 1,0 0),(0 0,1 0,1 1,0 0),(0 0,1 0,1 1,0 0))", wkbXDR,
	               &len);
	calls = 0;
	ck_assert_int_eq(wkb_walk(wkb, len, stop_at_second, &calls, NULL), 42);
	ck_assert_int_eq(calls, 2);
	free(wkb);
}
END_TEST

START_TEST(walk_truncated_everywhere)
{
	const struct wkb_case *t = &cases[_i / 2];
	size_t len;
	unsigned char *wkb = make_wkb(t->wkt, order_of(_i), &len);

	for (size_t n = 0; n < len; n++) {
		/* a buffer of exactly n bytes: any read past it is caught by
		 * valgrind or ASan */
		unsigned char *cut = malloc(n ? n : 1);
		const char *why = NULL;
		struct collect c = {.start = cut, .end = cut + n};
		double env[4] = {-1, -1, -1, -1};

		ck_assert_ptr_nonnull(cut);
		memcpy(cut, wkb, n);
		ck_assert_msg(wkb_walk(cut, n, collect_run, &c, &why) == -2, "%s cut at %zu of %zu",
		              t->wkt, n, len);
		ck_assert_str_eq(why, "truncated WKB");
		ck_assert_int_eq(wkb_npoints(cut, n), -1);
		ck_assert_int_eq(wkb_envelope(cut, n, env), -2);
		/* a failed envelope leaves the output alone */
		ck_assert(env[0] == -1 && env[3] == -1);
		free(cut);
	}
	free(wkb);
}
END_TEST

/* `depth` collections, one inside the other, around POINT (1 2). */
static unsigned char *nested(int depth, size_t *len)
{
	unsigned char *buf = malloc((size_t)depth * 9 + 21);
	unsigned char *p = buf;
	double x = 1, y = 2;

	ck_assert_ptr_nonnull(buf);
	for (int i = 0; i < depth; i++) {
		uint32_t type = 7, n = 1;

		*p++ = 1;
		memcpy(p, &type, 4);
		memcpy(p + 4, &n, 4);
		p += 8;
	}
	*p++ = 1;
	{
		uint32_t type = 1;

		memcpy(p, &type, 4);
	}
	memcpy(p + 4, &x, 8);
	memcpy(p + 12, &y, 8);
	*len = (size_t)depth * 9 + 21;
	return buf;
}

START_TEST(walk_nesting_limit)
{
	size_t len;
	unsigned char *wkb;
	const char *why = NULL;
	double env[4];

	/* 32 collections around a point: the point is at depth 32, the last allowed */
	wkb = nested(32, &len);
	ck_assert_int_eq(wkb_walk(wkb, len, NULL, NULL, &why), 0);
	ck_assert_int_eq(wkb_npoints(wkb, len), 1);
	ck_assert_int_eq(wkb_envelope(wkb, len, env), 0);
	ck_assert(env[0] == 1 && env[1] == 2 && env[2] == 1 && env[3] == 2);
	free(wkb);

	wkb = nested(33, &len);
	ck_assert_int_eq(wkb_walk(wkb, len, NULL, NULL, &why), -2);
	ck_assert_str_eq(why, "WKB nested too deeply");
	free(wkb);

	wkb = nested(40, &len);
	why = NULL;
	ck_assert_int_eq(wkb_walk(wkb, len, NULL, NULL, &why), -2);
	ck_assert_str_eq(why, "WKB nested too deeply");
	ck_assert_int_eq(wkb_npoints(wkb, len), -1);
	ck_assert_int_eq(wkb_envelope(wkb, len, env), -2);
	free(wkb);

	/* deep but truncated: the truncation is found on the way down */
	wkb = nested(40, &len);
	ck_assert_int_eq(wkb_walk(wkb, 9 * 20 + 3, NULL, NULL, &why), -2);
	ck_assert_str_eq(why, "truncated WKB");
	free(wkb);
}
END_TEST

static void put_u32(unsigned char *p, uint32_t v, int le)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(le ? v >> (8 * i) : v >> (8 * (3 - i)));
}

START_TEST(walk_malformed_headers)
{
	unsigned char b[64];
	const char *why;

	memset(b, 0, sizeof b);
	/* byte order other than 0 and 1 */
	b[0] = 2;
	put_u32(b + 1, 1, 1);
	why = NULL;
	ck_assert_int_eq(wkb_walk(b, 21, NULL, NULL, &why), -2);
	ck_assert_str_eq(why, "bad WKB byte order");

	/* types the walker does not know: 0, 13 (curve), 14 (surface), 18, 99,
	 * dimensions past ZM, and EWKB with an SRID (4 more header bytes) */
	{
		const uint32_t bad[] = {0, 13, 14, 18, 99, 4001, 5002, 0x20000001u, 0xA0000002u};

		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			b[0] = 1;
			put_u32(b + 1, bad[i], 1);
			why = NULL;
			ck_assert_int_eq(wkb_walk(b, sizeof b, NULL, NULL, &why), -2);
			ck_assert_str_eq(why, "unsupported WKB geometry type");
		}
	}

	/* a linestring claiming 2^32-1 points in 55 bytes: no overflow */
	b[0] = 0;
	put_u32(b + 1, 2, 0);
	put_u32(b + 5, 0xffffffffu, 0);
	why = NULL;
	ck_assert_int_eq(wkb_walk(b, sizeof b, NULL, NULL, &why), -2);
	ck_assert_str_eq(why, "truncated WKB");
	/* a ZM linestring whose count fits in 16-byte but not in 32-byte points */
	b[0] = 1;
	put_u32(b + 1, 3002, 1);
	put_u32(b + 5, 3, 1);
	why = NULL;
	ck_assert_int_eq(wkb_walk(b, 9 + 3 * 16, NULL, NULL, &why), -2);
	ck_assert_str_eq(why, "truncated WKB");
	/* a polygon claiming 2^32-1 empty rings */
	b[0] = 1;
	put_u32(b + 1, 3, 1);
	put_u32(b + 5, 0xffffffffu, 1);
	memset(b + 9, 0, sizeof b - 9);
	why = NULL;
	ck_assert_int_eq(wkb_walk(b, sizeof b, NULL, NULL, &why), -2);
	ck_assert_str_eq(why, "truncated WKB");
	/* a collection claiming more members than it has */
	b[0] = 1;
	put_u32(b + 1, 7, 1);
	put_u32(b + 5, 1000, 1);
	b[9] = 1;
	put_u32(b + 10, 2, 1);
	put_u32(b + 14, 0, 1);
	why = NULL;
	ck_assert_int_eq(wkb_walk(b, 18, NULL, NULL, &why), -2);
	ck_assert_str_eq(why, "truncated WKB");
}
END_TEST

START_TEST(walk_ewkb_flags)
{
	/* old-style dimension flags: 0x80000000 Z, 0x40000000 M */
	unsigned char b[9 + 2 * 32];
	double v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct collect c = {.start = b, .end = b + sizeof b};

	b[0] = 1;
	put_u32(b + 1, 0xC0000002u, 1);
	put_u32(b + 5, 2, 1);
	memcpy(b + 9, v, sizeof v);
	ck_assert_int_eq(wkb_walk(b, sizeof b, collect_run, &c, NULL), 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_uint_eq(c.r[0].stride, 32);
	ck_assert_int_eq(c.r[0].has_z, 1);
	ck_assert_int_eq(wkb_npoints(b, sizeof b), 2);
	ck_assert(rd(c.r[0].p + 32 + 16, 1) == 7.0);
}
END_TEST

/* ---- wkb_npoints ----------------------------------------------------- */

static int64_t total_points(const struct wkb_case *t)
{
	int64_t n = 0;

	for (size_t i = 0; i < t->nruns; i++)
		n += (int64_t)t->run_n[i];
	return n;
}

START_TEST(npoints_counts)
{
	const struct wkb_case *t = &cases[_i / 2];
	size_t len;
	unsigned char *wkb = make_wkb(t->wkt, order_of(_i), &len);
	OGRGeometryH g = from_wkt(t->wkt);

	ck_assert_int_eq(wkb_npoints(wkb, len), total_points(t));
	/* the buffer is not touched */
	{
		size_t len2;
		unsigned char *again = make_wkb(t->wkt, order_of(_i), &len2);

		ck_assert_uint_eq(len2, len);
		ck_assert_int_eq(memcmp(again, wkb, len), 0);
		free(again);
	}
	OGR_G_DestroyGeometry(g);
	free(wkb);
}
END_TEST

START_TEST(npoints_malformed)
{
	unsigned char b[5] = {7, 1, 0, 0, 0};

	ck_assert_int_eq(wkb_npoints(b, sizeof b), -1);
	ck_assert_int_eq(wkb_npoints(b, 0), -1);
}
END_TEST

/* ---- wkb_envelope ---------------------------------------------------- */

START_TEST(envelope_of_points)
{
	const struct wkb_case *t = &cases[_i / 2];
	size_t len;
	unsigned char *wkb = make_wkb(t->wkt, order_of(_i), &len);
	double env[4] = {-7, -7, -7, -7};
	int r = wkb_envelope(wkb, len, env);

	if (t->nruns == 0) {
		ck_assert_int_eq(r, 1);
		ck_assert(env[0] == -7 && env[1] == -7 && env[2] == -7 && env[3] == -7);
	} else {
		ck_assert_int_eq(r, 0);
		for (int k = 0; k < 4; k++)
			ck_assert_msg(env[k] == t->env[k], "%s %s: env[%d] = %g, want %g", t->wkt,
			              _i % 2 ? "XDR" : "NDR", k, env[k], t->env[k]);
	}
	free(wkb);
}
END_TEST

START_TEST(envelope_matches_ogr_for_linear_types)
{
	static const char *const wkts[] = {
	        "MULTIPOLYGON (((-180 -90,180 -90,180 90,-180 -90)),((1e6 2e6,1e6 3e6,2e6 3e6,1e6 "
	        "2e6)))",
	        "LINESTRING Z (3.5 -2.25 100,-7.125 9 -5,0 0 0)",
	        "MULTIPOINT ((0.1 0.2),(-0.3 0.4),(0.5 -0.6))",
	};

	for (size_t i = 0; i < sizeof wkts / sizeof wkts[0]; i++) {
		OGRGeometryH g = from_wkt(wkts[i]);
		OGREnvelope e;
		size_t len;
		unsigned char *wkb = make_wkb(wkts[i], i % 2 ? wkbXDR : wkbNDR, &len);
		double env[4];

		OGR_G_GetEnvelope(g, &e);
		ck_assert_int_eq(wkb_envelope(wkb, len, env), 0);
		ck_assert(env[0] == e.MinX && env[1] == e.MinY && env[2] == e.MaxX &&
		          env[3] == e.MaxY);
		OGR_G_DestroyGeometry(g);
		free(wkb);
	}
}
END_TEST

/* ---- wkb_get_d / wkb_put_d ------------------------------------------- */

START_TEST(coord_both_orders)
{
	static const double v[] = {0.0, -0.0, 1.5, -1234.5e100, 5e-324, INFINITY};
	unsigned char b[8];

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		for (int le = 0; le < 2; le++) {
			/* the test's byte-by-byte reader is the oracle */
			wkb_put_d(b, v[i], le);
			ck_assert(rd(b, le) == v[i]);
			ck_assert_int_eq(signbit(rd(b, le)) != 0, signbit(v[i]) != 0);
			wr(b, v[i], le);
			ck_assert(wkb_get_d(b, le) == v[i]);
		}
	/* the same bytes read in the other order are another number */
	wr(b, 1.5, 1);
	ck_assert(wkb_get_d(b, 0) != 1.5);
	ck_assert(b[7] == 0x3f && b[6] == 0xf8);
	wkb_put_d(b, 1.5, 0);
	ck_assert(b[0] == 0x3f && b[1] == 0xf8);
}
END_TEST

/* ---- the cursor: wkb_read_head, wkb_read_count, wkb_read_points ------ */

START_TEST(head_of_every_case)
{
	const struct wkb_case *t = &cases[_i / 2];
	OGRwkbByteOrder order = order_of(_i);
	size_t len;
	unsigned char *wkb = make_wkb(t->wkt, order, &len);
	OGRGeometryH g = from_wkt(t->wkt);
	struct wkb_cursor c = wkb_cursor_at(wkb, len);
	struct wkb_head h;

	ck_assert_int_eq(wkb_read_head(&c, &h), 0);
	ck_assert_ptr_null(c.why);
	ck_assert_ptr_eq(h.at, wkb);
	ck_assert_ptr_eq(c.p, wkb + 5);
	ck_assert_ptr_eq(c.end, wkb + len);
	/* OGR numbers the flat types as ISO does */
	ck_assert_uint_eq(h.type, (uint32_t)wkbFlatten(OGR_G_GetGeometryType(g)));
	ck_assert_int_eq(h.le, order == wkbNDR);
	ck_assert_int_eq(h.has_z, OGR_G_Is3D(g) != 0);
	ck_assert_int_eq(h.has_m, OGR_G_IsMeasured(g) != 0);
	ck_assert_uint_eq(h.stride, t->stride);
	OGR_G_DestroyGeometry(g);
	free(wkb);
}
END_TEST

START_TEST(head_dimensions)
{
	/* ISO thousands and the old flags, for a point; both byte orders */
	static const struct {
		uint32_t type;
		int z, m;
	} t[] = {
	        {1, 0, 0},           {1001, 1, 0},        {2001, 0, 1},
	        {3001, 1, 1},        {0x80000001u, 1, 0}, {0x40000001u, 0, 1},
	        {0xC0000001u, 1, 1}, {0x80000000u | 1001, 1, 0}, {0x40000000u | 1001, 1, 1},
	};
	unsigned char b[5];

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		for (int le = 0; le < 2; le++) {
			struct wkb_cursor c = wkb_cursor_at(b, sizeof b);
			struct wkb_head h;

			b[0] = (unsigned char)le;
			put_u32(b + 1, t[i].type, le);
			ck_assert_int_eq(wkb_read_head(&c, &h), 0);
			ck_assert_uint_eq(h.type, 1);
			ck_assert_int_eq(h.has_z, t[i].z);
			ck_assert_int_eq(h.has_m, t[i].m);
			ck_assert_uint_eq(h.stride, 16 + 8 * (size_t)(t[i].z + t[i].m));
		}
}
END_TEST

START_TEST(head_refused)
{
	static const struct {
		unsigned char order;
		uint32_t type;
		const char *why;
	} t[] = {
	        {2, 1, "bad WKB byte order"},
	        {0xff, 1, "bad WKB byte order"},
	        {1, 4001, "unsupported WKB geometry type"},
	        {0, 0x20000001u, "unsupported WKB geometry type"},
	        {1, 0xE0000003u, "unsupported WKB geometry type"},
	};
	unsigned char b[9] = {0};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct wkb_cursor c = wkb_cursor_at(b, sizeof b);
		struct wkb_head h;

		b[0] = t[i].order;
		put_u32(b + 1, t[i].type, t[i].order == 1);
		ck_assert_int_eq(wkb_read_head(&c, &h), -1);
		ck_assert_str_eq(c.why, t[i].why);
	}
	/* fewer than 5 bytes, in a buffer of exactly that size */
	for (size_t n = 0; n < 5; n++) {
		unsigned char *cut = malloc(n ? n : 1);
		struct wkb_cursor c = wkb_cursor_at(cut, n);
		struct wkb_head h;

		ck_assert_ptr_nonnull(cut);
		memset(cut, 1, n);
		ck_assert_int_eq(wkb_read_head(&c, &h), -1);
		ck_assert_str_eq(c.why, "truncated WKB");
		free(cut);
	}
}
END_TEST

START_TEST(count_both_orders_and_truncated)
{
	unsigned char b[4] = {0x01, 0x02, 0x03, 0x04};
	struct wkb_cursor c = wkb_cursor_at(b, sizeof b);
	uint32_t n = 7;

	ck_assert_int_eq(wkb_read_count(&c, 1, &n), 0);
	ck_assert_uint_eq(n, 0x04030201u);
	ck_assert_ptr_eq(c.p, b + 4);
	/* nothing left: refused, the count untouched */
	n = 7;
	ck_assert_int_eq(wkb_read_count(&c, 1, &n), -1);
	ck_assert_str_eq(c.why, "truncated WKB");
	ck_assert_uint_eq(n, 7);
	c = wkb_cursor_at(b, sizeof b);
	ck_assert_int_eq(wkb_read_count(&c, 0, &n), 0);
	ck_assert_uint_eq(n, 0x01020304u);
	c = wkb_cursor_at(b, 3);
	ck_assert_int_eq(wkb_read_count(&c, 0, &n), -1);
	ck_assert_ptr_eq(c.p, b);
}
END_TEST

START_TEST(points_bounds)
{
	unsigned char b[3 * 32] = {0};
	const unsigned char *at = NULL;
	struct wkb_cursor c = wkb_cursor_at(b, sizeof b);

	/* exactly what is there, then nothing more */
	ck_assert_int_eq(wkb_read_points(&c, 3, 32, &at), 0);
	ck_assert_ptr_eq(at, b);
	ck_assert_ptr_eq(c.p, b + sizeof b);
	ck_assert_int_eq(wkb_read_points(&c, 0, 32, &at), 0);
	ck_assert_ptr_eq(at, b + sizeof b);
	ck_assert_int_eq(wkb_read_points(&c, 1, 16, &at), -1);
	ck_assert_str_eq(c.why, "truncated WKB");
	/* one point too many, at every stride */
	for (size_t s = 16; s <= 32; s += 8) {
		c = wkb_cursor_at(b, sizeof b);
		ck_assert_int_eq(wkb_read_points(&c, (uint32_t)(sizeof b / s) + 1, s, &at), -1);
		ck_assert_ptr_eq(c.p, b);
		c = wkb_cursor_at(b + 1, sizeof b - 1);
		ck_assert_int_eq(wkb_read_points(&c, (uint32_t)(sizeof b / s), s, &at), -1);
	}
	/* counts whose byte size overflows 32 bits (and 2^32-1 of them) */
	c = wkb_cursor_at(b, sizeof b);
	ck_assert_int_eq(wkb_read_points(&c, 0x08000001u, 32, &at), -1);
	ck_assert_int_eq(wkb_read_points(&c, 0xffffffffu, 32, &at), -1);
	ck_assert_str_eq(c.why, "truncated WKB");
}
END_TEST

/* ---- wkb_mend -------------------------------------------------------- */

/* The mended WKB of `in` in a buffer of exactly its size; NULL when
 * refused.  Measuring and writing must agree. */
static unsigned char *mend(const unsigned char *in, size_t len, size_t *out_len)
{
	size_t n = wkb_mend(in, len, NULL);
	unsigned char *out;

	*out_len = 0;
	if (n == 0)
		return NULL;
	out = malloc(n);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(wkb_mend(in, len, out), n);
	*out_len = n;
	return out;
}

static const struct {
	const char *in, *want;
} mends[] = {
        {"POLYGON ((0 0,1 0,1 1,0 1))", "POLYGON ((0 0,1 0,1 1,0 1,0 0))"},
        {"POLYGON ((0 0,1 0,1 1))", "POLYGON ((0 0,1 0,1 1,0 0))"},
        {"POLYGON ((0 0,1 0,0 0))", "POLYGON ((0 0,1 0,0 0,0 0))"},
        {"POLYGON ((0 0,1 0))", "POLYGON ((0 0,1 0,0 0,0 0))"},
        {"POLYGON ((5 5))", "POLYGON ((5 5,5 5,5 5,5 5))"},
        {"LINESTRING (3 4)", "LINESTRING (3 4,3 4)"},
        {"POLYGON M ((0 0 7,1 0 8,1 1 9))", "POLYGON M ((0 0 7,1 0 8,1 1 9,0 0 7))"},
        {"MULTIPOLYGON Z (((0 0 1,1 0 2,1 1 3)),((0 0 0,1 1 1,0 0 0,0 0 0)))",
         "MULTIPOLYGON Z (((0 0 1,1 0 2,1 1 3,0 0 1)),((0 0 0,1 1 1,0 0 0,0 0 0)))"},
        {"GEOMETRYCOLLECTION ZM (LINESTRING ZM (1 1 1 1),POINT EMPTY,POLYGON EMPTY,"
         "MULTILINESTRING ZM ((2 2 2 2)))",
         "GEOMETRYCOLLECTION ZM (LINESTRING ZM (1 1 1 1,1 1 1 1),POINT EMPTY,POLYGON EMPTY,"
         "MULTILINESTRING ZM ((2 2 2 2,2 2 2 2)))"},
};

START_TEST(mend_closes_and_pads)
{
	size_t k = (size_t)_i / 2, len, n;
	OGRwkbByteOrder order = order_of(_i);
	unsigned char *wkb = make_wkb(mends[k].in, order, &len);
	unsigned char *out = mend(wkb, len, &n);
	OGRGeometryH got = NULL, want = from_wkt(mends[k].want);
	char *got_wkt, *want_wkt;

	ck_assert_msg(out != NULL, "%s refused", mends[k].in);
	ck_assert_int_eq(out[0], order == wkbNDR);
	ck_assert_int_eq(wkb_walk(out, n, NULL, NULL, NULL), 0);
	ck_assert_int_eq(OGR_G_CreateFromWkbEx(out, NULL, &got, n), OGRERR_NONE);
	got_wkt = iso_wkt(got);
	want_wkt = iso_wkt(want);
	ck_assert_str_eq(got_wkt, want_wkt);
	/* the input is only read */
	{
		size_t len2;
		unsigned char *again = make_wkb(mends[k].in, order, &len2);

		ck_assert_int_eq(memcmp(again, wkb, len), 0);
		free(again);
	}
	CPLFree(got_wkt);
	CPLFree(want_wkt);
	OGR_G_DestroyGeometry(got);
	OGR_G_DestroyGeometry(want);
	free(out);
	free(wkb);
}
END_TEST

START_TEST(mend_keeps_or_refuses_every_case)
{
	const struct wkb_case *t = &cases[_i / 2];
	size_t len, n;
	unsigned char *wkb = make_wkb(t->wkt, order_of(_i), &len);
	unsigned char *out = mend(wkb, len, &n);
	OGRGeometryH g = from_wkt(t->wkt);
	OGRwkbGeometryType type = wkbFlatten(OGR_G_GetGeometryType(g));

	if (type >= wkbPoint && type <= wkbGeometryCollection) {
		/* nothing to mend in these: the same bytes */
		ck_assert_msg(out != NULL, "%s refused", t->wkt);
		ck_assert_uint_eq(n, len);
		ck_assert_int_eq(memcmp(out, wkb, len), 0);
	} else {
		/* curves, surfaces, triangles: GEOS cannot read them */
		ck_assert_msg(out == NULL, "%s mended", t->wkt);
	}
	OGR_G_DestroyGeometry(g);
	free(out);
	free(wkb);
}
END_TEST

START_TEST(mend_refuses_malformed)
{
	size_t k = (size_t)_i / 2, len, n;
	unsigned char *wkb = make_wkb(mends[k].in, order_of(_i), &len);
	unsigned char *longer = malloc(len + 1);

	/* every cut, in a buffer of exactly that size */
	for (size_t cut = 0; cut < len; cut++) {
		unsigned char *b = malloc(cut ? cut : 1);

		ck_assert_ptr_nonnull(b);
		memcpy(b, wkb, cut);
		ck_assert_msg(mend(b, cut, &n) == NULL, "%s cut at %zu", mends[k].in, cut);
		free(b);
	}
	/* a byte after the geometry */
	ck_assert_ptr_nonnull(longer);
	memcpy(longer, wkb, len);
	longer[len] = 0;
	ck_assert_ptr_null(mend(longer, len + 1, &n));
	/* a bad byte order */
	wkb[0] = 3;
	ck_assert_ptr_null(mend(wkb, len, &n));
	free(longer);
	free(wkb);
}
END_TEST

START_TEST(mend_nesting_limit)
{
	size_t len, n;
	unsigned char *wkb = nested(32, &len);
	unsigned char *out = mend(wkb, len, &n);

	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(n, len);
	ck_assert_int_eq(memcmp(out, wkb, len), 0);
	free(out);
	free(wkb);
	wkb = nested(33, &len);
	ck_assert_ptr_null(mend(wkb, len, &n));
	free(wkb);
}
END_TEST

/* ---- wkb_simple_run -------------------------------------------------- */

/* Whatever wkb_simple_run() accepts, the walk hands out as the same one
 * run; it accepts the plain points and linestrings (2D and Z, not empty),
 * and nothing cut short. */
START_TEST(simple_run_is_the_walks)
{
	const struct wkb_case *t = &cases[_i / 2];
	OGRwkbByteOrder order = order_of(_i);
	size_t len;
	unsigned char *wkb = make_wkb(t->wkt, order, &len);
	bool plain = t->nruns == 1 &&
	             (strncmp(t->wkt, "POINT (", 7) == 0 || strncmp(t->wkt, "POINT Z (", 9) == 0 ||
	              strncmp(t->wkt, "LINESTRING (", 12) == 0 ||
	              strncmp(t->wkt, "LINESTRING Z (", 14) == 0);

	for (size_t cut = 0; cut <= len; cut++) {
		struct collect c = {.start = wkb, .end = wkb + cut};
		struct wkb_run run;
		int r = wkb_simple_run(wkb, cut, &run);

		ck_assert_msg(r == (plain && cut == len), "%s cut to %zu of %zu: %d", t->wkt, cut,
		              len, r);
		if (r == 0)
			continue;
		ck_assert_int_eq(wkb_walk(wkb, cut, collect_run, &c, NULL), 0);
		ck_assert_uint_eq(c.n, 1);
		ck_assert_ptr_eq(run.p, c.r[0].p);
		ck_assert_uint_eq(run.n, c.r[0].n);
		ck_assert_uint_eq(run.stride, c.r[0].stride);
		ck_assert_int_eq(run.has_z, c.r[0].has_z);
		ck_assert_int_eq(run.le, c.r[0].le);
	}
	free(wkb);
}
END_TEST

START_TEST(simple_run_refuses_what_the_walk_reads_otherwise)
{
	unsigned char b[64];
	struct wkb_run run;

	memset(b, 0, sizeof b);
	/* a linestring claiming 2^32-1 points in 64 bytes: no overflow */
	b[0] = 1;
	put_u32(b + 1, 2, 1);
	put_u32(b + 5, 0xffffffffu, 1);
	ck_assert_int_eq(wkb_simple_run(b, sizeof b, &run), 0);
	/* the old Z flag, M and ZM points, a bad byte order: left to the walk */
	put_u32(b + 1, 0x80000001u, 1);
	ck_assert_int_eq(wkb_simple_run(b, sizeof b, &run), 0);
	put_u32(b + 1, 2001, 1);
	ck_assert_int_eq(wkb_simple_run(b, sizeof b, &run), 0);
	put_u32(b + 1, 3001, 1);
	ck_assert_int_eq(wkb_simple_run(b, sizeof b, &run), 0);
	b[0] = 2;
	put_u32(b + 1, 1, 1);
	ck_assert_int_eq(wkb_simple_run(b, sizeof b, &run), 0);
	/* the same bytes as a plain point are taken */
	b[0] = 1;
	ck_assert_int_eq(wkb_simple_run(b, 21, &run), 1);
	ck_assert_ptr_eq(run.p, b + 5);
	ck_assert_uint_eq(run.n, 1);
}
END_TEST

/* ---- runner ---------------------------------------------------------- */

static Suite *wkb_suite(void)
{
	Suite *s = suite_create("wkb");
	TCase *tc;
	int n = (int)NCASES * 2;

	tc = tcase_create("wkb_walk");
	tcase_add_loop_test(tc, walk_runs, 0, n);
	tcase_add_test(tc, walk_run_offsets);
	tcase_add_loop_test(tc, walk_move_and_reimport, 0, n);
	tcase_add_test(tc, walk_stops_on_callback);
	tcase_add_loop_test(tc, walk_truncated_everywhere, 0, n);
	tcase_add_test(tc, walk_nesting_limit);
	tcase_add_test(tc, walk_malformed_headers);
	tcase_add_test(tc, walk_ewkb_flags);
	suite_add_tcase(s, tc);

	tc = tcase_create("wkb_simple_run");
	tcase_add_loop_test(tc, simple_run_is_the_walks, 0, n);
	tcase_add_test(tc, simple_run_refuses_what_the_walk_reads_otherwise);
	suite_add_tcase(s, tc);

	tc = tcase_create("wkb_npoints");
	tcase_add_loop_test(tc, npoints_counts, 0, n);
	tcase_add_test(tc, npoints_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("wkb_get_d");
	tcase_add_test(tc, coord_both_orders);
	suite_add_tcase(s, tc);

	tc = tcase_create("wkb_read_head");
	tcase_add_loop_test(tc, head_of_every_case, 0, n);
	tcase_add_test(tc, head_dimensions);
	tcase_add_test(tc, head_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("wkb_read_count");
	tcase_add_test(tc, count_both_orders_and_truncated);
	suite_add_tcase(s, tc);

	tc = tcase_create("wkb_read_points");
	tcase_add_test(tc, points_bounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("wkb_mend");
	tcase_add_loop_test(tc, mend_closes_and_pads, 0, (int)(sizeof mends / sizeof mends[0]) * 2);
	tcase_add_loop_test(tc, mend_keeps_or_refuses_every_case, 0, n);
	tcase_add_loop_test(tc, mend_refuses_malformed, 0, (int)(sizeof mends / sizeof mends[0]) * 2);
	tcase_add_test(tc, mend_nesting_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("wkb_envelope");
	tcase_add_loop_test(tc, envelope_of_points, 0, n);
	tcase_add_test(tc, envelope_matches_ogr_for_linear_types);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wkb_suite());
	int failed;

	OGRRegisterAll();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	OGRCleanupAll();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
