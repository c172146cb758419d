/* check_yaml_load.c - unit tests for the YAML loader (src/config/yaml_load.c). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "config/yaml_load.h"

#include "as_nobody.h"

#define NAME "t.yaml"
#define MIB (1024 * 1024)

static struct mem_account account;

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
	mem_account_init(&account, "test", NULL, 0);
}

static void teardown(void)
{
	mem_fail_after(0);
	gp_err_clear();
}

static struct arena *new_arena(void)
{
	struct arena *a = arena_create(&account, 0);

	ck_assert_ptr_nonnull(a);
	return a;
}

/* Destroy the arena and check that every byte went back to the account. */
static void done(struct arena *a)
{
	arena_destroy(a);
	ck_assert_int_eq(account.bytes.cur, 0);
}

static struct ydoc *load(struct arena *a, const char *text)
{
	return ydoc_load_string(a, NAME, text, strlen(text));
}

static struct ydoc *load_ok(struct arena *a, const char *text)
{
	struct ydoc *doc = load(a, text);

	ck_assert_msg(doc != NULL, "load failed: %s", gp_err_msg());
	return doc;
}

/* Loading `text` fails with exit code 78 and exactly `msg`, and gives the
 * arena back everything it took. */
static void expect_error_len(const char *text, size_t len, const char *msg)
{
	int64_t start = account.bytes.cur;
	struct arena *a = new_arena();
	int64_t before = account.bytes.cur;

	gp_err_clear();
	ck_assert_ptr_null(ydoc_load_string(a, NAME, text, len));
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_str_eq(gp_err_msg(), msg);
	ck_assert_int_eq(account.bytes.cur, before);
	arena_destroy(a);
	ck_assert_int_eq(account.bytes.cur, start);
}

static void expect_error(const char *text, const char *msg)
{
	expect_error_len(text, strlen(text), msg);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A scalar node for the conversion tests. */
static struct ynode scalar(const char *s)
{
	return (struct ynode){
		.type = YNODE_SCALAR, .line = 1, .col = 1, .str = s, .len = strlen(s)};
}

/* Put a sentinel error in the slot; the conversions must leave it alone. */
static void set_sentinel(void)
{
	gp_fail(GP_EX_SOFTWARE, "sentinel");
}

static void assert_sentinel(void)
{
	ck_assert_int_eq(gp_err_code(), GP_EX_SOFTWARE);
	ck_assert_str_eq(gp_err_msg(), "sentinel");
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	size_t lh = strlen(head), lu = strlen(unit), lt = strlen(tail);
	char *s = malloc(lh + lu * n + lt + 1);
	char *p = s;

	ck_assert_ptr_nonnull(s);
	memcpy(p, head, lh);
	p += lh;
	for (size_t i = 0; i < n; i++, p += lu)
		memcpy(p, unit, lu);
	memcpy(p, tail, lt + 1);
	return s;
}

/* A temporary directory for the file tests. */
static char tmpdir[64];

static const char *tmp_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", tmpdir, name);
	return buf;
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

static void file_setup(void)
{
	setup();
	strcpy(tmpdir, "/tmp/check_yaml_load.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void file_teardown(void)
{
	static const char *const names[] = {"ok.yaml", "big.yaml", "limit.yaml", "bom.yaml",
	                                    "bad.yaml", "oom.yaml", "locked.yaml", "empty.yaml"};
	char buf[128];

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		unlink(tmp_path(buf, sizeof buf, names[i]));
	rmdir(tmpdir);
	teardown();
}

/* About thirty lines using most of what the loader handles. */
static const char pipeline_yaml[] =
	"# roads pipeline\n"
	"name: \"roads\"\n"
	"version: 2\n"
	"defaults: &defaults\n"
	"  crs: EPSG:4326\n"
	"  batch: 1024\n"
	"  strict: yes\n"
	"steps:\n"
	"  - read:\n"
	"      path: data/roads.gpkg\n"
	"      layer: roads\n"
	"      <<: *defaults\n"
	"  - filter:\n"
	"      where: \"type = 'primary'\"\n"
	"      keep: [id, name, geom]\n"
	"  - reproject:\n"
	"      to: EPSG:3857\n"
	"      options: {accuracy: 0.5, ballpark: false}\n"
	"  - write:\n"
	"      path: out/roads.fgb\n"
	"      format: FlatGeobuf\n"
	"      note: |\n"
	"        literal block\n"
	"        two lines\n"
	"      summary: >\n"
	"        folded\n"
	"        text\n"
	"tags: [a, 'b', \"c\", !!str 4]\n"
	"limits:\n"
	"  memory: 256MiB\n"
	"  again: *defaults\n";

static void check_pipeline(const struct ydoc *doc)
{
	const struct ynode *r = doc->root, *steps, *defaults, *w, *tags;

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->type, YNODE_MAP);
	ck_assert_uint_eq(r->n, 6);
	ck_assert_str_eq(ynode_get(r, "name")->str, "roads");
	defaults = ynode_get(r, "defaults");
	/* a node starts at its properties: the anchor */
	ck_assert_int_eq(defaults->line, 4);
	ck_assert_int_eq(defaults->col, 11);
	ck_assert_int_eq(defaults->keys[0]->line, 5);
	ck_assert_int_eq(defaults->keys[0]->col, 3);
	steps = ynode_get(r, "steps");
	ck_assert_int_eq(steps->type, YNODE_SEQ);
	ck_assert_uint_eq(steps->n, 4);
	ck_assert_ptr_eq(ynode_get(ynode_get(steps->items[0], "read"), "<<"), defaults);
	w = ynode_get(steps->items[3], "write");
	ck_assert_str_eq(ynode_get(w, "note")->str, "literal block\ntwo lines\n");
	ck_assert_str_eq(ynode_get(w, "summary")->str, "folded text\n");
	tags = ynode_get(r, "tags");
	ck_assert_uint_eq(tags->n, 4);
	ck_assert(!tags->items[0]->quoted);
	ck_assert(tags->items[3]->quoted);
	ck_assert_ptr_eq(ynode_get(ynode_get(r, "limits"), "again"), defaults);
}

/* ---- ydoc_load_string ------------------------------------------------- */

START_TEST(string_tree_and_positions)
{
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, "name: roads\n"
	                              "steps:\n"
	                              "  - read: {path: \"a.gpkg\", layer: 'l'}\n"
	                              "  - [1, 2]\n"
	                              "empty: []\n"
	                              "none: {}\n"
	                              "nothing:\n");
	const struct ynode *r = doc->root, *steps, *read, *e;

	ck_assert_str_eq(doc->path, NAME);
	ck_assert_int_eq(r->type, YNODE_MAP);
	ck_assert_int_eq(r->line, 1);
	ck_assert_int_eq(r->col, 1);
	ck_assert_uint_eq(r->n, 5);
	ck_assert_str_eq(r->keys[0]->str, "name");
	ck_assert_str_eq(r->keys[4]->str, "nothing");
	ck_assert_int_eq(r->keys[1]->line, 2);
	ck_assert_int_eq(r->items[0]->type, YNODE_SCALAR);
	ck_assert_str_eq(r->items[0]->str, "roads");
	ck_assert_uint_eq(r->items[0]->len, 5);
	ck_assert_int_eq(r->items[0]->line, 1);
	ck_assert_int_eq(r->items[0]->col, 7);
	ck_assert(!r->items[0]->quoted);

	steps = r->items[1];
	ck_assert_int_eq(steps->type, YNODE_SEQ);
	ck_assert_ptr_null(steps->keys);
	ck_assert_uint_eq(steps->n, 2);
	ck_assert_int_eq(steps->line, 3);
	ck_assert_int_eq(steps->col, 3);
	read = steps->items[0];
	ck_assert_int_eq(read->type, YNODE_MAP);
	ck_assert_int_eq(read->line, 3);
	ck_assert_int_eq(read->col, 5);
	read = read->items[0];
	ck_assert_int_eq(read->type, YNODE_MAP);
	ck_assert_int_eq(read->col, 11);
	ck_assert_str_eq(read->keys[0]->str, "path");
	ck_assert_int_eq(read->keys[0]->col, 12);
	ck_assert_str_eq(read->items[0]->str, "a.gpkg");
	ck_assert_int_eq(read->items[0]->col, 18);
	ck_assert(read->items[0]->quoted);
	ck_assert(read->items[1]->quoted);
	ck_assert_int_eq(steps->items[1]->type, YNODE_SEQ);
	ck_assert_str_eq(steps->items[1]->items[1]->str, "2");
	ck_assert_int_eq(steps->items[1]->items[1]->line, 4);
	ck_assert_int_eq(steps->items[1]->items[1]->col, 9);

	e = r->items[2];
	ck_assert_int_eq(e->type, YNODE_SEQ);
	ck_assert_uint_eq(e->n, 0);
	ck_assert_ptr_nonnull(e->items);
	e = r->items[3];
	ck_assert_int_eq(e->type, YNODE_MAP);
	ck_assert_uint_eq(e->n, 0);
	ck_assert_ptr_nonnull(e->keys);
	e = r->items[4];
	ck_assert_int_eq(e->type, YNODE_SCALAR);
	ck_assert_str_eq(e->str, "");
	ck_assert(!e->quoted);
	done(a);
}
END_TEST

START_TEST(string_quoted_styles)
{
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, "plain: x\n"
	                              "single: 'x'\n"
	                              "double: \"x\\ty\"\n"
	                              "literal: |\n"
	                              "  x\n"
	                              "folded: >-\n"
	                              "  x\n"
	                              "  y\n"
	                              "str: !!str 5\n"
	                              "int: !!int 5\n"
	                              "verbatim: !<tag:yaml.org,2002:str> 6\n"
	                              "nul: \"a\\0b\"\n");
	const struct ynode *r = doc->root;

	ck_assert(!ynode_get(r, "plain")->quoted);
	ck_assert(ynode_get(r, "single")->quoted);
	ck_assert(ynode_get(r, "double")->quoted);
	ck_assert_str_eq(ynode_get(r, "double")->str, "x\ty");
	ck_assert(ynode_get(r, "literal")->quoted);
	ck_assert_str_eq(ynode_get(r, "literal")->str, "x\n");
	ck_assert(ynode_get(r, "folded")->quoted);
	ck_assert_str_eq(ynode_get(r, "folded")->str, "x y");
	ck_assert(ynode_get(r, "str")->quoted);
	ck_assert(!ynode_get(r, "int")->quoted);
	ck_assert(ynode_get(r, "verbatim")->quoted);
	ck_assert_uint_eq(ynode_get(r, "nul")->len, 3);
	ck_assert_int_eq(memcmp(ynode_get(r, "nul")->str, "a\0b", 4), 0);
	done(a);
}
END_TEST

