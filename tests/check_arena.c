/* check_arena.c - unit tests for the arena allocator (src/core/arena.c). */
#include <check.h>
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* unistd.h (which signal.h and sys/wait.h include) declares acct(2), the
 * name of this file's account */
#define acct acct_syscall
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#undef acct

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/owner.h"
#include "core/owner_check.h"

#define STAGE_NAME "reproject-roads"
#define RUN_NAME "whole-run"
#define MAX_ALIGN alignof(max_align_t)

static struct mem_account run_acct;
static struct mem_account acct;

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
	mem_account_init(&run_acct, RUN_NAME, NULL, 0);
	mem_account_init(&acct, STAGE_NAME, &run_acct, 0);
}

static void teardown(void)
{
	mem_fail_after(0);
	gp_err_clear();
}

static struct arena_stats stats_of(const struct arena *a)
{
	struct arena_stats s;

	arena_get_stats(a, &s);
	return s;
}

static struct arena *new_arena(size_t chunk_size)
{
	struct arena *a = arena_create(&acct, chunk_size);

	ck_assert_ptr_nonnull(a);
	return a;
}

static int is_aligned(const void *p, size_t align)
{
	return ((uintptr_t)p & (align - 1)) == 0;
}

/* The error is the out-of-memory one and names the stage. */
static void assert_tempfail_naming(const char *name)
{
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), name));
}

static void assert_stats_eq(const struct arena_stats *x, const struct arena_stats *y)
{
	ck_assert_uint_eq(x->used, y->used);
	ck_assert_uint_eq(x->peak, y->peak);
	ck_assert_uint_eq(x->reserved, y->reserved);
	ck_assert_uint_eq(x->total, y->total);
	ck_assert_uint_eq(x->chunks, y->chunks);
	ck_assert_uint_eq(x->resets, y->resets);
	ck_assert_uint_eq(x->cleanups, y->cleanups);
}

/* What the account is charged for an arena: the arena itself once, and a
 * header per chunk on top of the chunk's usable bytes.  Both are private to
 * arena.c, so they are measured on a scratch account. */
struct overhead {
	int64_t arena;
	int64_t chunk;
};

static struct overhead measure_overhead(void)
{
	struct mem_account probe;
	struct overhead o;
	struct arena *a;

	mem_account_init(&probe, "probe", NULL, 0);
	a = arena_create(&probe, 256);
	ck_assert_ptr_nonnull(a);
	o.arena = probe.bytes.cur;
	ck_assert_ptr_nonnull(arena_alloc(a, 1, 1));
	o.chunk = probe.bytes.cur - o.arena - 256;
	arena_destroy(a);
	ck_assert_int_eq(probe.bytes.cur, 0);
	ck_assert_int_gt(o.arena, 0);
	ck_assert_int_gt(o.chunk, 0);
	ck_assert_int_le(o.chunk, 256);
	return o;
}

/* The account holds exactly the arena plus its chunks, and so does its parent. */
static void assert_account_matches(const struct arena *a, const struct overhead *o)
{
	struct arena_stats s = stats_of(a);

	ck_assert_int_eq(acct.bytes.cur,
	                 o->arena + (int64_t)s.chunks * o->chunk + (int64_t)s.reserved);
	ck_assert_int_eq(run_acct.bytes.cur, acct.bytes.cur);
}

/* Cleanups that write down the order they run in. */
#define LOG_MAX 64

struct run_log {
	int ids[LOG_MAX];
	int n;
};

struct log_entry {
	struct run_log *log;
	int id;
};

static void log_cleanup(void *ctx)
{
	struct log_entry *e = ctx;

	if (e->log->n < LOG_MAX)
		e->log->ids[e->log->n] = e->id;
	e->log->n++;
}

static void defer_logged(struct arena *a, struct log_entry *e, struct run_log *log, int id)
{
	e->log = log;
	e->id = id;
	ck_assert_int_eq(arena_defer(a, log_cleanup, e), 0);
}

static void assert_log(const struct run_log *log, const int *want, int n)
{
	ck_assert_int_eq(log->n, n);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(log->ids[i], want[i]);
}

/* ---- arena_create ---------------------------------------------------- */

START_TEST(create_starts_empty)
{
	struct arena *a = new_arena(256);
	struct arena_stats s = stats_of(a);

	ck_assert_uint_eq(s.used, 0);
	ck_assert_uint_eq(s.peak, 0);
	ck_assert_uint_eq(s.total, 0);
	ck_assert_uint_eq(s.resets, 0);
	ck_assert_uint_eq(s.cleanups, 0);
	ck_assert_uint_eq(s.reserved, 0);
	ck_assert_uint_eq(s.chunks, 0);
	ck_assert_int_gt(acct.bytes.cur, 0);
	arena_destroy(a);
	ck_assert_int_eq(acct.bytes.cur, 0);
}
END_TEST

START_TEST(create_chunk_size)
{
	struct arena *a = new_arena(0);

	ck_assert_ptr_nonnull(arena_alloc(a, 1, 1));
	ck_assert_uint_eq(stats_of(a).reserved, 64 * 1024);
	arena_destroy(a);

	a = new_arena(1000);
	ck_assert_ptr_nonnull(arena_alloc(a, 1, 1));
	ck_assert_uint_eq(stats_of(a).reserved, 1000);
	arena_destroy(a);
}
END_TEST

START_TEST(create_fails_on_limit)
{
	struct overhead o = measure_overhead();

	mem_account_init(&acct, STAGE_NAME, &run_acct, (uint64_t)o.arena - 1);
	ck_assert_ptr_null(arena_create(&acct, 256));
	assert_tempfail_naming(STAGE_NAME);
	ck_assert_int_eq(acct.bytes.cur, 0);

	acct.limit = (uint64_t)o.arena;
	gp_err_clear();
	struct arena *a = arena_create(&acct, 256);

	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(gp_err_code(), 0);
	arena_destroy(a);
}
END_TEST

START_TEST(create_fails_when_injected)
{
	mem_fail_after(1);
	ck_assert_ptr_null(arena_create(&acct, 256));
	assert_tempfail_naming(STAGE_NAME);
	ck_assert_uint_eq(mem_fail_after(0), 1);
	ck_assert_int_eq(acct.bytes.cur, 0);
}
END_TEST

/* Every arena draws from an account: without one, every later failure
 * message would have no stage to name (and mem_alloc nothing to count). */
START_TEST(create_refuses_no_account)
{
	ck_assert_ptr_null(arena_create(NULL, 0));
	ck_assert_int_eq(gp_err_code(), GP_EX_SOFTWARE);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "account"));
	gp_err_clear();
	ck_assert_ptr_null(arena_create(NULL, 4096));
	ck_assert_int_eq(gp_err_code(), GP_EX_SOFTWARE);
}
END_TEST

/* Under injection every call counts, not only those that need a chunk: any
 * call may be the one that does, so every caller's error path is tested. */
