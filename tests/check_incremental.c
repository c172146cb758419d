/* check_incremental.c - unit tests for --incremental's decisions and record
 * (src/core/incremental.c).
 *
 * The inputs are plain files: the module fingerprints them and never opens
 * them as datasets, and "outputs" are files the test writes itself, as a
 * writer would before the engine commits.  Each test works in a fresh
 * temporary directory (the record's paths are relative, like the user's). */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gdal.h>
#include <ogr_srs_api.h>
#include <proj.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/incremental.h"
#include "core/outfile.h"
#include "config/pipeline.h"

#define RECORD "out/.gispipe.incremental.json"

static struct mem_account account;
static struct arena *arena;
static char dir[64];
static int start_cwd = -1;
static const char *const inputs[] = {"in/a.json", "in/b.json", "in/c.json"};

static const char pipeline_text[] = "version: 1\n"
                                    "vars: { to: 'EPSG:3857' }\n"
                                    "steps:\n"
                                    "  - read: { path: 'in/*.json' }\n"
                                    "  - reproject: { to: '${to}' }\n"
                                    "  - write: { path: 'out/{stem}.gpkg', mode: overwrite }\n";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
	mem_account_init(&account, "incremental-test", NULL, 0);
	arena = arena_create(&account, 0);
	ck_assert_ptr_nonnull(arena);
	strcpy(dir, "/tmp/check_incremental.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(mkdir("in", 0755), 0);
	ck_assert_int_eq(mkdir("out", 0755), 0);
	write_file("in/a.json", "{\"a\": 1}");
	write_file("in/b.json", "{\"b\": 22}");
	write_file("in/c.json", "{\"c\": 333}");
}

static void teardown(void)
{
	char cmd[128];

	mem_fail_after(0);
	gp_err_clear();
	arena_destroy(arena);
	ck_assert_int_eq(account.bytes.cur, 0);
	ck_assert_int_eq(fchdir(start_cwd), 0);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct pipeline *load(struct arena *a, const char *text, const char *const *sets)
{
	struct pipeline_load_opts o = {.sets = sets, .skip_inputs = true};
	struct pipeline *pl;

	write_file("p.yaml", text);
	pl = pipeline_load(a, &account, "p.yaml", &o);
	ck_assert_msg(pl != NULL, "%s", gp_err_msg());
	return pl;
}

/* One incremental run of `pl` in `a`: decides, then writes the output of
 * each input it reads (as the writer would) and commits.  `skipped` gets
 * one flag per input. */
static void run_once(struct arena *a, struct pipeline *pl, bool skipped[3])
{
	struct incr *i = incr_create(a, pl, 0, NULL, false);

	ck_assert_ptr_nonnull(i);
	ck_assert_int_eq(incr_inputs(i, inputs, 3), 0);
	ck_assert_msg(incr_sink(i, "out/{stem}.gpkg", OUTFILE_OVERWRITE) == 0, "%s", gp_err_msg());
	for (size_t k = 0; k < 3; k++) {
		char out[64];

		skipped[k] = incr_skip(i, k);
		if (skipped[k])
			continue;
		snprintf(out, sizeof out, "out/%c.gpkg", "abc"[k]);
		unlink(out); /* a new file, as a commit's rename makes */
		write_file(out, "output");
		ck_assert_int_eq(incr_output(i, k, out), 0);
	}
	ck_assert_msg(incr_commit(i) == 0, "%s", gp_err_msg());
}

static int nskipped(const bool s[3])
{
	return s[0] + s[1] + s[2];
}

START_TEST(refuses_rejects_and_synthetic)
{
	struct pipeline *pl = load(arena,
	                           "version: 1\non_error: reject\nrejects: { path: out/r.gpkg }\n"
	                           "steps:\n  - read: { path: 'in/*.json' }\n"
	                           "  - write: { path: 'out/{stem}.gpkg' }\n",
	                           NULL);
	struct incr *i;

	ck_assert_ptr_null(incr_create(arena, pl, 0, NULL, false));
	ck_assert_int_eq(gp_err_code(), GP_EX_USAGE);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "on_error: reject"));
	gp_err_clear();
	pl = load(arena, pipeline_text, NULL);
	i = incr_create(arena, pl, 0, NULL, false);
	ck_assert_ptr_nonnull(i);
	/* No inputs registered: a synthetic source. */
	ck_assert_int_eq(incr_sink(i, "out/{stem}.gpkg", OUTFILE_OVERWRITE), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_USAGE);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "synthetic"));
	/* No incremental run: every call is a no-op. */
	ck_assert_int_eq(incr_inputs(NULL, inputs, 3), 0);
	ck_assert_int_eq(incr_sink(NULL, "x", OUTFILE_OVERWRITE), 0);
	ck_assert_int_eq(incr_skip(NULL, 0), 0);
	ck_assert_int_eq(incr_commit(NULL), 0);
}
END_TEST