START_TEST(string_standard_tags)
{
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, "%TAG !e! tag:yaml.org,2002:\n"
	                              "--- !!map\n"
	                              "a: !!seq [!!int 1, !!float 2.5, !!bool true, !!null ~]\n"
	                              "b: !e!str x\n");

	ck_assert_uint_eq(doc->root->n, 2);
	ck_assert_uint_eq(doc->root->items[0]->n, 4);
	ck_assert(doc->root->items[1]->quoted);
	done(a);
}
END_TEST

START_TEST(string_aliases)
{
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, "base: &b {x: 1}\n"
	                              "key: &k name\n"
	                              "use: [*b, *b, *k]\n"
	                              "*k : aliased key\n"
	                              "d:\n"
	                              "  <<: *b\n"
	                              "  y: 2\n"
	                              "re: &b 7\n"
	                              "after: *b\n");
	const struct ynode *r = doc->root, *use = ynode_get(r, "use"), *d = ynode_get(r, "d");

	ck_assert_ptr_eq(use->items[0], ynode_get(r, "base"));
	ck_assert_ptr_eq(use->items[1], use->items[0]);
	ck_assert_ptr_eq(use->items[2], ynode_get(r, "key"));
	ck_assert_str_eq(ynode_get(r, "name")->str, "aliased key");
	/* merge keys are ordinary keys */
	ck_assert_uint_eq(d->n, 2);
	ck_assert_str_eq(d->keys[0]->str, "<<");
	ck_assert_ptr_eq(d->items[0], ynode_get(r, "base"));
	/* a redefined anchor: later aliases see the latest node */
	ck_assert_str_eq(ynode_get(r, "after")->str, "7");
	ck_assert_int_eq(ynode_get(r, "after")->line, 8);
	done(a);
}
END_TEST

START_TEST(string_alias_to_closed_nested_anchor)
{
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, "a: &x [&y [1], *y]\nb: *x\n");
	const struct ynode *x = ynode_get(doc->root, "a");

	ck_assert_ptr_eq(x->items[1], x->items[0]);
	ck_assert_ptr_eq(ynode_get(doc->root, "b"), x);
	/* an inner anchor of the same name hides the open outer one */
	doc = load_ok(a, "a: &x [&x [1], *x]\n");
	x = ynode_get(doc->root, "a");
	ck_assert_ptr_eq(x->items[1], x->items[0]);
	done(a);
}
END_TEST

START_TEST(string_empty_documents)
{
	static const char *const empty[] = {"", "# only a comment\n", "---\n", "--- \n...\n",
	                                    "\n\n   \n", "---\n# c\n...\n"};
	struct arena *a = new_arena();
	struct ydoc *doc;

	for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
		doc = load_ok(a, empty[i]);
		ck_assert_ptr_null(doc->root);
		ck_assert_uint_eq(doc->text_len, strlen(empty[i]));
	}
	doc = ydoc_load_string(a, NAME, NULL, 0);
	ck_assert_ptr_nonnull(doc);
	ck_assert_ptr_null(doc->root);
	ck_assert_str_eq(doc->text, "");
	/* a quoted empty string is content */
	doc = load_ok(a, "''\n");
	ck_assert_ptr_nonnull(doc->root);
	ck_assert(doc->root->quoted);
	ck_assert_uint_eq(doc->root->len, 0);
	/* one document with explicit markers is fine */
	doc = load_ok(a, "---\na: 1\n...\n");
	ck_assert_uint_eq(doc->root->n, 1);
	done(a);
}
END_TEST

START_TEST(string_copies_text_and_name)
{
	struct arena *a = new_arena();
	char text[] = "a: 1\nb: [2]\n";
	char name[] = "mine.yaml";
	struct ydoc *doc = ydoc_load_string(a, name, text, 4); /* just "a: 1" */

	ck_assert_ptr_nonnull(doc);
	memset(text, 'x', sizeof text - 1);
	memset(name, 'x', sizeof name - 1);
	ck_assert_str_eq(doc->path, "mine.yaml");
	ck_assert_uint_eq(doc->text_len, 4);
	ck_assert_str_eq(doc->text, "a: 1");
	ck_assert_uint_eq(doc->root->n, 1);
	ck_assert_str_eq(doc->root->items[0]->str, "1");
	done(a);
}
END_TEST

START_TEST(string_depth_limit)
{
	struct arena *a = new_arena();
	char *ok = repeat("", "[", YAML_MAX_DEPTH, "");
	char *ok2 = repeat(ok, "]", YAML_MAX_DEPTH, "");
	char *deep = repeat("", "[", YAML_MAX_DEPTH + 1, "");
	char *deep2 = repeat(deep, "]", YAML_MAX_DEPTH + 1, "");
	char *caret = repeat("", " ", YAML_MAX_DEPTH, "^");
	char msg[1024];
	const struct ynode *n;
	struct ydoc *doc = load_ok(a, ok2);
	int levels = 1;

	for (n = doc->root; n->n != 0; n = n->items[0])
		levels++;
	ck_assert_int_eq(levels, YAML_MAX_DEPTH);
	snprintf(msg, sizeof msg, NAME ":1:65: nesting deeper than 64 levels\n  %s\n  %s", deep2,
	         caret);
	expect_error(deep2, msg);
	free(ok);
	free(ok2);
	free(deep);
	free(deep2);
	free(caret);
	done(a);
}
END_TEST

