/* check_memplan.c - unit tests for the memory plan (src/core/memplan.c). */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <gdal.h>

#include "core/error.h"
#include "core/memplan.h"

#define MIB ((uint64_t)1024 * 1024)

/* The plan's documented bounds (memplan.c): GDAL block cache 1..64 MiB,
 * SQLite cache 1..8 MiB per connection, 64..4096 features per batch,
 * 1024 by default, and a 26 MiB reserve for the libraries. */
#define ARENA_FIXED (6 * MIB)
#define LIB_RESERVE (26 * MIB)
#define GDAL_MIN (1 * MIB)
#define GDAL_MAX (64 * MIB)
#define SQLITE_MIN (1 * MIB)
#define SQLITE_MAX (8 * MIB)
#define BATCH_MIN 64
#define BATCH_MAX 4096
#define BATCH_DEFAULT 1024

static void setup(void)
{
	gp_err_clear();
}

static void teardown(void)
{
	gp_err_clear();
}

/* Budgets together: what the plan promises to stay under. */
static uint64_t planned(const struct memplan *p)
{
	return p->baseline + p->lib_reserve + p->thread_bytes + p->gdal_cache +
	       (uint64_t)p->sqlite_conns * p->sqlite_cache + p->arena_budget;
}

static void fill(struct memplan *p)
{
	memset(p, 0xA5, sizeof *p);
}

/* ---- memplan_make ---------------------------------------------------- */

START_TEST(make_no_limit_defaults)
{
	struct memplan p;

	fill(&p);
	ck_assert_int_eq(memplan_make(&p, 0, 37 * MIB, 0, 0), 0);
	ck_assert_int_eq(gp_err_code(), 0);
	ck_assert_uint_eq(p.limit, 0);
	ck_assert_uint_eq(p.baseline, 37 * MIB);
	ck_assert_uint_eq(p.lib_reserve, LIB_RESERVE);
	ck_assert_uint_eq(p.gdal_cache, GDAL_MAX);
	ck_assert_uint_eq(p.sqlite_cache, SQLITE_MAX);
	ck_assert_int_eq(p.sqlite_conns, 2);
	ck_assert_uint_eq(p.batch_items, BATCH_DEFAULT);
	ck_assert_uint_eq(p.batch_bytes, (uint64_t)BATCH_DEFAULT * MEMPLAN_FEATURE_BYTES);
	ck_assert_uint_eq(p.arena_budget, 0);
	ck_assert_uint_eq(p.headroom, 0);
	ck_assert(!p.batch_fixed);

	/* a negative batch is auto as well */
	ck_assert_int_eq(memplan_make(&p, 0, 0, 0, -5), 0);
	ck_assert_uint_eq(p.batch_items, BATCH_DEFAULT);
	ck_assert(!p.batch_fixed);
}
END_TEST

START_TEST(make_no_limit_fixed_batch)
{
	struct memplan p;

	fill(&p);
	ck_assert_int_eq(memplan_make(&p, 0, 30 * MIB, 0, 250), 0);
	ck_assert_uint_eq(p.batch_items, 250);
	ck_assert_uint_eq(p.batch_bytes, 250 * MEMPLAN_FEATURE_BYTES);
	ck_assert(p.batch_fixed);
	ck_assert_uint_eq(p.gdal_cache, GDAL_MAX);
	ck_assert_uint_eq(p.sqlite_cache, SQLITE_MAX);
	/* beyond the auto maximum too: a number is a number */
	ck_assert_int_eq(memplan_make(&p, 0, 30 * MIB, 0, 100000), 0);
	ck_assert_uint_eq(p.batch_items, 100000);
	ck_assert(p.batch_fixed);
}
END_TEST

