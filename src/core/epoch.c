/* epoch.c - SOURCE_DATE_EPOCH, for reproducible outputs (epoch.h). */
#include "core/epoch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cpl_conv.h>
#include <cpl_string.h>

#include "core/error.h"

static bool set;
static int64_t epoch;

int epoch_parse(const char *s, int64_t *t)
{
	char *end;
	long long v;

	/* Digits only: strtoll would take a sign, spaces and "0x". */
	if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
		goto bad;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v > EPOCH_MAX)
		goto bad;
	*t = v;
	return 0;
bad:
	return gp_fail(GP_EX_USAGE,
	               "SOURCE_DATE_EPOCH: '%.64s' is not a whole number of seconds since "
	               "1970-01-01T00:00:00Z from 0 to %lld",
	               s, (long long)EPOCH_MAX);
}

/* `fmt` (strftime) of the epoch, in UTC. */
static void format(char *buf, size_t size, const char *fmt)
{
	time_t tt = (time_t)epoch;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, size, fmt, &tm);
}

int epoch_init(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char iso[64];

	if (s == NULL)
		return 0;
	if (epoch_parse(s, &epoch) != 0)
		return -1;
	set = true;
	/* GeoPackage's form: what strftime('%Y-%m-%dT%H:%M:%fZ') gives. */
	format(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S.000Z");
	CPLSetConfigOption("OGR_CURRENT_DATE", iso);
	return 0;
}

bool epoch_get(int64_t *t)
{
	if (set && t)
		*t = epoch;
	return set;
}

char **epoch_options(char **opts, const char *optlist)
{
	char day[16];

	if (!set || optlist == NULL || strstr(optlist, "'DBF_DATE_LAST_UPDATE'") == NULL ||
	    CSLFetchNameValue(opts, "DBF_DATE_LAST_UPDATE") != NULL)
		return opts;
	format(day, sizeof day, "%Y-%m-%d");
	return CSLSetNameValue(opts, "DBF_DATE_LAST_UPDATE", day);
}
