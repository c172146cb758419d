/* check_error.c - unit tests for the error slot (src/core/error.c): the
 * password masking every message and shown path goes through. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static void redacts(const char *in, const char *want)
{
	char buf[512];

	snprintf(buf, sizeof buf, "%s", in);
	ck_assert_str_eq(gp_redact(buf), want);
}

/* ---- gp_redact -------------------------------------------------------- */

START_TEST(redact_key_value_forms)
{
	redacts("PG:host=/tmp/x dbname=gis password=s3cr3t user=u",
	        "PG:host=/tmp/x dbname=gis password=*** user=u");
	redacts("PG:password = 's3 cr\\'et' dbname=gis", "PG:password = *** dbname=gis");
	redacts("PG:PASSWORD=\"abcdefgh\"", "PG:PASSWORD=***");
	redacts("password=secret", "password=***");
	/* Short ones are masked in place: the string never grows. */
	redacts("PG:password=ab dbname=g", "PG:password=** dbname=g");
	/* libpq skips spaces after '=': the value here is "dbname=g". */
	redacts("PG:password= dbname=g", "PG:password= ***");
}
END_TEST

START_TEST(redact_leaves_other_text)
{
	redacts("FATAL:  password authentication failed for user \"secret\"",
	        "FATAL:  password authentication failed for user \"secret\"");
	redacts("old_password=1 mypassword=2", "old_password=1 mypassword=2");
	redacts("cannot open 'in/roads.shp': No such file or directory",
	        "cannot open 'in/roads.shp': No such file or directory");
	redacts("http://host:8080/x", "http://host:8080/x");
	redacts("", "");
}
END_TEST

START_TEST(redact_uri_form)
{
	redacts("PG:postgresql://u:s3cr3t@db/gis", "PG:postgresql://u:***@db/gis");
	redacts("postgresql://u@db/gis", "postgresql://u@db/gis");
	redacts("postgresql://u:p@db", "postgresql://u:*@db");
}
END_TEST

/* ---- gp_fail, gp_fail_prefix ------------------------------------------ */

START_TEST(fail_masks_its_message_and_prefix)
{
	gp_err_clear();
	gp_fail(73, "cannot create '%s': %s", "PG:dbname=x password=hunter22", "no");
	ck_assert_int_eq(gp_err_code(), 73);
	ck_assert_str_eq(gp_err_msg(), "cannot create 'PG:dbname=x password=***': no");
	gp_fail_prefix("in '%s'", "PG:password='a b c d'");
	ck_assert_str_eq(gp_err_msg(),
	                 "in 'PG:password=***': cannot create 'PG:dbname=x password=***': no");
	ck_assert_ptr_null(strstr(gp_err_msg(), "hunter22"));
	gp_err_clear();
}
END_TEST

static Suite *error_suite(void)
{
	Suite *s = suite_create("error");
	TCase *tc = tcase_create("gp_redact");

	tcase_add_test(tc, redact_key_value_forms);
	tcase_add_test(tc, redact_leaves_other_text);
	tcase_add_test(tc, redact_uri_form);
	suite_add_tcase(s, tc);
	tc = tcase_create("gp_fail");
	tcase_add_test(tc, fail_masks_its_message_and_prefix);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(error_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