START_TEST(make_limit_too_small)
{
	struct memplan p;
	/* 40 MiB at start, then 26 + 6 + 1 + 2 * 1 MiB and 64 features * 4 KiB
	 * * 2: 75.5 MiB at least */
	uint64_t need = 40 * MIB + LIB_RESERVE + ARENA_FIXED + GDAL_MIN + 2 * SQLITE_MIN +
	                (uint64_t)BATCH_MIN * MEMPLAN_FEATURE_BYTES * 2;

	ck_assert_uint_eq(need, 75 * MIB + MIB / 2);
	ck_assert_int_eq(memplan_make(&p, 50 * MIB, 40 * MIB, 0, 0), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_str_eq(gp_err_msg(),
	                 "memory limit of 50 MiB cannot be held: start-up takes 40 MiB and the "
	                 "smallest plan needs 76 MiB (retry with --memory-limit 88MiB or more)");

	/* one byte short of the minimum fails, the minimum holds */
	gp_err_clear();
	ck_assert_int_eq(memplan_make(&p, need - 1, 40 * MIB, 0, 0), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "retry with --memory-limit 88MiB"));
	gp_err_clear();
	ck_assert_int_eq(memplan_make(&p, need, 40 * MIB, 0, 0), 0);
	ck_assert_int_eq(gp_err_code(), 0);
	/* what the message suggests works */
	ck_assert_int_eq(memplan_make(&p, 88 * MIB, 40 * MIB, 0, 0), 0);

	/* a limit below the start-up RSS itself */
	gp_err_clear();
	ck_assert_int_eq(memplan_make(&p, 32 * MIB, 100 * MIB, 0, 0), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_str_eq(gp_err_msg(),
	                 "memory limit of 32 MiB cannot be held: start-up takes 100 MiB and the "
	                 "smallest plan needs 136 MiB (retry with --memory-limit 154MiB or more)");
}
END_TEST

START_TEST(make_resident_libraries_shrink_the_reserve)
{
	struct memplan p;

	/* Library pages still resident need no reserve to come back in. */
	ck_assert_int_eq(memplan_make(&p, 128 * MIB, 30 * MIB, 0, 0), 0);
	ck_assert_uint_eq(p.lib_reserve, LIB_RESERVE);
	ck_assert_int_eq(memplan_make(&p, 128 * MIB, 30 * MIB, 10 * MIB, 0), 0);
	ck_assert_uint_eq(p.lib_reserve, LIB_RESERVE - 10 * MIB);
	/* never below 4 MiB */
	ck_assert_int_eq(memplan_make(&p, 128 * MIB, 30 * MIB, 40 * MIB, 0), 0);
	ck_assert_uint_eq(p.lib_reserve, 4 * MIB);
	/* and the minimum follows: 40 + 4 + 6 + 3 + 0.25 MiB fits in 54 MiB */
	ck_assert_int_eq(memplan_make(&p, 54 * MIB, 40 * MIB, 40 * MIB, 0), 0);
	ck_assert_int_eq(memplan_make(&p, 54 * MIB, 40 * MIB, 0, 0), -1);
}
END_TEST

START_TEST(make_fixed_batch_raises_minimum)
{
	struct memplan p;

	/* 10000 features: 10000 * 4 KiB * 2 = 78.1 MiB on top of 65 MiB */
	ck_assert_int_eq(memplan_make(&p, 80 * MIB, 30 * MIB, 0, 10000), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_str_eq(gp_err_msg(),
	                 "memory limit of 80 MiB cannot be held: start-up takes 30 MiB and the "
	                 "smallest plan needs 144 MiB (retry with --memory-limit 162MiB or more)");
	gp_err_clear();
	ck_assert_int_eq(memplan_make(&p, 144 * MIB, 30 * MIB, 0, 10000), 0);
	ck_assert_uint_eq(p.batch_items, 10000);
	/* the same limit with an automatic batch is comfortable */
	ck_assert_int_eq(memplan_make(&p, 80 * MIB, 30 * MIB, 0, 0), 0);
}
END_TEST

START_TEST(advise_start_survives_a_higher_start_up)
{
	struct memplan p;

	/* The advice is followed by another run, whose start-up may take a
	 * few MiB more (shared pages): the figure still holds the plan, and
	 * the start-up peak with a tenth to spare. */
	for (uint64_t b = 16 * MIB; b <= 200 * MIB; b += 3 * MIB) {
		uint64_t peak = b + 15 * MIB, n = memplan_advise_start(b, 0, 0, peak);

		ck_assert_uint_eq(n % MIB, 0);
		ck_assert_uint_ge(n, peak + peak / 10);
		ck_assert_int_eq(memplan_make(&p, n, b + 4 * MIB, 0, 0), 0);
		/* a low peak: the plan decides */
		n = memplan_advise_start(b, 0, 500, b);
		ck_assert_int_eq(memplan_make(&p, n, b + 4 * MIB, 0, 500), 0);
	}
	ck_assert_uint_eq(memplan_smallest(40 * MIB, 0, 0), 75 * MIB + MIB / 2);
}
END_TEST

START_TEST(advise_grow_covers_the_batch_of_its_own_plan)
{
	struct memplan p, q;
	uint64_t fixed = 50 * MIB, per = 40 * 1024, n, left;

	ck_assert_int_eq(memplan_make(&p, 64 * MIB, 20 * MIB, 0, 0), 0);
	n = memplan_advise_grow(&p, fixed, per, 0);
	ck_assert_uint_gt(n, 64 * MIB);
	ck_assert_uint_eq(n % MIB, 0);
	/* the plan at n chooses a larger batch, and its burst still fits */
	ck_assert_int_eq(memplan_make(&q, n, 20 * MIB, 0, 0), 0);
	ck_assert_uint_gt(q.batch_items, p.batch_items);
	ck_assert_uint_le(fixed + q.batch_items * per, n);
	/* the smallest such figure: a MiB less does not hold */
	ck_assert_int_eq(memplan_make(&q, n - MIB, 20 * MIB, 0, 0), 0);
	ck_assert_uint_gt((fixed + q.batch_items * per) * 11 / 10, n - MIB);
	/* fewer items left to read than the batch: a smaller figure */
	left = memplan_advise_grow(&p, fixed, per, 100);
	ck_assert_uint_lt(left, n);
	ck_assert_uint_ge(left, fixed + 100 * per);
	/* a fixed batch does not grow */
	ck_assert_int_eq(memplan_make(&p, 64 * MIB, 20 * MIB, 0, 200), 0);
	n = memplan_advise_grow(&p, fixed, per, 0);
	ck_assert_int_eq(memplan_make(&q, n, 20 * MIB, 0, 200), 0);
	ck_assert_uint_eq(q.batch_items, 200);
	ck_assert_uint_le((fixed + 200 * per) * 11 / 10, n);
	/* nothing grows: the figure is the fixed part and a margin */
	n = memplan_advise_grow(&p, fixed, 0, 0);
	ck_assert_uint_ge(n, 64 * MIB);
	ck_assert_uint_le(n, 64 * MIB + 64 * MIB / 10 + 5 * MIB);
}
END_TEST

static const uint64_t comfortable[] = {96, 112, 128, 192, 256, 384, 512, 1024, 2048, 8192, 65536};

START_TEST(make_comfortable_limits)
{
	const uint64_t baselines[] = {0, 12 * MIB, 30 * MIB, 45 * MIB};
	size_t nb = sizeof baselines / sizeof baselines[0];
	size_t nl = sizeof comfortable / sizeof comfortable[0];

	for (size_t b = 0; b < nb; b++) {
		struct memplan prev = {0};

		for (size_t l = 0; l < nl; l++) {
			uint64_t limit = comfortable[l] * MIB;
			struct memplan p;

			fill(&p);
			ck_assert_int_eq(memplan_make(&p, limit, baselines[b], 0, 0), 0);
			ck_assert_uint_eq(p.limit, limit);
			ck_assert_uint_eq(p.baseline, baselines[b]);
			ck_assert_uint_eq(p.lib_reserve, LIB_RESERVE);
			ck_assert(!p.batch_fixed);
			ck_assert_uint_ge(p.gdal_cache, GDAL_MIN);
			ck_assert_uint_le(p.gdal_cache, GDAL_MAX);
			ck_assert_uint_ge(p.sqlite_cache, SQLITE_MIN);
			ck_assert_uint_le(p.sqlite_cache, SQLITE_MAX);
			ck_assert_uint_ge(p.batch_items, BATCH_MIN);
			ck_assert_uint_le(p.batch_items, BATCH_MAX);
			ck_assert_uint_eq(p.batch_bytes,
			                  (uint64_t)p.batch_items * MEMPLAN_FEATURE_BYTES);
			/* arenas hold at least the two batches in flight */
			ck_assert_uint_ge(p.arena_budget, 2 * p.batch_bytes);
			ck_assert_msg(
			        planned(&p) <= limit,
			        "limit %llu MiB, baseline %llu MiB: budgets sum to %llu bytes",
			        (unsigned long long)comfortable[l],
			        (unsigned long long)(baselines[b] / MIB),
			        (unsigned long long)planned(&p));
			/* whatever is not planned is headroom, to the byte */
			ck_assert_uint_eq(planned(&p) + p.headroom, limit);
			/* more memory never shrinks a budget */
			if (l > 0) {
				ck_assert_uint_ge(p.gdal_cache, prev.gdal_cache);
				ck_assert_uint_ge(p.sqlite_cache, prev.sqlite_cache);
				ck_assert_uint_ge(p.batch_items, prev.batch_items);
				ck_assert_uint_ge(p.headroom, prev.headroom);
			}
			prev = p;
		}
		/* 64 GiB: every budget at its cap */
		ck_assert_uint_eq(prev.gdal_cache, GDAL_MAX);
		ck_assert_uint_eq(prev.sqlite_cache, SQLITE_MAX);
		ck_assert_uint_eq(prev.batch_items, BATCH_MAX);
	}
}
END_TEST

START_TEST(make_fixed_batch_with_limit)
{
	struct memplan p;

	fill(&p);
	ck_assert_int_eq(memplan_make(&p, 256 * MIB, 30 * MIB, 0, 100), 0);
	ck_assert(p.batch_fixed);
	ck_assert_uint_eq(p.batch_items, 100);
	ck_assert_uint_eq(p.batch_bytes, 100 * MEMPLAN_FEATURE_BYTES);
	ck_assert_uint_le(planned(&p), 256 * MIB);
	/* a fixed batch above the auto maximum is honoured when it fits */
	ck_assert_int_eq(memplan_make(&p, 1024 * MIB, 30 * MIB, 0, 20000), 0);
	ck_assert_uint_eq(p.batch_items, 20000);
	ck_assert(p.batch_fixed);
	ck_assert_uint_le(planned(&p), 1024 * MIB);
	/* and a small one below the auto minimum too */
	ck_assert_int_eq(memplan_make(&p, 1024 * MIB, 30 * MIB, 0, 1), 0);
	ck_assert_uint_eq(p.batch_items, 1);
	ck_assert_uint_eq(p.batch_bytes, MEMPLAN_FEATURE_BYTES);
}
END_TEST

/* ---- memplan_apply --------------------------------------------------- */

START_TEST(apply_sets_gdal_and_sqlite)
{
	GIntBig old_cache = GDALGetCacheMax64();
	struct memplan p;

	ck_assert_int_eq(memplan_make(&p, 128 * MIB, 30 * MIB, 0, 0), 0);
	memplan_apply(&p);
	ck_assert_int_eq(GDALGetCacheMax64(), (GIntBig)p.gdal_cache);
	{
		char want[32];

		snprintf(want, sizeof want, "%llu", (unsigned long long)(p.sqlite_cache / MIB));
		ck_assert_str_eq(CPLGetConfigOption("OGR_SQLITE_CACHE", ""), want);
	}
	/* under a MiB of SQLite cache still asks for 1 (0 would mean default) */
	p.sqlite_cache = MIB / 2;
	memplan_apply(&p);
	ck_assert_str_eq(CPLGetConfigOption("OGR_SQLITE_CACHE", ""), "1");
	ck_assert_int_eq(memplan_make(&p, 0, 0, 0, 0), 0);
	memplan_apply(&p);
	ck_assert_int_eq(GDALGetCacheMax64(), (GIntBig)GDAL_MAX);
	ck_assert_str_eq(CPLGetConfigOption("OGR_SQLITE_CACHE", ""), "8");
	CPLSetConfigOption("OGR_SQLITE_CACHE", NULL);
	GDALSetCacheMax64(old_cache);
}
END_TEST

/* ---- memplan_print --------------------------------------------------- */

static char *print_plan(const struct memplan *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	memplan_print(p, f);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

START_TEST(print_lines)
{
	struct memplan p;
	char *out;

	ck_assert_int_eq(memplan_make(&p, 256 * MIB, 30 * MIB, 0, 0), 0);
	out = print_plan(&p);
	ck_assert_ptr_nonnull(strstr(out, "  limit                       256.0 MiB"));
	ck_assert_ptr_nonnull(strstr(out, "  start-up RSS                 30.0 MiB"));
	ck_assert_ptr_nonnull(strstr(out, "  library reserve              26.0 MiB"));
	ck_assert_ptr_nonnull(strstr(out, "  GDAL block cache             54.0 MiB"));
	ck_assert_ptr_null(strstr(out, "worker threads"));
	ck_assert_ptr_nonnull(strstr(out, "  SQLite page cache             8.0 MiB"));
	ck_assert_ptr_nonnull(strstr(out, "  batch                        4096      features per "
	                                  "batch (auto)\n"));
	ck_assert_ptr_nonnull(strstr(out, "arena budget"));
	ck_assert_ptr_nonnull(strstr(out, "headroom"));
	free(out);

	ck_assert_int_eq(memplan_make(&p, 0, 30 * MIB, 0, 500), 0);
	out = print_plan(&p);
	ck_assert_ptr_nonnull(
	        strstr(out, "  limit                            none  (defaults below)\n"));
	ck_assert_ptr_nonnull(strstr(out, "500      features per batch (memory.batch)\n"));
	/* no budget lines without a limit */
	ck_assert_ptr_null(strstr(out, "arena budget"));
	ck_assert_ptr_null(strstr(out, "headroom"));
	free(out);
}
END_TEST

/* ---- memplan_threads ------------------------------------------------- */

START_TEST(threads_without_limit_as_asked_or_cpus)
{
	struct memplan p, made;

	ck_assert_int_eq(memplan_make(&p, 0, 30 * MIB, 0, 0), 0);
	made = p;
	memplan_threads(&p, 0, 6);
	ck_assert_int_eq(p.threads, 6);
	ck_assert_int_eq(p.threads_wanted, 6);
	ck_assert(!p.threads_asked);
	/* nothing else moves without a limit */
	ck_assert_uint_eq(p.batch_items, made.batch_items);
	ck_assert_uint_eq(p.arena_budget, made.arena_budget);
	memplan_threads(&p, 12, 6);
	ck_assert_int_eq(p.threads, 12);
	ck_assert(p.threads_asked);
	/* the bounds: at least one, at most 1024 */
	memplan_threads(&p, 0, 0);
	ck_assert_int_eq(p.threads, 1);
	memplan_threads(&p, 5000, 2);
	ck_assert_int_eq(p.threads, 1024);
}
END_TEST

START_TEST(threads_share_the_batch_quarter)
{
	struct memplan one, p;

	ck_assert_int_eq(memplan_make(&one, 200 * MIB, 30 * MIB, 0, 0), 0);
	ck_assert_uint_eq(one.thread_bytes, 0);
	ck_assert_int_eq(one.batches_in_flight, 0);
	p = one;
	memplan_threads(&p, 4, 2);
	ck_assert_int_eq(p.threads, 4);
	/* eight batches in flight (two a worker), each planned as read and
	 * as worked, and each smaller; the workers and the reader planned
	 * before them, not taken from the headroom */
	ck_assert_int_eq(p.batches_in_flight, 4 * MEMPLAN_SLOTS_PER_WORKER);
	ck_assert_uint_lt(p.batch_items, one.batch_items);
	ck_assert_uint_ge(p.batch_items, BATCH_MIN);
	ck_assert_uint_eq(p.thread_bytes, 4 * MEMPLAN_WORKER_BYTES + MEMPLAN_READER_BYTES);
	ck_assert_uint_eq(p.arena_budget, 16 * p.batch_bytes + ARENA_FIXED);
	ck_assert_uint_eq(planned(&p) + p.headroom, p.limit);
	ck_assert_uint_le(16 * p.batch_bytes,
	                  (200 * MIB - 30 * MIB - LIB_RESERVE - ARENA_FIXED - p.thread_bytes) / 4);
	/* a fixed batch is shared by the batches in flight, as many features
	 * as one thread holds; choosing again cuts it no further */
	ck_assert_int_eq(memplan_make(&p, 200 * MIB, 30 * MIB, 0, 1000), 0);
	memplan_threads(&p, 4, 2);
	ck_assert_int_eq(p.threads, 4);
	ck_assert_uint_eq(p.batch_items, 1000 / 8);
	ck_assert(p.batch_fixed);
	ck_assert_uint_eq(p.arena_budget, 16 * p.batch_bytes + ARENA_FIXED);
	memplan_threads(&p, 4, 2);
	ck_assert_uint_eq(p.batch_items, 1000 / 8);
	/* never below the smallest batch */
	ck_assert_int_eq(memplan_make(&p, 200 * MIB, 30 * MIB, 0, 100), 0);
	memplan_threads(&p, 4, 2);
	ck_assert_uint_eq(p.batch_items, BATCH_MIN);
	/* without a limit a fixed batch is each batch's, and nothing is cut */
	ck_assert_int_eq(memplan_make(&p, 0, 30 * MIB, 0, 64), 0);
	memplan_threads(&p, 3, 2);
	ck_assert_uint_eq(p.batch_items, 64);
	ck_assert_int_eq(p.batches_in_flight, 6);
}
END_TEST

/* W9 (reproject and buffer, 30 segments a quadrant) on Debian 12 with no
 * library page shared: start-up 10.3 MiB, 1.7 MiB of it library pages.
 * At 64 MiB its runs peaked at 44.6 to 45.3 MiB with 1 to 4 threads. */
START_TEST(threads_w9_at_64_mib)
{
	const uint64_t base = 10 * MIB + MIB / 3, lib = MIB * 17 / 10;
	struct memplan p;

	ck_assert_int_eq(memplan_make(&p, 64 * MIB, base, lib, 0), 0);
	ck_assert_uint_eq(p.lib_reserve, LIB_RESERVE - lib);
	memplan_threads(&p, 2, 2);
	ck_assert_int_eq(p.threads, 2);
	ck_assert_uint_eq(planned(&p) + p.headroom, 64 * MIB);
	ck_assert_uint_ge(p.headroom, MIB);
	for (int n = 3; n <= 4; n++) {
		ck_assert_int_eq(memplan_make(&p, 64 * MIB, base, lib, 0), 0);
		memplan_threads(&p, n, 2);
		/* four workers' own memory leaves too little for their batches */
		ck_assert_int_eq(p.threads, 3);
		ck_assert_int_eq(p.threads_wanted, n);
		ck_assert_uint_ge(p.batch_items, BATCH_MIN);
		ck_assert_uint_eq(planned(&p) + p.headroom, 64 * MIB);
	}
}
END_TEST

START_TEST(threads_lowered_to_what_the_limit_holds)
{
	struct memplan one, p;
	int last = 64;

	/* the smallest plan holds one worker only, and is left as made */
	ck_assert_int_eq(memplan_make(&one, 66 * MIB, 30 * MIB, 0, 0), 0);
	ck_assert_uint_lt(one.headroom, MIB); /* no wrap-around at the smallest plan */
	p = one;
	memplan_threads(&p, 8, 2);
	ck_assert_int_eq(p.threads, 1);
	ck_assert_int_eq(p.threads_wanted, 8);
	ck_assert_uint_eq(p.batch_items, one.batch_items);
	ck_assert_uint_eq(p.headroom, one.headroom);
	ck_assert_uint_eq(p.arena_budget, one.arena_budget);
	ck_assert_uint_eq(p.thread_bytes, 0);
	/* more memory, more workers, never more than asked, and each plan
	 * within its limit, the workers' own memory in it */
	for (uint64_t limit = 400 * MIB; limit >= 66 * MIB; limit -= 2 * MIB) {
		ck_assert_int_eq(memplan_make(&p, limit, 30 * MIB, 0, 0), 0);
		memplan_threads(&p, 64, 2);
		ck_assert_int_le(p.threads, last);
		ck_assert_int_ge(p.threads, 1);
		ck_assert_uint_eq(planned(&p) + p.headroom, limit);
		if (p.threads > 1)
			ck_assert_uint_eq(p.thread_bytes,
			                  (uint64_t)p.threads * MEMPLAN_WORKER_BYTES +
			                          MEMPLAN_READER_BYTES);
		last = p.threads;
	}
	ck_assert_int_eq(last, 1);
	ck_assert_int_eq(memplan_make(&p, 400 * MIB, 30 * MIB, 0, 0), 0);
	memplan_threads(&p, 64, 2);
	ck_assert_int_gt(p.threads, 8);
	ck_assert_int_lt(p.threads, 64);
}
END_TEST

START_TEST(threads_raster_pieces)
{
	struct memplan p;

	ck_assert_int_eq(memplan_make(&p, 0, 20 * MIB, 0, 0), 0);
	memplan_raster(&p);
	memplan_threads(&p, 0, 16);
	ck_assert_int_eq(p.threads, 16);
	/* 1 MiB of the windows' share a piece */
	ck_assert_int_eq(memplan_make(&p, 64 * MIB, 20 * MIB, 0, 0), 0);
	memplan_raster(&p);
	memplan_threads(&p, 0, 64);
	ck_assert_int_eq(p.threads, (int)(p.window_bytes / MEMPLAN_PIECE_BYTES));
	ck_assert_int_lt(p.threads, 64);
	ck_assert_int_eq(memplan_make(&p, 55 * MIB + MIB / 2, 20 * MIB, 0, 0), 0);
	memplan_raster(&p);
	memplan_threads(&p, 4, 2);
	ck_assert_uint_lt(p.window_bytes, 2 * MEMPLAN_PIECE_BYTES);
	ck_assert_int_eq(p.threads, 1);
	ck_assert_int_eq(p.threads_wanted, 4);
}
END_TEST

START_TEST(threads_printed_with_the_reason)
{
	struct memplan p;
	char *out;

	ck_assert_int_eq(memplan_make(&p, 0, 30 * MIB, 0, 0), 0);
	memplan_threads(&p, 0, 2);
	out = print_plan(&p);
	ck_assert_ptr_nonnull(strstr(out, "  threads: 2 (2 CPUs available)\n"));
	free(out);
	memplan_threads(&p, 0, 1);
	out = print_plan(&p);
	ck_assert_ptr_nonnull(strstr(out, "  threads: 1 (1 CPU available)\n"));
	free(out);
	memplan_threads(&p, 3, 2);
	out = print_plan(&p);
	ck_assert_ptr_nonnull(strstr(out, "  threads: 3 (as asked: --threads or threads:)\n"));
	free(out);
	ck_assert_int_eq(memplan_make(&p, 64 * MIB, 20 * MIB, 0, 0), 0);
	memplan_threads(&p, 4, 2);
	out = print_plan(&p);
	ck_assert_ptr_nonnull(strstr(out, "  threads: 1 (lowered from 4: the memory plan holds "
	                                  "1 worker's batches under 64 MiB)\n"));
	free(out);
	ck_assert_int_eq(memplan_make(&p, 120 * MIB, 40 * MIB, 0, 0), 0);
	memplan_threads(&p, 64, 2);
	out = print_plan(&p);
	ck_assert_ptr_nonnull(strstr(out, "(lowered from 64: the memory plan holds "));
	ck_assert_ptr_nonnull(strstr(out, " workers' batches under 120 MiB)\n"));
	/* the workers' own line, and their batches' */
	ck_assert_ptr_nonnull(strstr(out, "workers' GEOS and PROJ contexts, the reader's\n"));
	ck_assert_ptr_nonnull(strstr(out, " batches in flight, planned twice\n"));
	free(out);
	/* a plan made without choosing prints no thread line */
	ck_assert_int_eq(memplan_make(&p, 0, 30 * MIB, 0, 0), 0);
	out = print_plan(&p);
	ck_assert_ptr_null(strstr(out, "threads"));
	free(out);
}
END_TEST

/* ---- runner ---------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *memplan_suite(void)
{
	Suite *s = suite_create("memplan");
	TCase *tc;

	tc = tcase(s, "memplan_make");
	tcase_add_test(tc, make_no_limit_defaults);
	tcase_add_test(tc, make_no_limit_fixed_batch);
	tcase_add_test(tc, make_limit_too_small);
	tcase_add_test(tc, make_fixed_batch_raises_minimum);
	tcase_add_test(tc, make_resident_libraries_shrink_the_reserve);
	tcase_add_test(tc, make_comfortable_limits);
	tcase_add_test(tc, make_fixed_batch_with_limit);

	tc = tcase(s, "memplan_advise_start");
	tcase_add_test(tc, advise_start_survives_a_higher_start_up);

	tc = tcase(s, "memplan_advise_grow");
	tcase_add_test(tc, advise_grow_covers_the_batch_of_its_own_plan);

	tc = tcase(s, "memplan_apply");
	tcase_add_test(tc, apply_sets_gdal_and_sqlite);

	tc = tcase(s, "memplan_print");
	tcase_add_test(tc, print_lines);

	tc = tcase(s, "memplan_threads");
	tcase_add_test(tc, threads_without_limit_as_asked_or_cpus);
	tcase_add_test(tc, threads_share_the_batch_quarter);
	tcase_add_test(tc, threads_lowered_to_what_the_limit_holds);
	tcase_add_test(tc, threads_w9_at_64_mib);
	tcase_add_test(tc, threads_raster_pieces);
	tcase_add_test(tc, threads_printed_with_the_reason);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(memplan_suite());
	int failed;

	GDALAllRegister();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	GDALDestroyDriverManager();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
