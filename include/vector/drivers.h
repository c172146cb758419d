/*
 * drivers.h - which vector output drivers keep memory that grows with the
 * output (issue 13's audit, bench/drivers.py).
 *
 * One static table, driver short name -> verdict, read by the write step
 * (a memory limit refuses a driver that grows, and one the audit did not
 * cover, before anything is read) and by `gispipe formats`.  Everything
 * returned points into that table or is a string literal: nothing is
 * allocated, nothing is to be freed.
 */
#ifndef GISPIPE_DRIVERS_H
#define GISPIPE_DRIVERS_H

#include "config/opts.h"

enum drivers_verdict {
	DRIVERS_STREAMS,   /* memory stays flat whatever the output's size */
	DRIVERS_GROWS,     /* memory grows with the output */
	DRIVERS_UNAUDITED, /* not in the table: not known either way */
};

/* The verdict on writing with the GDAL driver `name` and these layer
 * (`lco`) and dataset (`dsco`) creation options, either of which may be
 * NULL.  When `why` is not NULL it is set to the reason (a phrase that
 * names the driver and, where an option makes it grow, the option), or
 * NULL for a driver that streams. */
enum drivers_verdict drivers_verdict(const char *name, const struct strmap *lco,
                                     const struct strmap *dsco, const char **why);

/* One word for `gispipe formats`: "streams", "grows", "unaudited", or
 * "streams*" for a driver that streams unless an option makes it grow. */
const char *drivers_summary(const char *name);

#endif