START_TEST(alloc_from_chunk_fails_when_injected)
{
	struct arena *a = new_arena(4096);
	struct arena_stats before;
	unsigned char *p, *q;

	p = arena_alloc(a, 16, 0);
	ck_assert_ptr_nonnull(p);
	before = stats_of(a);
	ck_assert_int_eq(mem_fail_spec("1"), 0);
	ck_assert_ptr_null(arena_alloc(a, 16, 0));
	assert_tempfail_naming(STAGE_NAME);
	ck_assert_uint_eq(stats_of(a).used, before.used);
	ck_assert_uint_eq(stats_of(a).chunks, before.chunks);
	/* Only that one: the next comes from the same chunk. */
	q = arena_alloc(a, 16, 0);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(stats_of(a).chunks, before.chunks);
	/* Growing in place counts too, and a failed growth keeps the block. */
	ck_assert_int_eq(mem_fail_spec("1"), 0);
	memset(q, 7, 16);
	ck_assert_ptr_null(arena_realloc(a, q, 16, 32));
	ck_assert_uint_eq(q[15], 7);
	ck_assert_ptr_eq(arena_realloc(a, q, 16, 32), q);
	ck_assert_uint_eq(mem_fail_count(), 2);
	arena_destroy(a);
	ck_assert_int_eq(acct.bytes.cur, 0);
}
END_TEST

/* ---- arena_destroy --------------------------------------------------- */

START_TEST(destroy_null)
{
	arena_destroy(NULL);
	ck_assert_int_eq(acct.bytes.cur, 0);
}
END_TEST

START_TEST(destroy_returns_everything)
{
	struct arena *a = new_arena(256);

	for (int i = 0; i < 20; i++)
		ck_assert_ptr_nonnull(arena_alloc(a, 100, 0));
	ck_assert_ptr_nonnull(arena_alloc(a, 5000, 0));
	ck_assert_uint_gt(stats_of(a).chunks, 5);
	ck_assert_int_gt(acct.bytes.cur, 5000);
	arena_destroy(a);
	ck_assert_int_eq(acct.bytes.cur, 0);
	ck_assert_int_eq(run_acct.bytes.cur, 0);
	ck_assert_int_gt(acct.bytes.peak, 5000);
}
END_TEST

START_TEST(destroy_runs_cleanups_lifo)
{
	struct arena *a = new_arena(256);
	struct run_log log = {0};
	struct log_entry e[5];
	static const int want[] = {4, 3, 2, 1, 0};

	for (int i = 0; i < 5; i++) {
		defer_logged(a, &e[i], &log, i);
		ck_assert_ptr_nonnull(arena_alloc(a, 90, 0)); /* spread over chunks */
	}
	ck_assert_int_eq(log.n, 0);
	arena_destroy(a);
	assert_log(&log, want, 5);
	ck_assert_int_eq(acct.bytes.cur, 0);
}
END_TEST

/* ---- arena_reset ----------------------------------------------------- */

START_TEST(reset_keeps_one_chunk)
{
	struct overhead o = measure_overhead();
	struct arena *a = new_arena(256);
	struct arena_stats s;
	void *first = arena_alloc(a, 40, 0);
	int64_t one_chunk = acct.bytes.cur;

	ck_assert_ptr_nonnull(first);
	for (int i = 0; i < 10; i++)
		ck_assert_ptr_nonnull(arena_alloc(a, 200, 0));
	s = stats_of(a);
	ck_assert_uint_ge(s.chunks, 10);
	uint64_t total = s.total;
	size_t peak = s.peak;

	arena_reset(a);
	s = stats_of(a);
	ck_assert_uint_eq(s.chunks, 1);
	ck_assert_uint_eq(s.reserved, 256);
	ck_assert_uint_eq(s.used, 0);
	ck_assert_uint_eq(s.resets, 1);
	ck_assert_uint_eq(s.total, total);
	ck_assert_uint_eq(s.peak, peak);
	ck_assert_int_eq(acct.bytes.cur, one_chunk);
	assert_account_matches(a, &o);

	/* The kept chunk is reused from its start, without a new chunk. */
	ck_assert_ptr_eq(arena_alloc(a, 40, 0), first);
	ck_assert_uint_eq(stats_of(a).chunks, 1);
	ck_assert_uint_eq(stats_of(a).used, 40);

	arena_reset(a);
	arena_reset(a);
	ck_assert_uint_eq(stats_of(a).resets, 3);
	ck_assert_uint_eq(stats_of(a).chunks, 1);
	arena_destroy(a);
	ck_assert_int_eq(acct.bytes.cur, 0);
}
END_TEST

START_TEST(reset_empty_arena)
{
	struct arena *a = new_arena(256);

	arena_reset(a);
	ck_assert_uint_eq(stats_of(a).resets, 1);
	ck_assert_uint_eq(stats_of(a).used, 0);
	ck_assert_ptr_nonnull(arena_alloc(a, 10, 0));
	ck_assert_uint_eq(stats_of(a).used, 10);
	arena_destroy(a);
}
END_TEST

START_TEST(reset_runs_cleanups_once)
{
	struct arena *a = new_arena(256);
	struct run_log log = {0};
	struct log_entry e[6];
	static const int want1[] = {2, 1, 0};
	static const int want2[] = {2, 1, 0, 11, 10};

	for (int i = 0; i < 3; i++)
		defer_logged(a, &e[i], &log, i);
	ck_assert_uint_eq(stats_of(a).cleanups, 3);
	arena_reset(a);
	assert_log(&log, want1, 3);
	ck_assert_uint_eq(stats_of(a).cleanups, 0);

	/* Gone: a second reset runs nothing. */
	arena_reset(a);
	assert_log(&log, want1, 3);

	/* Reusable: new cleanups and allocations work, and only they run. */
	defer_logged(a, &e[3], &log, 10);
	ck_assert_ptr_nonnull(arena_alloc(a, 300, 0));
	defer_logged(a, &e[4], &log, 11);
	ck_assert_uint_eq(stats_of(a).cleanups, 2);
	arena_destroy(a);
	assert_log(&log, want2, 5);
}
END_TEST

/* ---- arena_alloc ----------------------------------------------------- */

START_TEST(alloc_alignment)
{
	static const size_t aligns[] = {1, 2, 4, 8, 16, 0};
	struct arena *a = new_arena(0);

	ck_assert_uint_eq(MAX_ALIGN & (MAX_ALIGN - 1), 0);
	for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
		size_t want = aligns[i] ? aligns[i] : MAX_ALIGN;

		for (size_t skew = 1; skew <= 2 * MAX_ALIGN + 1; skew++) {
			unsigned char *before = arena_alloc(a, skew, 1);
			unsigned char *p = arena_alloc(a, 3, aligns[i]);

			ck_assert_ptr_nonnull(before);
			ck_assert_ptr_nonnull(p);
			ck_assert_msg(is_aligned(p, want), "align %zu skew %zu: %p", aligns[i],
			              skew, (void *)p);
			/* Bump allocation: right after the previous block, padded no more
			 * than the alignment needs. */
			ck_assert(p >= before + skew);
			ck_assert_uint_lt((size_t)(p - (before + skew)), want);
			memset(before, 0xAA, skew);
			memset(p, 0x55, 3);
		}
	}
	ck_assert_uint_eq(stats_of(a).chunks, 1);
	arena_destroy(a);
}
END_TEST

START_TEST(alloc_alignment_new_chunk)
{
	struct arena *a = new_arena(64);

	/* The first block of every chunk is max-aligned whatever was asked. */
	for (int i = 0; i < 10; i++) {
		void *p = arena_alloc(a, 64, 1);

		ck_assert_ptr_nonnull(p);
		ck_assert(is_aligned(p, MAX_ALIGN));
	}
	ck_assert_uint_eq(stats_of(a).chunks, 10);
	arena_destroy(a);
}
END_TEST

START_TEST(alloc_bad_alignment)
{
	struct arena *a = new_arena(256);

	ck_assert_ptr_null(arena_alloc(a, 8, 3));
	ck_assert_int_ne(gp_err_code(), 0);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), STAGE_NAME));
	ck_assert_uint_eq(stats_of(a).used, 0);
	arena_destroy(a);
}
END_TEST

