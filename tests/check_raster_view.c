/* check_raster_view.c - unit tests for raster views, windows and window
 * buffers (src/raster: raster.h, and the pixel helpers of pixel.h).
 *
 * How a raster is cut into windows is tested through the run itself: a
 * source and a sink written here go through raster_run_all(), the source
 * filling each window it is asked for with its pixels' coordinates, the
 * sink checking them and marking each pixel it receives. */
#include <check.h>
#include <cpl_conv.h>
#include <gdal.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/pipeline.h"
#include "core/account.h"
#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/step.h"
#include "raster/pixel.h"
#include "raster/raster.h"

static struct mem_account run_acct;
static struct stage_acct stage;
static struct arena *a;

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
	mem_account_init(&run_acct, "run", NULL, 0);
	stage_acct_init(&stage, "calc", &run_acct);
	a = arena_create(&stage.mem, 0);
	ck_assert_ptr_nonnull(a);
}

static void teardown(void)
{
	mem_fail_after(0);
	arena_destroy(a);
	gp_err_clear();
}

/* ---- raster_tsize / raster_win_bytes --------------------------------- */

START_TEST(tsize_by_type)
{
	ck_assert_uint_eq(raster_tsize(GDT_Byte), 1);
	ck_assert_uint_eq(raster_tsize(GDT_UInt16), 2);
	ck_assert_uint_eq(raster_tsize(GDT_Int16), 2);
	ck_assert_uint_eq(raster_tsize(GDT_UInt32), 4);
	ck_assert_uint_eq(raster_tsize(GDT_Int32), 4);
	ck_assert_uint_eq(raster_tsize(GDT_Float32), 4);
	ck_assert_uint_eq(raster_tsize(GDT_Float64), 8);
	ck_assert_uint_eq(raster_tsize(GDT_CFloat64), 16);
	/* Never 0: sizes are multiplied and divided by it. */
	ck_assert_uint_eq(raster_tsize(GDT_Unknown), 1);
}
END_TEST

START_TEST(win_bytes_counts_every_band)
{
	struct rview v = {.width = 100, .height = 100, .nbands = 3, .type = GDT_Int16};
	struct rwin w = {.x = 90, .y = 0, .w = 10, .h = 7};

	ck_assert_uint_eq(raster_win_bytes(&v, &w), 10 * 7 * 3 * 2);
	v.type = GDT_Float64;
	v.nbands = 1;
	ck_assert_uint_eq(raster_win_bytes(&v, &w), 10 * 7 * 8);
	/* Windows of big rasters pass 4 GiB without wrapping in int. */
	v.nbands = 4;
	w.w = w.h = 40000;
	ck_assert_uint_eq(raster_win_bytes(&v, &w), (size_t)40000 * 40000 * 4 * 8);
}
END_TEST

/* ---- raster_view_bands / raster_view_dup ----------------------------- */

START_TEST(view_bands_start_plain)
{
	struct rview v = {0};

	ck_assert_int_eq(raster_view_bands(a, &v, 3), 0);
	ck_assert_int_eq(v.nbands, 3);
	for (int b = 0; b < 3; b++) {
		ck_assert(!v.band[b].has_nodata);
		ck_assert_int_eq(v.band[b].interp, GCI_GrayIndex);
		ck_assert_ptr_null(v.band[b].desc);
	}
	mem_fail_after(1);
	ck_assert_int_eq(raster_view_bands(a, &v, 2), -1);
	mem_fail_after(0);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
}
END_TEST

START_TEST(view_dup_is_deep)
{
	char crs[] = "LOCAL_CS[\"here\"]";
	struct rview v = {.width = 5, .height = 6, .type = GDT_Float32, .gt = {1, 2, 0, 3, 0, -2},
	                  .has_gt = true, .crs = crs, .alpha = 1, .block_w = 5, .block_h = 1};
	struct rview *d;

	ck_assert_int_eq(raster_view_bands(a, &v, 2), 0);
	v.band[1].has_nodata = true;
	v.band[1].nodata = -9999;
	v.band[1].interp = GCI_AlphaBand;
	d = raster_view_dup(a, &v);
	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_ne(d->band, v.band);
	ck_assert_ptr_ne(d->crs, v.crs);
	ck_assert_str_eq(d->crs, crs);
	ck_assert_int_eq(d->width, 5);
	ck_assert_int_eq(d->height, 6);
	ck_assert_int_eq(d->nbands, 2);
	ck_assert_int_eq(d->alpha, 1);
	ck_assert_int_eq(d->block_h, 1);
	ck_assert_mem_eq(d->gt, v.gt, sizeof v.gt);
	ck_assert(d->band[1].has_nodata);
	ck_assert_double_eq(d->band[1].nodata, -9999);
	ck_assert_int_eq(d->band[1].interp, GCI_AlphaBand);
	/* Changing the original leaves the copy. */
	v.band[1].nodata = 0;
	crs[0] = 'X';
	ck_assert_double_eq(d->band[1].nodata, -9999);
	ck_assert_str_eq(d->crs, "LOCAL_CS[\"here\"]");
}
END_TEST

