/*
 * cli.h - subcommands of the gispipe binary.
 *
 * Adding a subcommand: write src/cli/<name>.c with `int cmd_<name>(int argc,
 * char **argv)` (argv[0] is the subcommand's name), declare it here and add
 * a line to the table in main.c.  The dispatcher has initialised GDAL, the
 * error handler and the signals by then, and checks that stdout was written
 * before it exits 0.  A command returns an exit code (error.h); on failure
 * the message is in the error slot and the dispatcher prints it.  A command
 * that works on a pipeline hands its body to cli_with_pipeline(), which
 * parses the shared options and loads the pipeline.
 */
#ifndef GISPIPE_CLI_H
#define GISPIPE_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/account.h"

struct arena;
struct pipeline;

int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_stages(int argc, char **argv);
int cmd_formats(int argc, char **argv);

/* Set by SIGINT/SIGTERM/SIGHUP: the signal number. */
extern volatile sig_atomic_t cli_stop;

/* Options shared by run, validate and explain. */
struct cli_opts {
	const char *pipeline;
	const char **sets;        /* NULL-terminated */
	uint64_t memory_limit;
	int64_t threads;
	const char *report;
	bool quiet;
	bool progress;
	bool incremental;         /* --incremental (core/incremental.h) */
	int lock_wait;            /* --lock-wait SECONDS, 0..86400 */
	int shard_index;          /* --shard I/N (run, explain); count 0: none */
	int shard_count;
};

/* One command of run, validate and explain, from its options to its
 * pipeline.  Everything it makes lives in `a`, counted in `acct`: the
 * options' lists, the pipeline and whatever the engine makes of it; all of
 * it goes when cli_with_pipeline returns. */
struct cli_cmd {
	struct mem_account acct;
	struct arena *a;
	struct cli_opts o;
	struct pipeline *pl;      /* NULL when it did not load */
};

/* What a command does once its pipeline is loaded, or failed to load:
 * `code` is 0 and c->pl set, or the load's exit code with the message in
 * the error slot.  Returns the command's exit code. */
typedef int (*cli_body)(struct cli_cmd *c, int code);

/* Run command argv[0] (argc, argv as the command got them) on the
 * pipeline its options name: make its account and arena, parse the options
 * (`allow_run` admits --report, --progress and --lock-wait), load the
 * pipeline, call `body`, and free it all.  Bad options (64) return before
 * `body` is called.  A pipeline that does not load is written to --report,
 * since cron jobs watch the report for a failed run. */
int cli_with_pipeline(int argc, char **argv, bool allow_run, cli_body body);

extern bool cli_quiet;

#endif