START_TEST(string_depth_limit_block)
{
	/* 65 nested block mappings: "k:\n k:\n  k:\n ..." */
	char text[65 * 70 + 16];
	char msg[1024];
	size_t len = 0;

	for (int i = 0; i < YAML_MAX_DEPTH + 1; i++)
		len += (size_t)sprintf(text + len, "%*sk:\n", i, "");
	sprintf(text + len, "%*sv\n", YAML_MAX_DEPTH + 1, "");
	/* the 65th mapping starts at its key, line 65 column 65 */
	snprintf(msg, sizeof msg, NAME ":65:65: nesting deeper than 64 levels\n  %*sk:\n  %*s^", 64,
	         "", 64, "");
	expect_error(text, msg);
	/* 64 levels load */
	len = 0;
	for (int i = 0; i < YAML_MAX_DEPTH; i++)
		len += (size_t)sprintf(text + len, "%*sk:\n", i, "");
	struct arena *a = new_arena();
	load_ok(a, text);
	done(a);
}
END_TEST

START_TEST(string_depth_limit_is_fast)
{
	char *text = repeat("", "[", 100000, "");
	char *caret = repeat("", " ", 64, "^");
	char *shown = repeat("", "[", 160, "...");
	char msg[1024];
	double t0;

	/* the line is long: the message shows a window of it */
	snprintf(msg, sizeof msg, NAME ":1:65: nesting deeper than 64 levels\n  %s\n  %s", shown,
	         caret);
	t0 = now();
	expect_error(text, msg);
	ck_assert_msg(now() - t0 < 1.0, "took %.3f s", now() - t0);
	free(text);
	free(caret);
	free(shown);
}
END_TEST

START_TEST(string_billion_laughs)
{
	static const char bomb[] =
		"a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
		"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
		"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
		"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
		"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
		"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
		"h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
		"i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
	double t0 = now(), dt;

	/* a is 10 nodes, b 91, c 820, d 7381, e 66430: with the keys and the
	 * mapping 74740 nodes are counted when f opens; its first *e crosses */
	expect_error(bomb, NAME ":6:8: alias expansion exceeds 100000 nodes (alias bomb?)\n"
	                   "  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
	                   "         ^");
	dt = now() - t0;
	/* Not a timing test (the machines are shared, and valgrind is slow):
	 * expanding the bomb would take hours, so a generous bound still
	 * tells rejecting it up front from expanding it. */
	ck_assert_msg(dt < 10.0, "took %.3f s", dt);
}
END_TEST

START_TEST(string_node_limit_exact)
{
	/* 1 mapping + key a + (8332 scalars + seq) + key b + seq b + 11 aliases
	 * of 8333 nodes = exactly 100000 nodes: accepted */
	char *elems = repeat("a: &a [", "0,", 8331, "0]\n");
	char *ok = repeat(elems, "", 0, "b: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n");
	char *alias = repeat(elems, "", 0, "b: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n");
	char *plain = repeat(elems, "", 0, "b: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, 1]\n");
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, ok);

	ck_assert_uint_eq(ynode_get(doc->root, "a")->n, 8332);
	ck_assert_uint_eq(ynode_get(doc->root, "b")->n, 11);
	done(a);
	/* one more alias crosses the limit at the alias */
	expect_error(alias, NAME ":2:49: alias expansion exceeds 100000 nodes (alias bomb?)\n"
	                    "  b: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	                    "                                                  ^");
	/* one more plain node crosses it too */
	expect_error(plain, NAME ":2:49: document has more than 100000 nodes\n"
	                    "  b: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, 1]\n"
	                    "                                                  ^");
	free(elems);
	free(ok);
	free(alias);
	free(plain);
}
END_TEST

START_TEST(string_node_limit_plain)
{
	/* a root sequence and 99999 items: 100000 nodes */
	char *ok = repeat("", "- 0\n", YAML_MAX_NODES - 1, "");
	char *big = repeat("", "- 0\n", YAML_MAX_NODES, "");
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, ok);

	ck_assert_uint_eq(doc->root->n, YAML_MAX_NODES - 1);
	ck_assert_int_eq(doc->root->items[YAML_MAX_NODES - 2]->line, YAML_MAX_NODES - 1);
	done(a);
	expect_error(big, NAME ":100000:3: document has more than 100000 nodes\n"
	                  "  - 0\n"
	                  "    ^");
	free(ok);
	free(big);
}
END_TEST

START_TEST(string_many_keys_and_anchors)
{
	/* enough keys and anchors to grow the tables several times */
	char *text = malloc(3000 * 40);
	size_t len = 0;
	struct arena *a = new_arena();
	struct ydoc *doc;
	const struct ynode *m;
	char key[32];

	ck_assert_ptr_nonnull(text);
	len += (size_t)sprintf(text + len, "m:\n");
	for (int i = 0; i < 1000; i++)
		len += (size_t)sprintf(text + len, "  k%d: &a%d %d\n", i, i, i);
	len += (size_t)sprintf(text + len, "n:\n");
	for (int i = 0; i < 1000; i++)
		len += (size_t)sprintf(text + len, "  k%d: *a%d\n", i, 999 - i);
	doc = load_ok(a, text);
	m = ynode_get(doc->root, "n");
	ck_assert_uint_eq(m->n, 1000);
	for (int i = 0; i < 1000; i += 37) {
		char other[32];

		snprintf(key, sizeof key, "k%d", i);
		snprintf(other, sizeof other, "k%d", 999 - i);
		ck_assert_int_eq(atoi(ynode_get(m, key)->str), 999 - i);
		ck_assert_ptr_eq(ynode_get(m, key), ynode_get(ynode_get(doc->root, "m"), other));
	}
	/* the same keys in another mapping are no duplicates; one more is */
	sprintf(text + len, "  k500: again\n");
	expect_error(text, NAME ":2003:3: duplicate key 'k500' (first at line 1503)\n"
	                   "    k500: again\n"
	                   "    ^");
	free(text);
	done(a);
}
END_TEST