START_TEST(alloc_stats)
{
	struct arena *a = new_arena(256);
	struct arena_stats s;
	unsigned char *p, *q;

	p = arena_alloc(a, 10, 1);
	ck_assert_ptr_nonnull(p);
	s = stats_of(a);
	ck_assert_uint_eq(s.used, 10);
	ck_assert_uint_eq(s.peak, 10);
	ck_assert_uint_eq(s.total, 10);
	ck_assert_uint_eq(s.chunks, 1);
	ck_assert_uint_eq(s.reserved, 256);

	/* 6 bytes of padding to reach 8-byte alignment count as used, not as
	 * handed out over the lifetime. */
	q = arena_alloc(a, 8, 8);
	ck_assert_ptr_eq(q, p + 16);
	s = stats_of(a);
	ck_assert_uint_eq(s.used, 24);
	ck_assert_uint_eq(s.total, 18);
	ck_assert_uint_eq(s.peak, 24);

	/* Fill the chunk exactly: no new chunk. */
	ck_assert_ptr_nonnull(arena_alloc(a, 256 - 24, 1));
	s = stats_of(a);
	ck_assert_uint_eq(s.used, 256);
	ck_assert_uint_eq(s.chunks, 1);

	/* One more byte needs a second chunk. */
	ck_assert_ptr_nonnull(arena_alloc(a, 1, 1));
	s = stats_of(a);
	ck_assert_uint_eq(s.chunks, 2);
	ck_assert_uint_eq(s.reserved, 512);
	ck_assert_uint_eq(s.used, 257);
	ck_assert_uint_eq(s.peak, 257);
	ck_assert_uint_eq(s.total, 18 + 232 + 1);
	arena_destroy(a);
}
END_TEST

START_TEST(alloc_large_own_chunk)
{
	struct arena *a = new_arena(256);
	struct arena_stats s;
	unsigned char *small1, *big, *small2;

	small1 = arena_alloc(a, 16, 0);
	ck_assert_ptr_nonnull(small1);
	big = arena_alloc(a, 1000, 0);
	ck_assert_ptr_nonnull(big);
	ck_assert(is_aligned(big, MAX_ALIGN));
	memset(big, 0x7E, 1000);
	s = stats_of(a);
	ck_assert_uint_eq(s.chunks, 2);
	ck_assert_uint_eq(s.reserved, 256 + 1000);
	ck_assert_uint_eq(s.used, 16 + 1000);

	/* Nothing else lands inside the big block. */
	small2 = arena_alloc(a, 16, 0);
	ck_assert_ptr_nonnull(small2);
	ck_assert(small2 + 16 <= big || small2 >= big + 1000);
	ck_assert(small1 + 16 <= big || small1 >= big + 1000);
	memset(small2, 0, 16);
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_eq(big[i], 0x7E);

	/* Exactly the chunk size is not "larger": a normal chunk. */
	s = stats_of(a);
	ck_assert_ptr_nonnull(arena_alloc(a, 256, 0));
	ck_assert_uint_eq(stats_of(a).chunks, s.chunks + 1);
	ck_assert_uint_eq(stats_of(a).reserved, s.reserved + 256);
	arena_destroy(a);
}
END_TEST

START_TEST(alloc_size_zero)
{
	struct arena *a = new_arena(256);
	unsigned char *p = arena_alloc(a, 0, 0);
	unsigned char *q = arena_alloc(a, 0, 0);

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_ne(p, q);
	ck_assert(is_aligned(p, MAX_ALIGN));
	ck_assert(is_aligned(q, MAX_ALIGN));
	ck_assert_uint_le(stats_of(a).used, 2 * MAX_ALIGN);
	ck_assert_int_eq(gp_err_code(), 0);
	arena_destroy(a);
}
END_TEST

START_TEST(alloc_too_large)
{
	struct arena *a = new_arena(256);

	ck_assert_ptr_null(arena_alloc(a, SIZE_MAX, 1));
	assert_tempfail_naming(STAGE_NAME);
	ck_assert_uint_eq(stats_of(a).chunks, 0);
	ck_assert_uint_eq(stats_of(a).used, 0);
	arena_destroy(a);
	ck_assert_int_eq(acct.bytes.cur, 0);
}
END_TEST

/* ---- arena_calloc ---------------------------------------------------- */

START_TEST(calloc_zeroed)
{
	struct arena *a = new_arena(256);
	struct arena_mark m;
	unsigned char *dirty, *p;

	/* Dirty the memory calloc will get next (in a chunk the rewind keeps). */
	ck_assert_ptr_nonnull(arena_alloc(a, 16, 0));
	m = arena_mark(a);
	dirty = arena_alloc(a, 200, 0);
	ck_assert_ptr_nonnull(dirty);
	memset(dirty, 0xFF, 200);
	arena_rewind(a, m);

	p = arena_calloc(a, 25, 8);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_eq(p, dirty);
	ck_assert(is_aligned(p, MAX_ALIGN));
	for (int i = 0; i < 200; i++)
		ck_assert_uint_eq(p[i], 0);
	ck_assert_uint_eq(stats_of(a).used, 216);

	ck_assert_ptr_nonnull(arena_calloc(a, 0, 8));
	ck_assert_ptr_nonnull(arena_calloc(a, SIZE_MAX, 0));
	arena_destroy(a);
}
END_TEST

START_TEST(calloc_overflow)
{
	struct arena *a = new_arena(256);
	struct arena_stats before, after;

	ck_assert_ptr_nonnull(arena_alloc(a, 8, 0));
	before = stats_of(a);
	ck_assert_ptr_null(arena_calloc(a, SIZE_MAX / 2 + 1, 2));
	assert_tempfail_naming(STAGE_NAME);
	after = stats_of(a);
	assert_stats_eq(&before, &after);

	gp_err_clear();
	ck_assert_ptr_null(arena_calloc(a, 2, SIZE_MAX / 2 + 1));
	assert_tempfail_naming(STAGE_NAME);
	gp_err_clear();
	ck_assert_ptr_null(arena_calloc(a, SIZE_MAX, SIZE_MAX));
	assert_tempfail_naming(STAGE_NAME);
	arena_destroy(a);
	ck_assert_int_eq(acct.bytes.cur, 0);
}
END_TEST

/* ---- arena_realloc --------------------------------------------------- */

START_TEST(realloc_in_place)
{
	struct arena *a = new_arena(256);
	unsigned char *p = arena_alloc(a, 10, 0);
	unsigned char *q;

	ck_assert_ptr_nonnull(p);
	memcpy(p, "0123456789", 10);
	q = arena_realloc(a, p, 10, 50);
	ck_assert_ptr_eq(q, p);
	ck_assert_mem_eq(q, "0123456789", 10);
	ck_assert_uint_eq(stats_of(a).used, 50);
	ck_assert_uint_eq(stats_of(a).total, 50);
	ck_assert_uint_eq(stats_of(a).peak, 50);
	memset(q + 10, 'x', 40);

	/* Up to the end of the chunk, still in place. */
	q = arena_realloc(a, p, 50, 256);
	ck_assert_ptr_eq(q, p);
	ck_assert_uint_eq(stats_of(a).chunks, 1);
	ck_assert_uint_eq(stats_of(a).used, 256);

	/* The next allocation comes after the grown block. */
	unsigned char *r = arena_alloc(a, 1, 1);

	ck_assert_ptr_nonnull(r);
	ck_assert(r < p || r >= p + 256);
	arena_destroy(a);
}
END_TEST

