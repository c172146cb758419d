/* common.c - option parsing shared by run, validate and explain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>

#include "cli.h"
#include "core/arena.h"
#include "core/error.h"
#include "config/pipeline.h"
#include "config/yaml_load.h"

static const char *value(int argc, char **argv, int *i, const char *name)
{
	const char *eq;

	if (strncmp(argv[*i], name, strlen(name)) == 0 && (eq = strchr(argv[*i], '=')) &&
	    (size_t)(eq - argv[*i]) == strlen(name))
		return eq + 1;
	if (*i + 1 >= argc) {
		gp_fail(GP_EX_USAGE, "%s needs a value", name);
		return NULL;
	}
	return argv[++*i];
}

static bool is(const char *arg, const char *name)
{
	size_t n = strlen(name);

	return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

int cli_parse(int argc, char **argv, struct cli_opts *o, struct arena *a, bool allow_run)
{
	size_t nsets = 0;

	o->sets = arena_calloc(a, (size_t)argc + 1, sizeof *o->sets);
	if (o->sets == NULL)
		return -1;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *v;

		if (is(arg, "--set")) {
			if ((v = value(argc, argv, &i, "--set")) == NULL)
				return -1;
			if (strchr(v, '=') == NULL || *v == '=')
				return gp_fail(GP_EX_USAGE, "--set wants key=value, not '%s'", v);
			o->sets[nsets++] = v;
		} else if (is(arg, "--memory-limit")) {
			if ((v = value(argc, argv, &i, "--memory-limit")) == NULL)
				return -1;
			if (parse_size(v, &o->memory_limit) != 0 ||
			    o->memory_limit < PIPELINE_MEMORY_LIMIT_MIN ||
			    o->memory_limit > PIPELINE_MEMORY_LIMIT_MAX)
				return gp_fail(
				        GP_EX_USAGE,
				        "--memory-limit: '%s' is not a size from 1MiB to 1024TiB "
				        "(a whole number of bytes, e.g. 64MiB)",
				        v);
		} else if (is(arg, "--threads")) {
			char *end;

			if ((v = value(argc, argv, &i, "--threads")) == NULL)
				return -1;
			o->threads = strtoll(v, &end, 10);
			if (strcmp(v, "auto") == 0)
				o->threads = 0;
			else if (*end || end == v || o->threads <= 0 ||
			         o->threads > PIPELINE_THREADS_MAX)
				return gp_fail(
				        GP_EX_USAGE,
				        "--threads: '%s' is not 'auto' or an integer from 1 to %d",
				        v, PIPELINE_THREADS_MAX);
		} else if (strcmp(arg, "--config") == 0) {
			if (i + 2 >= argc)
				return gp_fail(GP_EX_USAGE, "--config needs KEY VALUE");
			CPLSetConfigOption(argv[i + 1], argv[i + 2]);
			i += 2;
		} else if (allow_run && is(arg, "--report")) {
			if ((v = value(argc, argv, &i, "--report")) == NULL)
				return -1;
			o->report = v;
		} else if (allow_run && is(arg, "--lock-wait")) {
			char *end;
			long long n;

			if ((v = value(argc, argv, &i, "--lock-wait")) == NULL)
				return -1;
			n = strtoll(v, &end, 10);
			if (*v == '\0' || *end || n < 0 || n > 86400)
				return gp_fail(GP_EX_USAGE,
				               "--lock-wait: '%s' is not a number of seconds from "
				               "0 to 86400",
				               v);
			o->lock_wait = (int)n;
		} else if (allow_run && strcmp(arg, "--progress") == 0) {
			o->progress = true;
		} else if (strcmp(arg, "-q") == 0 || strcmp(arg, "--quiet") == 0) {
			o->quiet = true;
		} else if (arg[0] == '-' && arg[1] != '\0') {
			return gp_fail(GP_EX_USAGE, "%s: unknown option '%s' (see gispipe --help)",
			               argv[0], arg);
		} else if (o->pipeline == NULL) {
			o->pipeline = arg;
		} else {
			return gp_fail(GP_EX_USAGE, "%s: one pipeline at a time ('%s' and '%s')", argv[0],
			               o->pipeline, arg);
		}
	}
	if (o->pipeline == NULL)
		return gp_fail(GP_EX_USAGE, "%s: which pipeline? (gispipe %s PIPELINE.yaml)", argv[0],
		               argv[0]);
	return 0;
}

struct pipeline *cli_load(const struct cli_opts *o, struct arena *a, struct mem_account *acct)
{
	struct pipeline_load_opts lo = {.sets = o->sets};

	return pipeline_load(a, acct, o->pipeline, &lo);
}