/* Every class of fault, with its exact message. */
static const struct {
	const char *text;
	const char *msg;
} error_cases[] = {
	/* syntax errors: libyaml's problem and mark */
	{"name: x\nbad: value: here\n",
	 NAME ":2:11: syntax error: mapping values are not allowed in this context\n"
	      "  bad: value: here\n"
	      "            ^"},
	{"a: 1\nb: \"open\n",
	 NAME ":3:1: syntax error: found unexpected end of stream "
	      "(while scanning a quoted scalar at line 2)\n"
	      "  \n"
	      "  ^"},
	{"a:\n  b: 1\n c: 2\n",
	 NAME ":3:2: syntax error: did not find expected key "
	      "(while parsing a block mapping at line 1)\n"
	      "   c: 2\n"
	      "   ^"},
	{"a: [1, 2\nb: 3\n",
	 NAME ":2:2: syntax error: did not find expected ',' or ']' "
	      "(while parsing a flow sequence at line 1)\n"
	      "  b: 3\n"
	      "   ^"},
	/* reader errors: only an offset, turned into line:col */
	{"a: 1\nb: x\xff\n",
	 NAME ":2:5: syntax error: invalid leading UTF-8 octet\n"
	      "  b: x?\n"
	      "      ^"},
	{"a: 1\nb: \x01\n",
	 NAME ":2:4: syntax error: control characters are not allowed\n"
	      "  b: ?\n"
	      "     ^"},
	/* duplicate keys, at the second occurrence */
	{"name: a\nother: 1\nname: b\n",
	 NAME ":3:1: duplicate key 'name' (first at line 1)\n"
	      "  name: b\n"
	      "  ^"},
	{"{a: 1, b: 2, a: 3}",
	 NAME ":1:14: duplicate key 'a' (first at line 1)\n"
	      "  {a: 1, b: 2, a: 3}\n"
	      "               ^"},
	{"a: 1\n'a': 2\n",
	 NAME ":2:1: duplicate key 'a' (first at line 1)\n"
	      "  'a': 2\n"
	      "  ^"},
	{"top:\n  x: 1\n  y:\n    x: 2\n  x: 3\n",
	 NAME ":5:3: duplicate key 'x' (first at line 2)\n"
	      "    x: 3\n"
	      "    ^"},
	{"k: &k name\nname: 1\n*k : 2\n",
	 NAME ":3:1: duplicate key 'name' (first at line 2)\n"
	      "  *k : 2\n"
	      "  ^"},
	{"? \"a\\nb\"\n: 1\n? \"a\\nb\"\n: 2\n",
	 NAME ":3:3: duplicate key 'a?b' (first at line 1)\n"
	      "  ? \"a\\nb\"\n"
	      "    ^"},
	{"0123456789012345678901234567890123456789012345678901234567890123456789: 1\n"
	 "0123456789012345678901234567890123456789012345678901234567890123456789: 2\n",
	 NAME ":2:1: duplicate key "
	      "'012345678901234567890123456789012345678901234567890123456789...' "
	      "(first at line 1)\n"
	      "  0123456789012345678901234567890123456789012345678901234567890123456789: 2\n"
	      "  ^"},
	/* aliases */
	{"a: 1\nb: *nope\n",
	 NAME ":2:4: unknown anchor '*nope'\n"
	      "  b: *nope\n"
	      "     ^"},
	{"a: *x\nb: &x 1\n",
	 NAME ":1:4: unknown anchor '*x'\n"
	      "  a: *x\n"
	      "     ^"},
	{"a: &x [1, *x]\n",
	 NAME ":1:11: alias '*x' refers to an enclosing node (cycle)\n"
	      "  a: &x [1, *x]\n"
	      "            ^"},
	{"a: &m\n  b:\n    c: *m\n",
	 NAME ":3:8: alias '*m' refers to an enclosing node (cycle)\n"
	      "      c: *m\n"
	      "         ^"},
	/* documents */
	{"a: 1\n---\nb: 2\n",
	 NAME ":2:1: only one YAML document is allowed\n"
	      "  ---\n"
	      "  ^"},
	{"a: 1\n...\n---\nb: 2\n",
	 NAME ":3:1: only one YAML document is allowed\n"
	      "  ---\n"
	      "  ^"},
	{"--- a\n--- b\n",
	 NAME ":2:1: only one YAML document is allowed\n"
	      "  --- b\n"
	      "  ^"},
	/* keys */
	{"{[1]: 2}",
	 NAME ":1:2: mapping keys must be scalars\n"
	      "  {[1]: 2}\n"
	      "   ^"},
	{"? - a\n: b\n",
	 NAME ":1:3: mapping keys must be scalars\n"
	      "  ? - a\n"
	      "    ^"},
	{"? {a: 1}\n: b\n",
	 NAME ":1:3: mapping keys must be scalars\n"
	      "  ? {a: 1}\n"
	      "    ^"},
	{"s: &s [1]\n*s : 2\n",
	 NAME ":2:1: mapping keys must be scalars\n"
	      "  *s : 2\n"
	      "  ^"},
	/* tags */
	{"a: !foo x\n",
	 NAME ":1:4: unsupported tag '!foo'\n"
	      "  a: !foo x\n"
	      "     ^"},
	{"a: !!python/object:os.system x\n",
	 NAME ":1:4: unsupported tag '!!python/object:os.system'\n"
	      "  a: !!python/object:os.system x\n"
	      "     ^"},
	{"a: ! x\n",
	 NAME ":1:4: unsupported tag '!'\n"
	      "  a: ! x\n"
	      "     ^"},
	{"a: !!set {x: 1}\n",
	 NAME ":1:4: unsupported tag '!!set'\n"
	      "  a: !!set {x: 1}\n"
	      "     ^"},
	{"a: !<tag:example.com,2024:x> [1]\n",
	 NAME ":1:4: unsupported tag 'tag:example.com,2024:x'\n"
	      "  a: !<tag:example.com,2024:x> [1]\n"
	      "     ^"},
	/* caret lines: tabs are kept, CR LF and BOM are not shown */
	{"a:\t[1,\t*z]\n",
	 NAME ":1:8: unknown anchor '*z'\n"
	      "  a:\t[1,\t*z]\n"
	      "    \t   \t^"},
	{"a: 1\r\nb: *z\r\n",
	 NAME ":2:4: unknown anchor '*z'\n"
	      "  b: *z\n"
	      "     ^"},
	{"\xef\xbb\xbf" "a: *z\n",
	 NAME ":1:4: unknown anchor '*z'\n"
	      "  a: *z\n"
	      "     ^"},
	/* NEL, LS and PS are line breaks too, as for libyaml */
	{"a: \"x\xc2\x85y\"\nb: *z\n",
	 NAME ":3:4: unknown anchor '*z'\n"
	      "  b: *z\n"
	      "     ^"},
	{"a: x\xe2\x80\xa8" "b: *z\n",
	 NAME ":2:4: unknown anchor '*z'\n"
	      "  b: *z\n"
	      "     ^"},
	{"a: \"x\xe2\x80\xa9y\"\nb: *z\n",
	 NAME ":3:4: unknown anchor '*z'\n"
	      "  b: *z\n"
	      "     ^"},
	/* a long key is cut at a character boundary */
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9: 1\n"
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9: 2\n",
	 NAME ":2:1: duplicate key "
	      "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' "
	      "(first at line 1)\n"
	      "  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9: 2\n"
	      "  ^"},
	{"\xc3\xa9t\xc3\xa9: [1, *z]\n",
	 NAME ":1:10: unknown anchor '*z'\n"
	      "  \xc3\xa9t\xc3\xa9: [1, *z]\n"
	      "           ^"},
};

START_TEST(string_error_classes)
{
	expect_error(error_cases[_i].text, error_cases[_i].msg);
}
END_TEST

START_TEST(string_error_embedded_nul)
{
	/* the length is what counts, not the NUL */
	expect_error_len("a: 1\n\0b: 2\n", 11,
	                 NAME ":2:1: syntax error: control characters are not allowed\n"
	                      "  ?b: 2\n"
	                      "  ^");
}
END_TEST

START_TEST(string_failure_gives_memory_back)
{
	struct arena *a = new_arena();
	struct arena_stats before, after;
	void *keep = arena_alloc(a, 100, 0);

	ck_assert_ptr_nonnull(keep);
	arena_get_stats(a, &before);
	ck_assert_ptr_null(load(a, "a: 1\nb: [1, 2, 3]\nc: {d: *x}\n"));
	arena_get_stats(a, &after);
	ck_assert_uint_eq(after.used, before.used);
	ck_assert_uint_eq(after.chunks, before.chunks);
	ck_assert_ptr_nonnull(load(a, "a: 1\n"));
	done(a);
}
END_TEST

START_TEST(string_account_limit)
{
	struct mem_account small;
	struct arena *a;

	mem_account_init(&small, "tiny", NULL, 200 * 1024);
	a = arena_create(&small, 0);
	ck_assert_ptr_nonnull(a);
	/* the tree of this does not fit in 200 KiB */
	char *text = repeat("", "- 0\n", 20000, "");

	ck_assert_ptr_null(load(a, text));
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "tiny"));
	arena_destroy(a);
	ck_assert_int_eq(small.bytes.cur, 0);
	free(text);
}
END_TEST

/* ---- ydoc_load_file ----------------------------------------------------- */

START_TEST(file_loads)
{
	char path[128];
	struct arena *a = new_arena();
	struct ydoc *doc;

	tmp_path(path, sizeof path, "ok.yaml");
	write_file(path, pipeline_yaml, strlen(pipeline_yaml));
	doc = ydoc_load_file(a, path);
	ck_assert_msg(doc != NULL, "%s", gp_err_msg());
	ck_assert_str_eq(doc->path, path);
	ck_assert_ptr_ne(doc->path, path);
	ck_assert_uint_eq(doc->text_len, strlen(pipeline_yaml));
	ck_assert_str_eq(doc->text, pipeline_yaml);
	check_pipeline(doc);
	done(a);
}
END_TEST

