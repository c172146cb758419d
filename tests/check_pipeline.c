/* check_pipeline.c - unit tests for loading pipeline files (src/config/pipeline.c). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_error.h>
#include <gdal.h>
#include <ogr_srs_api.h>
#include <proj.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "core/step.h"
#include "config/yaml_load.h"
#include "vector/source.h"

#define MIB ((uint64_t)1024 * 1024)

static struct mem_account account;
static struct arena *arena;
static char dir[64];
static char ppath[128]; /* dir/p.yaml */
static int start_cwd = -1;

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
	mem_account_init(&account, "pipeline-test", NULL, 0);
	arena = arena_create(&account, 0);
	ck_assert_ptr_nonnull(arena);
	strcpy(dir, "/tmp/check_pipeline.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(ppath, sizeof ppath, "%s/p.yaml", dir);
}

static void teardown(void)
{
	char p[160];

	mem_fail_after(0);
	gp_err_clear();
	arena_destroy(arena);
	ck_assert_int_eq(account.bytes.cur, 0);
	ck_assert_int_eq(fchdir(start_cwd), 0);
	unlink(ppath);
	snprintf(p, sizeof p, "%s/sub/q.yaml", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/sub", dir);
	rmdir(p);
	rmdir(dir);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

static struct pipeline *load_sets(const char *text, const char *const *sets)
{
	struct pipeline_load_opts o = {.sets = sets};

	write_file(ppath, text);
	gp_err_clear();
	return pipeline_load(arena, &account, ppath, &o);
}

static struct pipeline *load_ok_sets(const char *text, const char *const *sets)
{
	struct pipeline *pl = load_sets(text, sets);

	ck_assert_msg(pl != NULL, "load failed (%d): %s", gp_err_code(), gp_err_msg());
	ck_assert_int_eq(gp_err_code(), 0);
	return pl;
}

static struct pipeline *load_ok(const char *text)
{
	return load_ok_sets(text, NULL);
}

/* The message of a config error at line:col, with the source line and the
 * caret under column `col` (ASCII lines). */
static const char *at(int line, int col, const char *src, const char *fmt, ...)
{
	static char buf[2048];
	char msg[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	n = snprintf(buf, sizeof buf, "%s:%d:%d: %s\n  %s\n  %*s^", ppath, line, col, msg, src,
	             col - 1, "");
	ck_assert(n > 0 && (size_t)n < sizeof buf);
	return buf;
}

/* Loading fails with `code` and exactly `msg`. */
static void expect_fail_sets(const char *text, const char *const *sets, int code, const char *msg)
{
	char want[2048];

	snprintf(want, sizeof want, "%s", msg);
	ck_assert_ptr_null(load_sets(text, sets));
	ck_assert_int_eq(gp_err_code(), code);
	ck_assert_str_eq(gp_err_msg(), want);
}

static void expect_fail(const char *text, const char *msg)
{
	expect_fail_sets(text, NULL, GP_EX_CONFIG, msg);
}

static const struct read_conf *read_conf(const struct pipeline *pl)
{
	ck_assert_str_eq(pl->steps[0].desc->name, "read");
	return pl->steps[0].conf;
}

#define MINIMAL_STEPS                                                                              \
	"steps:\n"                                                                                 \
	"  - read: { synthetic: { geometry: point, count: 10 } }\n"                                \
	"  - write: { path: out.gpkg }\n"

#define MINIMAL                                                                                    \
	"version: 1\n"                                                                             \
	"steps:\n"                                                                                 \
	"  - read: { synthetic: { geometry: point, count: 10 } }\n"                                \
	"  - write: { path: out.gpkg }\n"

/* ---- pipeline_load: valid files --------------------------------------- */

START_TEST(load_minimal)
{
	struct pipeline *pl = load_ok(MINIMAL);
	const struct read_conf *rc = read_conf(pl);

	ck_assert_ptr_eq(pl->arena, arena);
	ck_assert_ptr_eq(pl->acct, &account);
	ck_assert_str_eq(pl->path, ppath);
	ck_assert_str_eq(pl->dir, dir);
	ck_assert_ptr_nonnull(pl->doc);
	ck_assert_int_eq(pl->version, 1);
	ck_assert_ptr_null(pl->name);
	ck_assert_uint_eq(pl->vars.n, 0);
	ck_assert_uint_eq(pl->memory_limit, 0);
	ck_assert_int_eq(pl->batch, 0);
	ck_assert_int_eq(pl->threads, 0);
	ck_assert_int_eq(pl->xc_max_entries, 16);
	ck_assert_int_eq(pl->xc_clear_every, 50);
	ck_assert_int_eq(pl->on_error, ON_ERROR_FAIL);
	ck_assert_ptr_null(pl->rejects_path);
	ck_assert_int_eq(pl->max_rejects, -1);
	ck_assert_uint_eq(pl->nsteps, 2);
	ck_assert_str_eq(pl->steps[0].label, "read");
	ck_assert_str_eq(pl->steps[1].label, "write");
	ck_assert_int_eq(pl->steps[0].desc->role, STEP_SOURCE);
	ck_assert_int_eq(pl->steps[1].desc->role, STEP_SINK);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_int_eq(pl->steps[i].index, (int)i);
		ck_assert_ptr_eq(pl->steps[i].pl, pl);
		ck_assert_ptr_nonnull(pl->steps[i].conf);
		ck_assert_int_eq(pl->steps[i].node->type, YNODE_MAP);
		ck_assert_int_eq(pl->steps[i].node->line, (int)i + 3);
		/* nothing opened yet: a step has no arena or state of its own,
		 * those are a run's (struct stage, step.h) */
	}
	/* the synthetic source's options, and its check filled the defaults */
	ck_assert(rc->has_synthetic);
	ck_assert(!rc->has_path);
	ck_assert_int_eq(rc->synthetic.geometry, SYNTH_POINT);
	ck_assert_int_eq(rc->synthetic.count, 10);
	ck_assert_str_eq(rc->synthetic.crs, "EPSG:4326");
	ck_assert_int_eq(rc->synthetic.vertices, 24);
	ck_assert_str_eq(rc->synthetic.layer, "synthetic");
	/* nothing written: the write step's check only finds the driver */
	{
		char out[160];

		snprintf(out, sizeof out, "%s/out.gpkg", dir);
		ck_assert(access(out, F_OK) != 0);
		ck_assert(access("out.gpkg", F_OK) != 0);
	}
}
END_TEST

START_TEST(load_all_sections)
{
	struct pipeline *pl = load_ok("# every section\n"
	                              "version: 1\n"
	                              "name: parcels-${zone}\n"
	                              "vars:\n"
	                              "  zone: laea\n"
	                              "  src: in/parcels.gpkg\n"
	                              "memory:\n"
	                              "  limit: 256MiB\n"
	                              "  batch: 500\n"
	                              "threads: 4\n"
	                              "transform_cache:\n"
	                              "  max_entries: 4\n"
	                              "  clear_every: 0\n"
	                              "on_error: fail\n"
	                              "max_rejects: 10\n"
	                              "steps:\n"
	                              "  - read:\n"
	                              "      path: ${src}\n"
	                              "      layer: parcels\n"
	                              "      where: \"code < 50\"\n"
	                              "      bbox: [-10, 35, 30, 60]\n"
	                              "  - reproject: { to: \"EPSG:3035\" }\n"
	                              "  - filter: { where: \"code > 1\" }\n"
	                              "  - select: { keep: [id, code] }\n"
	                              "  - reproject: { to: \"EPSG:4326\", from: \"EPSG:3035\" }\n"
	                              "  - write:\n"
	                              "      path: out/{stem}.gpkg\n"
	                              "      format: GPKG\n"
	                              "      layer: \"{layer}\"\n"
	                              "      mode: overwrite\n"
	                              "      options: { SPATIAL_INDEX: YES }\n");
	const struct read_conf *rc = read_conf(pl);
	static const char *const labels[] = {"read",   "reproject",   "filter",
	                                     "select", "reproject#2", "write"};

	ck_assert_str_eq(pl->name, "parcels-laea");
	ck_assert_uint_eq(pl->vars.n, 2);
	ck_assert_str_eq(pipeline_var(pl, "zone"), "laea");
	ck_assert_uint_eq(pl->memory_limit, 256 * MIB);
	ck_assert_int_eq(pl->batch, 500);
	ck_assert_int_eq(pl->threads, 4);
	ck_assert_int_eq(pl->xc_max_entries, 4);
	ck_assert_int_eq(pl->xc_clear_every, 0);
	ck_assert_int_eq(pl->on_error, ON_ERROR_FAIL);
	ck_assert_int_eq(pl->max_rejects, 10);
	ck_assert_uint_eq(pl->nsteps, 6);
	for (size_t i = 0; i < 6; i++) {
		ck_assert_str_eq(pl->steps[i].label, labels[i]);
		ck_assert_int_eq(pl->steps[i].index, (int)i);
	}
	ck_assert_ptr_eq(pl->steps[1].desc, pl->steps[4].desc);
	ck_assert_ptr_eq(pl->steps[1].desc, step_lookup("reproject", STEP_VECTOR));
	ck_assert_int_eq(pl->steps[2].desc->role, STEP_TRANSFORM);
	ck_assert_uint_eq(rc->path.n, 1);
	ck_assert_str_eq(rc->path.v[0], "in/parcels.gpkg");
	ck_assert_str_eq(rc->layer.v[0], "parcels");
	ck_assert_str_eq(rc->where, "code < 50");
	ck_assert(rc->has_bbox);
	ck_assert_double_eq(rc->bbox[0], -10);
	ck_assert_double_eq(rc->bbox[3], 60);
}
END_TEST

START_TEST(load_auto_and_partial_sections)
{
	struct pipeline *pl = load_ok("version: 1\n"
	                              "memory: { limit: 1.5GiB, batch: auto }\n"
	                              "threads: auto\n"
	                              "transform_cache: { clear_every: 7 }\n"
	                              "on_error: fail\n"
	                              "steps:\n"
	                              "  - read: { synthetic: {} }\n"
	                              "  - write: { path: out.fgb }\n");

	ck_assert_uint_eq(pl->memory_limit, 3 * 512 * MIB);
	ck_assert_int_eq(pl->batch, 0);
	ck_assert_int_eq(pl->threads, 0);
	/* only what is given changes */
	ck_assert_int_eq(pl->xc_max_entries, 16);
	ck_assert_int_eq(pl->xc_clear_every, 7);

	pl = load_ok("version: 1\n"
	             "memory: { limit: 64M }\n"
	             "transform_cache: { max_entries: 1 }\n"
	             "steps:\n"
	             "  - read: { synthetic: {} }\n"
	             "  - write: { path: out.fgb }\n");
	ck_assert_uint_eq(pl->memory_limit, 64 * MIB);
	ck_assert_int_eq(pl->batch, 0);
	ck_assert_int_eq(pl->xc_max_entries, 1);
	ck_assert_int_eq(pl->xc_clear_every, 50);
	/* the synthetic defaults: 1000 polygons of 24 vertices */
	ck_assert_int_eq(read_conf(pl)->synthetic.geometry, SYNTH_POLYGON);
	ck_assert_int_eq(read_conf(pl)->synthetic.count, 1000);
	ck_assert_int_eq(read_conf(pl)->synthetic.vertices, 24);
}
END_TEST

START_TEST(load_rejects_section)
{
	struct pipeline *pl = load_ok("version: 1\n"
	                              "on_error: reject\n"
	                              "rejects: { path: out/rejects.gpkg, format: GPKG }\n"
	                              "max_rejects: 0\n"
	                              "steps:\n"
	                              "  - read: { synthetic: {} }\n"
	                              "  - write: { path: out.fgb }\n");

	ck_assert_int_eq(pl->on_error, ON_ERROR_REJECT);
	ck_assert_str_eq(pl->rejects_path, "out/rejects.gpkg");
	ck_assert_str_eq(pl->rejects_format, "GPKG");
	ck_assert_int_eq(pl->max_rejects, 0);
}
END_TEST

START_TEST(load_relative_path)
{
	struct pipeline *pl;
	char sub[160];

	ck_assert_int_eq(chdir(dir), 0);
	write_file("p.yaml", MINIMAL);
	pl = pipeline_load(arena, &account, "p.yaml", NULL);
	ck_assert_ptr_nonnull(pl);
	ck_assert_str_eq(pl->path, "p.yaml");
	ck_assert_str_eq(pl->dir, ".");
	snprintf(sub, sizeof sub, "%s/sub", dir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	write_file("sub/q.yaml", "version: 1\n"
	                         "steps:\n"
	                         "  - read: { path: \"${pipeline_dir}/in.gpkg\" }\n"
	                         "  - write: { path: out.gpkg }\n");
	pl = pipeline_load(arena, &account, "sub/q.yaml", NULL);
	ck_assert_ptr_nonnull(pl);
	ck_assert_str_eq(pl->dir, "sub");
	ck_assert_str_eq(read_conf(pl)->path.v[0], "sub/in.gpkg");
}
END_TEST

/* ---- pipeline_load: the top level ------------------------------------ */

START_TEST(fail_unknown_top_level_key)
{
	expect_fail("version: 1\n"
	            "verison: 1\n"
	            "steps: []\n",
	            at(2, 1, "verison: 1",
	               "unknown key 'verison' at the top level (did you mean 'version'?)"));
	expect_fail(
	        "version: 1\n"
	        "step:\n"
	        "  - read: { synthetic: {} }\n",
	        at(2, 1, "step:", "unknown key 'step' at the top level (did you mean 'steps'?)"));
	expect_fail("version: 1\n"
	            "colour: red\n",
	            at(2, 1, "colour: red", "unknown key 'colour' at the top level"));
	/* before anything else is looked at */
	expect_fail("memroy: { limit: 1 }\n",
	            at(1, 1, "memroy: { limit: 1 }",
	               "unknown key 'memroy' at the top level (did you mean 'memory'?)"));
}
END_TEST

START_TEST(fail_not_a_pipeline)
{
	expect_fail("- read\n- write\n",
	            at(1, 1, "- read", "a pipeline is a mapping with 'version' and 'steps'"));
	expect_fail("# nothing\n",
	            at(1, 1, "# nothing", "a pipeline is a mapping with 'version' and 'steps'"));
	expect_fail("", at(1, 1, "", "a pipeline is a mapping with 'version' and 'steps'"));
}
END_TEST

START_TEST(fail_version)
{
	ck_assert_ptr_null(load_sets("name: x\n"
	                             "steps: []\n",
	                             NULL));
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_str_eq(gp_err_msg(), at(1, 1, "name: x", "missing 'version: 1'"));
	expect_fail(
	        "version: 2\n"
	        "steps: []\n",
	        at(1, 10, "version: 2", "unsupported version '2' (this gispipe reads version 1)"));
	expect_fail("version: 1.0\n",
	            at(1, 10, "version: 1.0",
	               "unsupported version '1.0' (this gispipe reads version 1)"));
	expect_fail("version: [1]\n", at(1, 10, "version: [1]",
	                                 "unsupported version '?' (this gispipe reads version 1)"));
}
END_TEST

START_TEST(fail_steps_section)
{
	expect_fail("version: 1\n", at(1, 1, "version: 1", "missing 'steps'"));
	expect_fail("version: 1\n"
	            "steps: []\n",
	            at(2, 8, "steps: []", "'steps' must be a non-empty list"));
	expect_fail("version: 1\n"
	            "steps: { read: {} }\n",
	            at(2, 8, "steps: { read: {} }", "'steps' must be a non-empty list"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "    write: { path: x.gpkg }\n",
	            at(3, 5, "  - read: { synthetic: {} }",
	               "each step is a mapping with one key, the step's name (e.g. '- reproject: { "
	               "to: \"EPSG:3035\" }')"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read\n",
	            at(3, 5, "  - read",
	               "each step is a mapping with one key, the step's name (e.g. '- reproject: { "
	               "to: \"EPSG:3035\" }')"));
}
END_TEST

START_TEST(fail_other_sections)
{
	expect_fail("version: 1\n"
	            "name: [a]\n",
	            at(2, 7, "name: [a]", "'name' must be a string"));
	expect_fail("version: 1\n"
	            "vars: [a]\n",
	            at(2, 7, "vars: [a]", "'vars' must be a mapping of names to values"));
	expect_fail("version: 1\n"
	            "vars: { a: [1] }\n",
	            at(2, 12, "vars: { a: [1] }", "variable 'a' must be a scalar"));
	expect_fail("version: 1\n"
	            "memory: { limit: lots }\n",
	            at(2, 18, "memory: { limit: lots }",
	               "'limit' in 'memory': 'lots' is not a size (a whole number of bytes, or "
	               "with a unit: KiB, MiB, GiB, TiB)"));
	expect_fail("version: 1\n"
	            "memory: { limt: 1GiB }\n",
	            at(2, 11, "memory: { limt: 1GiB }",
	               "unknown key 'limt' in 'memory' (did you mean 'limit'?)"));
	expect_fail("version: 1\n"
	            "memory: { batch: 0 }\n",
	            at(2, 18, "memory: { batch: 0 }",
	               "'memory.batch' must be 'auto' or an integer from 1 to 1000000"));
	expect_fail("version: 1\n"
	            "threads: many\n",
	            at(2, 10, "threads: many",
	               "'threads' must be 'auto' or an integer from 1 to 1024"));
	expect_fail(
	        "version: 1\n"
	        "threads: -2\n",
	        at(2, 10, "threads: -2", "'threads' must be 'auto' or an integer from 1 to 1024"));
	expect_fail("version: 1\n"
	            "threads: { n: 2 }\n",
	            at(2, 10, "threads: { n: 2 }",
	               "'threads' must be 'auto' or an integer from 1 to 1024"));
	expect_fail("version: 1\n"
	            "transform_cache: { max_entries: 0 }\n",
	            at(2, 33, "transform_cache: { max_entries: 0 }",
	               "'max_entries' in 'transform_cache' must be at least 1 (1..1024)"));
	expect_fail("version: 1\n"
	            "transform_cache: { clear_every: -1 }\n",
	            at(2, 33, "transform_cache: { clear_every: -1 }",
	               "'clear_every' in 'transform_cache' must not be negative (0..1000000)"));
	expect_fail("version: 1\n"
	            "on_error: skip\n",
	            at(2, 11, "on_error: skip", "'on_error' must be 'fail' or 'reject'"));
	expect_fail("version: 1\n"
	            "rejects: { format: GPKG }\n",
	            at(2, 10, "rejects: { format: GPKG }", "'rejects' needs 'path'"));
	expect_fail("version: 1\n"
	            "max_rejects: -1\n",
	            at(2, 14, "max_rejects: -1",
	               "'max_rejects' must be an integer from 0 to 1000000000000"));
}
END_TEST

START_TEST(fail_on_error_reject)
{
	/* reject without a place for the rejects, and rejects without reject */
	expect_fail("version: 1\n"
	            "on_error: reject\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(2, 11, "on_error: reject",
	               "'on_error: reject' needs 'rejects: { path: ... }' to put them in"));
	expect_fail("version: 1\n"
	            "rejects: { path: out/rejects.gpkg }\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(2, 10, "rejects: { path: out/rejects.gpkg }",
	               "'rejects' is only used with 'on_error: reject'"));
}
END_TEST

/* ---- pipeline_load: steps -------------------------------------------- */

START_TEST(fail_unknown_step)
{
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - reprojct: { to: \"EPSG:3035\" }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(4, 5, "  - reprojct: { to: \"EPSG:3035\" }",
	               "unknown step 'reprojct' (did you mean 'reproject'?)"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - rasterize: { distance: 10 }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(4, 5, "  - rasterize: { distance: 10 }",
	               "unknown step 'rasterize' (gispipe stages lists them)"));
}
END_TEST

START_TEST(fail_unknown_step_keys)
{
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { pth: in.gpkg }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(3, 13, "  - read: { pth: in.gpkg }",
	               "unknown key 'pth' in step 'read' (did you mean 'path'?)"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - write:\n"
	            "      path: out.gpkg\n"
	            "      optoins: { SPATIAL_INDEX: NO }\n",
	            at(6, 7, "      optoins: { SPATIAL_INDEX: NO }",
	               "unknown key 'optoins' in step 'write' (did you mean 'options'?)"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: { verticies: 5 } }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(3, 26, "  - read: { synthetic: { verticies: 5 } }",
	               "unknown key 'verticies' in 'synthetic' of step 'read' (did you mean "
	               "'vertices'?)"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - reproject: { to: \"EPSG:3035\", colour: red }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(4, 35, "  - reproject: { to: \"EPSG:3035\", colour: red }",
	               "unknown key 'colour' in step 'reproject'"));
}
END_TEST

START_TEST(fail_step_option_types)
{
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: { count: lots } }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(3, 33, "  - read: { synthetic: { count: lots } }",
	               "'count' in 'synthetic' of step 'read' must be an integer"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { path: in.gpkg, bbox: [1, 2, 3] }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(3, 34, "  - read: { path: in.gpkg, bbox: [1, 2, 3] }",
	               "'bbox' in step 'read' must be a list of 4 numbers [xmin, ymin, xmax, "
	               "ymax]"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { path: in.gpkg, bbox: [30, 35, -10, 60] }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(3, 34, "  - read: { path: in.gpkg, bbox: [30, 35, -10, 60] }",
	               "'bbox' in step 'read' must be [xmin, ymin, xmax, ymax] with xmin <= xmax "
	               "and ymin <= ymax"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - write: { path: out.gpkg, mode: overwirte }\n",
	            at(4, 36, "  - write: { path: out.gpkg, mode: overwirte }",
	               "unknown value 'overwirte' for 'mode' in step 'write' (did you mean "
	               "'overwrite'?)"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: { geometry: hexagon } }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(3, 36, "  - read: { synthetic: { geometry: hexagon } }",
	               "'geometry' in 'synthetic' of step 'read' must be one of: point, line, "
	               "polygon"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - write: { path: [a.gpkg] }\n",
	            at(4, 20, "  - write: { path: [a.gpkg] }",
	               "'path' in step 'write' must be a string"));
}
END_TEST

START_TEST(fail_required_options)
{
	expect_fail(
	        "version: 1\n"
	        "steps:\n"
	        "  - read: { synthetic: {} }\n"
	        "  - reproject: { from: \"EPSG:4326\" }\n"
	        "  - write: { path: out.gpkg }\n",
	        at(4, 16, "  - reproject: { from: \"EPSG:4326\" }", "step 'reproject' needs 'to'"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - reproject:\n"
	            "  - write: { path: out.gpkg }\n",
	            at(4, 5, "  - reproject:", "step 'reproject' needs options"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - reproject: { to: \"\" }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(4, 22, "  - reproject: { to: \"\" }",
	               "'to' in step 'reproject' must not be empty"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - reproject: EPSG:3035\n"
	            "  - write: { path: out.gpkg }\n",
	            at(4, 16, "  - reproject: EPSG:3035",
	               "step 'reproject' takes a mapping of options"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: {}\n"
	            "  - write: { path: out.gpkg }\n",
	            at(3, 11, "  - read: {}", "step 'read' needs either 'path' or 'synthetic'"));
}
END_TEST

START_TEST(fail_step_order)
{
	expect_fail(
	        "version: 1\n"
	        "steps:\n"
	        "  - reproject: { to: \"EPSG:3035\" }\n"
	        "  - write: { path: out.gpkg }\n",
	        at(3, 5, "  - reproject: { to: \"EPSG:3035\" }", "the first step must be 'read'"));
	expect_fail(
	        "version: 1\n"
	        "steps:\n"
	        "  - read: { synthetic: {} }\n"
	        "  - reproject: { to: \"EPSG:3035\" }\n",
	        at(4, 5, "  - reproject: { to: \"EPSG:3035\" }", "the last step must be 'write'"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - write: { path: a.gpkg }\n"
	            "  - reproject: { to: \"EPSG:3035\" }\n"
	            "  - write: { path: b.gpkg }\n",
	            at(4, 5, "  - write: { path: a.gpkg }", "'write' may only be the last step"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - read: { synthetic: {} }\n"
	            "  - write: { path: b.gpkg }\n",
	            at(4, 5, "  - read: { synthetic: {} }", "'read' may only be the first step"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n",
	            at(3, 5, "  - read: { synthetic: {} }", "the last step must be 'write'"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - write: { path: b.gpkg }\n",
	            at(3, 5, "  - write: { path: b.gpkg }", "the first step must be 'read'"));
}
END_TEST

START_TEST(fail_step_checks)
{
	/* the steps' own checks run at load time */
	CPLPushErrorHandler(CPLQuietErrorHandler);
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - reproject: { to: \"EPSG:999999\" }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(4, 22, "  - reproject: { to: \"EPSG:999999\" }",
	               "unknown CRS 'EPSG:999999' in step 'reproject'"));
	expect_fail(
	        "version: 1\n"
	        "steps:\n"
	        "  - read: { synthetic: { crs: \"EPSG:0\" } }\n"
	        "  - write: { path: out.gpkg }\n",
	        at(3, 31, "  - read: { synthetic: { crs: \"EPSG:0\" } }", "unknown CRS 'EPSG:0'"));
	CPLPopErrorHandler();
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: { geometry: polygon, vertices: 3 } }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(3, 24, "  - read: { synthetic: { geometry: polygon, vertices: 3 } }",
	               "synthetic polygons need 'vertices' of at least 4"));
	/* polygons are the default */
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: { vertices: 3 } }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(3, 24, "  - read: { synthetic: { vertices: 3 } }",
	               "synthetic polygons need 'vertices' of at least 4"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - write: { path: out.xyz }\n",
	            at(4, 20, "  - write: { path: out.xyz }",
	               "cannot write 'out.xyz': no driver writes this extension; give 'format'"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - write: { path: \"out/{stm}.gpkg\" }\n",
	            at(4, 20, "  - write: { path: \"out/{stm}.gpkg\" }",
	               "unknown template '{stm}' in 'out/{stm}.gpkg' (did you mean '{stem}'?)"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - select: {}\n"
	            "  - write: { path: out.gpkg }\n",
	            at(4, 13, "  - select: {}", "step 'select' needs 'keep', 'drop' or 'rename'"));
}
END_TEST

/* ---- pipeline_load: variables ---------------------------------------- */

#define WITH_VARS                                                                                  \
	"version: 1\n"                                                                             \
	"vars:\n"                                                                                  \
	"  base: /data\n"                                                                          \
	"  src: ${base}/parcels.gpkg\n"                                                            \
	"  lyr: parcels\n"                                                                         \
	"steps:\n"                                                                                 \
	"  - read: { path: \"${src}\", layer: \"${lyr}\" }\n"                                      \
	"  - write: { path: out.gpkg }\n"

START_TEST(vars_substituted)
{
	struct pipeline *pl = load_ok(WITH_VARS);
	const struct read_conf *rc = read_conf(pl);

	ck_assert_uint_eq(pl->vars.n, 3);
	ck_assert_str_eq(pipeline_var(pl, "src"), "/data/parcels.gpkg");
	ck_assert_str_eq(rc->path.v[0], "/data/parcels.gpkg");
	ck_assert_str_eq(rc->layer.v[0], "parcels");
	for (size_t i = 0; i < pl->vars.n; i++)
		ck_assert(!pl->vars.item[i].from_cli);
}
END_TEST

START_TEST(vars_set_overrides)
{
	static const char *const sets[] = {"base=/srv", "lyr=roads", "extra=a=b", NULL};
	struct pipeline *pl = load_ok_sets(WITH_VARS, sets);
	const struct read_conf *rc = read_conf(pl);

	/* --set wins over the file, and later variables see it */
	ck_assert_str_eq(pipeline_var(pl, "base"), "/srv");
	ck_assert_str_eq(rc->path.v[0], "/srv/parcels.gpkg");
	ck_assert_str_eq(rc->layer.v[0], "roads");
	/* a variable only on the command line; the value keeps its '=' */
	ck_assert_str_eq(pipeline_var(pl, "extra"), "a=b");
	ck_assert_uint_eq(pl->vars.n, 4);
	for (size_t i = 0; i < pl->vars.n; i++)
		ck_assert(pl->vars.item[i].from_cli == (strcmp(pl->vars.item[i].name, "src") != 0));
}
END_TEST

START_TEST(vars_set_whole_value)
{
	static const char *const sets[] = {"src=other.gpkg", "src=last.gpkg", "empty=", NULL};
	struct pipeline *pl = load_ok_sets(WITH_VARS, sets);

	/* the last --set of a name wins */
	ck_assert_str_eq(read_conf(pl)->path.v[0], "last.gpkg");
	ck_assert_str_eq(pipeline_var(pl, "empty"), "");
	/* base is still the file's */
	ck_assert_str_eq(pipeline_var(pl, "base"), "/data");
}
END_TEST

START_TEST(vars_env_and_pipeline_dir)
{
	struct pipeline *pl;
	char want[256];

	ck_assert_int_eq(setenv("GISPIPE_TEST_DATA", "/srv/gis", 1), 0);
	pl = load_ok("version: 1\n"
	             "vars:\n"
	             "  root: ${env:GISPIPE_TEST_DATA}\n"
	             "steps:\n"
	             "  - read:\n"
	             "      path: [\"${root}/a.shp\", \"${env:GISPIPE_TEST_DATA}/b.shp\", "
	             "\"${pipeline_dir}/c.shp\"]\n"
	             "  - write: { path: \"${pipeline_dir}/out/{stem}.gpkg\" }\n");
	ck_assert_str_eq(read_conf(pl)->path.v[0], "/srv/gis/a.shp");
	ck_assert_str_eq(read_conf(pl)->path.v[1], "/srv/gis/b.shp");
	snprintf(want, sizeof want, "%s/c.shp", dir);
	ck_assert_str_eq(read_conf(pl)->path.v[2], want);
	ck_assert_int_eq(unsetenv("GISPIPE_TEST_DATA"), 0);
	expect_fail("version: 1\n"
	            "vars:\n"
	            "  root: ${env:GISPIPE_TEST_DATA}\n",
	            at(3, 9, "  root: ${env:GISPIPE_TEST_DATA}",
	               "environment variable 'GISPIPE_TEST_DATA' is not set"));
}
END_TEST

START_TEST(vars_undefined)
{
	expect_fail("version: 1\n"
	            "vars: { src: a.gpkg }\n"
	            "steps:\n"
	            "  - read: { path: \"${srcs}\" }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(4, 19, "  - read: { path: \"${srcs}\" }",
	               "undefined variable 'srcs' (did you mean 'src'?)"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { path: \"${input}\" }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(3, 19, "  - read: { path: \"${input}\" }",
	               "undefined variable 'input' (define it under 'vars' or with --set "
	               "input=...)"));
	/* variables see only the ones before them */
	expect_fail("version: 1\n"
	            "vars:\n"
	            "  a: ${later}/x\n"
	            "  later: /y\n",
	            at(3, 6, "  a: ${later}/x",
	               "undefined variable 'later' (define it under 'vars' or with --set "
	               "later=...)"));
	/* --set supplies what the file lacks */
	{
		static const char *const sets[] = {"input=given.gpkg", NULL};
		struct pipeline *pl = load_ok_sets("version: 1\n"
		                                   "steps:\n"
		                                   "  - read: { path: \"${input}\" }\n"
		                                   "  - write: { path: out.gpkg }\n",
		                                   sets);

		ck_assert_str_eq(read_conf(pl)->path.v[0], "given.gpkg");
	}
}
END_TEST

START_TEST(vars_malformed_set)
{
	static const char *const no_eq[] = {"ok=1", "src", NULL};
	static const char *const no_name[] = {"=x", NULL};

	expect_fail_sets(MINIMAL, no_eq, GP_EX_USAGE, "--set wants key=value, not 'src'");
	expect_fail_sets(MINIMAL, no_name, GP_EX_USAGE, "--set wants key=value, not '=x'");
	/* before the file is even read */
	unlink(ppath);
	ck_assert_ptr_null(pipeline_load(arena, &account, ppath,
	                                 &(struct pipeline_load_opts){.sets = no_name}));
	ck_assert_int_eq(gp_err_code(), GP_EX_USAGE);
}
END_TEST

/* ---- pipeline_load: what the YAML loader refuses --------------------- */

START_TEST(yaml_duplicate_key)
{
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {}, synthetic: {} }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(3, 28, "  - read: { synthetic: {}, synthetic: {} }",
	               "duplicate key 'synthetic' (first at line 3)"));
	expect_fail("version: 1\n"
	            "version: 1\n",
	            at(2, 1, "version: 1", "duplicate key 'version' (first at line 1)"));
}
END_TEST

/* Every top-level number has a range, stated in the message. */
START_TEST(fail_top_level_ranges)
{
	static const struct {
		const char *line;
		int col;
		const char *msg;
	} cases[] = {
	        {"threads: 2000", 10, "'threads' must be 'auto' or an integer from 1 to 1024"},
	        {"threads: 0", 10, "'threads' must be 'auto' or an integer from 1 to 1024"},
	        {"memory: { batch: 1000001 }", 18,
	         "'memory.batch' must be 'auto' or an integer from 1 to 1000000"},
	        {"transform_cache: { max_entries: 1025 }", 33,
	         "'max_entries' in 'transform_cache' must be at most 1024 (1..1024)"},
	        {"transform_cache: { clear_every: 1000001 }", 33,
	         "'clear_every' in 'transform_cache' must be at most 1000000 (0..1000000)"},
	        {"max_rejects: 1000000000001", 14,
	         "'max_rejects' must be an integer from 0 to 1000000000000"},
	        {"memory: { limit: 0.5 }", 18,
	         "'limit' in 'memory': '0.5' is not a size (a whole number of bytes, or with a "
	         "unit: "
	         "KiB, MiB, GiB, TiB)"},
	        {"memory: { limit: -64MiB }", 18,
	         "'limit' in 'memory': '-64MiB' is not a size (a whole number of bytes, or with a "
	         "unit: KiB, MiB, GiB, TiB)"},
	        {"memory: { limit: 18446744073709551616 }", 18,
	         "'limit' in 'memory': '18446744073709551616' is not a size (a whole number of "
	         "bytes, "
	         "or with a unit: KiB, MiB, GiB, TiB)"},
	        {"memory: { limit: 9223372036854775808 }", 18,
	         "'limit' in 'memory' must be at most 1024TiB (1MiB..1024TiB, or 0/none)"},
	        {"memory: { limit: 64Mo }", 18,
	         "'limit' in 'memory': '64Mo' is not a size (a whole number of bytes, or with a "
	         "unit: "
	         "KiB, MiB, GiB, TiB)"},
	        {"memory: { limit: 1000 }", 18,
	         "'limit' in 'memory' must be at least 1MiB (1MiB..1024TiB, or 0/none)"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[512];

		snprintf(text, sizeof text, "version: 1\n%s\n" MINIMAL_STEPS, cases[i].line);
		expect_fail(text, at(2, cases[i].col, cases[i].line, "%s", cases[i].msg));
	}
}
END_TEST

START_TEST(load_top_level_bounds)
{
	struct pipeline *pl;

	pl = load_ok("version: 1\nthreads: 1024\nmemory: { limit: 64MB, batch: 1000000 }\n"
	             "transform_cache: { max_entries: 1024, clear_every: 1000000 }\n"
	             "max_rejects: 1000000000000\n" MINIMAL_STEPS);
	ck_assert_int_eq(pl->threads, 1024);
	ck_assert_uint_eq(pl->memory_limit, 64 * MIB); /* MB is MiB */
	ck_assert_int_eq(pl->batch, 1000000);
	ck_assert_int_eq(pl->xc_max_entries, 1024);
	ck_assert_int_eq(pl->xc_clear_every, 1000000);
	pl = load_ok("version: 1\nmemory: { limit: none }\n" MINIMAL_STEPS);
	ck_assert_uint_eq(pl->memory_limit, 0);
	pl = load_ok("version: 1\nmemory: { limit: 0 }\n" MINIMAL_STEPS);
	ck_assert_uint_eq(pl->memory_limit, 0);
	pl = load_ok("version: 1\nmemory: { limit: 1.5GiB }\n" MINIMAL_STEPS);
	ck_assert_uint_eq(pl->memory_limit, 1536 * MIB);
}
END_TEST

/* The runaways of #8: a step's number out of its range is refused at its
 * position, with the range. */
START_TEST(fail_step_ranges)
{
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: { geometry: polygon, count: 100 } }\n"
	            "  - buffer: { distance: 1, segments: 2000000000 }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(4, 38, "  - buffer: { distance: 1, segments: 2000000000 }",
	               "'segments' in step 'buffer' must be at most 1000 (1..1000)"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: { geometry: polygon, count: 1000000001 } }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(3, 52, "  - read: { synthetic: { geometry: polygon, count: 1000000001 } }",
	               "'count' in 'synthetic' of step 'read' must be at most 1000000000 "
	               "(0..1000000000)"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: { raster: { width: 1048577, height: 10 } } }\n"
	            "  - write: { path: out.tif }\n",
	            at(3, 43, "  - read: { synthetic: { raster: { width: 1048577, height: 10 } } }",
	               "'width' in 'raster' of 'synthetic' of step 'read' must be at most 1048576 "
	               "(1..1048576)"));
	expect_fail("version: 1\n"
	            "steps:\n"
	            "  - read: { synthetic: {} }\n"
	            "  - buffer: { distance: .nan }\n"
	            "  - write: { path: out.gpkg }\n",
	            at(4, 25, "  - buffer: { distance: .nan }",
	               "'distance' in step 'buffer' must be a number"));
}
END_TEST

/* Every number any step takes states its range (opt_desc min..max), so
 * `gispipe stages` can print it and nothing runs away. */
static void assert_ranges(const char *step, const struct opt_desc *t)
{
	for (; t->name; t++) {
		bool numeric = t->type == OPT_INT || t->type == OPT_DOUBLE ||
		               t->type == OPT_DOUBLE2 || t->type == OPT_BBOX || t->type == OPT_SIZE;

		if (t->type == OPT_SUB)
			assert_ranges(step, t->sub);
		if (numeric)
			ck_assert_msg(t->max > t->min && isfinite(t->min) && isfinite(t->max),
			              "'%s' of step '%s' has no range", t->name, step);
		else
			ck_assert_msg(t->min == 0 && t->max == 0,
			              "'%s' of step '%s' is not a number", t->name, step);
	}
}

START_TEST(every_step_number_has_a_range)
{
	size_t n = 0;

	for (unsigned kind = STEP_VECTOR; kind <= STEP_RASTER; kind++)
		for (const struct step_desc *const *c = step_catalogue(kind); *c; c++, n++)
			assert_ranges((*c)->name, (*c)->opts);
	ck_assert_uint_gt(n, 20);
}
END_TEST

/* Many variables and many references cost memory and time in proportion
 * to the file: the variables were an array grown by one (each old copy
 * kept in the arena: 4.6 GB for 20000) and searched one by one for every
 * reference. */
START_TEST(vars_many_variables)
{
	enum { NVARS = 20000, NREFS = 10000 };
	size_t cap = 64 + (size_t)NVARS * 24 + (size_t)NREFS * 10 + 256, n = 0;
	char *text = malloc(cap);
	struct pipeline *pl;

	ck_assert_ptr_nonnull(text);
	n += (size_t)snprintf(text + n, cap - n, "version: 1\nvars:\n");
	for (int i = 0; i < NVARS; i++)
		n += (size_t)snprintf(text + n, cap - n, "  v%d: \"%c\"\n", i, 'a' + i % 26);
	n += (size_t)snprintf(text + n, cap - n, "  z: \"");
	for (int i = 0; i < NREFS; i++)
		n += (size_t)snprintf(text + n, cap - n, "${v%d}", NVARS - 1 - i % 7);
	snprintf(text + n, cap - n, "\"\n" MINIMAL_STEPS);
	pl = load_ok(text);
	free(text);
	ck_assert_uint_eq(pl->vars.n, NVARS + 1);
	ck_assert_str_eq(pipeline_var(pl, "v0"), "a");
	ck_assert_str_eq(pipeline_var(pl, "v19999"), "f");
	ck_assert_ptr_null(pipeline_var(pl, "v20000"));
	ck_assert_uint_eq(strlen(pipeline_var(pl, "z")), NREFS);
	ck_assert_uint_lt(account.bytes.peak, 32 * MIB);
}
END_TEST

/* ---- bounded expansions ------------------------------------------------ */

#define LEVELS_TO_D                                                                                \
	"  a: \"xxxxxxxxxx\"\n"                                                                    \
	"  b: \"${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}\"\n"                                      \
	"  c: \"${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}\"\n"                                      \
	"  d: \"${c}${c}${c}${c}${c}${c}${c}${c}${c}${c}\"\n"

#define VALUE_MAX_MSG                                                                              \
	"this value expands to more than 65536 bytes (64 KiB), the most a value may have"
#define TOTAL_MAX_MSG                                                                              \
	"the pipeline's expanded values add up to more than 1048576 bytes (1 MiB), the most they " \
	"may have together"

/* Eight levels of ten references: 10^8 bytes if expanded.  The value that
 * would pass 64 KiB (e, 100000 bytes) fails, before it is built. */
START_TEST(vars_expansion_bomb)
{
	static const char bomb[] =
	        "version: 1\n"
	        "vars:\n" LEVELS_TO_D "  e: \"${d}${d}${d}${d}${d}${d}${d}${d}${d}${d}\"\n"
	        "  f: \"${e}${e}${e}${e}${e}${e}${e}${e}${e}${e}\"\n"
	        "  g: \"${f}${f}${f}${f}${f}${f}${f}${f}${f}${f}\"\n"
	        "  h: \"${g}${g}${g}${g}${g}${g}${g}${g}${g}${g}\"\n"
	        "name: \"${h}\"\n"
	        "steps:\n"
	        "  - read: { synthetic: {} }\n"
	        "  - write: { path: out.gpkg }\n";

	ck_assert_ptr_null(load_sets(bomb, NULL));
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_str_eq(gp_err_msg(), at(7, 6, "  e: \"${d}${d}${d}${d}${d}${d}${d}${d}${d}${d}\"",
	                                  VALUE_MAX_MSG));
	/* e (100000 bytes) was not built: the arenas never held that much */
	ck_assert_uint_lt(account.bytes.peak, 100000);
}
END_TEST

/* 65536 bytes is a value's most; one more fails. */
START_TEST(vars_expansion_value_bound)
{
	static const char text[] =
	        "version: 1\n"
	        "vars:\n" LEVELS_TO_D
	        "  t: \"${b}${b}${b}${b}${b}${c}${c}${c}${c}${c}xxxxxxxxxxxxxxxxxxxxx"
	        "xxxxxxxxxxxxxxx\"\n"
	        "  e: \"${d}${d}${d}${d}${d}${d}${t}\"\n"
	        "steps:\n"
	        "  - read: { synthetic: {} }\n"
	        "  - write: { path: out.gpkg }\n";
	static const char over[] =
	        "version: 1\n"
	        "vars:\n" LEVELS_TO_D
	        "  t: \"${b}${b}${b}${b}${b}${c}${c}${c}${c}${c}xxxxxxxxxxxxxxxxxxxxx"
	        "xxxxxxxxxxxxxxx\"\n"
	        "  e: \"${d}${d}${d}${d}${d}${d}${t}\"\n"
	        "steps:\n"
	        "  - read: { synthetic: {} }\n"
	        "  - write: { path: \"${e}!\" }\n";
	struct pipeline *pl = load_ok(text);

	ck_assert_uint_eq(strlen(pipeline_var(pl, "t")), 5536);
	ck_assert_uint_eq(strlen(pipeline_var(pl, "e")), 65536);
	expect_fail(over, at(11, 20, "  - write: { path: \"${e}!\" }", VALUE_MAX_MSG));
}
END_TEST

/* All the expansions of a pipeline together: 1 MiB.  b..e make 71100
 * bytes, each v 60000 more: the 17th crosses 1048576. */
START_TEST(vars_expansion_total_bound)
{
	char text[4096], line[64];
	size_t n;

	n = (size_t)snprintf(text, sizeof text,
	                     "version: 1\n"
	                     "vars:\n" LEVELS_TO_D "  e: \"${d}${d}${d}${d}${d}${d}\"\n");
	for (int i = 1; i <= 20; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "  v%02d: \"${e}\"\n", i);
	snprintf(text + n, sizeof text - n,
	         "steps:\n"
	         "  - read: { synthetic: {} }\n"
	         "  - write: { path: out.gpkg }\n");
	snprintf(line, sizeof line, "  v17: \"${e}\"");
	expect_fail(text, at(24, 8, line, TOTAL_MAX_MSG));
	ck_assert_uint_lt(account.bytes.peak, 2 * 1048576);
	/* sixteen fit */
	text[0] = '\0';
	n = (size_t)snprintf(text, sizeof text,
	                     "version: 1\n"
	                     "vars:\n" LEVELS_TO_D "  e: \"${d}${d}${d}${d}${d}${d}\"\n");
	for (int i = 1; i <= 16; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "  v%02d: \"${e}\"\n", i);
	snprintf(text + n, sizeof text - n,
	         "steps:\n"
	         "  - read: { synthetic: {} }\n"
	         "  - write: { path: out.gpkg }\n");
	ck_assert_uint_eq(strlen(pipeline_var(load_ok(text), "v16")), 60000);
}
END_TEST

/* --set values and ${env:...} count like any other text. */
START_TEST(vars_expansion_set_and_env)
{
	static char big[70000 + 5];
	const char *sets[] = {big, NULL};
	const char *text = "version: 1\n"
	                   "vars:\n"
	                   "  v: \"<${big}>\"\n"
	                   "steps:\n"
	                   "  - read: { synthetic: {} }\n"
	                   "  - write: { path: out.gpkg }\n";

	memcpy(big, "big=", 4);
	memset(big + 4, 'x', 70000);
	big[70004] = '\0';
	expect_fail_sets(text, sets, GP_EX_CONFIG, at(3, 6, "  v: \"<${big}>\"", VALUE_MAX_MSG));
	/* a --set value that is not used costs nothing */
	load_ok_sets(MINIMAL, sets);
	ck_assert_int_eq(setenv("GISPIPE_TEST_BIG", big + 4, 1), 0);
	expect_fail("version: 1\n"
	            "name: \"${env:GISPIPE_TEST_BIG}\"\n",
	            at(2, 7, "name: \"${env:GISPIPE_TEST_BIG}\"", VALUE_MAX_MSG));
	ck_assert_int_eq(unsetenv("GISPIPE_TEST_BIG"), 0);
}
END_TEST

START_TEST(yaml_alias_bomb)
{
	static const char bomb[] =
	        "version: 1\n"
	        "vars:\n"
	        "  a: &a "
	        "[\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	        "  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	        "  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
	        "  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
	        "  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
	        "  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
	        "  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
	        "steps:\n"
	        "  - read: { synthetic: {} }\n"
	        "  - write: { path: out.gpkg }\n";

	ck_assert_ptr_null(load_sets(bomb, NULL));
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_str_eq(gp_err_msg(), at(8, 10, "  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]",
	                                  "alias expansion exceeds 100000 nodes (alias bomb?)"));
}
END_TEST

START_TEST(yaml_syntax_error)
{
	ck_assert_ptr_null(load_sets("version: 1\nsteps: [\n", NULL));
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_int_eq(strncmp(gp_err_msg(), ppath, strlen(ppath)), 0);
	ck_assert_int_eq(gp_err_msg()[strlen(ppath)], ':');
}
END_TEST

START_TEST(missing_file)
{
	char missing[160], msg[256];

	snprintf(missing, sizeof missing, "%s/nope.yaml", dir);
	ck_assert_ptr_null(pipeline_load(arena, &account, missing, NULL));
	ck_assert_int_eq(gp_err_code(), GP_EX_NOINPUT);
	snprintf(msg, sizeof msg, "cannot open '%s': No such file or directory", missing);
	ck_assert_str_eq(gp_err_msg(), msg);
	gp_err_clear();
	ck_assert_ptr_null(pipeline_load(arena, &account, dir, NULL));
	ck_assert_int_eq(gp_err_code(), GP_EX_NOINPUT);
	snprintf(msg, sizeof msg, "cannot open '%s': Is a directory", dir);
	ck_assert_str_eq(gp_err_msg(), msg);
}
END_TEST

/* ---- pipeline_var ---------------------------------------------------- */

START_TEST(var_lookup)
{
	struct pipeline *pl = load_ok(WITH_VARS);

	ck_assert_str_eq(pipeline_var(pl, "base"), "/data");
	ck_assert_str_eq(pipeline_var(pl, "lyr"), "parcels");
	ck_assert_ptr_null(pipeline_var(pl, "Base"));
	ck_assert_ptr_null(pipeline_var(pl, "bas"));
	ck_assert_ptr_null(pipeline_var(pl, ""));
	/* pipeline_dir is not a variable of the table */
	ck_assert_ptr_null(pipeline_var(pl, "pipeline_dir"));
}
END_TEST

/* ---- out of memory --------------------------------------------------- */

static const char oom_pipeline[] = "# about 25 lines, most of what a pipeline has\n"
                                   "version: 1\n"
                                   "name: oom-${zone}\n"
                                   "vars:\n"
                                   "  zone: laea\n"
                                   "  src: in/parcels.gpkg\n"
                                   "  out: out/${zone}\n"
                                   "memory: { limit: 256MiB, batch: 512 }\n"
                                   "threads: 2\n"
                                   "transform_cache: { max_entries: 8, clear_every: 10 }\n"
                                   "on_error: fail\n"
                                   "steps:\n"
                                   "  - read:\n"
                                   "      path: [\"${src}\", other.shp]\n"
                                   "      layer: [parcels, roads]\n"
                                   "      where: \"code < 50\"\n"
                                   "      bbox: [-10, 35, 30, 60]\n"
                                   "      open_options: { LIST_ALL_TABLES: NO }\n"
                                   "  - reproject: { to: \"EPSG:3035\" }\n"
                                   "  - filter: { bbox: [0, 0, 1e7, 1e7] }\n"
                                   "  - select: { keep: [id, code], rename: { code: c } }\n"
                                   "  - reproject: { to: \"EPSG:4326\" }\n"
                                   "  - write:\n"
                                   "      path: \"${out}/{stem}.gpkg\"\n"
                                   "      mode: overwrite\n"
                                   "      options: { SPATIAL_INDEX: YES, FID: fid }\n";

START_TEST(oom_every_allocation)
{
	static const char *const sets[] = {"zone=utm", NULL};
	struct pipeline_load_opts o = {.sets = sets};
	uint64_t n;
	int failed = 0;

	int64_t before = account.bytes.cur;

	write_file(ppath, oom_pipeline);
	for (n = 1; n < 10000; n++) {
		struct arena *a = arena_create(&account, 256);
		struct pipeline *pl;
		uint64_t made;

		ck_assert_ptr_nonnull(a);
		gp_err_clear();
		mem_fail_after(n);
		pl = pipeline_load(a, &account, ppath, &o);
		made = mem_fail_after(0);
		if (pl == NULL) {
			ck_assert_msg(made >= n, "n=%llu: failed without an injected failure: %s",
			              (unsigned long long)n, gp_err_msg());
			ck_assert_msg(gp_err_code() == GP_EX_TEMPFAIL, "n=%llu: %d %s",
			              (unsigned long long)n, gp_err_code(), gp_err_msg());
			ck_assert_ptr_nonnull(strstr(gp_err_msg(), "(injected)"));
			arena_destroy(a);
			ck_assert_int_eq(account.bytes.cur, before);
			failed++;
			continue;
		}
		ck_assert_uint_lt(made, n);
		ck_assert_str_eq(pl->name, "oom-utm");
		ck_assert_uint_eq(pl->nsteps, 6);
		ck_assert_str_eq(pl->steps[4].label, "reproject#2");
		ck_assert_str_eq(read_conf(pl)->path.v[0], "in/parcels.gpkg");
		ck_assert_uint_eq(pl->memory_limit, 256 * MIB);
		ck_assert_int_eq(pl->batch, 512);
		arena_destroy(a);
		ck_assert_int_eq(account.bytes.cur, before);
		break;
	}
	ck_assert_uint_lt(n, 10000);
	ck_assert_int_eq(failed, (int)n - 1);
	ck_assert_int_gt(failed, 20);
}
END_TEST

/* ---- runner ---------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *pipeline_suite(void)
{
	Suite *s = suite_create("pipeline");
	TCase *tc;

	tc = tcase(s, "pipeline_load");
	tcase_add_test(tc, load_minimal);
	tcase_add_test(tc, load_all_sections);
	tcase_add_test(tc, load_auto_and_partial_sections);
	tcase_add_test(tc, load_rejects_section);
	tcase_add_test(tc, load_relative_path);

	tc = tcase(s, "pipeline_load_top_level");
	tcase_add_test(tc, fail_unknown_top_level_key);
	tcase_add_test(tc, fail_not_a_pipeline);
	tcase_add_test(tc, fail_version);
	tcase_add_test(tc, fail_steps_section);
	tcase_add_test(tc, fail_other_sections);
	tcase_add_test(tc, fail_on_error_reject);
	tcase_add_test(tc, fail_top_level_ranges);
	tcase_add_test(tc, load_top_level_bounds);

	tc = tcase(s, "pipeline_load_steps");
	tcase_add_test(tc, fail_unknown_step);
	tcase_add_test(tc, fail_unknown_step_keys);
	tcase_add_test(tc, fail_step_option_types);
	tcase_add_test(tc, fail_required_options);
	tcase_add_test(tc, fail_step_order);
	tcase_add_test(tc, fail_step_checks);
	tcase_add_test(tc, fail_step_ranges);
	tcase_add_test(tc, every_step_number_has_a_range);

	tc = tcase(s, "pipeline_load_vars");
	tcase_add_test(tc, vars_substituted);
	tcase_add_test(tc, vars_set_overrides);
	tcase_add_test(tc, vars_set_whole_value);
	tcase_add_test(tc, vars_env_and_pipeline_dir);
	tcase_add_test(tc, vars_undefined);
	tcase_add_test(tc, vars_malformed_set);
	tcase_add_test(tc, vars_expansion_bomb);
	tcase_add_test(tc, vars_expansion_value_bound);
	tcase_add_test(tc, vars_expansion_total_bound);
	tcase_add_test(tc, vars_expansion_set_and_env);
	tcase_add_test(tc, vars_many_variables);

	tc = tcase(s, "pipeline_load_yaml");
	tcase_add_test(tc, yaml_duplicate_key);
	tcase_add_test(tc, yaml_alias_bomb);
	tcase_add_test(tc, yaml_syntax_error);
	tcase_add_test(tc, missing_file);

	tc = tcase(s, "pipeline_var");
	tcase_add_test(tc, var_lookup);

	tc = tcase(s, "out_of_memory");
	tcase_add_test(tc, oom_every_allocation);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pipeline_suite());
	int failed;

	start_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (start_cwd < 0)
		return EXIT_FAILURE;
	GDALAllRegister();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	GDALDestroyDriverManager();
	OSRCleanup();
	proj_cleanup();
	close(start_cwd);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
