/* check_epoch.c - SOURCE_DATE_EPOCH: parsing, and what GDAL is told. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_multiproc.h>
#include <cpl_string.h>

#include "core/epoch.h"
#include "core/error.h"

#define SHP_LCO "<LayerCreationOptionList><Option name='DBF_DATE_LAST_UPDATE' type='string'/>" \
                "</LayerCreationOptionList>"

START_TEST(parse_takes_digits_from_0_to_the_max)
{
	int64_t t = -1;

	ck_assert_int_eq(epoch_parse("0", &t), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(epoch_parse("1000000000", &t), 0);
	ck_assert_int_eq(t, 1000000000);
	ck_assert_int_eq(epoch_parse("253402300799", &t), 0);
	ck_assert_int_eq(t, EPOCH_MAX);
}
END_TEST

START_TEST(parse_refuses_everything_else_with_64)
{
	static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "1.5", "0x10", "1e9",
	                                  "253402300800", "99999999999999999999999", "abc"};
	int64_t t = 7;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		gp_err_clear();
		ck_assert_int_eq(epoch_parse(bad[i], &t), -1);
		ck_assert_int_eq(gp_err_code(), GP_EX_USAGE);
		ck_assert_ptr_nonnull(strstr(gp_err_msg(), "SOURCE_DATE_EPOCH"));
		ck_assert_int_eq(t, 7);
	}
}
END_TEST

START_TEST(init_unset_changes_nothing)
{
	char **o;

	unsetenv("SOURCE_DATE_EPOCH");
	ck_assert_int_eq(epoch_init(), 0);
	ck_assert(!epoch_get(NULL));
	o = epoch_options(NULL, SHP_LCO);
	ck_assert_ptr_null(o);
}
END_TEST

START_TEST(init_sets_gdal_options)
{
	char **o;
	int64_t t;

	setenv("SOURCE_DATE_EPOCH", "1000000000", 1);
	ck_assert_int_eq(epoch_init(), 0);
	ck_assert(epoch_get(&t));
	ck_assert_int_eq(t, 1000000000);
	ck_assert_str_eq(CPLGetConfigOption("OGR_CURRENT_DATE", ""), "2001-09-09T01:46:40.000Z");
	/* A driver with the option gets it, one without does not, and the
	 * user's own value stays. */
	o = epoch_options(NULL, SHP_LCO);
	ck_assert_str_eq(CSLFetchNameValueDef(o, "DBF_DATE_LAST_UPDATE", ""), "2001-09-09");
	CSLDestroy(o);
	ck_assert_ptr_null(epoch_options(NULL, "<LayerCreationOptionList/>"));
	ck_assert_ptr_null(epoch_options(NULL, NULL));
	o = CSLSetNameValue(NULL, "DBF_DATE_LAST_UPDATE", "2020-01-02");
	o = epoch_options(o, SHP_LCO);
	ck_assert_str_eq(CSLFetchNameValueDef(o, "DBF_DATE_LAST_UPDATE", ""), "2020-01-02");
	CSLDestroy(o);
	CPLSetConfigOption("OGR_CURRENT_DATE", NULL);
}
END_TEST

START_TEST(init_refuses_a_bad_value)
{
	setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
	ck_assert_int_eq(epoch_init(), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_USAGE);
}
END_TEST

static Suite *epoch_suite(void)
{
	Suite *s = suite_create("epoch");
	TCase *tc = tcase_create("epoch_parse");

	tcase_add_test(tc, parse_takes_digits_from_0_to_the_max);
	tcase_add_test(tc, parse_refuses_everything_else_with_64);
	suite_add_tcase(s, tc);
	/* In this order: the state is process-wide and set once. */
	tc = tcase_create("epoch_init");
	tcase_add_test(tc, init_unset_changes_nothing);
	tcase_add_test(tc, init_refuses_a_bad_value);
	tcase_add_test(tc, init_sets_gdal_options);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(epoch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	CPLCleanupTLS();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