START_TEST(file_empty)
{
	char path[128];
	struct arena *a = new_arena();
	struct ydoc *doc;

	tmp_path(path, sizeof path, "empty.yaml");
	write_file(path, "", 0);
	doc = ydoc_load_file(a, path);
	ck_assert_ptr_nonnull(doc);
	ck_assert_ptr_null(doc->root);
	ck_assert_uint_eq(doc->text_len, 0);
	ck_assert_str_eq(doc->text, "");
	done(a);
}
END_TEST

START_TEST(file_missing)
{
	struct arena *a = new_arena();

	ck_assert_ptr_null(ydoc_load_file(a, "/nonexistent-dir/pipeline.yaml"));
	ck_assert_int_eq(gp_err_code(), GP_EX_NOINPUT);
	ck_assert_str_eq(gp_err_msg(), "cannot open '/nonexistent-dir/pipeline.yaml': "
	                               "No such file or directory");
	done(a);
}
END_TEST

START_TEST(file_directory)
{
	struct arena *a = new_arena();
	char msg[1024];

	ck_assert_ptr_null(ydoc_load_file(a, tmpdir));
	ck_assert_int_eq(gp_err_code(), GP_EX_NOINPUT);
	snprintf(msg, sizeof msg, "cannot open '%s': Is a directory", tmpdir);
	ck_assert_str_eq(gp_err_msg(), msg);
	done(a);
}
END_TEST

/* Load an unreadable file; 0 when the loader answered as it must. */
static int load_unreadable(const void *ctx)
{
	const char *path = ctx;
	struct arena *a = new_arena();
	char msg[1024];
	int bad;

	snprintf(msg, sizeof msg, "cannot open '%s': Permission denied", path);
	bad = ydoc_load_file(a, path) != NULL || gp_err_code() != GP_EX_NOINPUT ||
	      strcmp(gp_err_msg(), msg) != 0;
	if (bad)
		fprintf(stderr, "load_unreadable: exit %d, '%s'\n", gp_err_code(), gp_err_msg());
	done(a);
	return bad;
}

START_TEST(file_unreadable)
{
	char path[128];

	tmp_path(path, sizeof path, "locked.yaml");
	write_file(path, "a: 1\n", 5);
	ck_assert_int_eq(chmod(path, 0), 0);
	ck_assert_int_eq(chmod(tmpdir, 0755), 0); /* nobody may look in */
	ck_assert_int_eq(as_nobody(load_unreadable, path), 0);
}
END_TEST

START_TEST(file_too_large)
{
	char path[128], msg[1024];
	struct arena *a = new_arena();
	int64_t before = account.bytes.cur;
	int fd;

	tmp_path(path, sizeof path, "big.yaml");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 16 * MIB + 1), 0);
	close(fd);
	ck_assert_ptr_null(ydoc_load_file(a, path));
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	snprintf(msg, sizeof msg, "%s: file too large (more than 16 MiB)", path);
	ck_assert_str_eq(gp_err_msg(), msg);
	ck_assert_int_eq(account.bytes.cur, before); /* nothing kept */
	done(a);
}
END_TEST

START_TEST(file_at_size_limit)
{
	/* 16 MiB exactly is read; it is all NUL bytes, which libyaml rejects */
	char *shown = repeat("", "?", 160, "");
	char path[128], msg[1024];
	struct arena *a = new_arena();
	int64_t before = account.bytes.cur;
	int fd;

	tmp_path(path, sizeof path, "limit.yaml");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 16 * MIB), 0);
	close(fd);
	ck_assert_ptr_null(ydoc_load_file(a, path));
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	snprintf(msg, sizeof msg,
	         "%s:1:1: syntax error: control characters are not allowed\n  %s...\n  ^", path,
	         shown);
	ck_assert_str_eq(gp_err_msg(), msg);
	free(shown);
	ck_assert_int_eq(account.bytes.cur, before);
	unlink(path);
	done(a);
}
END_TEST

START_TEST(file_from_pipe)
{
	/* not a regular file: read in growing steps */
	char *text = repeat("list:\n", "  - 12345\n", 20000, "end: true\n");
	size_t len = strlen(text);
	char path[64];
	struct arena *a = new_arena();
	struct ydoc *doc;
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	if (fcntl(fds[1], F_SETPIPE_SZ, 1024 * 1024) < (int)len) {
		close(fds[0]);
		close(fds[1]);
		free(text);
		done(a);
		return; /* cannot hold it all: nothing to test here */
	}
	ck_assert_int_eq(write(fds[1], text, len), (ssize_t)len);
	close(fds[1]);
	snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
	doc = ydoc_load_file(a, path);
	close(fds[0]);
	ck_assert_msg(doc != NULL, "%s", gp_err_msg());
	ck_assert_uint_eq(doc->text_len, len);
	ck_assert_str_eq(doc->text, text);
	ck_assert_uint_eq(ynode_get(doc->root, "list")->n, 20000);
	ck_assert_int_eq(ynode_get(doc->root, "end")->line, 20002);
	free(text);
	done(a);
}
END_TEST

START_TEST(file_error_names_path)
{
	char path[128], msg[1024];
	struct arena *a = new_arena();

	tmp_path(path, sizeof path, "bad.yaml");
	write_file(path, "steps:\n  - read: {path: x\n", 26);
	ck_assert_ptr_null(ydoc_load_file(a, path));
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	snprintf(msg, sizeof msg,
	         "%s:3:1: syntax error: did not find expected ',' or '}' "
	         "(while parsing a flow mapping at line 2)\n"
	         "  \n"
	         "  ^",
	         path);
	ck_assert_str_eq(gp_err_msg(), msg);
	done(a);
}
END_TEST

START_TEST(file_with_bom)
{
	char path[128], msg[1024];
	static const char text[] = "\xef\xbb\xbfname: x\nname: y\n";
	struct arena *a = new_arena();
	struct ydoc *doc;

	tmp_path(path, sizeof path, "bom.yaml");
	write_file(path, text, 9);
	doc = ydoc_load_file(a, path);
	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(doc->root->col, 1);
	ck_assert_str_eq(doc->root->keys[0]->str, "name");
	write_file(path, text, strlen(text));
	ck_assert_ptr_null(ydoc_load_file(a, path));
	snprintf(msg, sizeof msg, "%s:2:1: duplicate key 'name' (first at line 1)\n  name: y\n  ^",
	         path);
	ck_assert_str_eq(gp_err_msg(), msg);
	done(a);
}
END_TEST

/* ---- ydoc_fail ----------------------------------------------------------- */

START_TEST(fail_at_node)
{
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, "steps:\n  - reprojct: {to: 3857}\n");
	const struct ynode *step = doc->root->items[0]->items[0];

	gp_err_clear();
	ck_assert_int_eq(ydoc_fail(doc, step->keys[0], "unknown step '%s'%s", step->keys[0]->str,
	                           ", did you mean 'reproject'?"),
	                 -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_str_eq(gp_err_msg(),
	                 NAME ":2:5: unknown step 'reprojct', did you mean 'reproject'?\n"
	                      "    - reprojct: {to: 3857}\n"
	                      "      ^");
	ck_assert_int_eq(ydoc_fail(doc, step->items[0]->items[0], "bad crs %d", 3857), -1);
	ck_assert_str_eq(gp_err_msg(), NAME ":2:20: bad crs 3857\n"
	                               "    - reprojct: {to: 3857}\n"
	                               "                     ^");
	done(a);
}
END_TEST

START_TEST(fail_at_null_is_document_start)
{
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, "# header\nsteps: []\n");

	ck_assert_int_eq(ydoc_fail(doc, NULL, "no step"), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_str_eq(gp_err_msg(), NAME ":1:1: no step\n  # header\n  ^");
	doc = load_ok(a, "");
	ck_assert_int_eq(ydoc_fail(doc, NULL, "empty pipeline"), -1);
	ck_assert_str_eq(gp_err_msg(), NAME ":1:1: empty pipeline\n  \n  ^");
	done(a);
}
END_TEST

