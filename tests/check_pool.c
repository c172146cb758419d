/* check_pool.c - unit tests for the worker pool (src/core/pool.c) and the
 * owner id (src/core/owner.c). */
#include <check.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/account.h"
#include "core/error.h"
#include "core/owner.h"
#include "core/pool.h"

#define NJOBS 200

static struct mem_account acct;

static void setup(void)
{
	gp_err_clear();
	mem_account_init(&acct, "pool", NULL, 0);
}

static void teardown(void)
{
	ck_assert_int_eq(acct.bytes.cur, 0);
	gp_err_clear();
}

/* A job's record of where it ran: the worker it was given, the id the
 * thread says it has, and that it ran once. */
struct rec {
	int worker;
	int self;
	atomic_int runs;
	bool slow;
};

static void nap(void)
{
	struct timespec ts = {0, 200000};

	nanosleep(&ts, NULL);
}

static void job(void *arg, int worker)
{
	struct rec *r = arg;

	if (r->slow)
		nap();
	r->worker = worker;
	r->self = owner_self();
	atomic_fetch_add(&r->runs, 1);
}

/* ---- owner_self / owner_set ------------------------------------------ */

START_TEST(owner_main_is_zero)
{
	ck_assert_int_eq(owner_self(), 0);
	owner_set(3);
	ck_assert_int_eq(owner_self(), 3);
	owner_set(0);
	ck_assert_int_eq(owner_self(), 0);
}
END_TEST

/* ---- pool_create / pool_size / pool_destroy ---------------------------- */

START_TEST(create_sizes)
{
	struct pool *p = pool_create(&acct, 3);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(pool_size(p), 3);
	ck_assert_int_gt(acct.bytes.cur, 0);
	pool_destroy(p);
	ck_assert_int_eq(pool_size(NULL), 0);
	pool_destroy(NULL);
}
END_TEST

START_TEST(create_refuses_zero)
{
	ck_assert_ptr_null(pool_create(&acct, 0));
	ck_assert_int_eq(gp_err_code(), GP_EX_SOFTWARE);
}
END_TEST

START_TEST(create_out_of_memory)
{
	struct mem_account small;

	mem_account_init(&small, "small", NULL, 16);
	ck_assert_ptr_null(pool_create(&small, 2));
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_int_eq(small.bytes.cur, 0);
}
END_TEST

/* ---- pool_run ---------------------------------------------------------- */

START_TEST(run_all_jobs_on_workers)
{
	struct pool *p = pool_create(&acct, 4);
	static struct rec r[NJOBS];
	void *args[NJOBS];
	bool seen[5] = {false};

	memset(r, 0, sizeof r);
	for (int i = 0; i < NJOBS; i++) {
		r[i].slow = i % 10 == 0;
		args[i] = &r[i];
	}
	ck_assert_int_eq(pool_run(p, NJOBS, job, args), 0);
	/* pool_run waited: every job has run, once, on a worker that knows
	 * its own id. */
	for (int i = 0; i < NJOBS; i++) {
		ck_assert_int_eq(atomic_load(&r[i].runs), 1);
		ck_assert_int_ge(r[i].worker, 1);
		ck_assert_int_le(r[i].worker, 4);
		ck_assert_int_eq(r[i].self, r[i].worker);
		seen[r[i].worker] = true;
	}
	/* twice in a row: the pool is ready again */
	ck_assert_int_eq(pool_run(p, 3, job, args), 0);
	ck_assert_int_eq(atomic_load(&r[2].runs), 2);
	pool_destroy(p);
	ck_assert(!seen[0]);
}
END_TEST

START_TEST(run_without_pool_runs_here)
{
	struct rec r[2];
	void *args[2] = {&r[0], &r[1]};

	memset(r, 0, sizeof r);
	ck_assert_int_eq(pool_run(NULL, 2, job, args), 0);
	ck_assert_int_eq(atomic_load(&r[1].runs), 1);
	ck_assert_int_eq(r[1].worker, 0);
}
END_TEST

/* What a worker saw when it called pool_run (checked on the main thread:
 * a failed check must not jump out of a worker). */
struct nested {
	struct pool *p;
	int rc, code;
};