START_TEST(skips_what_is_up_to_date)
{
	struct pipeline *pl = load(arena, pipeline_text, NULL);
	struct stat before, after;
	bool s[3];

	run_once(arena, pl, s);
	ck_assert_int_eq(nskipped(s), 0); /* no record yet */
	ck_assert_int_eq(access(RECORD, F_OK), 0);
	ck_assert_int_eq(stat("out/a.gpkg", &before), 0);
	run_once(arena, pl, s);
	ck_assert_int_eq(nskipped(s), 3);
	ck_assert_int_eq(stat("out/a.gpkg", &after), 0);
	ck_assert_int_eq(before.st_ino, after.st_ino);
	/* A changed input: its output only. */
	write_file("in/b.json", "{\"b\": 2222}");
	run_once(arena, pl, s);
	ck_assert(s[0] && !s[1] && s[2]);
	/* An output changed by hand: its input is read again. */
	unlink("out/c.gpkg");
	write_file("out/c.gpkg", "by hand");
	run_once(arena, pl, s);
	ck_assert(s[0] && s[1] && !s[2]);
	run_once(arena, pl, s);
	ck_assert_int_eq(nskipped(s), 3);
}
END_TEST

START_TEST(pipeline_compared_as_parsed)
{
	static const char *const other[] = {"to=EPSG:3035", NULL};
	static const char *const same[] = {"to=EPSG:3857", NULL};
	bool s[3];

	run_once(arena, load(arena, pipeline_text, NULL), s);
	/* Key order, flow style, comments and memory: no change. */
	run_once(arena,
	         load(arena,
	              "# again\nversion: 1\nmemory: { limit: 512MiB }\nsteps:\n"
	              "  - read:\n      path: in/*.json\n"
	              "  - reproject: { to: '${to}' }\n"
	              "  - write: { mode: overwrite, path: 'out/{stem}.gpkg' }\n"
	              "vars:\n  to: EPSG:3857\n",
	              same),
	         s);
	ck_assert_int_eq(nskipped(s), 3);
	run_once(arena, load(arena, pipeline_text, other), s);
	ck_assert_int_eq(nskipped(s), 0);
}
END_TEST

START_TEST(failure_keeps_the_record)
{
	struct pipeline *pl = load(arena, pipeline_text, NULL);
	struct incr *i;
	char before[4096], after[4096];
	FILE *f;
	size_t n1, n2;
	bool s[3];

	run_once(arena, pl, s);
	f = fopen(RECORD, "r");
	n1 = fread(before, 1, sizeof before, f);
	fclose(f);
	write_file("in/a.json", "{\"a\": 11}");
	/* A run that reads a, then fails: aborted, not committed. */
	i = incr_create(arena, pl, 0, NULL, false);
	ck_assert_int_eq(incr_inputs(i, inputs, 3), 0);
	ck_assert_int_eq(incr_sink(i, "out/{stem}.gpkg", OUTFILE_OVERWRITE), 0);
	ck_assert_int_eq(incr_skip(i, 0), 0);
	incr_abort(i);
	f = fopen(RECORD, "r");
	n2 = fread(after, 1, sizeof after, f);
	fclose(f);
	ck_assert_uint_eq(n1, n2);
	ck_assert_int_eq(memcmp(before, after, n1), 0);
	run_once(arena, pl, s);
	ck_assert(!s[0] && s[1] && s[2]);
}
END_TEST