START_TEST(realloc_copies)
{
	struct arena *a = new_arena(256);
	unsigned char *p = arena_alloc(a, 40, 0);
	unsigned char *other, *q;
	unsigned char want[40];

	ck_assert_ptr_nonnull(p);
	for (int i = 0; i < 40; i++)
		want[i] = p[i] = (unsigned char)(i * 7 + 1);

	/* Not the last allocation: copied. */
	other = arena_alloc(a, 8, 0);
	ck_assert_ptr_nonnull(other);
	q = arena_realloc(a, p, 40, 100);
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_ne(q, p);
	ck_assert_mem_eq(q, want, 40);
	ck_assert(q >= other + 8 || q + 100 <= other);
	memset(q + 40, 0, 60);

	/* Last but the chunk is too small: copied to a new chunk. */
	unsigned char *r = arena_realloc(a, q, 100, 600);

	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_ne(r, q);
	ck_assert_mem_eq(r, want, 40);
	ck_assert_uint_eq(stats_of(a).chunks, 2);

	/* Shrinking keeps the prefix. */
	unsigned char *s = arena_realloc(a, r, 600, 20);

	ck_assert_ptr_nonnull(s);
	ck_assert_mem_eq(s, want, 20);
	arena_destroy(a);
}
END_TEST

START_TEST(realloc_null_and_failure)
{
	struct arena *a = new_arena(64);
	unsigned char *p = arena_realloc(a, NULL, 0, 30);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(stats_of(a).used, 30);
	memset(p, 'k', 30);

	/* A failing copy leaves the old block intact. */
	mem_fail_after(1);
	ck_assert_ptr_null(arena_realloc(a, p, 30, 500));
	assert_tempfail_naming(STAGE_NAME);
	mem_fail_after(0);
	for (int i = 0; i < 30; i++)
		ck_assert_uint_eq(p[i], 'k');
	arena_destroy(a);
}
END_TEST

/* ---- arena_strdup / arena_strndup / arena_printf --------------------- */

START_TEST(strdup_copies)
{
	struct arena *a = new_arena(256);
	char src[] = "EPSG:4326";
	char *s = arena_strdup(a, src);

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_ne(s, src);
	ck_assert_str_eq(s, "EPSG:4326");
	src[0] = 'X';
	ck_assert_str_eq(s, "EPSG:4326");
	ck_assert_uint_eq(stats_of(a).total, sizeof src);

	char *e = arena_strdup(a, "");

	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e, "");

	/* Longer than a chunk. */
	char *longsrc = malloc(1001);

	ck_assert_ptr_nonnull(longsrc);
	memset(longsrc, 'q', 1000);
	longsrc[1000] = '\0';
	char *l = arena_strdup(a, longsrc);

	ck_assert_ptr_nonnull(l);
	ck_assert_str_eq(l, longsrc);
	free(longsrc);
	arena_destroy(a);
}
END_TEST

START_TEST(strndup_bounds)
{
	struct arena *a = new_arena(256);
	char *s = arena_strndup(a, "hello world", 5);

	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "hello");
	s = arena_strndup(a, "abc", 0);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "");
	s = arena_strndup(a, "abc", 3);
	ck_assert_str_eq(s, "abc");
	arena_destroy(a);
}
END_TEST

START_TEST(strndup_short_source)
{
	struct arena *a = new_arena(256);
	/* On the heap and exactly sized, so reading past it is caught. */
	char *src = malloc(3);
	char *s;

	ck_assert_ptr_nonnull(src);
	memcpy(src, "ab", 3);
	s = arena_strndup(a, src, 1000);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "ab");
	/* Like strndup(3): the copy is sized by the string, not by the bound. */
	ck_assert_uint_eq(stats_of(a).total, 3);
	ck_assert_uint_eq(stats_of(a).chunks, 1);

	s = arena_strndup(a, src, SIZE_MAX);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "ab");
	free(src);
	arena_destroy(a);
}
END_TEST

START_TEST(printf_formats)
{
	struct arena *a = new_arena(256);
	char *s = arena_printf(a, "%s/%d:%.2f", "layer", 42, 1.5);
	char *t;

	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "layer/42:1.50");
	ck_assert_uint_eq(stats_of(a).total, strlen("layer/42:1.50") + 1);

	/* An argument that lives in the arena itself. */
	t = arena_printf(a, "[%s]", s);
	ck_assert_str_eq(t, "[layer/42:1.50]");
	ck_assert_str_eq(s, "layer/42:1.50");

	t = arena_printf(a, "%s", "");
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t, "");

	/* Longer than a chunk. */
	t = arena_printf(a, "%0700d", 7);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(strlen(t), 700);
	ck_assert_int_eq(t[699], '7');
	ck_assert_int_eq(t[0], '0');
	arena_destroy(a);
}
END_TEST

START_TEST(printf_failure)
{
	struct arena *a = new_arena(16);

	mem_fail_after(1);
	ck_assert_ptr_null(arena_printf(a, "%s", "needs a chunk"));
	assert_tempfail_naming(STAGE_NAME);
	mem_fail_after(0);
	arena_destroy(a);
	ck_assert_int_eq(acct.bytes.cur, 0);
}
END_TEST

/* ---- arena_defer ----------------------------------------------------- */

START_TEST(defer_counts)
{
	struct arena *a = new_arena(256);
	struct run_log log = {0};
	struct log_entry e[4];

	for (int i = 0; i < 4; i++) {
		defer_logged(a, &e[i], &log, i);
		ck_assert_uint_eq(stats_of(a).cleanups, (size_t)i + 1);
	}
	ck_assert_int_eq(log.n, 0);
	arena_destroy(a);
	ck_assert_int_eq(log.n, 4);
}
END_TEST

START_TEST(defer_lifo_on_reset_and_destroy)
{
	struct arena *a = new_arena(128);
	struct run_log log = {0};
	struct log_entry e[8];
	static const int want_reset[] = {4, 3, 2, 1, 0};
	static const int want_all[] = {4, 3, 2, 1, 0, 7, 6, 5};

	for (int i = 0; i < 5; i++) {
		defer_logged(a, &e[i], &log, i);
		ck_assert_ptr_nonnull(arena_alloc(a, 70, 0));
	}
	arena_reset(a);
	assert_log(&log, want_reset, 5);
	ck_assert_uint_eq(stats_of(a).cleanups, 0);
	for (int i = 5; i < 8; i++) {
		defer_logged(a, &e[i], &log, i);
		ck_assert_ptr_nonnull(arena_alloc(a, 70, 0));
	}
	ck_assert_uint_eq(stats_of(a).cleanups, 3);
	arena_destroy(a);
	assert_log(&log, want_all, 8);
}
END_TEST

START_TEST(defer_failure_runs_at_once)
{
	struct arena *a = new_arena(256);
	struct run_log log = {0};
	struct log_entry e = {&log, 99};

	/* The arena has no chunk yet, so the record needs one. */
	mem_fail_after(1);
	ck_assert_int_eq(arena_defer(a, log_cleanup, &e), -1);
	mem_fail_after(0);
	assert_tempfail_naming(STAGE_NAME);
	ck_assert_int_eq(log.n, 1);
	ck_assert_int_eq(log.ids[0], 99);
	ck_assert_uint_eq(stats_of(a).cleanups, 0);
	arena_destroy(a);
	ck_assert_int_eq(log.n, 1);
}
END_TEST