START_TEST(view_dup_allocation_failure)
{
	struct rview v = {.width = 1, .height = 1, .crs = "LOCAL_CS[\"x\"]"};
	uint64_t n;

	ck_assert_int_eq(raster_view_bands(a, &v, 1), 0);
	for (n = 1;; n++) {
		struct rview *d;

		mem_fail_after(n);
		d = raster_view_dup(a, &v);
		mem_fail_after(0);
		if (d != NULL)
			break;
		ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
		gp_err_clear();
	}
	/* The view, its bands, its CRS. */
	ck_assert_uint_eq(n, 4);
}
END_TEST

/* ---- raster_band_number / raster_type_parse -------------------------- */

START_TEST(band_number_range)
{
	int b = -1;

	ck_assert(raster_band_number("1", &b));
	ck_assert_int_eq(b, 1);
	ck_assert(raster_band_number("65535", &b));
	ck_assert_int_eq(b, 65535);
	b = 7;
	ck_assert(!raster_band_number("0", &b));
	ck_assert(!raster_band_number("65536", &b));
	ck_assert(!raster_band_number("-1", &b));
	ck_assert(!raster_band_number("", &b));
	ck_assert(!raster_band_number("2x", &b));
	ck_assert(!raster_band_number("1.0", &b));
	ck_assert(!raster_band_number("99999999999999999999", &b));
	ck_assert_int_eq(b, 7);
}
END_TEST

START_TEST(type_parse_names)
{
	for (int i = 0; raster_type_names[i]; i++) {
		GDALDataType t = raster_type_parse(raster_type_names[i]);

		ck_assert_int_ne(t, GDT_Unknown);
		ck_assert_str_eq(GDALGetDataTypeName(t), raster_type_names[i]);
	}
	ck_assert_int_eq(raster_type_parse("float32"), GDT_Float32);
	ck_assert_int_eq(raster_type_parse("BYTE"), GDT_Byte);
	ck_assert_int_eq(raster_type_parse("Int8"), GDT_Unknown);
	ck_assert_int_eq(raster_type_parse("CFloat64"), GDT_Unknown);
	ck_assert_int_eq(raster_type_parse(""), GDT_Unknown);
}
END_TEST

/* ---- raster_value_fits, raster_to_double / raster_from_double -------- */

START_TEST(value_fits_by_type)
{
	ck_assert(raster_value_fits(0, GDT_Byte));
	ck_assert(raster_value_fits(255, GDT_Byte));
	ck_assert(!raster_value_fits(256, GDT_Byte));
	ck_assert(!raster_value_fits(-1, GDT_Byte));
	ck_assert(!raster_value_fits(1.5, GDT_Byte));
	ck_assert(raster_value_fits(-32768, GDT_Int16));
	ck_assert(!raster_value_fits(32768, GDT_Int16));
	ck_assert(raster_value_fits(65535, GDT_UInt16));
	ck_assert(raster_value_fits(4294967295.0, GDT_UInt32));
	ck_assert(!raster_value_fits(4294967296.0, GDT_UInt32));
	ck_assert(raster_value_fits(-2147483648.0, GDT_Int32));
	ck_assert(!raster_value_fits(-2147483649.0, GDT_Int32));
	ck_assert(raster_value_fits(0.5, GDT_Float32));
	ck_assert(!raster_value_fits(0.1, GDT_Float32));
	ck_assert(!raster_value_fits(1e39, GDT_Float32));
	ck_assert(raster_value_fits(0.1, GDT_Float64));
	ck_assert(raster_value_fits(1e300, GDT_Float64));
	ck_assert(raster_value_fits(NAN, GDT_Float32));
	ck_assert(raster_value_fits(-INFINITY, GDT_Float64));
	ck_assert(!raster_value_fits(NAN, GDT_Int32));
	ck_assert(!raster_value_fits(INFINITY, GDT_UInt16));
}
END_TEST

