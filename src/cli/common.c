/*
 * common.c - what run, validate and explain share: their options, and the
 * account, arena and pipeline of one command (struct cli_cmd, cli.h).
 *
 * The arena is the command's only one: the options' lists, the pipeline and
 * the engine's run all live in it, and go when cli_with_pipeline returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>

#include "cli.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/report.h"
#include "core/shard.h"
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

/* Parse argv (after the subcommand name) into `o`, its lists in `a`.  64
 * with a message on bad usage. */
static int parse(int argc, char **argv, struct cli_opts *o, struct arena *a, bool allow_run)
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
		} else if (is(arg, "--shard")) {
			if ((v = value(argc, argv, &i, "--shard")) == NULL ||
			    shard_parse(v, &o->shard_index, &o->shard_count) != 0)
				return -1;
		} else if (allow_run && strcmp(arg, "--progress") == 0) {
			o->progress = true;
		} else if (allow_run && strcmp(arg, "--incremental") == 0) {
			o->incremental = true;
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
	/* One record per output directory would be written by every shard at
	 * once, each knowing only its own inputs. */
	if (o->incremental && o->shard_count > 0)
		return gp_fail(GP_EX_USAGE, "%s: --incremental and --shard cannot be combined yet: "
		                            "rerun the shards without --incremental",
		               argv[0]);
	return 0;
}

/* The pipeline of `c`, loaded into c->a: 0, or the exit code. */
static int load(struct cli_cmd *c)
{
	struct pipeline_load_opts lo = {.sets = c->o.sets};
	char msg[4096], shard[32];
	int code;

	c->pl = pipeline_load(c->a, &c->acct, c->o.pipeline, &lo);
	if (c->pl != NULL)
		return 0;
	code = gp_err_code();
	/* Only run takes --report.  Cron jobs watch the report: it must say
	 * this run failed. */
	if (c->o.report) {
		snprintf(msg, sizeof msg, "%s", gp_err_msg());
		if (report_write_early(c->o.report, c->o.pipeline,
		                       c->o.shard_count ? shard_label(shard, sizeof shard,
		                                                      c->o.shard_index,
		                                                      c->o.shard_count)
		                                        : NULL,
		                       code, msg) != 0)
			fprintf(stderr, "gispipe: %s\n", gp_err_msg());
		gp_fail(code, "%s", msg);
	}
	return code;
}

int cli_with_pipeline(int argc, char **argv, bool allow_run, cli_body body)
{
	struct cli_cmd c = {0};
	int code;

	mem_account_init(&c.acct, argv[0], NULL, 0);
	c.a = arena_create(&c.acct, 0);
	if (c.a == NULL)
		return gp_err_code();
	if (parse(argc, argv, &c.o, c.a, allow_run) != 0)
		code = gp_err_code();
	else
		code = body(&c, load(&c));
	arena_destroy(c.a);
	return code;
}
