/* check_schema.c - unit tests for stream schemas (src/vector/schema.c). */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ogr_api.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "vector/schema.h"

static struct mem_account account;

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
	mem_account_init(&account, "schema-test", NULL, 0);
}

static void teardown(void)
{
	mem_fail_after(0);
	gp_err_clear();
}

static struct arena *new_arena(size_t chunk)
{
	struct arena *a = arena_create(&account, chunk);

	ck_assert_ptr_nonnull(a);
	return a;
}

static void done(struct arena *a)
{
	arena_destroy(a);
	ck_assert_int_eq(account.bytes.cur, 0);
}

static void add_field(OGRFeatureDefnH fd, const char *name, OGRFieldType t, OGRFieldSubType st,
                      int width, int prec, int nullable)
{
	OGRFieldDefnH f = OGR_Fld_Create(name, t);

	ck_assert_ptr_nonnull(f);
	OGR_Fld_SetSubType(f, st);
	OGR_Fld_SetWidth(f, width);
	OGR_Fld_SetPrecision(f, prec);
	OGR_Fld_SetNullable(f, nullable);
	OGR_FD_AddFieldDefn(fd, f);
	OGR_Fld_Destroy(f);
}

/* id Integer64, code Integer(Int16), name String(40) not null, area Real(12.3),
 * ok Integer(Boolean), when DateTime */
static OGRFeatureDefnH sample_defn(void)
{
	OGRFeatureDefnH fd = OGR_FD_Create("parcels");

	ck_assert_ptr_nonnull(fd);
	OGR_FD_Reference(fd);
	OGR_FD_SetGeomType(fd, wkbMultiPolygon);
	add_field(fd, "id", OFTInteger64, OFSTNone, 0, 0, 1);
	add_field(fd, "code", OFTInteger, OFSTInt16, 5, 0, 1);
	add_field(fd, "name", OFTString, OFSTNone, 40, 0, 0);
	add_field(fd, "area", OFTReal, OFSTNone, 12, 3, 1);
	add_field(fd, "ok", OFTInteger, OFSTBoolean, 1, 0, 1);
	add_field(fd, "when", OFTDateTime, OFSTNone, 0, 0, 1);
	ck_assert_int_eq(OGR_FD_GetFieldCount(fd), 6);
	return fd;
}

static void release(OGRFeatureDefnH fd)
{
	OGR_FD_Release(fd);
}

struct want_field {
	const char *name;
	OGRFieldType type;
	OGRFieldSubType subtype;
	int width, precision, nullable;
};

static const struct want_field sample_fields[] = {
        {"id", OFTInteger64, OFSTNone, 0, 0, 1},  {"code", OFTInteger, OFSTInt16, 5, 0, 1},
        {"name", OFTString, OFSTNone, 40, 0, 0},  {"area", OFTReal, OFSTNone, 12, 3, 1},
        {"ok", OFTInteger, OFSTBoolean, 1, 0, 1}, {"when", OFTDateTime, OFSTNone, 0, 0, 1},
};

static void assert_sample(const struct schema *s)
{
	ck_assert_uint_eq(s->n, 6);
	ck_assert_int_eq(s->nsrc, 6);
	ck_assert_int_eq(s->gtype, wkbMultiPolygon);
	for (size_t i = 0; i < 6; i++) {
		const struct want_field *w = &sample_fields[i];

		ck_assert_str_eq(s->f[i].name, w->name);
		ck_assert_int_eq(s->f[i].type, w->type);
		ck_assert_int_eq(s->f[i].subtype, w->subtype);
		ck_assert_int_eq(s->f[i].width, w->width);
		ck_assert_int_eq(s->f[i].precision, w->precision);
		ck_assert_int_eq(!!s->f[i].nullable, w->nullable);
		ck_assert_int_eq(s->f[i].src, (int)i);
	}
}

/* ---- schema_from_defn ------------------------------------------------ */

START_TEST(from_defn_fields)
{
	struct arena *a = new_arena(0);
	OGRFeatureDefnH fd = sample_defn();
	struct schema *s = schema_from_defn(a, fd);
	const char *ogr_name = OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(fd, 2));

	ck_assert_ptr_nonnull(s);
	assert_sample(s);
	/* names are copies in the arena, not OGR's strings */
	ck_assert_ptr_ne(s->f[2].name, ogr_name);
	release(fd);
	/* the definition is gone: the schema still reads */
	assert_sample(s);
	done(a);
}
END_TEST

START_TEST(from_defn_no_fields)
{
	struct arena *a = new_arena(0);
	OGRFeatureDefnH fd = OGR_FD_Create("empty");
	struct schema *s;

	OGR_FD_Reference(fd);
	OGR_FD_SetGeomType(fd, wkbPoint25D);
	s = schema_from_defn(a, fd);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->n, 0);
	ck_assert_int_eq(s->nsrc, 0);
	ck_assert_int_eq(s->gtype, wkbPoint25D);
	ck_assert_ptr_nonnull(s->f);
	ck_assert_int_eq(schema_find(s, "id"), -1);
	release(fd);
	done(a);
}
END_TEST

