/* check_drivers.c - unit tests for the audit of vector output drivers
 * (src/vector/drivers.c). */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <gdal.h>

#include "config/opts.h"
#include "vector/drivers.h"

/* The audit's verdicts as bench/drivers.py measured them
 * (bench/drivers.out): kept here a second time so that a typo in the
 * table, which would make a driver unaudited, fails. */
static const char *const streams[] = {
	"CSV", "DGN", "FlatGeobuf", "GML", "GPKG", "GPX", "GeoJSON", "GeoJSONSeq", "GeoRSS",
	"Geoconcept", "Interlis 1", "JML", "KML", "MapInfo File", "OGR_GMT", "PCIDSK", "PDS4", "PGDUMP",
	"PostgreSQL", "SQLite", "VDV", "WAsP", "ESRI Shapefile", NULL,
};
static const char *const grows[] = {
	"DXF", "LIBKML", "MBTiles", "MVT", "MapML", "Memory", "ODS", "OpenFileGDB", "PDF", "XLSX", NULL,
};

static struct strmap map1(const char **k, const char **v)
{
	return (struct strmap){.n = 1, .key = k, .val = v};
}

START_TEST(verdict_of_every_audited_driver)
{
	const char *why = "unset";

	for (size_t i = 0; streams[i]; i++) {
		ck_assert_msg(drivers_verdict(streams[i], NULL, NULL, &why) == DRIVERS_STREAMS,
		              "%s", streams[i]);
		ck_assert_ptr_null(why);
	}
	for (size_t i = 0; grows[i]; i++) {
		why = NULL;
		ck_assert_msg(drivers_verdict(grows[i], NULL, NULL, &why) == DRIVERS_GROWS, "%s",
		              grows[i]);
		/* The reason names the driver, for the refusal's message. */
		ck_assert_ptr_nonnull(why);
		ck_assert_msg(strstr(why, grows[i]) != NULL, "%s: %s", grows[i], why);
	}
}
END_TEST

/* Every name in the table is a driver of this GDAL that writes vector
 * data: a misspelt one would never match. */
START_TEST(audited_names_are_gdal_writers)
{
	const char *const *lists[] = {streams, grows};

	for (size_t l = 0; l < 2; l++)
		for (size_t i = 0; lists[l][i]; i++) {
			GDALDriverH d = GDALGetDriverByName(lists[l][i]);

			ck_assert_msg(d != NULL, "%s", lists[l][i]);
			ck_assert_str_eq(GDALGetDriverShortName(d), lists[l][i]);
			ck_assert_ptr_nonnull(GDALGetMetadataItem(d, GDAL_DCAP_VECTOR, NULL));
			ck_assert_ptr_nonnull(GDALGetMetadataItem(d, GDAL_DCAP_CREATE, NULL));
		}
}
END_TEST

START_TEST(unaudited_driver)
{
	const char *why = NULL;

	ck_assert_int_eq(drivers_verdict("Interlis 2", NULL, NULL, &why), DRIVERS_UNAUDITED);
	ck_assert_str_eq(why, "not in gispipe's audit of output drivers");
	ck_assert_ptr_nonnull(why);
	ck_assert_int_eq(drivers_verdict("NoSuchDriver", NULL, NULL, NULL), DRIVERS_UNAUDITED);
	ck_assert_str_eq(drivers_summary("NoSuchDriver"), "unaudited");
}
END_TEST

/* GDAL matches short names whatever their case; so does the table. */
START_TEST(name_case)
{
	ck_assert_int_eq(drivers_verdict("xlsx", NULL, NULL, NULL), DRIVERS_GROWS);
	ck_assert_int_eq(drivers_verdict("gpkg", NULL, NULL, NULL), DRIVERS_STREAMS);
}
END_TEST

/* Shapefile's SPATIAL_INDEX, a layer creation option, read as GDAL reads
 * a boolean: anything but NO, FALSE, OFF and 0 is true. */
START_TEST(option_makes_it_grow)
{
	const char *k[] = {"SPATIAL_INDEX"}, *lower[] = {"spatial_index"}, *other[] = {"ENCODING"};
	const char *yes[] = {"YES"}, *on[] = {"on"}, *no[] = {"NO"}, *zero[] = {"0"},
		   *off[] = {"OFF"};
	struct strmap m;
	const char *why = NULL;

	ck_assert_int_eq(drivers_verdict("ESRI Shapefile", NULL, NULL, &why), DRIVERS_STREAMS);
	m = map1(k, yes);
	ck_assert_int_eq(drivers_verdict("ESRI Shapefile", &m, NULL, &why), DRIVERS_GROWS);
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "SPATIAL_INDEX=YES"));
	m = map1(lower, on);
	ck_assert_int_eq(drivers_verdict("ESRI Shapefile", &m, NULL, NULL), DRIVERS_GROWS);
	m = map1(k, no);
	ck_assert_int_eq(drivers_verdict("ESRI Shapefile", &m, NULL, NULL), DRIVERS_STREAMS);
	m = map1(k, zero);
	ck_assert_int_eq(drivers_verdict("ESRI Shapefile", &m, NULL, NULL), DRIVERS_STREAMS);
	m = map1(k, off);
	ck_assert_int_eq(drivers_verdict("ESRI Shapefile", &m, NULL, NULL), DRIVERS_STREAMS);
	m = map1(other, yes);
	ck_assert_int_eq(drivers_verdict("ESRI Shapefile", &m, NULL, NULL), DRIVERS_STREAMS);
	/* A layer option, not a dataset one. */
	m = map1(k, yes);
	ck_assert_int_eq(drivers_verdict("ESRI Shapefile", NULL, &m, NULL), DRIVERS_STREAMS);
	/* The same option does not concern another driver. */
	ck_assert_int_eq(drivers_verdict("CSV", &m, NULL, NULL), DRIVERS_STREAMS);
	ck_assert_str_eq(drivers_summary("ESRI Shapefile"), "streams*");
}
END_TEST

START_TEST(summary_words)
{
	ck_assert_str_eq(drivers_summary("CSV"), "streams");
	ck_assert_str_eq(drivers_summary("XLSX"), "grows");
}
END_TEST

static Suite *drivers_suite(void)
{
	Suite *s = suite_create("drivers");
	TCase *tc = tcase_create("drivers_verdict");

	tcase_add_test(tc, verdict_of_every_audited_driver);
	tcase_add_test(tc, audited_names_are_gdal_writers);
	tcase_add_test(tc, unaudited_driver);
	tcase_add_test(tc, name_case);
	tcase_add_test(tc, option_makes_it_grow);
	suite_add_tcase(s, tc);
	tc = tcase_create("drivers_summary");
	tcase_add_test(tc, summary_words);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(drivers_suite());
	int failed;

	GDALAllRegister();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	GDALDestroyDriverManager();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