START_TEST(fail_long_line_window)
{
	struct arena *a = new_arena();
	char *text = repeat("k: [", "a, ", 200, "zz, b]\n");
	struct ydoc *doc = load_ok(a, text);
	const struct ynode *zz = doc->root->items[0]->items[200];
	char *caret = repeat("   ", " ", 80, "^");
	char msg[1024];

	/* the line is 610 bytes; "zz" is at byte 604: shown from 80 before it
	 * to the end of the line */
	ck_assert_uint_eq(strlen(text), 611);
	ck_assert_str_eq(zz->str, "zz");
	ck_assert_int_eq(zz->col, 605);
	ydoc_fail(doc, zz, "bad");
	snprintf(msg, sizeof msg, NAME ":1:605: bad\n  ...%.*s\n  %s", 610 - 524, text + 524,
	         caret);
	ck_assert_str_eq(gp_err_msg(), msg);
	/* near the start: the first 160 bytes */
	ydoc_fail(doc, doc->root->keys[0], "start");
	snprintf(msg, sizeof msg, NAME ":1:1: start\n  %.160s...\n  ^", text);
	ck_assert_str_eq(gp_err_msg(), msg);
	free(text);
	free(caret);
	done(a);
}
END_TEST

/* ---- ydoc_fail_at -------------------------------------------------------- */

START_TEST(fail_at_position)
{
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, "a: 1\nb:\t[x]\n");

	gp_err_clear();
	ck_assert_int_eq(ydoc_fail_at(doc, 1, 4, "value %s", "one"), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_str_eq(gp_err_msg(), NAME ":1:4: value one\n  a: 1\n     ^");
	/* a tab before the column stays a tab */
	ydoc_fail_at(doc, 2, 5, "tabbed");
	ck_assert_str_eq(gp_err_msg(), NAME ":2:5: tabbed\n  b:\t[x]\n    \t ^");
	/* past the last line: an empty source line */
	ydoc_fail_at(doc, 3, 1, "at the end");
	ck_assert_str_eq(gp_err_msg(), NAME ":3:1: at the end\n  \n  ^");
	ydoc_fail_at(doc, 40, 7, "far away");
	ck_assert_str_eq(gp_err_msg(), NAME ":40:7: far away\n  \n  ^");
	/* past the end of the line: the caret stops right after it */
	ydoc_fail_at(doc, 1, 30, "long");
	ck_assert_str_eq(gp_err_msg(), NAME ":1:30: long\n  a: 1\n      ^");
	/* nonsense positions are clamped to 1 */
	ydoc_fail_at(doc, 0, -3, "zero");
	ck_assert_str_eq(gp_err_msg(), NAME ":1:1: zero\n  a: 1\n  ^");
	done(a);
}
END_TEST

START_TEST(fail_at_line_breaks_and_characters)
{
	struct arena *a = new_arena();
	/* CR LF, lone CR, and multi-byte characters before the column */
	struct ydoc *doc = load_ok(a, "a: 1\r\nb: 2\rc: \xc3\xa9\xe2\x82\xac x\n");

	ydoc_fail_at(doc, 2, 4, "two");
	ck_assert_str_eq(gp_err_msg(), NAME ":2:4: two\n  b: 2\n     ^");
	ydoc_fail_at(doc, 3, 7, "three");
	ck_assert_str_eq(gp_err_msg(), NAME ":3:7: three\n  c: \xc3\xa9\xe2\x82\xac x\n        ^");
	done(a);
}
END_TEST

START_TEST(fail_at_any_bytes)
{
	/* a document built by hand: any bytes, valid UTF-8 or not */
	static const char text[] = "ok \xf0\x9f\x98\x80 x\n"
	                           "\xe0\x80\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xc3(|\xf0\x9f\x98";
	const struct ydoc doc = {.path = "hand.yaml", .text = text, .text_len = sizeof text - 1};

	ck_assert_int_eq(ydoc_fail_at(&doc, 1, 6, "after a 4-byte character"), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_str_eq(gp_err_msg(), "hand.yaml:1:6: after a 4-byte character\n"
	                               "  ok \xf0\x9f\x98\x80 x\n"
	                               "       ^");
	/* overlong, surrogate, too large, bad continuation, cut short: each
	 * byte that is not part of a character is one '?' column */
	ydoc_fail_at(&doc, 2, 20, "invalid");
	ck_assert_str_eq(gp_err_msg(), "hand.yaml:2:20: invalid\n"
	                               "  ???|???|????|?(|???\n"
	                               "                     ^");
	ydoc_fail_at(&doc, 2, 17, "in the middle");
	ck_assert_str_eq(gp_err_msg(), "hand.yaml:2:17: in the middle\n"
	                               "  ???|???|????|?(|???\n"
	                               "                  ^");
}
END_TEST

START_TEST(fail_at_message_too_long_is_cut)
{
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, "a: 1\n");
	char *big = repeat("", "x", 10000, "");

	ydoc_fail_at(doc, 1, 1, "%s", big);
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_uint_lt(strlen(gp_err_msg()), 4096);
	ck_assert_int_eq(strncmp(gp_err_msg(), NAME ":1:1: xxx", 12), 0);
	free(big);
	done(a);
}
END_TEST

/* ---- ynode_get ------------------------------------------------------------ */

START_TEST(get_values)
{
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, "a: 1\n\"\": empty\n\"b\\0c\": nul\nlist: [a]\n");
	const struct ynode *r = doc->root;

	ck_assert_str_eq(ynode_get(r, "a")->str, "1");
	ck_assert_str_eq(ynode_get(r, "")->str, "empty");
	ck_assert_ptr_null(ynode_get(r, "b")); /* "b\0c" is not "b" */
	ck_assert_ptr_null(ynode_get(r, "missing"));
	ck_assert_ptr_null(ynode_get(r, "A"));
	ck_assert_ptr_null(ynode_get(NULL, "a"));
	ck_assert_ptr_null(ynode_get(r, NULL));
	ck_assert_ptr_null(ynode_get(ynode_get(r, "list"), "a"));
	ck_assert_ptr_null(ynode_get(ynode_get(r, "a"), "a"));
	done(a);
}
END_TEST

/* ---- yscalar_bool ---------------------------------------------------------- */

START_TEST(bool_words)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "ON", "tRuE"};
	static const char *const no[] = {"false", "False", "FALSE", "no", "NO", "off", "Off"};
	static const char *const bad[] = {"", "1", "0", "y", "n", "truee", "tru", "yes ", " no",
	                                  "offf", "null", "~"};
	struct ynode n;
	bool b;

	set_sentinel();
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		n = scalar(yes[i]);
		b = false;
		ck_assert_int_eq(yscalar_bool(&n, &b), 0);
		ck_assert(b);
		n.quoted = true;
		b = false;
		ck_assert_int_eq(yscalar_bool(&n, &b), 0);
		ck_assert(b);
	}
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		n = scalar(no[i]);
		b = true;
		ck_assert_int_eq(yscalar_bool(&n, &b), 0);
		ck_assert(!b);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = scalar(bad[i]);
		b = true;
		ck_assert_int_eq(yscalar_bool(&n, &b), -1);
		ck_assert(b);
	}
	n = (struct ynode){.type = YNODE_SCALAR, .str = "no\0x", .len = 4};
	ck_assert_int_eq(yscalar_bool(&n, &b), -1);
	assert_sentinel();
}
END_TEST

START_TEST(bool_not_scalar)
{
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, "s: [true]\nm: {true: 1}\n");
	bool b = true;

	set_sentinel();
	ck_assert_int_eq(yscalar_bool(ynode_get(doc->root, "s"), &b), -1);
	ck_assert_int_eq(yscalar_bool(ynode_get(doc->root, "m"), &b), -1);
	ck_assert_int_eq(yscalar_bool(NULL, &b), -1);
	ck_assert(b);
	assert_sentinel();
	done(a);
}
END_TEST

/* ---- yscalar_i64 ------------------------------------------------------------ */