START_TEST(to_double_reads_each_type)
{
	const uint8_t u8[3] = {0, 7, 255};
	const int16_t i16[3] = {-32768, -1, 32767};
	const uint32_t u32[3] = {0, 1, 4294967295u};
	const float f32[3] = {0.25f, -1e30f, NAN};
	double d[3];

	raster_to_double(u8, GDT_Byte, 3, d);
	ck_assert(d[0] == 0 && d[1] == 7 && d[2] == 255);
	raster_to_double(i16, GDT_Int16, 3, d);
	ck_assert(d[0] == -32768 && d[1] == -1 && d[2] == 32767);
	raster_to_double(u32, GDT_UInt32, 3, d);
	ck_assert(d[0] == 0 && d[1] == 1 && d[2] == 4294967295.0);
	raster_to_double(f32, GDT_Float32, 3, d);
	ck_assert(d[0] == 0.25 && d[1] == (double)-1e30f && isnan(d[2]));
}
END_TEST

START_TEST(from_double_clamps_and_rounds)
{
	const double src[6] = {-5, 0.4, 1.6, 254.7, 300, NAN};
	uint8_t u8[6];
	int16_t i16[6];
	float f32[6];
	const double wide[2] = {-1e6, 1e6};

	raster_from_double(src, 6, GDT_Byte, u8);
	ck_assert_int_eq(u8[0], 0);
	ck_assert_int_eq(u8[1], 0);
	ck_assert_int_eq(u8[2], 2);
	ck_assert_int_eq(u8[3], 255);
	ck_assert_int_eq(u8[4], 255);
	ck_assert_int_eq(u8[5], 0);
	raster_from_double(wide, 2, GDT_Int16, i16);
	ck_assert_int_eq(i16[0], -32768);
	ck_assert_int_eq(i16[1], 32767);
	raster_from_double(src, 6, GDT_Float32, f32);
	ck_assert(f32[1] == 0.4f && f32[4] == 300.0f && isnan(f32[5]));
}
END_TEST

/* ---- pixel.h: nodata and option values ------------------------------- */

START_TEST(pixel_nodata)
{
	struct rband none = {0}, zero = {.has_nodata = true, .nodata = 0};

	ck_assert(raster_is_nodata(NAN, &none));
	ck_assert(!raster_is_nodata(0, &none));
	ck_assert(raster_is_nodata(0, &zero));
	ck_assert(raster_is_nodata(-0.0, &zero));
	ck_assert(!raster_is_nodata(1e-300, &zero));
}
END_TEST

START_TEST(pixel_value_cast_and_parse)
{
	double v = 0.1, p;

	ck_assert(raster_value_cast(&v, GDT_Float32));
	ck_assert(v == (double)0.1f);
	v = 0.1;
	ck_assert(!raster_value_cast(&v, GDT_Int16));
	ck_assert(v == 0.1);
	v = 1e39;
	ck_assert(!raster_value_cast(&v, GDT_Float32));
	ck_assert_int_eq(raster_value_parse("-9999", &p), 0);
	ck_assert(p == -9999);
	ck_assert_int_eq(raster_value_parse("NaN", &p), 0);
	ck_assert(isnan(p));
	ck_assert_int_eq(raster_value_parse(".nan", &p), 0);
	ck_assert_int_eq(raster_value_parse("inf", &p), -1);
	ck_assert_int_eq(raster_value_parse("1e999", &p), -1);
	ck_assert_int_eq(raster_value_parse("3 ", &p), -1);
	ck_assert_int_eq(raster_value_parse("", &p), -1);
}
END_TEST

/* ---- raster_mem_dataset ---------------------------------------------- */

static int open_datasets(void)
{
	GDALDatasetH *list;
	int n = 0;

	GDALGetOpenDatasets(&list, &n);
	return n;
}

/* A 3 x 2 window at (10, 5) of a view, inside a buffer 4 pixels a line
 * with 16 bytes between its two bands. */
