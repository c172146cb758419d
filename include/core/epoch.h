/*
 * epoch.h - SOURCE_DATE_EPOCH: the one time written into outputs.
 *
 * Reproducible outputs (reproducible-builds.org's convention): when the
 * environment sets SOURCE_DATE_EPOCH, every timestamp that gispipe or GDAL
 * writes into an output is that time instead of the clock's, so the same
 * inputs and pipeline give the same bytes.  GDAL is told through its own
 * knobs: the config option OGR_CURRENT_DATE (GeoPackage's last_change and
 * metadata timestamps) and, per driver, the creation or open option
 * DBF_DATE_LAST_UPDATE (the shapefile's .dbf header).  Unset, nothing
 * changes.
 *
 * The state is process-wide and set once, by epoch_init() before any
 * thread starts; after that it is only read.
 */
#ifndef GISPIPE_EPOCH_H
#define GISPIPE_EPOCH_H

#include <stdbool.h>
#include <stdint.h>

/* The largest value taken: 9999-12-31T23:59:59Z. */
#define EPOCH_MAX INT64_C(253402300799)

/* Read SOURCE_DATE_EPOCH from the environment and, when it is set, tell
 * GDAL.  0; or -1 with the error set (64) when it is not a whole number of
 * seconds from 0 to EPOCH_MAX. */
int epoch_init(void);

/* Parse `s` as SOURCE_DATE_EPOCH's value into *t: 0, or -1 with the error
 * set (64). */
int epoch_parse(const char *s, int64_t *t);

/* Whether SOURCE_DATE_EPOCH is in force; its value in *t if so. */
bool epoch_get(int64_t *t);

/* `opts` (a GDAL string list, owned by the caller before and after) with
 * the date options of a driver whose option list is `optlist` (its
 * creation or open option XML) set to SOURCE_DATE_EPOCH, where the driver
 * has them and `opts` does not set them already.  Returns the list, which
 * may have moved (CSLSetNameValue); unchanged when the epoch is not in
 * force. */
char **epoch_options(char **opts, const char *optlist);

#endif