/* ---- arena_defer_destroy --------------------------------------------- */

/* A child arena registered with its owner goes, cleanups and all, when the
 * owner is reset (and not before), and only once. */
START_TEST(defer_destroy_goes_with_owner)
{
	struct mem_account child_acct;
	struct arena *owner = new_arena(256);
	struct arena *child;
	struct run_log log = {0};
	struct log_entry e = {&log, 7};

	mem_account_init(&child_acct, "child", &run_acct, 0);
	child = arena_create(&child_acct, 256);
	ck_assert_ptr_nonnull(child);
	ck_assert_ptr_nonnull(arena_alloc(child, 100, 0));
	ck_assert_int_eq(arena_defer(child, log_cleanup, &e), 0);
	ck_assert_int_eq(arena_defer_destroy(owner, child), 0);
	ck_assert_uint_eq(stats_of(owner).cleanups, 1);
	ck_assert_int_gt(child_acct.bytes.cur, 0);
	ck_assert_int_eq(log.n, 0);
	arena_reset(owner);
	ck_assert_int_eq(child_acct.bytes.cur, 0);
	ck_assert_int_eq(log.n, 1);
	arena_destroy(owner);
	ck_assert_int_eq(log.n, 1);
	ck_assert_int_eq(acct.bytes.cur, 0);
}
END_TEST

/* The record cannot be made: the child is destroyed at once, as
 * arena_defer() runs its cleanup, so nothing leaks. */
START_TEST(defer_destroy_failure_destroys_at_once)
{
	struct mem_account child_acct;
	struct arena *owner = new_arena(256);
	struct arena *child;

	mem_account_init(&child_acct, "child", &run_acct, 0);
	child = arena_create(&child_acct, 256);
	ck_assert_ptr_nonnull(child);
	ck_assert_ptr_nonnull(arena_alloc(child, 100, 0));
	mem_fail_after(1);
	ck_assert_int_eq(arena_defer_destroy(owner, child), -1);
	mem_fail_after(0);
	assert_tempfail_naming(STAGE_NAME);
	ck_assert_int_eq(child_acct.bytes.cur, 0);
	ck_assert_uint_eq(stats_of(owner).cleanups, 0);
	arena_destroy(owner);
}
END_TEST

/* ---- arena_mark ------------------------------------------------------ */

START_TEST(mark_changes_nothing)
{
	struct arena *a = new_arena(256);
	struct arena_stats before, after;
	struct arena_mark m;

	ck_assert_ptr_nonnull(arena_alloc(a, 33, 0));
	before = stats_of(a);
	m = arena_mark(a);
	after = stats_of(a);
	assert_stats_eq(&before, &after);

	/* Rewinding straight away is a no-op. */
	arena_rewind(a, m);
	after = stats_of(a);
	assert_stats_eq(&before, &after);
	arena_destroy(a);
}
END_TEST

START_TEST(mark_is_a_value)
{
	struct arena *a = new_arena(256);
	struct arena_mark m1, m2;
	void *p, *q;

	ck_assert_ptr_nonnull(arena_alloc(a, 10, 0));
	m1 = arena_mark(a);
	m2 = arena_mark(a);
	p = arena_alloc(a, 20, 0);
	arena_rewind(a, m2);
	q = arena_alloc(a, 20, 0);
	ck_assert_ptr_eq(p, q);
	arena_rewind(a, m1);
	ck_assert_ptr_eq(arena_alloc(a, 20, 0), p);
	arena_destroy(a);
}
END_TEST

/* ---- arena_rewind ---------------------------------------------------- */

