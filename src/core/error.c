/* error.c - the per-thread error slot. */
#include "core/error.h"

#include <stdio.h>
#include <string.h>

#define ERR_MAX 4096

static _Thread_local struct {
	int code;
	char msg[ERR_MAX];
} err;

int gp_vfail(int code, const char *fmt, va_list ap)
{
	char tmp[ERR_MAX];

	/* Format into a copy first: fmt's arguments may point into err.msg. */
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	memcpy(err.msg, tmp, sizeof tmp);
	err.code = code;
	return -1;
}

int gp_fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	gp_vfail(code, fmt, ap);
	va_end(ap);
	return -1;
}

int gp_fail_prefix(const char *fmt, ...)
{
	char prefix[ERR_MAX];
	char tmp[2 * ERR_MAX + 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	snprintf(tmp, sizeof tmp, "%s: %s", prefix, err.msg);
	memcpy(err.msg, tmp, ERR_MAX - 1);
	err.msg[ERR_MAX - 1] = '\0';
	if (err.code == 0)
		err.code = GP_EX_SOFTWARE;
	return -1;
}

int gp_err_code(void)
{
	return err.code;
}

const char *gp_err_msg(void)
{
	return err.msg;
}

void gp_err_clear(void)
{
	err.code = 0;
	err.msg[0] = '\0';
}
