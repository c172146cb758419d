/* check_opts.c - unit tests for option tables (src/config/opts.c). */
#include <check.h>
#include <float.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "config/opts.h"
#include "config/vars.h"
#include "config/yaml_load.h"

#define NAME "t.yaml"
#define WHERE "step 'test'"
#define MIB (1024 * 1024)

/* An option of every type. */
struct sub_conf {
	int64_t width;
	const char *type;
	bool has_width;
};

struct conf {
	const char *name;
	struct strlist paths;
	int64_t count;
	int64_t offset;
	int64_t seed;
	double distance;
	double tol;
	bool strict;
	double bbox[4];
	double res[2];
	int method;
	struct strmap options;
	uint64_t cache;
	struct sub_conf raster;
	bool has_count, has_offset, has_strict, has_bbox, has_res, has_options, has_raster;
};

static const char *const methods[] = {"nearest", "bilinear", "cubic", NULL};

static const struct opt_desc sub_table[] = {
        {"width", OPT_INT, offsetof(struct sub_conf, width), OPT_REQUIRED | OPT_POSITIVE, "w", NULL,
         NULL, NULL, offsetof(struct sub_conf, has_width), 0, 0},
        {"type", OPT_STRING, offsetof(struct sub_conf, type), 0, "t", "Byte", NULL, NULL, 0, 0, 0},
        {0},
};

static const struct opt_desc table[] = {
        {"name", OPT_STRING, offsetof(struct conf, name), OPT_REQUIRED, "n", NULL, NULL, NULL, 0, 0,
         0},
        {"paths", OPT_STRINGS, offsetof(struct conf, paths), 0, "p", NULL, NULL, NULL, 0, 0, 0},
        {"count", OPT_INT, offsetof(struct conf, count), OPT_POSITIVE, "c", "1", NULL, NULL,
         offsetof(struct conf, has_count), 0, 0},
        {"offset", OPT_INT, offsetof(struct conf, offset), OPT_NONNEG, "o", "0", NULL, NULL,
         offsetof(struct conf, has_offset), 0, 0},
        {"seed", OPT_INT, offsetof(struct conf, seed), 0, "s", "1", NULL, NULL, 0, 0, 0},
        {"distance", OPT_DOUBLE, offsetof(struct conf, distance), 0, "d", NULL, NULL, NULL, 0, 0,
         0},
        {"tol", OPT_DOUBLE, offsetof(struct conf, tol), OPT_NONNEG, "t", "0", NULL, NULL, 0, 0, 0},
        {"strict", OPT_BOOL, offsetof(struct conf, strict), 0, "b", "no", NULL, NULL,
         offsetof(struct conf, has_strict), 0, 0},
        {"bbox", OPT_BBOX, offsetof(struct conf, bbox), 0, "bb", NULL, NULL, NULL,
         offsetof(struct conf, has_bbox), 0, 0},
        {"res", OPT_DOUBLE2, offsetof(struct conf, res), OPT_POSITIVE, "r", NULL, NULL, NULL,
         offsetof(struct conf, has_res), 0, 0},
        {"method", OPT_ENUM, offsetof(struct conf, method), 0, "m", "nearest", methods, NULL, 0, 0,
         0},
        {"options", OPT_MAP, offsetof(struct conf, options), 0, "op", NULL, NULL, NULL,
         offsetof(struct conf, has_options), 0, 0},
        {"cache", OPT_SIZE, offsetof(struct conf, cache), 0, "sz", NULL, NULL, NULL, 0, 0, 0},
        {"raster", OPT_SUB, offsetof(struct conf, raster), 0, "sub", NULL, NULL, sub_table,
         offsetof(struct conf, has_raster), 0, 0},
        {0},
};

/* A table with nothing required. */
static const struct opt_desc loose_table[] = {
        {"count", OPT_INT, offsetof(struct conf, count), OPT_POSITIVE, "c", "1", NULL, NULL,
         offsetof(struct conf, has_count), 0, 0},
        {0},
};

static struct mem_account account;
static struct arena *arena;
static struct opt_env env;
static struct vars var_table;
static struct var vars[] = {
        {"src", "data/parcels.gpkg", false},
        {"crs", "EPSG:3035", false},
        {"n", "12", true},
        {"dist", "2.5", false},
        {"flag", "yes", false},
        {"method", "bilinear", false},
        {"mem", "64MiB", false},
        {"evil", "${src}", false},
        {"long", NULL, false},
};
static char long_value[301];

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
	mem_account_init(&account, "opts-test", NULL, 0);
	arena = arena_create(&account, 0);
	ck_assert_ptr_nonnull(arena);
	memset(long_value, 'L', 300);
	long_value[300] = '\0';
	vars[8].value = long_value;
	var_table = (struct vars){.item = vars, .n = sizeof vars / sizeof vars[0]};
	env = (struct opt_env){
	        .arena = arena,
	        .vars = &var_table,
	        .dir = "/pipes/dir",
	};
}

static void teardown(void)
{
	mem_fail_after(0);
	gp_err_clear();
	arena_destroy(arena);
	ck_assert_int_eq(account.bytes.cur, 0);
}

static const struct ynode *load(const char *text)
{
	env.doc = ydoc_load_string(arena, NAME, text, strlen(text));
	ck_assert_msg(env.doc != NULL, "%s", gp_err_msg());
	return env.doc->root;
}

static struct conf parse_ok(const char *text)
{
	struct conf c;
	const struct ynode *root = load(text);

