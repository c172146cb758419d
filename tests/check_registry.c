/* check_registry.c - unit tests for the step catalogues (src/core/registry.c):
 * every descriptor has what its role and kind need, and the check says so
 * when one does not. */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config/opts.h"
#include "core/step.h"

static int stub_stream(struct stage *s, struct stream *st)
{
	(void)s;
	(void)st;
	return 0;
}

static int stub_batch(struct stage *s, struct batch *b)
{
	(void)s;
	(void)b;
	return 0;
}

static int stub_pull(struct stage *s, const struct rwin *w, void *buf)
{
	(void)s;
	(void)w;
	(void)buf;
	return 0;
}

static int stub_put(struct stage *s, const struct rwin *w, const void *buf)
{
	(void)s;
	(void)w;
	(void)buf;
	return 0;
}

static const struct opt_desc no_opts[] = {{0}};

START_TEST(every_descriptor_is_whole)
{
	size_t n = 0;

	for (unsigned kind = STEP_VECTOR; kind <= STEP_RASTER; kind++)
		for (const struct step_desc *const *c = step_catalogue(kind); *c; c++, n++) {
			const char *why = step_desc_check(*c);

			ck_assert_msg(why == NULL, "step '%s': %s", (*c)->name, why);
			ck_assert_uint_eq(step_kind(*c), kind);
		}
	ck_assert_uint_eq(n, 22);
}
END_TEST

START_TEST(each_catalogue_has_one_source_first_and_a_sink)
{
	for (unsigned kind = STEP_VECTOR; kind <= STEP_RASTER; kind++) {
		const struct step_desc *const *c = step_catalogue(kind);
		size_t sources = 0, sinks = 0;

		ck_assert_str_eq(c[0]->name, "read");
		for (; *c; c++) {
			sources += (*c)->role == STEP_SOURCE;
			sinks += (*c)->role == STEP_SINK;
		}
		ck_assert_uint_eq(sources, 1);
		ck_assert_uint_eq(sinks, 1);
	}
}
END_TEST

START_TEST(check_refuses_what_a_role_lacks)
{
	struct vector_ops vsrc = {
	        .next_stream = stub_stream, .read = stub_batch, .end = stub_stream};
	struct vector_ops vxf = {.process = stub_batch};
	struct raster_ops rxf = {.pull = stub_pull};
	struct raster_ops rsink = {.begin = stub_stream, .put = stub_put, .end = stub_stream};
	struct step_desc d = {.name = "t", .summary = "t", .opts = no_opts};

	d.role = STEP_SOURCE;
	d.vec = &vsrc;
	ck_assert_ptr_null(step_desc_check(&d));
	vsrc.read = NULL;
	ck_assert_ptr_nonnull(step_desc_check(&d));
	d.role = STEP_TRANSFORM;
	d.vec = &vxf;
	ck_assert_ptr_null(step_desc_check(&d));
	vxf.read = stub_batch; /* a transform that reads */
	ck_assert_ptr_nonnull(step_desc_check(&d));
	d.role = STEP_SINK;
	vxf.read = NULL;
	ck_assert_ptr_nonnull(step_desc_check(&d)); /* no begin, no end */
	d.vec = NULL;
	d.ras = &rsink;
	ck_assert_ptr_null(step_desc_check(&d));
	rsink.pull = stub_pull; /* a sink that pulls */
	ck_assert_ptr_nonnull(step_desc_check(&d));
	d.role = STEP_TRANSFORM;
	d.ras = &rxf;
	ck_assert_ptr_null(step_desc_check(&d));
	rxf.pull = NULL;
	ck_assert_ptr_nonnull(step_desc_check(&d));
}
END_TEST

START_TEST(check_refuses_both_kinds_or_none)
{
	struct vector_ops vxf = {.process = stub_batch};
	struct raster_ops rxf = {.pull = stub_pull};
	struct step_desc d = {.name = "t", .summary = "t", .opts = no_opts,
	                      .role = STEP_TRANSFORM};

	ck_assert_ptr_nonnull(step_desc_check(&d));
	d.vec = &vxf;
	d.ras = &rxf;
	ck_assert_ptr_nonnull(step_desc_check(&d));
	d.vec = NULL;
	ck_assert_ptr_null(step_desc_check(&d));
	ck_assert_uint_eq(step_kind(&d), STEP_RASTER);
}
END_TEST

START_TEST(lookup_by_kind)
{
	const struct step_desc *v = step_lookup("read", STEP_VECTOR);
	const struct step_desc *r = step_lookup("read", STEP_RASTER);

	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_ne(v, r);
	/* one step to the user: the same options */
	ck_assert_ptr_eq(v->opts, r->opts);
	ck_assert_ptr_eq(step_lookup_any("read"), v);
	ck_assert_ptr_null(step_lookup("calc", STEP_VECTOR));
	ck_assert_ptr_eq(step_lookup_any("calc"), step_lookup("calc", STEP_RASTER));
	ck_assert_ptr_null(step_lookup("buffer", STEP_RASTER));
	ck_assert_ptr_null(step_lookup_any("rasterize"));
}
END_TEST

static Suite *registry_suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("step_desc_check");

	tcase_add_test(tc, every_descriptor_is_whole);
	tcase_add_test(tc, check_refuses_what_a_role_lacks);
	tcase_add_test(tc, check_refuses_both_kinds_or_none);
	suite_add_tcase(s, tc);
	tc = tcase_create("step_catalogue");
	tcase_add_test(tc, each_catalogue_has_one_source_first_and_a_sink);
	suite_add_tcase(s, tc);
	tc = tcase_create("step_lookup");
	tcase_add_test(tc, lookup_by_kind);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(registry_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