START_TEST(mem_dataset_wraps_the_buffer)
{
	struct step step = {.label = "reproject"};
	struct stage s = {.step = &step};
	struct rview v = {.width = 100, .height = 100, .type = GDT_Int16,
	                  .gt = {1000, 10, 0, 2000, 0, -10}, .has_gt = true,
	                  .crs = "LOCAL_CS[\"grid\"]"};
	struct rwin w = {.x = 10, .y = 5, .w = 3, .h = 2};
	int16_t buf[16], got[6];
	double gt[6];
	int before = open_datasets();
	GDALDatasetH ds;

	stage_acct_init(&s.acct, "reproject", &run_acct);
	ck_assert_int_eq(raster_view_bands(a, &v, 2), 0);
	v.band[1].has_nodata = true;
	v.band[1].nodata = -1;
	for (int i = 0; i < 16; i++)
		buf[i] = (int16_t)(100 + i);
	ds = raster_mem_dataset(&s, a, &v, &w, buf, 4, 8 * sizeof *buf);
	ck_assert_ptr_nonnull(ds);
	ck_assert_int_eq(s.acct.live[HANDLE_GDAL_DATASET].cur, 1);
	ck_assert_int_eq(GDALGetRasterXSize(ds), 3);
	ck_assert_int_eq(GDALGetRasterYSize(ds), 2);
	ck_assert_int_eq(GDALGetRasterCount(ds), 2);
	ck_assert_int_eq(GDALGetGeoTransform(ds, gt), CE_None);
	ck_assert_double_eq(gt[0], 1000 + 10 * 10);
	ck_assert_double_eq(gt[3], 2000 - 5 * 10);
	ck_assert_double_eq(gt[1], 10);
	ck_assert_double_eq(gt[5], -10);
	ck_assert_ptr_nonnull(strstr(GDALGetProjectionRef(ds), "grid"));
	{
		int has = 0;
		double nd = GDALGetRasterNoDataValue(GDALGetRasterBand(ds, 2), &has);

		ck_assert(has && nd == -1);
		GDALGetRasterNoDataValue(GDALGetRasterBand(ds, 1), &has);
		ck_assert(!has);
	}
	/* Band 2 is 8 pixels on, its lines 4 pixels apart. */
	ck_assert_int_eq(GDALRasterIO(GDALGetRasterBand(ds, 2), GF_Read, 0, 0, 3, 2, got, 3, 2,
	                              GDT_Int16, 0, 0),
	                 CE_None);
	ck_assert_int_eq(got[0], 108);
	ck_assert_int_eq(got[2], 110);
	ck_assert_int_eq(got[3], 112);
	ck_assert_int_eq(got[5], 114);
	/* Writing goes to the caller's buffer. */
	got[0] = -7;
	ck_assert_int_eq(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Write, 0, 1, 1, 1, got, 1, 1,
	                              GDT_Int16, 0, 0),
	                 CE_None);
	GDALFlushCache(ds);
	ck_assert_int_eq(buf[4], -7);
	arena_reset(a);
	ck_assert_int_eq(s.acct.live[HANDLE_GDAL_DATASET].cur, 0);
	ck_assert_int_eq(open_datasets(), before);
}
END_TEST

START_TEST(mem_dataset_allocation_failure_closes_it)
{
	struct step step = {.label = "reproject"};
	struct stage s = {.step = &step};
	struct rview v = {.width = 4, .height = 4, .type = GDT_Byte};
	struct rwin w = {0, 0, 4, 4};
	unsigned char buf[16];
	int before = open_datasets();

	stage_acct_init(&s.acct, "reproject", &run_acct);
	ck_assert_int_eq(raster_view_bands(a, &v, 1), 0);
	mem_fail_after(1);
	ck_assert_ptr_null(raster_mem_dataset(&s, a, &v, &w, buf, 4, 16));
	mem_fail_after(0);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_int_eq(open_datasets(), before);
	ck_assert_int_eq(s.acct.live[HANDLE_GDAL_DATASET].cur, 0);
}
END_TEST

/* ---- windows: raster_plan_window and the run cutting a raster --------- */

struct tiling {
	int width, height, nbands;
	int block_w, block_h;
	uint64_t window_bytes; /* the plan's budget for all steps' windows */
	uint64_t windows;      /* how many the run makes */
};