START_TEST(from_defn_out_of_memory)
{
	OGRFeatureDefnH fd = sample_defn();
	int failed = 0;
	uint64_t n;

	/* small chunks: a failure at each field name */
	for (n = 1; n < 1000; n++) {
		struct arena *a = new_arena(64);
		struct schema *s;
		uint64_t made;

		gp_err_clear();
		mem_fail_after(n);
		s = schema_from_defn(a, fd);
		made = mem_fail_after(0);
		if (made < n) {
			ck_assert_ptr_nonnull(s);
			assert_sample(s);
			done(a);
			break;
		}
		ck_assert_ptr_null(s);
		ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
		ck_assert_ptr_nonnull(strstr(gp_err_msg(), "schema-test"));
		done(a);
		failed++;
	}
	ck_assert_uint_lt(n, 1000);
	ck_assert_int_eq(failed, (int)n - 1);
	ck_assert_int_ge(failed, 3);
	release(fd);
}
END_TEST

/* ---- schema_copy ----------------------------------------------------- */

START_TEST(copy_is_independent)
{
	struct arena *a = new_arena(0);
	struct arena *b = new_arena(0);
	OGRFeatureDefnH fd = sample_defn();
	struct schema *s = schema_from_defn(a, fd);
	struct schema *c;

	ck_assert_ptr_nonnull(s);
	c = schema_copy(b, s);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_ne(c, s);
	ck_assert_ptr_ne(c->f, s->f);
	assert_sample(c);
	/* names are shared, as documented */
	for (size_t i = 0; i < c->n; i++)
		ck_assert_ptr_eq(c->f[i].name, s->f[i].name);
	/* a step changes the copy (select: drop 'code', rename 'name') */
	c->f[1] = c->f[2];
	c->f[1].name = "label";
	c->n = 2;
	c->gtype = wkbPolygon;
	assert_sample(s);
	ck_assert_uint_eq(c->n, 2);
	ck_assert_int_eq(c->nsrc, 6);
	ck_assert_int_eq(c->f[1].src, 2);
	ck_assert_int_eq(schema_find(c, "label"), 1);
	ck_assert_int_eq(schema_find(c, "name"), -1);
	ck_assert_int_eq(schema_find(s, "name"), 2);
	release(fd);
	arena_destroy(b);
	done(a);
}
END_TEST

START_TEST(copy_empty_and_oom)
{
	struct arena *a = new_arena(0);
	struct schema empty = {.n = 0, .f = NULL, .nsrc = 3, .gtype = wkbNone};
	struct schema *c = schema_copy(a, &empty);

	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->n, 0);
	ck_assert_int_eq(c->nsrc, 3);
	ck_assert_int_eq(c->gtype, wkbNone);
	ck_assert_ptr_nonnull(c->f);
	done(a);

	/* an arena whose chunk is full: both allocations fail in turn */
	for (uint64_t n = 1; n < 100; n++) {
		struct arena *b = new_arena(64);
		uint64_t made;

		mem_fail_after(n);
		c = schema_copy(b, &empty);
		made = mem_fail_after(0);
		if (made < n) {
			ck_assert_ptr_nonnull(c);
			done(b);
			break;
		}
		ck_assert_ptr_null(c);
		ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
		done(b);
	}
}
END_TEST

/* ---- schema_find ----------------------------------------------------- */

START_TEST(find_exact_then_case_insensitive)
{
	struct arena *a = new_arena(0);
	OGRFeatureDefnH fd = OGR_FD_Create("t");
	struct schema *s;

	OGR_FD_Reference(fd);
	add_field(fd, "Name", OFTString, OFSTNone, 0, 0, 1);
	add_field(fd, "CODE", OFTInteger, OFSTNone, 0, 0, 1);
	add_field(fd, "name", OFTString, OFSTNone, 0, 0, 1);
	add_field(fd, "code", OFTInteger, OFSTNone, 0, 0, 1);
	add_field(fd, "Élan", OFTString, OFSTNone, 0, 0, 1);
	s = schema_from_defn(a, fd);
	ck_assert_ptr_nonnull(s);
	/* exact matches win over an earlier case-insensitive one */
	ck_assert_int_eq(schema_find(s, "Name"), 0);
	ck_assert_int_eq(schema_find(s, "name"), 2);
	ck_assert_int_eq(schema_find(s, "CODE"), 1);
	ck_assert_int_eq(schema_find(s, "code"), 3);
	/* no exact match: the first case-insensitive one */
	ck_assert_int_eq(schema_find(s, "NAME"), 0);
	ck_assert_int_eq(schema_find(s, "Code"), 1);
	ck_assert_int_eq(schema_find(s, "Élan"), 4);
	/* misses */
	ck_assert_int_eq(schema_find(s, "nam"), -1);
	ck_assert_int_eq(schema_find(s, "names"), -1);
	ck_assert_int_eq(schema_find(s, ""), -1);
	/* only the first n fields count */
	s->n = 2;
	ck_assert_int_eq(schema_find(s, "name"), 0);
	ck_assert_int_eq(schema_find(s, "code"), 1);
	s->n = 0;
	ck_assert_int_eq(schema_find(s, "Name"), -1);
	release(fd);
	done(a);
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

static Suite *schema_suite(void)
{
	Suite *s = suite_create("schema");
	TCase *tc;

	tc = tcase(s, "schema_from_defn");
	tcase_add_test(tc, from_defn_fields);
	tcase_add_test(tc, from_defn_no_fields);
	tcase_add_test(tc, from_defn_out_of_memory);

	tc = tcase(s, "schema_copy");
	tcase_add_test(tc, copy_is_independent);
	tcase_add_test(tc, copy_empty_and_oom);

	tc = tcase(s, "schema_find");
	tcase_add_test(tc, find_exact_then_case_insensitive);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(schema_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
