/*
 * error.h - one error slot per thread, and the exit codes.
 *
 * A function that fails records why with gp_fail() and returns -1 (or NULL);
 * callers either add context with gp_fail_prefix() or pass the failure up.
 * The command line prints gp_err_msg() and exits with gp_err_code().
 */
#ifndef GISPIPE_ERROR_H
#define GISPIPE_ERROR_H

#include <stdarg.h>

/* sysexits(3) codes, as MISSION.md fixes them; never 77 or 99. */
enum gp_exit {
	GP_EX_OK = 0,
	GP_EX_USAGE = 64,
	GP_EX_DATAERR = 65,
	GP_EX_NOINPUT = 66,
	GP_EX_SOFTWARE = 70,
	GP_EX_CANTCREAT = 73,
	GP_EX_IOERR = 74,
	GP_EX_TEMPFAIL = 75, /* the memory limit cannot be held */
	GP_EX_CONFIG = 78,
};

/* Record an error with its exit code; returns -1 so callers can
 * `return gp_fail(...)`.  A second failure replaces the first. */
int gp_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int gp_vfail(int code, const char *fmt, va_list ap);

/* Put "prefix: " before the current message, keeping its code. */
int gp_fail_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Mask the passwords of PostgreSQL connection strings in `s`, in place
 * (password=..., quoted or not, and postgresql://user:...@): every message
 * and path gispipe prints goes through it.  `s` never grows; returns it. */
char *gp_redact(char *s);

/* The current error; code 0 and "" when none.  The string belongs to the
 * thread's slot and is valid until the next gp_fail*() or gp_err_clear(). */
int gp_err_code(void);
const char *gp_err_msg(void);
void gp_err_clear(void);

#endif