START_TEST(rewind_frees_later_memory)
{
	struct arena *a = new_arena(256);
	struct arena_stats at_mark, s;
	struct arena_mark m;
	unsigned char *keep, *p;

	keep = arena_alloc(a, 24, 0);
	ck_assert_ptr_nonnull(keep);
	memset(keep, 'K', 24);
	m = arena_mark(a);
	at_mark = stats_of(a);
	p = arena_alloc(a, 100, 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(arena_alloc(a, 50, 1));
	ck_assert_uint_eq(stats_of(a).used, at_mark.used + 150);

	arena_rewind(a, m);
	s = stats_of(a);
	ck_assert_uint_eq(s.used, at_mark.used);
	ck_assert_uint_eq(s.peak, at_mark.used + 150);
	ck_assert_uint_eq(s.total, at_mark.total + 150);
	ck_assert_uint_eq(s.chunks, 1);
	for (int i = 0; i < 24; i++)
		ck_assert_uint_eq(keep[i], 'K');
	/* The space is handed out again. */
	ck_assert_ptr_eq(arena_alloc(a, 100, 1), p);
	arena_destroy(a);
}
END_TEST

START_TEST(rewind_runs_later_cleanups)
{
	struct arena *a = new_arena(256);
	struct run_log log = {0};
	struct log_entry e[6];
	struct arena_mark m;
	static const int want_rewind[] = {5, 4, 3};
	static const int want_all[] = {5, 4, 3, 1, 0};

	defer_logged(a, &e[0], &log, 0);
	defer_logged(a, &e[1], &log, 1);
	m = arena_mark(a);
	for (int i = 3; i < 6; i++) {
		defer_logged(a, &e[i], &log, i);
		ck_assert_ptr_nonnull(arena_alloc(a, 120, 0));
	}
	ck_assert_uint_eq(stats_of(a).cleanups, 5);
	arena_rewind(a, m);
	assert_log(&log, want_rewind, 3);
	ck_assert_uint_eq(stats_of(a).cleanups, 2);

	/* Rewinding again runs nothing more. */
	arena_rewind(a, m);
	assert_log(&log, want_rewind, 3);
	arena_destroy(a);
	assert_log(&log, want_all, 5);
}
END_TEST

START_TEST(rewind_nested)
{
	struct arena *a = new_arena(256);
	struct run_log log = {0};
	struct log_entry e[6];
	struct arena_mark outer, inner;
	size_t used_outer, used_inner;
	static const int want_inner[] = {2};
	static const int want_outer[] = {2, 3, 1};
	static const int want_all[] = {2, 3, 1, 0};

	defer_logged(a, &e[0], &log, 0);
	outer = arena_mark(a);
	used_outer = stats_of(a).used;
	ck_assert_ptr_nonnull(arena_alloc(a, 64, 0));
	defer_logged(a, &e[1], &log, 1);
	inner = arena_mark(a);
	used_inner = stats_of(a).used;
	ck_assert_ptr_nonnull(arena_alloc(a, 300, 0));
	defer_logged(a, &e[2], &log, 2);

	arena_rewind(a, inner);
	assert_log(&log, want_inner, 1);
	ck_assert_uint_eq(stats_of(a).used, used_inner);
	ck_assert_uint_eq(stats_of(a).cleanups, 2);

	defer_logged(a, &e[3], &log, 3);
	ck_assert_ptr_nonnull(arena_alloc(a, 500, 0));
	arena_rewind(a, outer);
	assert_log(&log, want_outer, 3);
	ck_assert_uint_eq(stats_of(a).used, used_outer);
	ck_assert_uint_eq(stats_of(a).cleanups, 1);
	ck_assert_uint_eq(stats_of(a).chunks, 1);
	arena_destroy(a);
	assert_log(&log, want_all, 4);
}
END_TEST

START_TEST(rewind_across_chunks)
{
	struct overhead o = measure_overhead();
	struct arena *a = new_arena(256);
	struct arena_mark m;
	struct arena_stats at_mark, s;
	int64_t bytes_at_mark;

	ck_assert_ptr_nonnull(arena_alloc(a, 100, 0));
	m = arena_mark(a);
	at_mark = stats_of(a);
	bytes_at_mark = acct.bytes.cur;
	for (int i = 0; i < 12; i++)
		ck_assert_ptr_nonnull(arena_alloc(a, 100, 0));
	ck_assert_ptr_nonnull(arena_alloc(a, 2000, 0));
	s = stats_of(a);
	ck_assert_uint_ge(s.chunks, 6);
	ck_assert_int_gt(acct.bytes.cur, bytes_at_mark + 2000);
	assert_account_matches(a, &o);

	arena_rewind(a, m);
	s = stats_of(a);
	ck_assert_uint_eq(s.chunks, 1);
	ck_assert_uint_eq(s.reserved, at_mark.reserved);
	ck_assert_uint_eq(s.used, at_mark.used);
	ck_assert_int_eq(acct.bytes.cur, bytes_at_mark);
	ck_assert_int_eq(run_acct.bytes.cur, bytes_at_mark);
	assert_account_matches(a, &o);

	/* The first chunk still has room where the mark was. */
	ck_assert_ptr_nonnull(arena_alloc(a, 100, 0));
	ck_assert_uint_eq(stats_of(a).chunks, 1);
	arena_destroy(a);
	ck_assert_int_eq(acct.bytes.cur, 0);
}
END_TEST

START_TEST(rewind_to_empty)
{
	struct overhead o = measure_overhead();
	struct arena *a = new_arena(256);
	struct arena_mark m = arena_mark(a);
	struct run_log log = {0};
	struct log_entry e;

	for (int i = 0; i < 5; i++)
		ck_assert_ptr_nonnull(arena_alloc(a, 200, 0));
	defer_logged(a, &e, &log, 1);
	arena_rewind(a, m);
	ck_assert_int_eq(log.n, 1);
	ck_assert_uint_eq(stats_of(a).used, 0);
	ck_assert_uint_eq(stats_of(a).reserved, 0);
	ck_assert_uint_eq(stats_of(a).chunks, 0);
	ck_assert_int_eq(acct.bytes.cur, o.arena);

	/* And the arena works afterwards. */
	ck_assert_ptr_nonnull(arena_alloc(a, 10, 0));
	ck_assert_uint_eq(stats_of(a).chunks, 1);
	arena_destroy(a);
	ck_assert_int_eq(log.n, 1);
	ck_assert_int_eq(acct.bytes.cur, 0);
}
END_TEST

/* ---- arena_get_stats / arena_account --------------------------------- */

START_TEST(get_stats_all_fields)
{
	struct arena *a = new_arena(1024);
	struct run_log log = {0};
	struct log_entry e[2];
	struct arena_stats s;

	ck_assert_ptr_nonnull(arena_alloc(a, 600, 1));
	ck_assert_ptr_nonnull(arena_alloc(a, 601, 1));
	defer_logged(a, &e[0], &log, 0);
	defer_logged(a, &e[1], &log, 1);
	memset(&s, 0xA5, sizeof s);
	arena_get_stats(a, &s);
	ck_assert_uint_eq(s.chunks, 2);
	ck_assert_uint_eq(s.reserved, 2048);
	ck_assert_uint_eq(s.cleanups, 2);
	ck_assert_uint_eq(s.resets, 0);
	/* Each cleanup record holds at least a function and its context. */
	ck_assert_uint_ge(s.total, 1201 + 2 * (sizeof(arena_cleanup_fn) + sizeof(void *)));
	ck_assert_uint_ge(s.used, s.total);
	ck_assert_uint_eq(s.peak, s.used);

	arena_reset(a);
	arena_get_stats(a, &s);
	ck_assert_uint_eq(s.used, 0);
	ck_assert_uint_eq(s.cleanups, 0);
	ck_assert_uint_eq(s.resets, 1);
	ck_assert_uint_eq(s.chunks, 1);
	ck_assert_uint_eq(s.reserved, 1024);
	ck_assert_uint_ge(s.peak, 1201);
	arena_destroy(a);
}
END_TEST

START_TEST(account_is_the_creators)
{
	struct mem_account other;
	struct arena *a = new_arena(256);
	struct arena *b;

	mem_account_init(&other, "other", NULL, 0);
	b = arena_create(&other, 256);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_eq(arena_account(a), &acct);
	ck_assert_ptr_eq(arena_account(b), &other);
	ck_assert_ptr_nonnull(arena_alloc(b, 10, 0));
	ck_assert_int_gt(other.bytes.cur, 0);
	ck_assert_int_eq(run_acct.bytes.cur, acct.bytes.cur);
	arena_destroy(b);
	ck_assert_int_eq(other.bytes.cur, 0);
	arena_destroy(a);
}
END_TEST

/* ---- account integration --------------------------------------------- */

/* Allocate sizes around the chunk size, checking the account after each;
 * returns the highest account value seen. */
static int64_t alloc_and_check(struct arena *a, const struct overhead *o, int from, int to,
                               int64_t max_seen)
{
	for (int i = from; i < to; i++) {
		size_t size = (size_t)(i * 37 % 300) + 1;

		if (i % 7 == 0)
			size += 600;
		ck_assert_ptr_nonnull(arena_alloc(a, size, (size_t)1 << (i % 5)));
		assert_account_matches(a, o);
		if (acct.bytes.cur > max_seen)
			max_seen = acct.bytes.cur;
	}
	return max_seen;
}

START_TEST(integration_bytes_follow_chunks)
{
	struct overhead o = measure_overhead();
	struct arena *a;
	struct arena_mark m;
	int64_t max_seen;

	ck_assert_int_eq(o.chunk % (int64_t)MAX_ALIGN, 0);
	a = new_arena(256);
	ck_assert_int_eq(acct.bytes.cur, o.arena);
	assert_account_matches(a, &o);
	max_seen = alloc_and_check(a, &o, 0, 20, acct.bytes.cur);
	m = arena_mark(a);
	max_seen = alloc_and_check(a, &o, 20, 40, max_seen);
	ck_assert_uint_gt(stats_of(a).chunks, 20);
	arena_rewind(a, m);
	assert_account_matches(a, &o);
	ck_assert_int_lt(acct.bytes.cur, max_seen);
	arena_reset(a);
	assert_account_matches(a, &o);
	ck_assert_int_eq(acct.bytes.peak, max_seen);
	ck_assert_int_eq(run_acct.bytes.peak, max_seen);
	arena_destroy(a);
	ck_assert_int_eq(acct.bytes.cur, 0);
	ck_assert_int_eq(run_acct.bytes.cur, 0);
	ck_assert_int_eq(acct.bytes.peak, max_seen);
}
END_TEST

START_TEST(integration_two_arenas_share_account)
{
	struct overhead o = measure_overhead();
	struct arena *a = new_arena(256);
	struct arena *b = new_arena(512);

	ck_assert_ptr_nonnull(arena_alloc(a, 10, 0));
	ck_assert_ptr_nonnull(arena_alloc(b, 10, 0));
	ck_assert_int_eq(acct.bytes.cur, 2 * o.arena + 2 * o.chunk + 256 + 512);
	arena_destroy(a);
	ck_assert_int_eq(acct.bytes.cur, o.arena + o.chunk + 512);
	arena_destroy(b);
	ck_assert_int_eq(acct.bytes.cur, 0);
	ck_assert_int_eq(acct.bytes.peak, 2 * o.arena + 2 * o.chunk + 256 + 512);
}
END_TEST

static void check_limit_on(struct mem_account *limited)
{
	struct overhead o = measure_overhead();
	struct arena *a;
	struct arena_stats before, after;
	struct run_log log = {0};
	struct log_entry e = {&log, 5};

	/* Room for the arena and exactly one chunk. */
	limited->limit = (uint64_t)(o.arena + o.chunk + 256);
	a = new_arena(256);
	ck_assert_ptr_nonnull(arena_alloc(a, 200, 0));
	before = stats_of(a);

	ck_assert_ptr_null(arena_alloc(a, 100, 0));
	assert_tempfail_naming(STAGE_NAME);
	after = stats_of(a);
	assert_stats_eq(&before, &after);
	ck_assert_int_eq(limited->bytes.cur, (int64_t)limited->limit);

	gp_err_clear();
	ck_assert_ptr_null(arena_calloc(a, 10, 10));
	assert_tempfail_naming(STAGE_NAME);
	gp_err_clear();
	ck_assert_ptr_null(arena_strdup(a, "longer than the fifty-six bytes left in this "
	                                   "chunk: 60 chars"));
	assert_tempfail_naming(STAGE_NAME);

	gp_err_clear();
	ck_assert_int_eq(arena_defer(a, log_cleanup, &e), 0);
	ck_assert_ptr_nonnull(arena_alloc(a, 8, 0));
	ck_assert_int_eq(gp_err_code(), 0);

	/* The chunk is now full: registering a handle fails, but releases it. */
	ck_assert_ptr_nonnull(arena_alloc(a, 256 - stats_of(a).used, 1));
	ck_assert_int_eq(arena_defer(a, log_cleanup, &e), -1);
	assert_tempfail_naming(STAGE_NAME);
	ck_assert_int_eq(log.n, 1);

	arena_destroy(a);
	ck_assert_int_eq(log.n, 2);
	ck_assert_int_eq(acct.bytes.cur, 0);
	ck_assert_int_eq(run_acct.bytes.cur, 0);
}

START_TEST(integration_limit_on_account)
{
	check_limit_on(&acct);
}
END_TEST

START_TEST(integration_limit_on_parent)
{
	check_limit_on(&run_acct);
	/* The parent's name is in the message too: it is the budget used up. */
	gp_err_clear();
	run_acct.limit = 1;
	ck_assert_ptr_null(arena_create(&acct, 256));
	assert_tempfail_naming(STAGE_NAME);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), RUN_NAME));
}
END_TEST