static const struct tiling tilings[] = {
	{1, 1, 1, 256, 256, 1 << 20, 1},                /* one pixel */
	{7, 13, 2, 256, 256, 1 << 20, 1},               /* blocks larger than the raster */
	{257, 251, 1, 64, 64, 4 * 64 * 64 * 16, 8},     /* primes: 129 wide is over the budget */
	{256, 251, 1, 64, 64, 4 * 64 * 64 * 16, 4},     /* tiled, 2 x 2 windows of 2 x 2 blocks */
	{257, 251, 1, 64, 64, 1, 16},                   /* a budget under a block: one block */
	{251, 257, 3, 16, 16, 48 * 48 * 48, 40},        /* small blocks, three bands */
	{509, 101, 1, 509, 1, 16 * 509 * 7, 15},        /* strips of one line */
	{509, 101, 1, 509, 16, 16 * 509 * 40, 3},       /* strips of 16 lines */
	{1, 1999, 1, 1, 1, 4096, 8},                    /* one column */
	{1999, 1, 1, 128, 128, 4096, 16},               /* one line, tiled */
	{300, 300, 1, 512, 512, 64 << 20, 1},           /* a big budget: whole raster */
	{100, 641, 1, 64, 64, 16 * 16384, 5},           /* windows widened to whole rows */
	{385, 385, 1, 128, 128, 4 * 128 * 128 * 16, 4}, /* a remainder of half a window */
	{300, 300, 1, 128, 128, 4 * 128 * 128 * 16, 2}, /* slivers join, within the budget */
	{1100, 1100, 1, 256, 256, 1024 * 1024 * 16, 2}, /* not one 1100 x 1100 window */
	{2000, 200, 1, 512, 16, 16 * 512 * 16, 52},    /* wide blocks: one block a window */
	{200, 2000, 1, 16, 512, 16 * 16 * 512, 52},    /* tall blocks: one block a window */
};

/* What the fake steps share with the test. */
struct cut {
	const struct tiling *t;
	int streams;          /* next_stream calls */
	uint8_t *seen;        /* per pixel: times the sink received it */
	int ww, wh;           /* the plan's window */
	uint64_t windows, pulls;
	int bad;              /* first failed expectation, for the message */
	char why[160];
	/* the waiting step (cut_waiting) */
	bool in_pull;         /* a pull of the waiting step is under way */
	uint64_t overlapped;  /* puts made during one */
	uint64_t fail_put;    /* the put that fails, 1-based; 0: none */
};

static uint32_t pixel_value(const struct tiling *t, int b, int x, int y)
{
	return ((uint32_t)b * (uint32_t)t->height + (uint32_t)y) * (uint32_t)t->width + (uint32_t)x;
}

static int fake_next_stream(struct stage *s, struct stream *st)
{
	struct cut *c = s->state;
	struct rview *v;

	if (c->streams++ > 0)
		return 0;
	v = arena_calloc(st->arena, 1, sizeof *v);
	if (v == NULL || raster_view_bands(st->arena, v, c->t->nbands) != 0)
		return -1;
	v->width = c->t->width;
	v->height = c->t->height;
	v->type = GDT_UInt32;
	v->alpha = -1;
	v->block_w = c->t->block_w;
	v->block_h = c->t->block_h;
	st->raster = v;
	return 1;
}

static int fake_end(struct stage *s, struct stream *st)
{
	(void)s, (void)st;
	return 0;
}

static int fake_pull(struct stage *s, const struct rwin *w, void *buf)
{
	struct cut *c = s->state;
	uint32_t *p = buf;

	c->pulls++;
	for (int b = 0; b < c->t->nbands; b++)
		for (int y = w->y; y < w->y + w->h; y++)
			for (int x = w->x; x < w->x + w->w; x++)
				*p++ = pixel_value(c->t, b, x, y);
	return 0;
}

#define EXPECT(cond, ...)                                                          \
	do {                                                                           \
		if (!(cond) && !c->bad) {                                                  \
			c->bad = 1;                                                            \
			snprintf(c->why, sizeof c->why, __VA_ARGS__);                         \
		}                                                                          \
	} while (0)