START_TEST(append_refuses_a_changed_input)
{
	struct pipeline *pl = load(arena, pipeline_text, NULL);
	struct incr *i;

	i = incr_create(arena, pl, 0, NULL, false);
	ck_assert_int_eq(incr_inputs(i, inputs, 2), 0);
	ck_assert_int_eq(incr_sink(i, "out/all.gpkg", OUTFILE_APPEND), 0);
	write_file("out/all.gpkg", "rows");
	ck_assert_int_eq(incr_output(i, 0, "out/all.gpkg"), 0);
	ck_assert_int_eq(incr_output(i, 1, "out/all.gpkg"), 0);
	ck_assert_int_eq(incr_commit(i), 0);
	/* A new input only. */
	i = incr_create(arena, pl, 0, NULL, false);
	ck_assert_int_eq(incr_inputs(i, inputs, 3), 0);
	ck_assert_int_eq(incr_sink(i, "out/all.gpkg", OUTFILE_APPEND), 0);
	ck_assert(incr_skip(i, 0) && incr_skip(i, 1) && !incr_skip(i, 2));
	incr_abort(i);
	write_file("in/a.json", "{\"a\": 100}");
	i = incr_create(arena, pl, 0, NULL, false);
	ck_assert_int_eq(incr_inputs(i, inputs, 3), 0);
	ck_assert_int_eq(incr_sink(i, "out/all.gpkg", OUTFILE_APPEND), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_DATAERR);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "appended rows cannot be taken back"));
	incr_abort(i);
}
END_TEST

START_TEST(refuses_a_record_it_did_not_write)
{
	static const char *const bad[] = {
	        "not json", "[]", "{\"units\": []}",
	        "{\"units\": {\"out/{stem}.gpkg\": {\"pipeline\": \"1\", \"version\": \"1\", "
	        "\"outputs\": {}, \"inputs\": {\"in/a.json\": {\"outputs\": [1]}}}}}",
	        NULL};
	struct pipeline *pl = load(arena, pipeline_text, NULL);

	for (const char *const *b = bad; *b; b++) {
		struct incr *i = incr_create(arena, pl, 0, NULL, false);

		write_file(RECORD, *b);
		ck_assert_int_eq(incr_inputs(i, inputs, 3), 0);
		gp_err_clear();
		ck_assert_int_eq(incr_sink(i, "out/{stem}.gpkg", OUTFILE_OVERWRITE), -1);
		ck_assert_int_eq(gp_err_code(), GP_EX_DATAERR);
		ck_assert_ptr_nonnull(strstr(gp_err_msg(), "not a record gispipe wrote"));
		incr_abort(i);
	}
}
END_TEST

/* Every allocation fails in turn: each failure is a clean 75, with nothing
 * left in the arena's account and no temporary beside the record. */
START_TEST(oom_every_allocation)
{
	struct pipeline *pl = load(arena, pipeline_text, NULL);
	int failed = 0;
	bool s[3];

	run_once(arena, pl, s);
	write_file("in/b.json", "{\"b\": 7}");
	for (uint64_t n = 1; n < 10000; n++) {
		struct arena *a = arena_create(&account, 256);
		struct incr *i;
		int r = -1;
		uint64_t made;

		ck_assert_ptr_nonnull(a);
		gp_err_clear();
		mem_fail_after(n);
		i = incr_create(a, pl, 0, NULL, false);
		if (i && incr_inputs(i, inputs, 3) == 0 &&
		    incr_sink(i, "out/{stem}.gpkg", OUTFILE_OVERWRITE) == 0 &&
		    incr_output(i, 1, "out/b.gpkg") == 0)
			r = incr_commit(i);
		made = mem_fail_after(0);
		arena_destroy(a);
		if (r == 0 && made < n)
			break;
		ck_assert_int_ne(r, 0);
		ck_assert_msg(gp_err_code() == GP_EX_TEMPFAIL, "n=%llu: %d %s", (unsigned long long)n,
		              gp_err_code(), gp_err_msg());
		ck_assert_int_eq(system("ls -a out | grep -q '^\\.gispipe-......$'") != 0, 1);
		failed++;
	}
	ck_assert_int_gt(failed, 5);
}
END_TEST

static Suite *incremental_suite(void)
{
	Suite *s = suite_create("incremental");
	TCase *tc = tcase_create("incremental");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, refuses_rejects_and_synthetic);
	tcase_add_test(tc, skips_what_is_up_to_date);
	tcase_add_test(tc, pipeline_compared_as_parsed);
	tcase_add_test(tc, failure_keeps_the_record);
	tcase_add_test(tc, append_refuses_a_changed_input);
	tcase_add_test(tc, refuses_a_record_it_did_not_write);
	tcase_add_test(tc, oom_every_allocation);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	/* Tests chdir into their directory; teardown comes back here. */
	start_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (start_cwd < 0)
		return EXIT_FAILURE;
	GDALAllRegister(); /* the write step's check finds its driver */
	sr = srunner_create(incremental_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	close(start_cwd);
	/* What the reproject step's check made, for valgrind's leak check. */
	OSRCleanup();
	proj_cleanup();
	GDALDestroyDriverManager();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