START_TEST(i64_values)
{
	static const struct {
		const char *s;
		int64_t v;
	} ok[] = {
		{"0", 0},
		{"-0", 0},
		{"+0", 0},
		{"42", 42},
		{"+42", 42},
		{"-42", -42},
		{"007", 7},
		{"9223372036854775807", INT64_MAX},
		{"-9223372036854775808", INT64_MIN},
		{"+9223372036854775807", INT64_MAX},
		{"00000000000000000000000000000001", 1},
	};
	static const char *const bad[] = {
		"", "+", "-", "+-1", "--1", " 1", "1 ", "1x", "x1", "0x10", "1.0", "1e3", "1_000",
		"9223372036854775808", "-9223372036854775809", "99999999999999999999", "\xd9\xa1",
	};
	struct ynode n;
	int64_t v;

	set_sentinel();
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		n = scalar(ok[i].s);
		v = 12345;
		ck_assert_msg(yscalar_i64(&n, &v) == 0, "%s", ok[i].s);
		ck_assert_int_eq(v, ok[i].v);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = scalar(bad[i]);
		v = 12345;
		ck_assert_msg(yscalar_i64(&n, &v) == -1, "%s", bad[i]);
		ck_assert_int_eq(v, 12345);
	}
	n = (struct ynode){.type = YNODE_SCALAR, .str = "1\0002", .len = 3};
	ck_assert_int_eq(yscalar_i64(&n, &v), -1);
	assert_sentinel();
}
END_TEST

START_TEST(i64_not_scalar)
{
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, "s: [1]\nq: '5'\n");
	int64_t v = 9;

	set_sentinel();
	ck_assert_int_eq(yscalar_i64(ynode_get(doc->root, "s"), &v), -1);
	ck_assert_int_eq(yscalar_i64(NULL, &v), -1);
	ck_assert_int_eq(v, 9);
	/* quoted digits are still digits; the schema decides */
	ck_assert_int_eq(yscalar_i64(ynode_get(doc->root, "q"), &v), 0);
	ck_assert_int_eq(v, 5);
	assert_sentinel();
	done(a);
}
END_TEST

/* ---- yscalar_double ---------------------------------------------------------- */

START_TEST(double_values)
{
	static const struct {
		const char *s;
		double v;
	} ok[] = {
		{"0", 0.0},      {"1.5", 1.5},       {"-2e3", -2000.0}, {"+.5", 0.5},
		{"5.", 5.0},     {"0x1p4", 16.0},    {"1e-400", 0.0},   {"-0.25", -0.25},
		{"42", 42.0},    {"1.7976931348623157e308", 1.7976931348623157e308},
	};
	static const char *const bad[] = {"",    "abc",  "1.5x", " 1",  "1 ",   "\t1",
	                                  "inf", "-inf", "nan",  "NaN", "1e999", "infinity",
	                                  ".",   "e5",   "1,5"};
	struct ynode n;
	double v;

	set_sentinel();
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		n = scalar(ok[i].s);
		v = -1;
		ck_assert_msg(yscalar_double(&n, &v) == 0, "%s", ok[i].s);
		ck_assert_double_eq(v, ok[i].v);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = scalar(bad[i]);
		v = -1;
		ck_assert_msg(yscalar_double(&n, &v) == -1, "%s", bad[i]);
		ck_assert_double_eq(v, -1);
	}
	n = (struct ynode){.type = YNODE_SCALAR, .str = "1\0002", .len = 3};
	ck_assert_int_eq(yscalar_double(&n, &v), -1);
	assert_sentinel();
}
END_TEST

START_TEST(double_not_scalar)
{
	struct arena *a = new_arena();
	struct ydoc *doc = load_ok(a, "s: {a: 1.5}\n");
	double v = 3;

	set_sentinel();
	ck_assert_int_eq(yscalar_double(ynode_get(doc->root, "s"), &v), -1);
	ck_assert_int_eq(yscalar_double(NULL, &v), -1);
	ck_assert_double_eq(v, 3);
	assert_sentinel();
	done(a);
}
END_TEST

/* ---- parse_size -------------------------------------------------------------- */

START_TEST(size_values)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{"0", 0},
		{"1024", 1024},
		{"1024B", 1024},
		{"1024 b", 1024},
		{"64K", 64 * 1024},
		{"64k", 64 * 1024},
		{"64KB", 64 * 1024},
		{"64KiB", 64 * 1024},
		{"64 KiB", 64 * 1024},
		{"64  kib", 64 * 1024},
		{"64Ki", 64 * 1024},
		{"64M", 64ull * MIB},
		{"256MiB", 256ull * MIB},
		{"2G", 2ull << 30},
		{"2gib", 2ull << 30},
		{"3T", 3ull << 40},
		{"3TiB", 3ull << 40},
		{"1.5GiB", 1610612736ull},
		{"0.5K", 512},
		{"0.25 MiB", 256 * 1024},
		{"0.0009765625K", 1},
		{"0.0000000000009094947017729282379150390625T", 1}, /* 2^-40 T, exactly */
		{"18446744073709551615", UINT64_MAX},
		{"16777215T", 16777215ull << 40},
		{"0000064K", 64 * 1024},
		{"1.50MiB", 1572864},
		{"16777215.75T", (16777215ull << 40) + (3ull << 38)},
	};
	static const char *const bad[] = {
		"",       " 1",     "1 ",        "-1",     "+1",    "1.",     ".5",
		"1..5",   "1.5.5",  "K",         "1X",     "1KX",   "1KiBB",  "1iB",
		"1 iB",   "1PiB",   "1E",        "1e3",    "0x10",  "1,5K",   "1_000",
		"1\tK",   "1K ",    "18446744073709551616", "16777216T", "17179869184G",
		"18446744073709551615.5K",
		/* a size is a whole number of bytes */
		"1.5", "0.5", "0.1K", "0.0000000000009094947017729282379150390624T",
		"16777215.999999T", "1.3MiB",
	};
	uint64_t v;

	set_sentinel();
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		v = 7;
		ck_assert_msg(parse_size(ok[i].s, &v) == 0, "%s", ok[i].s);
		ck_assert_msg(v == ok[i].v, "%s: %llu", ok[i].s, (unsigned long long)v);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = 7;
		ck_assert_msg(parse_size(bad[i], &v) == -1, "'%s'", bad[i]);
		ck_assert_uint_eq(v, 7);
	}
	ck_assert_int_eq(parse_size(NULL, &v), -1);
	assert_sentinel();
}
END_TEST

/* ---- suggest_word --------------------------------------------------------------- */

START_TEST(suggest_close_words)
{
	static const char *const steps[] = {"read", "write", "filter", "select", "reproject", NULL};
	static const char *const ties[] = {"cat", "bat", "hat", NULL};
	static const char *const none[] = {NULL};
	static const char *const short_words[] = {"ab", "c", NULL};
	char *longw = repeat("", "x", 1000, "");
	const char *const longc[] = {longw, "xx", NULL};
	char *typo;

	ck_assert_str_eq(suggest_word("fitler", steps), "filter");   /* 2 <= 6/3 */
	ck_assert_str_eq(suggest_word("reprojet", steps), "reproject");
	ck_assert_str_eq(suggest_word("reprojecting", steps), "reproject"); /* 3 <= 4 */
	ck_assert_str_eq(suggest_word("rite", steps), "write");
	ck_assert_str_eq(suggest_word("read", steps), "read");
	/* a swap of two neighbours is one edit */
	ck_assert_str_eq(suggest_word("raed", steps), "read");
	ck_assert_str_eq(suggest_word("wirte", steps), "write");
	ck_assert_str_eq(suggest_word("fitler", steps), "filter");
	ck_assert_ptr_null(suggest_word("aerd", steps));             /* 2 > max(1, 4/3) */
	ck_assert_ptr_null(suggest_word("wtrie", steps));            /* 2 > max(1, 5/3) */
	ck_assert_ptr_null(suggest_word("xyz", steps));
	ck_assert_ptr_null(suggest_word("transform", steps));
	ck_assert_str_eq(suggest_word("mat", ties), "cat");          /* tie: the first */
	ck_assert_str_eq(suggest_word("bat", ties), "bat");          /* exact wins */
	ck_assert_str_eq(suggest_word("", short_words), "c");        /* 1 <= max(1, 0) */
	ck_assert_ptr_null(suggest_word("anything", none));
	ck_assert_ptr_null(suggest_word("a", none));
	ck_assert_ptr_null(suggest_word(NULL, steps));
	ck_assert_ptr_null(suggest_word("read", NULL));
	ck_assert_str_eq(suggest_word("x", longc), "xx");
	ck_assert_ptr_eq(suggest_word(longw, longc), longw); /* equal is found at any length */
	typo = repeat("", "x", 1000, "");
	typo[500] = 'y';
	ck_assert_ptr_null(suggest_word(typo, longc)); /* a near miss that long is not */
	free(typo);
	free(longw);
}
END_TEST