static int fake_put(struct stage *s, const struct rwin *w, const void *buf)
{
	struct cut *c = s->state;
	const struct tiling *t = c->t;
	const uint32_t *p = buf;

	if (c->windows++ == 0)
		raster_plan_window(s->eng, raster_input_view(s), &c->ww, &c->wh);
	c->overlapped += c->in_pull;
	if (c->windows == c->fail_put)
		return gp_fail(GP_EX_IOERR, "cannot write window %d,%d", w->x, w->y);
	EXPECT(w->w > 0 && w->h > 0 && w->x >= 0 && w->y >= 0 && w->x + w->w <= t->width &&
	           w->y + w->h <= t->height,
	       "window %d,%d %dx%d outside", w->x, w->y, w->w, w->h);
	if (c->bad)
		return 0;
	/* Windows start on the output's blocks... */
	EXPECT(w->x % t->block_w == 0 || t->block_w >= t->width, "x %d off the blocks", w->x);
	EXPECT(w->y % t->block_h == 0, "y %d off the blocks", w->y);
	/* ...are the planned size inside the raster, and at an edge no
	 * sliver: a remainder under half a window joined the one before. */
	EXPECT(w->x + w->w == t->width || w->w == c->ww, "inner width %d, planned %d", w->w, c->ww);
	EXPECT(w->y + w->h == t->height || w->h == c->wh, "inner height %d, planned %d", w->h,
	       c->wh);
	EXPECT(w->x == 0 || w->w >= c->ww / 2, "sliver of %d columns at %d", w->w, w->x);
	EXPECT(w->y == 0 || w->h >= c->wh / 2, "sliver of %d rows at %d", w->h, w->y);
	EXPECT(w->w < c->ww + c->ww / 2 || w->x + w->w < t->width || w->w == c->ww,
	       "edge window %d wide", w->w);
	/* Every window, an edge one that took a sliver in included, within
	 * the budget (the sink alone holds 16 bytes a band a pixel), but
	 * where the plan's window is already the least it can be. */
	{
		uint64_t px = t->window_bytes / (16 * (uint64_t)t->nbands);
		bool least = (c->ww <= t->block_w || c->ww == t->width) &&
		             (c->wh <= t->block_h || c->wh == t->height);

		EXPECT((uint64_t)w->w * (uint64_t)w->h <= px || least,
		       "window %d,%d of %d x %d over the budget of %" PRIu64 " pixels", w->x, w->y,
		       w->w, w->h, px);
	}
	for (int b = 0; b < t->nbands; b++)
		for (int y = w->y; y < w->y + w->h; y++)
			for (int x = w->x; x < w->x + w->w; x++) {
				EXPECT(*p == pixel_value(t, b, x, y), "band %d pixel %d,%d is %u", b, x, y,
				       *p);
				p++;
				if (b == 0)
					c->seen[(size_t)y * (size_t)t->width + (size_t)x]++;
			}
	return 0;
}

static const struct raster_ops fake_source_ops = {
	.next_stream = fake_next_stream, .end = fake_end, .pull = fake_pull,
};
static const struct step_desc fake_source = {
	.name = "read", .role = STEP_SOURCE, .ras = &fake_source_ops,
};
static const struct raster_ops fake_sink_ops = {.put = fake_put};
static const struct step_desc fake_sink = {
	.name = "write", .role = STEP_SINK, .ras = &fake_sink_ops,
};

/* Run a raster of `t` from the fake source to the fake sink: every pixel
 * reaches the sink once, every window is counted, nothing stays held. */