/* ---- fail the n-th allocation ---------------------------------------- */

#define POOL_MAX 64

/* Stand-ins for GDAL handles: acquired before arena_defer, released by the
 * cleanup. */
struct pool;

struct resource {
	struct pool *pool;
	int id;
};

struct pool {
	int n;
	int acquired[POOL_MAX];
	int released[POOL_MAX];
	struct resource res[POOL_MAX];
	int released_at_once; /* by a failing arena_defer */
};

static void release_resource(void *ctx)
{
	struct resource *r = ctx;

	r->pool->released[r->id]++;
}

static int own_resource(struct arena *a, struct pool *pool)
{
	struct resource *r;

	ck_assert_int_lt(pool->n, POOL_MAX);
	r = &pool->res[pool->n];
	r->pool = pool;
	r->id = pool->n++;
	pool->acquired[r->id]++;
	if (arena_defer(a, release_resource, r) != 0) {
		pool->released_at_once++;
		return -1;
	}
	return 0;
}

static int alloc_some(struct arena *a, struct pool *pool, int count, int seed)
{
	static const size_t sizes[] = {1, 24, 7, 200, 64, 300, 3, 130, 16, 1000, 40};

	for (int i = 0; i < count; i++) {
		size_t size = sizes[(size_t)(i + seed) % (sizeof sizes / sizeof sizes[0])];
		unsigned char *p = arena_alloc(a, size, (size_t)1 << ((i + seed) % 5));

		if (p == NULL)
			return -1;
		memset(p, i, size);
		if (i % 3 == 0 && own_resource(a, pool) != 0)
			return -1;
	}
	return 0;
}

/* What a stage does with an arena; on any failure it stops, destroys what it
 * has and fails. */
static int arena_workload(struct mem_account *account, struct pool *pool)
{
	struct arena *a = arena_create(account, 256);
	struct arena_mark m;
	unsigned char *p;
	char *s;

	if (a == NULL)
		return -1;
	if (alloc_some(a, pool, 12, 0) != 0)
		goto fail;
	m = arena_mark(a);
	if (alloc_some(a, pool, 9, 3) != 0)
		goto fail;
	arena_rewind(a, m);
	s = arena_printf(a, "feature %d of layer %s", 17, "roads");
	if (s == NULL)
		goto fail;
	s = arena_strdup(a, s);
	if (s == NULL || arena_strndup(a, s, 7) == NULL)
		goto fail;
	p = arena_calloc(a, 50, 8);
	if (p == NULL)
		goto fail;
	p = arena_realloc(a, p, 400, 900);
	if (p == NULL)
		goto fail;
	arena_reset(a);
	if (alloc_some(a, pool, 10, 5) != 0)
		goto fail;
	arena_destroy(a);
	return 0;
fail:
	arena_destroy(a);
	return -1;
}