/* ---- out of memory ------------------------------------------------------------------- */

/* Fail the n-th allocation for n = 1, 2, ... until the load succeeds with no
 * failure injected; every failure must be clean.  Loads `path`, or `text`
 * (the pipeline when NULL); `check` looks at the result. */
static int oom_loop(size_t chunk_size, const char *path, const char *text,
                    void (*check)(const struct ydoc *))
{
	uint64_t n;
	int failed = 0;

	for (n = 1; n < 100000; n++) {
		struct arena *a = arena_create(&account, chunk_size);
		struct ydoc *doc;
		uint64_t made;

		ck_assert_ptr_nonnull(a);
		gp_err_clear();
		mem_fail_after(n);
		if (path != NULL)
			doc = ydoc_load_file(a, path);
		else
			doc = load(a, text ? text : pipeline_yaml);
		made = mem_fail_after(0);
		if (doc == NULL) {
			ck_assert_uint_ge(made, n);
			ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
			ck_assert_ptr_nonnull(strstr(gp_err_msg(), "(injected)"));
			done(a);
			failed++;
			continue;
		}
		ck_assert_uint_lt(made, n);
		check(doc);
		done(a);
		break;
	}
	ck_assert_uint_lt(n, 100000);
	ck_assert_int_eq(failed, (int)n - 1);
	ck_assert_int_gt(failed, 2);
	return failed;
}

START_TEST(oom_string_default_chunks)
{
	oom_loop(0, NULL, NULL, check_pipeline);
}
END_TEST

START_TEST(oom_string_small_chunks)
{
	/* a chunk per node or two: a failure at nearly every step */
	ck_assert_int_gt(oom_loop(256, NULL, NULL, check_pipeline), 20);
}
END_TEST

static void check_big(const struct ydoc *doc)
{
	const struct ynode *m = ynode_get(doc->root, "m"), *s = ynode_get(doc->root, "s");

	ck_assert_uint_eq(m->n, 400);
	ck_assert_uint_eq(s->n, 400);
	ck_assert_ptr_eq(s->items[0], m->items[399]);
	ck_assert_ptr_eq(s->items[399], m->items[0]);
}

START_TEST(oom_string_growing_tables)
{
	/* enough keys, anchors and items to grow the scratch tables and
	 * stacks past their first chunk */
	char *text = malloc(400 * 40);
	size_t len = 0;

	ck_assert_ptr_nonnull(text);
	len += (size_t)sprintf(text + len, "m:\n");
	for (int i = 0; i < 400; i++)
		len += (size_t)sprintf(text + len, "  key%d: &a%d value%d\n", i, i, i);
	len += (size_t)sprintf(text + len, "s: [");
	for (int i = 399; i >= 0; i--)
		len += (size_t)sprintf(text + len, "*a%d%s", i, i ? ", " : "]\n");
	ck_assert_int_gt(oom_loop(0, NULL, text, check_big), 5);
	free(text);
}
END_TEST

START_TEST(oom_file)
{
	char path[128];

	tmp_path(path, sizeof path, "oom.yaml");
	write_file(path, pipeline_yaml, strlen(pipeline_yaml));
	oom_loop(512, path, NULL, check_pipeline);
}
END_TEST

START_TEST(oom_in_error_paths)
{
	/* failures while building a document that is going to be rejected */
	static const char text[] = "a: [1, 2, {b: c}]\nd: &x {e: f}\ng: *x\nh: [*x, *y]\n";

	for (uint64_t n = 1;; n++) {
		struct arena *a = arena_create(&account, 128);
		uint64_t made;

		ck_assert_ptr_nonnull(a);
		mem_fail_after(n);
		ck_assert_ptr_null(load(a, text));
		made = mem_fail_after(0);
		done(a);
		if (made < n) {
			ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
			ck_assert_str_eq(gp_err_msg(), NAME ":4:9: unknown anchor '*y'\n"
			                               "  h: [*x, *y]\n"
			                               "          ^");
			break;
		}
		ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
		ck_assert_uint_lt(n, 10000);
	}
}
END_TEST

/* ---- runner ------------------------------------------------------------------------ */

static TCase *tcase(Suite *s, const char *name, bool files)
{
	TCase *tc = tcase_create(name);

	if (files)
		tcase_add_checked_fixture(tc, file_setup, file_teardown);
	else
		tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *yaml_load_suite(void)
{
	Suite *s = suite_create("yaml_load");
	TCase *tc;

	tc = tcase(s, "ydoc_load_string", false);
	tcase_add_test(tc, string_tree_and_positions);
	tcase_add_test(tc, string_quoted_styles);
	tcase_add_test(tc, string_standard_tags);
	tcase_add_test(tc, string_aliases);
	tcase_add_test(tc, string_alias_to_closed_nested_anchor);
	tcase_add_test(tc, string_empty_documents);
	tcase_add_test(tc, string_copies_text_and_name);
	tcase_add_test(tc, string_depth_limit);
	tcase_add_test(tc, string_depth_limit_block);
	tcase_add_test(tc, string_depth_limit_is_fast);
	tcase_add_test(tc, string_billion_laughs);
	tcase_add_test(tc, string_node_limit_exact);
	tcase_add_test(tc, string_node_limit_plain);
	tcase_add_test(tc, string_many_keys_and_anchors);
	tcase_add_loop_test(tc, string_error_classes, 0,
	                    (int)(sizeof error_cases / sizeof error_cases[0]));
	tcase_add_test(tc, string_error_embedded_nul);
	tcase_add_test(tc, string_failure_gives_memory_back);
	tcase_add_test(tc, string_account_limit);

	tc = tcase(s, "ydoc_load_file", true);
	tcase_add_test(tc, file_loads);
	tcase_add_test(tc, file_empty);
	tcase_add_test(tc, file_missing);
	tcase_add_test(tc, file_directory);
	tcase_add_test(tc, file_unreadable);
	tcase_add_test(tc, file_too_large);
	tcase_add_test(tc, file_at_size_limit);
	tcase_add_test(tc, file_from_pipe);
	tcase_add_test(tc, file_error_names_path);
	tcase_add_test(tc, file_with_bom);

	tc = tcase(s, "ydoc_fail", false);
	tcase_add_test(tc, fail_at_node);
	tcase_add_test(tc, fail_at_null_is_document_start);
	tcase_add_test(tc, fail_long_line_window);

	tc = tcase(s, "ydoc_fail_at", false);
	tcase_add_test(tc, fail_at_position);
	tcase_add_test(tc, fail_at_line_breaks_and_characters);
	tcase_add_test(tc, fail_at_any_bytes);
	tcase_add_test(tc, fail_at_message_too_long_is_cut);

	tc = tcase(s, "ynode_get", false);
	tcase_add_test(tc, get_values);

	tc = tcase(s, "yscalar_bool", false);
	tcase_add_test(tc, bool_words);
	tcase_add_test(tc, bool_not_scalar);

	tc = tcase(s, "yscalar_i64", false);
	tcase_add_test(tc, i64_values);
	tcase_add_test(tc, i64_not_scalar);

	tc = tcase(s, "yscalar_double", false);
	tcase_add_test(tc, double_values);
	tcase_add_test(tc, double_not_scalar);

	tc = tcase(s, "parse_size", false);
	tcase_add_test(tc, size_values);

	tc = tcase(s, "suggest_word", false);
	tcase_add_test(tc, suggest_close_words);

	tc = tcase(s, "out_of_memory", true);
	tcase_add_test(tc, oom_string_default_chunks);
	tcase_add_test(tc, oom_string_small_chunks);
	tcase_add_test(tc, oom_string_growing_tables);
	tcase_add_test(tc, oom_file);
	tcase_add_test(tc, oom_in_error_paths);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(yaml_load_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