static void cut_raster(const struct tiling *t, struct cut *c)
{
	struct step steps[2] = {
		{.desc = &fake_source, .index = 0, .label = "read"},
		{.desc = &fake_sink, .index = 1, .label = "write"},
	};
	struct stage stages[2] = {{.step = &steps[0], .state = c}, {.step = &steps[1], .state = c}};
	struct pipeline pl = {.raster = true, .nsteps = 2, .steps = steps, .acct = &run_acct};
	struct run_opts opts = {0};
	volatile sig_atomic_t stop = 0;
	struct engine e = {.pl = &pl, .opts = &opts, .acct = &run_acct, .stop = &stop,
	                   .stages = stages};
	size_t npx = (size_t)t->width * (size_t)t->height, first_bad = npx;

	*c = (struct cut){.t = t, .seen = calloc(npx, 1)};
	ck_assert_ptr_nonnull(c->seen);
	e.plan.window_bytes = t->window_bytes;
	for (int k = 0; k < 2; k++) {
		stage_acct_init(&stages[k].acct, steps[k].label, &run_acct);
		steps[k].pl = &pl;
		stages[k].eng = &e;
	}
	ck_assert_int_eq(raster_run_kind.run(&e), 0);
	ck_assert_msg(!c->bad, "%dx%d: %s", t->width, t->height, c->why);
	/* One check for the lot: Check records every assertion it passes. */
	for (size_t i = 0; i < npx && first_bad == npx; i++)
		if (c->seen[i] != 1)
			first_bad = i;
	ck_assert_msg(first_bad == npx, "%dx%d: pixel %zu,%zu seen %d times", t->width, t->height,
	              first_bad % (size_t)t->width, first_bad / (size_t)t->width,
	              first_bad < npx ? c->seen[first_bad] : 1);
	free(c->seen);
	c->seen = NULL;
	/* One pull and one put per window, all counted. */
	ck_assert_uint_eq(c->pulls, c->windows);
	ck_assert_uint_eq(e.totals.batches, c->windows);
	ck_assert_uint_eq(e.totals.pixels_out, npx);
	ck_assert_uint_eq(stages[1].acct.items_in, c->windows);
	ck_assert_uint_eq(stages[0].acct.items_out, c->windows);
	ck_assert_int_eq(c->streams, 2);
	ck_assert_int_eq(stages[0].acct.mem.bytes.cur, 0);
	ck_assert_int_eq(stages[1].acct.mem.bytes.cur, 0);
}

START_TEST(run_covers_every_pixel_once)
{
	const struct tiling *t = &tilings[_i];
	struct cut c;
	uint64_t px, cap, side;

	cut_raster(t, &c);
	ck_assert_msg(c.windows == t->windows, "%dx%d: %lu windows of %dx%d", t->width, t->height,
	              (unsigned long)c.windows, c.ww, c.wh);
	/* The plan: inside the raster, and within the budget (16 bytes a
	 * pixel a band) or one block, or one block-high band of whole rows. */
	ck_assert_int_le(c.ww, t->width);
	ck_assert_int_le(c.wh, t->height);
	px = t->window_bytes / (16 * (uint64_t)t->nbands);
	side = (uint64_t)t->block_w * (uint64_t)t->block_h;
	cap = px > side ? px : side;
	if (c.ww == t->width && (uint64_t)t->width * (uint64_t)t->block_h > cap)
		cap = (uint64_t)t->width * (uint64_t)t->block_h;
	ck_assert_msg((uint64_t)c.ww * (uint64_t)c.wh <= cap, "%dx%d: window %dx%d over %lu pixels",
	              t->width, t->height, c.ww, c.wh, (unsigned long)cap);
}
END_TEST

/* The budget decides the windows: one block's worth, then four. */
START_TEST(run_cuts_by_the_budget)
{
	struct tiling t = {256, 256, 1, 64, 64, 64 * 64 * 16, 16};
	struct cut c;

	cut_raster(&t, &c);
	ck_assert_int_eq(c.ww, 64);
	ck_assert_int_eq(c.wh, 64);
	ck_assert_uint_eq(c.windows, 16);
	t.window_bytes *= 4;
	cut_raster(&t, &c);
	ck_assert_int_eq(c.ww, 128);
	ck_assert_int_eq(c.wh, 128);
	ck_assert_uint_eq(c.windows, 4);
}
END_TEST

/* A step between the source and the sink that waits as a warp waits for
 * its workers: its own input pulled, then the run given the time to write
 * the window before (raster_write_pending). */
static int waiting_pull(struct stage *s, const struct rwin *w, void *buf)
{
	struct cut *c = s->state;
	int r;

	if (raster_pull_upstream(s, w, buf) != 0)
		return -1;
	c->in_pull = true;
	r = raster_write_pending(s);
	c->in_pull = false;
	return r;
}

static const struct raster_ops waiting_ops = {.pull = waiting_pull};
static const struct step_desc waiting_step = {
	.name = "reproject", .role = STEP_TRANSFORM, .ras = &waiting_ops,
};