START_TEST(oom_every_allocation)
{
	uint64_t n;
	int failed_runs = 0;
	int released_at_once = 0;
	int resources_on_success = 0;

	for (n = 1; n < 100000; n++) {
		struct pool *pool = calloc(1, sizeof *pool);
		uint64_t made;
		int rc;

		ck_assert_ptr_nonnull(pool);
		gp_err_clear();
		mem_fail_after(n);
		rc = arena_workload(&acct, pool);
		made = mem_fail_after(0);

		for (int i = 0; i < pool->n; i++) {
			ck_assert_msg(pool->acquired[i] == 1 && pool->released[i] == 1,
			              "n=%llu resource %d: acquired %d released %d",
			              (unsigned long long)n, i, pool->acquired[i],
			              pool->released[i]);
		}
		ck_assert_int_eq(acct.bytes.cur, 0);
		ck_assert_int_eq(run_acct.bytes.cur, 0);
		released_at_once += pool->released_at_once;
		if (rc == 0)
			resources_on_success = pool->n;
		free(pool);

		if (made < n) {
			/* The failure was never reached: a clean success. */
			ck_assert_int_eq(rc, 0);
			ck_assert_int_eq(gp_err_code(), 0);
			break;
		}
		ck_assert_msg(rc != 0, "n=%llu: allocation %llu failed but the workload succeeded",
		              (unsigned long long)n, (unsigned long long)n);
		assert_tempfail_naming(STAGE_NAME);
		failed_runs++;
	}
	ck_assert_uint_lt(n, 100000);
	ck_assert_int_gt(failed_runs, 10);
	ck_assert_uint_eq((uint64_t)failed_runs, n - 1);
	ck_assert_int_gt(released_at_once, 0);
	ck_assert_int_gt(resources_on_success, 5);
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

/* ---- owner checks (core/owner_check.h) ------------------------------- */

enum release_op { OP_RESET, OP_REWIND, OP_DESTROY };

struct release_job {
	struct arena *a;
	struct arena_mark m;
	enum release_op op;
	int self;                 /* the thread's owner id */
	bool create;              /* the thread makes the arena itself */
};

static void *release_in_thread(void *arg)
{
	struct release_job *j = arg;

	owner_set(j->self);
	if (j->create) {
		j->a = arena_create(&acct, 0);
		j->m = arena_mark(j->a);
		arena_alloc(j->a, 100, 0);
	}
	if (j->op == OP_RESET)
		arena_reset(j->a);
	else if (j->op == OP_REWIND)
		arena_rewind(j->a, j->m);
	else
		arena_destroy(j->a);
	return NULL;
}

/* Run `j` on a thread of a forked child whose stderr goes to `err`
 * (`size` bytes, what it said); the arena is made on the child's main
 * thread first unless the job makes it.  The child exits with the
 * owner_check_count() it ended with, or dies of a signal. */
static int release_in_child(struct release_job *j, char *err, size_t size)
{
	int fd[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		pthread_t t;

		dup2(fd[1], 2);
		close(fd[0]);
		if (!j->create) {
			j->a = new_arena(0);
			j->m = arena_mark(j->a);
			arena_alloc(j->a, 100, 0);
		}
		if (pthread_create(&t, NULL, release_in_thread, j) != 0 ||
		    pthread_join(t, NULL) != 0)
			_exit(100);
		if (!j->create && j->op != OP_DESTROY)
			arena_destroy(j->a);
		if (j->create && j->op != OP_DESTROY) {
			/* back on the owner's id: the destroy is the owner's */
			owner_set(j->self);
			arena_destroy(j->a);
		}
		_exit((int)owner_check_count());
	}
	close(fd[1]);
	while (got + 1 < (ssize_t)size && (n = read(fd[0], err + got, size - 1 - (size_t)got)) > 0)
		got += n;
	err[got] = '\0';
	close(fd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

START_TEST(release_from_another_thread_aborts)
{
	static const enum release_op ops[] = {OP_RESET, OP_REWIND, OP_DESTROY};

	for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
		struct release_job j = {.op = ops[k], .self = 7};
		char err[512];
		int status = release_in_child(&j, err, sizeof err);

#ifndef NDEBUG
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		              "op %zu: status %#x, stderr: %s", k, (unsigned)status, err);
		ck_assert_str_eq(err, "gispipe: internal error: arena '" STAGE_NAME "' owned by "
		                      "thread 0 released by thread 7 (only its owner may release "
		                      "it)\n");
#else
		/* release builds count it and go on */
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "op %zu", k);
#endif
	}
}
END_TEST

START_TEST(release_by_the_owner_is_fine)
{
	static const enum release_op ops[] = {OP_RESET, OP_REWIND, OP_DESTROY};

	for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
		/* made and released on a worker (id 3), and on the main thread */
		struct release_job j = {.op = ops[k], .self = 3, .create = true};
		char err[512];
		int status = release_in_child(&j, err, sizeof err);

		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		              "op %zu: status %#x, stderr: %s", k, (unsigned)status, err);
		ck_assert_str_eq(err, "");
	}
	{
		struct arena *a = new_arena(0);

		arena_alloc(a, 10, 0);
		arena_reset(a);
		arena_destroy(a);
		ck_assert_uint_eq(owner_check_count(), 0);
	}
}
END_TEST

START_TEST(owner_is_the_creators)
{
	struct arena *a = new_arena(0);

	ck_assert_int_eq(arena_owner(a), 0);
	arena_destroy(a);
	owner_set(5);
	a = new_arena(0);
	ck_assert_int_eq(arena_owner(a), 5);
	arena_destroy(a);
	owner_set(0);
	ck_assert_uint_eq(owner_check_count(), 0);
}
END_TEST

static Suite *arena_suite(void)
{
	Suite *s = suite_create("arena");
	TCase *tc;

	tc = tcase(s, "arena_create");
	tcase_add_test(tc, create_starts_empty);
	tcase_add_test(tc, create_chunk_size);
	tcase_add_test(tc, create_fails_on_limit);
	tcase_add_test(tc, create_fails_when_injected);
	tcase_add_test(tc, create_refuses_no_account);

	tc = tcase(s, "arena_destroy");
	tcase_add_test(tc, destroy_null);
	tcase_add_test(tc, destroy_returns_everything);
	tcase_add_test(tc, destroy_runs_cleanups_lifo);

	tc = tcase(s, "arena_reset");
	tcase_add_test(tc, reset_keeps_one_chunk);
	tcase_add_test(tc, reset_empty_arena);
	tcase_add_test(tc, reset_runs_cleanups_once);

	tc = tcase(s, "arena_alloc");
	tcase_add_test(tc, alloc_alignment);
	tcase_add_test(tc, alloc_alignment_new_chunk);
	tcase_add_test(tc, alloc_bad_alignment);
	tcase_add_test(tc, alloc_stats);
	tcase_add_test(tc, alloc_large_own_chunk);
	tcase_add_test(tc, alloc_size_zero);
	tcase_add_test(tc, alloc_too_large);
	tcase_add_test(tc, alloc_from_chunk_fails_when_injected);

	tc = tcase(s, "arena_calloc");
	tcase_add_test(tc, calloc_zeroed);
	tcase_add_test(tc, calloc_overflow);

	tc = tcase(s, "arena_realloc");
	tcase_add_test(tc, realloc_in_place);
	tcase_add_test(tc, realloc_copies);
	tcase_add_test(tc, realloc_null_and_failure);

	tc = tcase(s, "arena_strdup");
	tcase_add_test(tc, strdup_copies);

	tc = tcase(s, "arena_strndup");
	tcase_add_test(tc, strndup_bounds);
	tcase_add_test(tc, strndup_short_source);

	tc = tcase(s, "arena_printf");
	tcase_add_test(tc, printf_formats);
	tcase_add_test(tc, printf_failure);

	tc = tcase(s, "arena_defer");
	tcase_add_test(tc, defer_counts);
	tcase_add_test(tc, defer_lifo_on_reset_and_destroy);
	tcase_add_test(tc, defer_failure_runs_at_once);

	tc = tcase(s, "arena_defer_destroy");
	tcase_add_test(tc, defer_destroy_goes_with_owner);
	tcase_add_test(tc, defer_destroy_failure_destroys_at_once);

	tc = tcase(s, "arena_mark");
	tcase_add_test(tc, mark_changes_nothing);
	tcase_add_test(tc, mark_is_a_value);

	tc = tcase(s, "arena_rewind");
	tcase_add_test(tc, rewind_frees_later_memory);
	tcase_add_test(tc, rewind_runs_later_cleanups);
	tcase_add_test(tc, rewind_nested);
	tcase_add_test(tc, rewind_across_chunks);
	tcase_add_test(tc, rewind_to_empty);

	tc = tcase(s, "arena_get_stats");
	tcase_add_test(tc, get_stats_all_fields);

	tc = tcase(s, "arena_account");
	tcase_add_test(tc, account_is_the_creators);

	tc = tcase(s, "owner_checks");
	tcase_add_test(tc, release_from_another_thread_aborts);
	tcase_add_test(tc, release_by_the_owner_is_fine);
	tcase_add_test(tc, owner_is_the_creators);

	tc = tcase(s, "account_integration");
	tcase_add_test(tc, integration_bytes_follow_chunks);
	tcase_add_test(tc, integration_two_arenas_share_account);
	tcase_add_test(tc, integration_limit_on_account);
	tcase_add_test(tc, integration_limit_on_parent);

	tc = tcase(s, "out_of_memory");
	tcase_add_test(tc, oom_every_allocation);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(arena_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