static void run_from_worker(void *arg, int worker)
{
	struct nested *n = arg;

	(void)worker;
	n->rc = pool_run(n->p, 1, job, NULL);
	n->code = gp_err_code();
}

START_TEST(run_refused_on_worker)
{
	struct nested n = {pool_create(&acct, 1), 0, 0};
	void *args[1] = {&n};

	/* a worker waiting for the pool would wait for itself */
	ck_assert_int_eq(pool_run(n.p, 1, run_from_worker, args), 0);
	ck_assert_int_eq(n.rc, -1);
	ck_assert_int_eq(n.code, GP_EX_SOFTWARE);
	pool_destroy(n.p);
}
END_TEST

/* ---- pool_each --------------------------------------------------------- */

static void each_mark(void *arg, int worker)
{
	atomic_int *hits = arg;

	nap();
	/* hits[0] counts calls on a thread that is not the one named */
	atomic_fetch_add(&hits[owner_self() == worker ? worker : 0], 1);
}

START_TEST(each_runs_once_per_worker)
{
	struct pool *p = pool_create(&acct, 3);
	atomic_int hits[4] = {0};

	pool_each(p, each_mark, hits);
	ck_assert_int_eq(atomic_load(&hits[0]), 0);
	for (int i = 1; i <= 3; i++)
		ck_assert_int_eq(atomic_load(&hits[i]), 1);
	pool_destroy(p);
	pool_each(NULL, each_mark, hits); /* no pool: nothing */
	ck_assert_int_eq(atomic_load(&hits[0]), 0);
}
END_TEST

/* ---- pool_submit / pool_take ------------------------------------------- */

START_TEST(submit_and_take_back)
{
	struct pool *p = pool_create(&acct, 2);
	static struct rec r[NJOBS];
	static struct pool_job j[NJOBS];
	static bool back[NJOBS];
	struct pool_job *got;
	int n = 0;

	memset(r, 0, sizeof r);
	memset(back, 0, sizeof back);
	ck_assert_ptr_null(pool_take(p, true)); /* nothing given: no wait */
	for (int i = 0; i < NJOBS; i++) {
		r[i].slow = i % 7 == 0;
		j[i].fn = job;
		j[i].arg = &r[i];
		pool_submit(p, &j[i]);
	}
	while ((got = pool_take(p, true)) != NULL) {
		struct rec *rr = got->arg;

		/* given back only once it has run */
		ck_assert_int_eq(atomic_load(&rr->runs), 1);
		ck_assert_int_eq(rr->self, rr->worker);
		ck_assert(!back[got - j]);
		back[got - j] = true;
		n++;
	}
	ck_assert_int_eq(n, NJOBS);
	ck_assert_ptr_null(pool_take(p, false));
	pool_destroy(p);
}
END_TEST

START_TEST(destroy_waits_for_queued_jobs)
{
	struct pool *p = pool_create(&acct, 2);
	static struct rec r[20];
	static struct pool_job j[20];

	memset(r, 0, sizeof r);
	for (int i = 0; i < 20; i++) {
		r[i].slow = true;
		j[i].fn = job;
		j[i].arg = &r[i];
		pool_submit(p, &j[i]);
	}
	pool_destroy(p); /* joins: every job queued has run */
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(atomic_load(&r[i].runs), 1);
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc;

	tc = tcase(s, "owner_self");
	tcase_add_test(tc, owner_main_is_zero);

	tc = tcase(s, "pool_create");
	tcase_add_test(tc, create_sizes);
	tcase_add_test(tc, create_refuses_zero);
	tcase_add_test(tc, create_out_of_memory);

	tc = tcase(s, "pool_run");
	tcase_add_test(tc, run_all_jobs_on_workers);
	tcase_add_test(tc, run_without_pool_runs_here);
	tcase_add_test(tc, run_refused_on_worker);

	tc = tcase(s, "pool_each");
	tcase_add_test(tc, each_runs_once_per_worker);

	tc = tcase(s, "pool_submit");
	tcase_add_test(tc, submit_and_take_back);

	tc = tcase(s, "pool_destroy");
	tcase_add_test(tc, destroy_waits_for_queued_jobs);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pool_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