/* Run t's raster through the waiting step; the run's status. */
static int cut_waiting(const struct tiling *t, struct cut *c, uint64_t fail_put)
{
	struct step steps[3] = {
		{.desc = &fake_source, .index = 0, .label = "read"},
		{.desc = &waiting_step, .index = 1, .label = "reproject"},
		{.desc = &fake_sink, .index = 2, .label = "write"},
	};
	struct stage stages[3];
	struct pipeline pl = {.raster = true, .nsteps = 3, .steps = steps, .acct = &run_acct};
	struct run_opts opts = {0};
	volatile sig_atomic_t stop = 0;
	struct engine e = {.pl = &pl, .opts = &opts, .acct = &run_acct, .stop = &stop,
	                   .stages = stages};
	size_t npx = (size_t)t->width * (size_t)t->height;
	int r;

	*c = (struct cut){.t = t, .seen = calloc(npx, 1), .fail_put = fail_put};
	ck_assert_ptr_nonnull(c->seen);
	e.plan.window_bytes = t->window_bytes;
	for (int k = 0; k < 3; k++) {
		stages[k] = (struct stage){.step = &steps[k], .state = c, .eng = &e};
		stage_acct_init(&stages[k].acct, steps[k].label, &run_acct);
		steps[k].pl = &pl;
	}
	r = raster_run_kind.run(&e);
	ck_assert_msg(!c->bad, "%dx%d: %s", t->width, t->height, c->why);
	/* Nothing held after the run, whatever happened. */
	for (int k = 0; k < 3; k++)
		ck_assert_int_eq(stages[k].acct.mem.bytes.cur, 0);
	ck_assert_ptr_null(e.rpending);
	return r;
}

/* Each window is written while the next one is pulled, in order, every
 * pixel once; the last after the loop. */
START_TEST(run_writes_a_window_while_the_next_is_made)
{
	struct tiling t = {256, 251, 1, 64, 64, 4 * 64 * 64 * 16 * 2, 4};
	struct cut c;
	size_t npx = (size_t)t.width * (size_t)t.height;

	ck_assert_int_eq(cut_waiting(&t, &c, 0), 0);
	ck_assert_uint_eq(c.windows, 4);
	ck_assert_uint_eq(c.pulls, 4);
	ck_assert_uint_eq(c.overlapped, 3);
	for (size_t i = 0; i < npx; i++)
		if (c.seen[i] != 1)
			ck_abort_msg("pixel %zu seen %d times", i, c.seen[i]);
	free(c.seen);
}
END_TEST

/* A write failing while the next window is made fails the run with the
 * write's error, and leaves nothing held. */
START_TEST(run_write_failing_during_a_pull)
{
	struct tiling t = {256, 251, 1, 64, 64, 4 * 64 * 64 * 16 * 2, 4};
	struct cut c;

	ck_assert_int_eq(cut_waiting(&t, &c, 2), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_IOERR);
	ck_assert_uint_eq(c.windows, 2);
	ck_assert_uint_eq(c.pulls, 3);
	free(c.seen);
}
END_TEST

static Suite *raster_view_suite(void)
{
	Suite *s = suite_create("raster_view");
	TCase *tc;

	tc = tcase_create("raster_sizes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, tsize_by_type);
	tcase_add_test(tc, win_bytes_counts_every_band);
	suite_add_tcase(s, tc);

	tc = tcase_create("raster_view");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, view_bands_start_plain);
	tcase_add_test(tc, view_dup_is_deep);
	tcase_add_test(tc, view_dup_allocation_failure);
	suite_add_tcase(s, tc);

	tc = tcase_create("raster_parse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, band_number_range);
	tcase_add_test(tc, type_parse_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("raster_values");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, value_fits_by_type);
	tcase_add_test(tc, to_double_reads_each_type);
	tcase_add_test(tc, from_double_clamps_and_rounds);
	tcase_add_test(tc, pixel_nodata);
	tcase_add_test(tc, pixel_value_cast_and_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("raster_mem_dataset");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, mem_dataset_wraps_the_buffer);
	tcase_add_test(tc, mem_dataset_allocation_failure_closes_it);
	suite_add_tcase(s, tc);

	tc = tcase_create("raster_windows");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, run_covers_every_pixel_once, 0,
	                    (int)(sizeof tilings / sizeof tilings[0]));
	tcase_add_test(tc, run_cuts_by_the_budget);
	tcase_add_test(tc, run_writes_a_window_while_the_next_is_made);
	tcase_add_test(tc, run_write_failing_during_a_pull);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(raster_view_suite());
	int failed;

	GDALAllRegister();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	GDALDestroyDriverManager();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
