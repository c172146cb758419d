/* error.c - the per-thread error slot. */
#include "core/error.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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
	gp_redact(tmp);
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
	gp_redact(prefix);
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

/* Shift s[from..] to s[to..] (to < from), in place. */
static void squeeze(char *s, size_t to, size_t from)
{
	memmove(s + to, s + from, strlen(s + from) + 1);
}

char *gp_redact(char *s)
{
	static const char mask[] = "***";

	/* libpq's key=value form: password=x, password = 'x y', quoted with
	 * backslash escapes; the value ends at a space or the closing quote. */
	for (char *p = s; (p = strcasestr(p, "password")) != NULL;) {
		char *v = p + 8;
		size_t end;

		while (*v == ' ')
			v++;
		if (*v != '=' || (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
			p += 8;
			continue;
		}
		v++;
		while (*v == ' ')
			v++;
		end = 0;
		if (*v == '\'' || *v == '"') {
			char q = *v;

			end = 1;
			while (v[end] && v[end] != q)
				end += v[end] == '\\' && v[end + 1] ? 2 : 1;
			if (v[end] == q)
				end++;
		} else {
			while (v[end] && !isspace((unsigned char)v[end]) && v[end] != '\'' &&
			       v[end] != '"')
				end++;
		}
		if (end >= sizeof mask - 1) {
			memcpy(v, mask, sizeof mask - 1);
			squeeze(s, (size_t)(v - s) + sizeof mask - 1, (size_t)(v - s) + end);
		} else {
			/* Shorter than the mask: mask it character by character, so
			 * the string never grows. */
			memset(v, '*', end);
		}
		p = v;
	}
	/* The URI form: postgresql://user:password@host/... */
	for (char *p = s; (p = strstr(p, "://")) != NULL;) {
		char *u = p + 3, *at = u + strcspn(u, "@/? \t'\""), *colon;

		p = u;
		if (*at != '@')
			continue;
		colon = memchr(u, ':', (size_t)(at - u));
		if (colon == NULL)
			continue;
		if ((size_t)(at - colon - 1) >= sizeof mask - 1) {
			memcpy(colon + 1, mask, sizeof mask - 1);
			squeeze(s, (size_t)(colon + 1 - s) + sizeof mask - 1, (size_t)(at - s));
		} else {
			memset(colon + 1, '*', (size_t)(at - colon - 1));
		}
	}
	return s;
}