	memset(&c, 0, sizeof c);
	ck_assert_msg(opts_parse(&env, root, table, &c, WHERE) == 0, "%s", gp_err_msg());
	ck_assert_int_eq(gp_err_code(), 0);
	return c;
}

/* Parsing fails with 78 and exactly `msg`. */
static void expect_fail(const char *text, const char *msg)
{
	struct conf c;
	const struct ynode *root = load(text);

	memset(&c, 0, sizeof c);
	gp_err_clear();
	ck_assert_int_eq(opts_parse(&env, root, table, &c, WHERE), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_str_eq(gp_err_msg(), msg);
}

/* ---- opts_parse: values ---------------------------------------------- */

START_TEST(parse_every_type)
{
	struct conf c = parse_ok("name: roads\n"
	                         "paths: [a.shp, \"b.shp\", '${src}']\n"
	                         "count: 12\n"
	                         "offset: 0\n"
	                         "seed: -7\n"
	                         "distance: -2.5\n"
	                         "tol: 0\n"
	                         "strict: yes\n"
	                         "bbox: [-10, 35.5, 30, 60]\n"
	                         "res: [25, 12.5]\n"
	                         "method: cubic\n"
	                         "options: {SPATIAL_INDEX: YES, FID: id}\n"
	                         "cache: 64MiB\n"
	                         "raster: {width: 256, type: Int16}\n");

	ck_assert_str_eq(c.name, "roads");
	ck_assert_uint_eq(c.paths.n, 3);
	ck_assert_str_eq(c.paths.v[0], "a.shp");
	ck_assert_str_eq(c.paths.v[1], "b.shp");
	ck_assert_str_eq(c.paths.v[2], "data/parcels.gpkg");
	ck_assert_int_eq(c.paths.at[1]->line, 2);
	ck_assert_int_eq(c.paths.at[1]->col, 16);
	ck_assert_int_eq(c.count, 12);
	ck_assert_int_eq(c.offset, 0);
	ck_assert_int_eq(c.seed, -7);
	ck_assert_double_eq(c.distance, -2.5);
	ck_assert_double_eq(c.tol, 0);
	ck_assert(c.strict);
	ck_assert_double_eq(c.bbox[0], -10);
	ck_assert_double_eq(c.bbox[1], 35.5);
	ck_assert_double_eq(c.bbox[2], 30);
	ck_assert_double_eq(c.bbox[3], 60);
	ck_assert_double_eq(c.res[0], 25);
	ck_assert_double_eq(c.res[1], 12.5);
	ck_assert_int_eq(c.method, 2);
	ck_assert_uint_eq(c.options.n, 2);
	ck_assert_str_eq(c.options.key[0], "SPATIAL_INDEX");
	ck_assert_str_eq(c.options.val[0], "YES");
	ck_assert_str_eq(c.options.key[1], "FID");
	ck_assert_str_eq(c.options.val[1], "id");
	ck_assert_ptr_null(c.options.key[2]);
	ck_assert_uint_eq(c.cache, 64 * MIB);
	ck_assert_int_eq(c.raster.width, 256);
	ck_assert_str_eq(c.raster.type, "Int16");
	ck_assert(c.raster.has_width);
	ck_assert(c.has_count && c.has_offset && c.has_strict && c.has_bbox && c.has_res &&
	          c.has_options && c.has_raster);
}
END_TEST

START_TEST(parse_absent_keys_untouched)
{
	struct conf c = parse_ok("name: x\n");

	ck_assert_str_eq(c.name, "x");
	ck_assert_uint_eq(c.paths.n, 0);
	ck_assert_ptr_null(c.paths.v);
	ck_assert_int_eq(c.count, 0);
	ck_assert_int_eq(c.method, 0);
	ck_assert_ptr_null(c.raster.type);
	ck_assert(!c.has_count && !c.has_offset && !c.has_strict && !c.has_bbox && !c.has_res &&
	          !c.has_options && !c.has_raster && !c.raster.has_width);
}
END_TEST

START_TEST(parse_present_flags_follow_keys)
{
	/* a value equal to the default still counts as given */
	struct conf c = parse_ok("name: x\ncount: 1\nstrict: no\nbbox: [0, 0, 0, 0]\n");

	ck_assert(c.has_count);
	ck_assert(c.has_strict);
	ck_assert(!c.strict);
	ck_assert(c.has_bbox);
	ck_assert(!c.has_offset);
	ck_assert(!c.has_res);
}
END_TEST

START_TEST(parse_strings_single_and_list)
{
	struct conf c = parse_ok("name: x\npaths: in/*.shp\n");

	ck_assert_uint_eq(c.paths.n, 1);
	ck_assert_str_eq(c.paths.v[0], "in/*.shp");
	ck_assert_ptr_eq(c.paths.at[0], ynode_get(env.doc->root, "paths"));
	c = parse_ok("name: x\npaths:\n  - one\n  - ${crs}\n");
	ck_assert_uint_eq(c.paths.n, 2);
	ck_assert_str_eq(c.paths.v[1], "EPSG:3035");
	ck_assert_int_eq(c.paths.at[1]->line, 4);
}
END_TEST

START_TEST(parse_variables_in_every_scalar)
{
	struct conf c = parse_ok("name: ${src}\n"
	                         "count: ${n}\n"
	                         "distance: ${dist}\n"
	                         "strict: ${flag}\n"
	                         "bbox: [0, 0, '${n}', 20]\n"
	                         "res: ['${dist}', '${n}']\n"
	                         "method: ${method}\n"
	                         "options: {CRS: '${crs}'}\n"
	                         "cache: ${mem}\n"
	                         "raster: {width: '${n}', type: '${crs}'}\n");

	ck_assert_str_eq(c.name, "data/parcels.gpkg");
	ck_assert_int_eq(c.count, 12);
	ck_assert_double_eq(c.distance, 2.5);
	ck_assert(c.strict);
	ck_assert_double_eq(c.bbox[2], 12);
	ck_assert_double_eq(c.res[0], 2.5);
	ck_assert_double_eq(c.res[1], 12);
	ck_assert_int_eq(c.method, 1);
	ck_assert_str_eq(c.options.val[0], "EPSG:3035");
	ck_assert_uint_eq(c.cache, 64 * MIB);
	ck_assert_int_eq(c.raster.width, 12);
	ck_assert_str_eq(c.raster.type, "EPSG:3035");
}
END_TEST

START_TEST(parse_bool_words)
{
	static const char *const yes[] = {"true", "True", "YES", "on", "On"};
	static const char *const no[] = {"false", "FALSE", "no", "off", "Off"};
	char text[64];

	for (size_t i = 0; i < 5; i++) {
		struct conf c;

		snprintf(text, sizeof text, "name: x\nstrict: %s\n", yes[i]);
		c = parse_ok(text);
		ck_assert(c.strict);
		snprintf(text, sizeof text, "name: x\nstrict: %s\n", no[i]);
		c = parse_ok(text);
		ck_assert(!c.strict);
		ck_assert(c.has_strict);
	}
}
END_TEST

START_TEST(parse_null_and_empty_node)
{
	struct conf c;

	memset(&c, 0, sizeof c);
	load("a: 1\n");
	/* no options at all: fine when nothing is required */
	ck_assert_int_eq(opts_parse(&env, NULL, loose_table, &c, WHERE), 0);
	ck_assert(!c.has_count);
	/* "- step:" with nothing after the colon is the same */
	load("step:\n");
	ck_assert_int_eq(opts_parse(&env, ynode_get(env.doc->root, "step"), loose_table, &c, WHERE),
	                 0);
	/* but required keys are still required, at the document start */
	load("# header\nstep:\n");
	ck_assert_int_eq(opts_parse(&env, NULL, table, &c, WHERE), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_str_eq(gp_err_msg(), NAME ":1:1: step 'test' needs 'name'\n"
	                                    "  # header\n"
	                                    "  ^");
	gp_err_clear();
	ck_assert_int_eq(opts_parse(&env, ynode_get(env.doc->root, "step"), table, &c, WHERE), -1);
	ck_assert_str_eq(gp_err_msg(), NAME ":2:6: step 'test' needs 'name'\n"
	                                    "  step:\n"
	                                    "       ^");
	/* a quoted empty string is a value, and not a mapping */
	load("step: ''\n");
	gp_err_clear();
	ck_assert_int_eq(opts_parse(&env, ynode_get(env.doc->root, "step"), loose_table, &c, WHERE),
	                 -1);
	ck_assert_str_eq(gp_err_msg(), NAME ":1:7: step 'test' takes a mapping of options\n"
	                                    "  step: ''\n"
	                                    "        ^");
}
END_TEST

/* ---- opts_parse: errors ---------------------------------------------- */

START_TEST(fail_unknown_keys)
{
	expect_fail("name: x\nnme: y\n",
	            NAME ":2:1: unknown key 'nme' in step 'test' (did you mean 'name'?)\n"
	                 "  nme: y\n"
	                 "  ^");
	/* a swap of two neighbouring letters is one edit, short words too */
	expect_fail("name: x\nnmae: y\n",
	            NAME ":2:1: unknown key 'nmae' in step 'test' (did you mean 'name'?)\n"
	                 "  nmae: y\n"
	                 "  ^");
	expect_fail("name: x\n  \ndistnace: 3\n",
	            NAME ":3:1: unknown key 'distnace' in step 'test' (did you mean 'distance'?)\n"
	                 "  distnace: 3\n"
	                 "  ^");
	expect_fail("{name: x, colour: red}\n", NAME ":1:11: unknown key 'colour' in step 'test'\n"
	                                             "  {name: x, colour: red}\n"
	                                             "            ^");
	/* in a sub-mapping, named by its path */
	expect_fail("name: x\nraster:\n  widt: 3\n",
	            NAME ":3:3: unknown key 'widt' in 'raster' of step 'test' (did you mean "
	                 "'width'?)\n"
	                 "    widt: 3\n"
	                 "    ^");
}
END_TEST

START_TEST(fail_wrong_types)
{
	expect_fail("name: x\ncount: many\n",
	            NAME ":2:8: 'count' in step 'test' must be an integer\n"
	                 "  count: many\n"
	                 "         ^");
	expect_fail("name: x\ncount: 1.5\n",
	            NAME ":2:8: 'count' in step 'test' must be an integer\n"
	                 "  count: 1.5\n"
	                 "         ^");
	expect_fail("name: x\ndistance: ten\n",
	            NAME ":2:11: 'distance' in step 'test' must be a number\n"
	                 "  distance: ten\n"
	                 "            ^");
	expect_fail("name: x\ndistance: [1]\n",
	            NAME ":2:11: 'distance' in step 'test' must be a number\n"
	                 "  distance: [1]\n"
	                 "            ^");
	expect_fail("name: x\ndistance: .inf\n",
	            NAME ":2:11: 'distance' in step 'test' must be a number\n"
	                 "  distance: .inf\n"
	                 "            ^");
	expect_fail("name: x\nstrict: maybe\n",
	            NAME ":2:9: 'strict' in step 'test' must be a boolean\n"
	                 "  strict: maybe\n"
	                 "          ^");
	expect_fail("name: [a, b]\n", NAME ":1:7: 'name' in step 'test' must be a string\n"
	                                   "  name: [a, b]\n"
	                                   "        ^");
	expect_fail("name: x\npaths: []\n",
	            NAME ":2:8: 'paths' in step 'test' must be a string or list of strings\n"
	                 "  paths: []\n"
	                 "         ^");
	expect_fail("name: x\npaths: [a, [b]]\n",
	            NAME ":2:12: 'paths' in step 'test' must be a string or list of strings\n"
	                 "  paths: [a, [b]]\n"
	                 "             ^");
	expect_fail("name: x\npaths: {a: b}\n",
	            NAME ":2:8: 'paths' in step 'test' must be a string or list of strings\n"
	                 "  paths: {a: b}\n"
	                 "         ^");
	expect_fail("name: x\noptions: [a]\n",
	            NAME ":2:10: 'options' in step 'test' must be a mapping of strings\n"
	                 "  options: [a]\n"
	                 "           ^");
	expect_fail("name: x\noptions: {A: [1]}\n",
	            NAME ":2:14: values of 'options' in step 'test' must be scalars\n"
	                 "  options: {A: [1]}\n"
	                 "               ^");
	expect_fail("name: x\ncache: lots\n",
	            NAME ":2:8: 'cache' in step 'test': 'lots' is not a size (a whole number of "
	                 "bytes, or with a unit: KiB, MiB, GiB, TiB)\n"
	                 "  cache: lots\n"
	                 "         ^");
	expect_fail("name: x\ncache: [1]\n",
	            NAME ":2:8: 'cache' in step 'test' must be a size (e.g. 256MiB)\n"
	                 "  cache: [1]\n"
	                 "         ^");
	expect_fail("name: x\nraster: 5\n", NAME ":2:9: 'raster' in step 'test' must be a mapping\n"
	                                         "  raster: 5\n"
	                                         "          ^");
	expect_fail("[1, 2]\n", NAME ":1:1: step 'test' takes a mapping of options\n"
	                             "  [1, 2]\n"
	                             "  ^");
}
END_TEST

START_TEST(fail_signs)
{
	expect_fail("name: x\ncount: 0\n",
	            NAME ":2:8: 'count' in step 'test' must be greater than 0\n"
	                 "  count: 0\n"
	                 "         ^");
	expect_fail("name: x\ncount: -3\n",
	            NAME ":2:8: 'count' in step 'test' must be greater than 0\n"
	                 "  count: -3\n"
	                 "         ^");
	expect_fail("name: x\noffset: -1\n",
	            NAME ":2:9: 'offset' in step 'test' must not be negative\n"
	                 "  offset: -1\n"
	                 "          ^");
	expect_fail("name: x\ntol: -0.001\n",
	            NAME ":2:6: 'tol' in step 'test' must not be negative\n"
	                 "  tol: -0.001\n"
	                 "       ^");
	/* the item that is wrong */
	expect_fail("name: x\nres: [25, 0]\n",
	            NAME ":2:11: 'res' in step 'test' must be greater than 0\n"
	                 "  res: [25, 0]\n"
	                 "            ^");
	expect_fail("name: x\nraster: {width: 0}\n",
	            NAME ":2:17: 'width' in 'raster' of step 'test' must be greater than 0\n"
	                 "  raster: {width: 0}\n"
	                 "                  ^");
}
END_TEST

START_TEST(fail_bbox_and_pairs)
{
	expect_fail("name: x\nbbox: [1, 2, 3]\n",
	            NAME ":2:7: 'bbox' in step 'test' must be a list of 4 numbers [xmin, ymin, "
	                 "xmax, ymax]\n"
	                 "  bbox: [1, 2, 3]\n"
	                 "        ^");
	expect_fail("name: x\nbbox: [1, 2, 3, 4, 5]\n",
	            NAME ":2:7: 'bbox' in step 'test' must be a list of 4 numbers [xmin, ymin, "
	                 "xmax, ymax]\n"
	                 "  bbox: [1, 2, 3, 4, 5]\n"
	                 "        ^");
	expect_fail("name: x\nbbox: [0, 0, east, 1]\n",
	            NAME ":2:14: 'bbox' in step 'test' must be a list of 4 numbers [xmin, ymin, "
	                 "xmax, ymax]\n"
	                 "  bbox: [0, 0, east, 1]\n"
	                 "               ^");
	expect_fail("name: x\nbbox: [30, 0, 10, 5]\n",
	            NAME ":2:7: 'bbox' in step 'test' must be [xmin, ymin, xmax, ymax] with xmin "
	                 "<= xmax and ymin <= ymax\n"
	                 "  bbox: [30, 0, 10, 5]\n"
	                 "        ^");
	expect_fail("name: x\nbbox: [0, 5, 10, 4.999]\n",
	            NAME ":2:7: 'bbox' in step 'test' must be [xmin, ymin, xmax, ymax] with xmin "
	                 "<= xmax and ymin <= ymax\n"
	                 "  bbox: [0, 5, 10, 4.999]\n"
	                 "        ^");
	expect_fail("name: x\nres: [25, 1, 2]\n",
	            NAME ":2:6: 'res' in step 'test' must be a number or list of 2\n"
	                 "  res: [25, 1, 2]\n"
	                 "       ^");
}
END_TEST

START_TEST(fail_enum)
{
	expect_fail("name: x\nmethod: cubc\n",
	            NAME ":2:9: unknown value 'cubc' for 'method' in step 'test' (did you mean "
	                 "'cubic'?)\n"
	                 "  method: cubc\n"
	                 "          ^");
	expect_fail("name: x\nmethod: lanczos\n",
	            NAME ":2:9: 'method' in step 'test' must be one of: nearest, bilinear, cubic\n"
	                 "  method: lanczos\n"
	                 "          ^");
	expect_fail("name: x\nmethod: {a: b}\n",
	            NAME ":2:9: 'method' in step 'test' must be one of: nearest, bilinear, cubic\n"
	                 "  method: {a: b}\n"
	                 "          ^");
	/* choices are case-sensitive */
	expect_fail("name: x\nmethod: Cubic\n",
	            NAME ":2:9: unknown value 'Cubic' for 'method' in step 'test' (did you mean "
	                 "'cubic'?)\n"
	                 "  method: Cubic\n"
	                 "          ^");
}
END_TEST

START_TEST(fail_required)
{
	expect_fail("count: 1\n", NAME ":1:1: step 'test' needs 'name'\n"
	                               "  count: 1\n"
	                               "  ^");
	expect_fail("name: ''\n", NAME ":1:7: 'name' in step 'test' must not be empty\n"
	                               "  name: ''\n"
	                               "        ^");
	expect_fail("name:\n", NAME ":1:6: 'name' in step 'test' must not be empty\n"
	                            "  name:\n"
	                            "       ^");
	expect_fail("name: x\nraster:\n  type: Byte\n",
	            NAME ":3:3: 'raster' of step 'test' needs 'width'\n"
	                 "    type: Byte\n"
	                 "    ^");
}
END_TEST

START_TEST(fail_variables)
{
	expect_fail("name: x\ncount: ${nn}\n",
	            NAME ":2:8: undefined variable 'nn' (did you mean 'n'?)\n"
	                 "  count: ${nn}\n"
	                 "         ^");
	expect_fail("name: x\ncount: ${crs}\n",
	            NAME ":2:8: 'count' in step 'test' must be an integer\n"
	                 "  count: ${crs}\n"
	                 "         ^");
	expect_fail("name: x\nstrict: ${src}\n",
	            NAME ":2:9: 'strict' in step 'test' must be a boolean\n"
	                 "  strict: ${src}\n"
	                 "          ^");
}
END_TEST

START_TEST(fail_leaves_earlier_values)
{
	/* what was parsed before the error is there, nothing after */
	struct conf c;
	const struct ynode *root = load("name: x\ncount: 3\nseed: bad\ndistance: 4\n");

	memset(&c, 0, sizeof c);
	ck_assert_int_eq(opts_parse(&env, root, table, &c, WHERE), -1);
	ck_assert_str_eq(c.name, "x");
	ck_assert_int_eq(c.count, 3);
	ck_assert(c.has_count);
	ck_assert_int_eq(c.seed, 0);
	ck_assert_double_eq(c.distance, 0);
}
END_TEST

/* ---- opts_expand ----------------------------------------------------- */

static const struct ynode *scalar(const char *text)
{
	char *doc = malloc(strlen(text) + 8);
	const struct ynode *root;

	ck_assert_ptr_nonnull(doc);
	sprintf(doc, "v: '%s'\n", text);
	root = load(doc);
	free(doc);
	return ynode_get(root, "v");
}

static const char *expand_ok(const char *text)
{
	const char *s = opts_expand(&env, scalar(text));

	ck_assert_msg(s != NULL, "%s: %s", text, gp_err_msg());
	return s;
}

static void expand_fails(const char *text, const char *msg)
{
	gp_err_clear();
	ck_assert_ptr_null(opts_expand(&env, scalar(text)));
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_str_eq(gp_err_msg(), msg);
}

START_TEST(expand_plain_text_is_shared)
{
	const struct ynode *n = scalar("no variables $ here {x} $x");

	ck_assert_ptr_eq(opts_expand(&env, n), n->str);
}
END_TEST

START_TEST(expand_variables)
{
	ck_assert_str_eq(expand_ok("${src}"), "data/parcels.gpkg");
	ck_assert_str_eq(expand_ok("in/${src}.bak"), "in/data/parcels.gpkg.bak");
	ck_assert_str_eq(expand_ok("${crs}${crs}-$-{x}-${n}$"), "EPSG:3035EPSG:3035-$-{x}-12$");
	ck_assert_str_eq(expand_ok("$${n}"), "$12");
	ck_assert_str_eq(expand_ok("${pipeline_dir}/data/a.shp"), "/pipes/dir/data/a.shp");
	/* a value is not expanded again */
	ck_assert_str_eq(expand_ok("${evil}"), "${src}");
	/* --set values and file values alike */
	ck_assert_str_eq(expand_ok("n=${n}"), "n=12");
}
END_TEST

START_TEST(expand_env)
{
	ck_assert_int_eq(setenv("GISPIPE_TEST_HOME", "/home/tester", 1), 0);
	ck_assert_str_eq(expand_ok("${env:GISPIPE_TEST_HOME}/out"), "/home/tester/out");
	ck_assert_int_eq(setenv("GISPIPE_TEST_HOME", "", 1), 0);
	ck_assert_str_eq(expand_ok("[${env:GISPIPE_TEST_HOME}]"), "[]");
	ck_assert_int_eq(unsetenv("GISPIPE_TEST_HOME"), 0);
	expand_fails("${env:GISPIPE_TEST_HOME}/out",
	             NAME ":1:4: environment variable 'GISPIPE_TEST_HOME' is not set\n"
	                  "  v: '${env:GISPIPE_TEST_HOME}/out'\n"
	                  "     ^");
}
END_TEST

START_TEST(expand_grows_past_first_guess)
{
	/* three 300-byte values: far more than the text plus 64 */
	char want[1000];
	const char *got = expand_ok("<${long}|${long}|${long}>");

	snprintf(want, sizeof want, "<%s|%s|%s>", long_value, long_value, long_value);
	ck_assert_uint_eq(strlen(got), 904);
	ck_assert_str_eq(got, want);
}
END_TEST

START_TEST(expand_errors)
{
	char name[300], text[320], msg[1024];

	expand_fails("a${src", NAME ":1:4: unterminated '${' in 'a${src'\n"
	                            "  v: 'a${src'\n"
	                            "     ^");
	expand_fails("${src}${", NAME ":1:4: unterminated '${' in '${src}${'\n"
	                              "  v: '${src}${'\n"
	                              "     ^");
	expand_fails("x${}", NAME ":1:4: bad variable reference in 'x${}'\n"
	                          "  v: 'x${}'\n"
	                          "     ^");
	expand_fails("${srcc}", NAME ":1:4: undefined variable 'srcc' (did you mean 'src'?)\n"
	                             "  v: '${srcc}'\n"
	                             "     ^");
	expand_fails("${pipeline_dr}/x",
	             NAME ":1:4: undefined variable 'pipeline_dr' (did you mean 'pipeline_dir'?)\n"
	                  "  v: '${pipeline_dr}/x'\n"
	                  "     ^");
	expand_fails("${zzzzzzzz}", NAME ":1:4: undefined variable 'zzzzzzzz' (define it under "
	                                 "'vars' or with --set zzzzzzzz=...)\n"
	                                 "  v: '${zzzzzzzz}'\n"
	                                 "     ^");
	/* a name of 256 bytes does not fit; 255 is looked up */
	memset(name, 'q', 256);
	name[256] = '\0';
	snprintf(text, sizeof text, "${%s}", name);
	gp_err_clear();
	ck_assert_ptr_null(opts_expand(&env, scalar(text)));
	snprintf(msg, sizeof msg, NAME ":1:4: bad variable reference in '%s'", text);
	ck_assert_int_eq(strncmp(gp_err_msg(), msg, strlen(msg)), 0);
	name[255] = '\0';
	snprintf(text, sizeof text, "${%s}", name);
	gp_err_clear();
	ck_assert_ptr_null(opts_expand(&env, scalar(text)));
	snprintf(msg, sizeof msg, NAME ":1:4: undefined variable '%s' (define it", name);
	ck_assert_int_eq(strncmp(gp_err_msg(), msg, strlen(msg)), 0);
}
END_TEST

START_TEST(expand_out_of_memory)
{
	const struct ynode *n = scalar("<${long}|${long}|${src}>");
	uint64_t i;
	int failed = 0;

	for (i = 1; i < 100; i++) {
		struct arena *a = arena_create(&account, 128);
		const char *s;
		uint64_t made;

		ck_assert_ptr_nonnull(a);
		env.arena = a;
		gp_err_clear();
		mem_fail_after(i);
		s = opts_expand(&env, n);
		made = mem_fail_after(0);
		env.arena = arena;
		if (made < i) {
			ck_assert_ptr_nonnull(s);
			ck_assert_uint_eq(strlen(s), 1 + 300 + 1 + 300 + 1 + 17 + 1);
			arena_destroy(a);
			break;
		}
		ck_assert_ptr_null(s);
		ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
		arena_destroy(a);
		failed++;
	}
	ck_assert_uint_lt(i, 100);
	/* one allocation, of the size measured first */
	ck_assert_int_ge(failed, 1);
}
END_TEST

/* ---- ranges ------------------------------------------------------------ */

struct rconf {
	int64_t segments;
	double distance, length, tol, nodata, bbox[4], res[2];
	uint64_t limit;
};

static const struct opt_desc range_table[] = {
        {"segments", OPT_INT, offsetof(struct rconf, segments), 0, "s", "8", NULL, NULL, 0, 1,
         1000},
        {"distance", OPT_DOUBLE, offsetof(struct rconf, distance), 0, "d", NULL, NULL, NULL, 0,
         -1e15, 1e15},
        {"length", OPT_DOUBLE, offsetof(struct rconf, length), OPT_POSITIVE, "l", NULL, NULL, NULL,
         0, 0, 1e15},
        {"tol", OPT_DOUBLE, offsetof(struct rconf, tol), 0, "t", NULL, NULL, NULL, 0, 0, 1e15},
        {"nodata", OPT_DOUBLE, offsetof(struct rconf, nodata), 0, "n", NULL, NULL, NULL, 0,
         -DBL_MAX, DBL_MAX},
        {"bbox", OPT_BBOX, offsetof(struct rconf, bbox), 0, "b", NULL, NULL, NULL, 0, -1e15, 1e15},
        {"res", OPT_DOUBLE2, offsetof(struct rconf, res), OPT_POSITIVE, "r", NULL, NULL, NULL, 0, 0,
         1e15},
        {"limit", OPT_SIZE, offsetof(struct rconf, limit), OPT_ZERO_NONE, "m", NULL, NULL, NULL, 0,
         1048576, 1125899906842624.0},
        {0},
};

static int range_parse(const char *text, struct rconf *c)
{
	const struct ynode *root = load(text);

	memset(c, 0, sizeof *c);
	gp_err_clear();
	return opts_parse(&env, root, range_table, c, WHERE);
}

static void range_fails(const char *text, const char *msg)
{
	struct rconf c;

	ck_assert_int_eq(range_parse(text, &c), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_str_eq(gp_err_msg(), msg);
}

START_TEST(range_bounds_are_kept)
{
	struct rconf c;

	ck_assert_int_eq(range_parse("segments: 1\ndistance: -1e15\nlength: 1e-300\ntol: 0\n"
	                             "nodata: -3.4028234663852886e38\nbbox: [-1e15, 0, 1e15, 1]\n"
	                             "res: [1e15, 0.5]\nlimit: 1MiB\n",
	                             &c),
	                 0);
	ck_assert_int_eq(c.segments, 1);
	ck_assert(c.distance == -1e15 && c.length == 1e-300 && c.tol == 0);
	ck_assert_uint_eq(c.limit, 1048576);
	ck_assert_int_eq(range_parse("segments: 1000\nlimit: 1024TiB\n", &c), 0);
	ck_assert_int_eq(c.segments, 1000);
	ck_assert_uint_eq(c.limit, 1125899906842624ull);
	/* 0 and none: no limit */
	ck_assert_int_eq(range_parse("limit: 0\n", &c), 0);
	ck_assert_uint_eq(c.limit, 0);
	c.limit = 7;
	ck_assert_int_eq(range_parse("limit: none\n", &c), 0);
	ck_assert_uint_eq(c.limit, 0);
	/* MB is MiB, as gispipe-pipeline(5) says */
	ck_assert_int_eq(range_parse("limit: 64MB\n", &c), 0);
	ck_assert_uint_eq(c.limit, 64 * MIB);
}
END_TEST

START_TEST(range_outside_fails)
{
	range_fails("segments: 2000000000\n",
	            NAME ":1:11: 'segments' in step 'test' must be at most 1000 (1..1000)\n"
	                 "  segments: 2000000000\n"
	                 "            ^");
	range_fails("segments: 0\n",
	            NAME ":1:11: 'segments' in step 'test' must be at least 1 (1..1000)\n"
	                 "  segments: 0\n"
	                 "            ^");
	range_fails("distance: 1e16\n",
	            NAME ":1:11: 'distance' in step 'test' must be at most 1e+15 (-1e+15..1e+15)\n"
	                 "  distance: 1e16\n"
	                 "            ^");
	range_fails("length: 0\n",
	            NAME ":1:9: 'length' in step 'test' must be greater than 0 (>0..1e+15)\n"
	                 "  length: 0\n"
	                 "          ^");
	range_fails("tol: -1\n", NAME ":1:6: 'tol' in step 'test' must not be negative (0..1e+15)\n"
	                              "  tol: -1\n"
	                              "       ^");
	/* the item that is out */
	range_fails("bbox: [0, 0, 2e15, 1]\n",
	            NAME ":1:14: 'bbox' in step 'test' must be at most 1e+15 (-1e+15..1e+15)\n"
	                 "  bbox: [0, 0, 2e15, 1]\n"
	                 "               ^");
	range_fails("res: [10, 0]\n",
	            NAME ":1:11: 'res' in step 'test' must be greater than 0 (>0..1e+15)\n"
	                 "  res: [10, 0]\n"
	                 "            ^");
	range_fails("limit: 512KiB\n",
	            NAME ":1:8: 'limit' in step 'test' must be at least 1MiB (1MiB..1024TiB, or "
	                 "0/none)\n"
	                 "  limit: 512KiB\n"
	                 "         ^");
	range_fails("limit: 2048TiB\n",
	            NAME ":1:8: 'limit' in step 'test' must be at most 1024TiB (1MiB..1024TiB, or "
	                 "0/none)\n"
	                 "  limit: 2048TiB\n"
	                 "         ^");
}
END_TEST

/* In a list, every item must be a number before any is held against the
 * range, and the bbox's order is looked at last: the message names the
 * first thing wrong in that order, not the first item. */
START_TEST(range_checked_after_all_items_parse)
{
	struct rconf c;

	range_fails("bbox: [2e15, 0, east, 1]\n",
	            NAME ":1:17: 'bbox' in step 'test' must be a list of 4 numbers [xmin, ymin, "
	                 "xmax, ymax]\n"
	                 "  bbox: [2e15, 0, east, 1]\n"
	                 "                  ^");
	range_fails("bbox: [2e15, 0, 0, 1]\n",
	            NAME ":1:8: 'bbox' in step 'test' must be at most 1e+15 (-1e+15..1e+15)\n"
	                 "  bbox: [2e15, 0, 0, 1]\n"
	                 "         ^");
	range_fails("res: [0, x]\n",
	            NAME ":1:10: 'res' in step 'test' must be a number or list of 2\n"
	                 "  res: [0, x]\n"
	                 "           ^");
	range_fails("res: 0\n",
	            NAME ":1:6: 'res' in step 'test' must be greater than 0 (>0..1e+15)\n"
	                 "  res: 0\n"
	                 "       ^");
	/* a value out of range is not stored */
	ck_assert_int_eq(range_parse("segments: 0\n", &c), -1);
	ck_assert_int_eq(c.segments, 0);
	ck_assert_int_eq(range_parse("res: 7\n", &c), 0);
	ck_assert(c.res[0] == 7 && c.res[1] == 7);
}
END_TEST

/* Sizes are whole numbers of bytes; a fraction, a sign, an overflow or a
 * unit gispipe does not know is not a size. */
START_TEST(range_sizes_malformed)
{
	static const char *const bad[] = {
	        "0.5",  "1.3MiB",  "-64MiB", "18446744073709551616", "9223372036854775808KiB",
	        "64Mo", "64 MiBs", "1PiB"};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[64], msg[512];

		snprintf(text, sizeof text, "limit: '%s'\n", bad[i]);
		snprintf(msg, sizeof msg,
		         NAME ":1:8: 'limit' in step 'test': '%s' is not a size (a whole number of "
		              "bytes, or with a unit: KiB, MiB, GiB, TiB)\n"
		              "  limit: '%s'\n"
		              "         ^",
		         bad[i], bad[i]);
		range_fails(text, msg);
	}
}
END_TEST

/* NaN and infinities are not numbers for any option. */
START_TEST(range_not_finite)
{
	static const char *const bad[] = {".nan", "nan",  "NaN",      ".inf",  "-.inf",
	                                  "inf",  "-inf", "infinity", "1e400", "-1e400"};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[64], msg[512];

		snprintf(text, sizeof text, "nodata: '%s'\n", bad[i]);
		snprintf(msg, sizeof msg,
		         NAME ":1:9: 'nodata' in step 'test' must be a number\n"
		              "  nodata: '%s'\n"
		              "          ^",
		         bad[i]);
		range_fails(text, msg);
	}
}
END_TEST

START_TEST(range_texts)
{
	char buf[96];

	ck_assert_str_eq(opt_range_text(&range_table[0], buf, sizeof buf), "1..1000");
	ck_assert_str_eq(opt_range_text(&range_table[1], buf, sizeof buf), "-1e+15..1e+15");
	ck_assert_str_eq(opt_range_text(&range_table[2], buf, sizeof buf), ">0..1e+15");
	ck_assert_str_eq(opt_range_text(&range_table[3], buf, sizeof buf), "0..1e+15");
	ck_assert_str_eq(opt_range_text(&range_table[4], buf, sizeof buf), "any finite number");
	ck_assert_str_eq(opt_range_text(&range_table[7], buf, sizeof buf),
	                 "1MiB..1024TiB, or 0/none");
	ck_assert_str_eq(opt_range_text(&table[0], buf, sizeof buf), "");
}
END_TEST

/* ---- opt_type_name --------------------------------------------------- */

START_TEST(type_names)
{
	ck_assert_str_eq(opt_type_name(OPT_STRING), "string");
	ck_assert_str_eq(opt_type_name(OPT_STRINGS), "string or list of strings");
	ck_assert_str_eq(opt_type_name(OPT_INT), "integer");
	ck_assert_str_eq(opt_type_name(OPT_DOUBLE), "number");
	ck_assert_str_eq(opt_type_name(OPT_BOOL), "boolean");
	ck_assert_str_eq(opt_type_name(OPT_BBOX), "list of 4 numbers [xmin, ymin, xmax, ymax]");
	ck_assert_str_eq(opt_type_name(OPT_DOUBLE2), "number or list of 2");
	ck_assert_str_eq(opt_type_name(OPT_ENUM), "one of");
	ck_assert_str_eq(opt_type_name(OPT_MAP), "mapping of strings");
	ck_assert_str_eq(opt_type_name(OPT_SIZE), "size (e.g. 256MiB)");
	ck_assert_str_eq(opt_type_name(OPT_SUB), "mapping");
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

static Suite *opts_suite(void)
{
	Suite *s = suite_create("opts");
	TCase *tc;

	tc = tcase(s, "opts_parse");
	tcase_add_test(tc, parse_every_type);
	tcase_add_test(tc, parse_absent_keys_untouched);
	tcase_add_test(tc, parse_present_flags_follow_keys);
	tcase_add_test(tc, parse_strings_single_and_list);
	tcase_add_test(tc, parse_variables_in_every_scalar);
	tcase_add_test(tc, parse_bool_words);
	tcase_add_test(tc, parse_null_and_empty_node);
	tcase_add_test(tc, fail_unknown_keys);
	tcase_add_test(tc, fail_wrong_types);
	tcase_add_test(tc, fail_signs);
	tcase_add_test(tc, fail_bbox_and_pairs);
	tcase_add_test(tc, fail_enum);
	tcase_add_test(tc, fail_required);
	tcase_add_test(tc, fail_variables);
	tcase_add_test(tc, fail_leaves_earlier_values);

	tc = tcase(s, "opts_expand");
	tcase_add_test(tc, expand_plain_text_is_shared);
	tcase_add_test(tc, expand_variables);
	tcase_add_test(tc, expand_env);
	tcase_add_test(tc, expand_grows_past_first_guess);
	tcase_add_test(tc, expand_errors);
	tcase_add_test(tc, expand_out_of_memory);

	tc = tcase(s, "opt_range");
	tcase_add_test(tc, range_bounds_are_kept);
	tcase_add_test(tc, range_outside_fails);
	tcase_add_test(tc, range_checked_after_all_items_parse);
	tcase_add_test(tc, range_sizes_malformed);
	tcase_add_test(tc, range_not_finite);
	tcase_add_test(tc, range_texts);

	tc = tcase(s, "opt_type_name");
	tcase_add_test(tc, type_names);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(opts_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
