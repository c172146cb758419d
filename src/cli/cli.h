/*
 * cli.h - subcommands of the gispipe binary.
 *
 * Adding a subcommand: write src/cli/<name>.c with `int cmd_<name>(int argc,
 * char **argv)` (argv[0] is the subcommand's name), declare it here and add
 * a line to the table in main.c.  The dispatcher has initialised GDAL, the
 * error handler and the signals by then, and checks that stdout was written
 * before it exits 0.  A command returns an exit code (error.h); on failure
 * the message is in the error slot and the dispatcher prints it.
 */
#ifndef GISPIPE_CLI_H
#define GISPIPE_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct arena;
struct mem_account;
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
	int lock_wait;            /* --lock-wait SECONDS, 0..86400 */
};

/* Parse argv (after the subcommand name) into `o`; `allow_run` admits
 * --report, --progress, --lock-wait.  64 with a message on bad usage. */
int cli_parse(int argc, char **argv, struct cli_opts *o, struct arena *a, bool allow_run);

/* Load the pipeline named in `o` into `a`. */
struct pipeline *cli_load(const struct cli_opts *o, struct arena *a, struct mem_account *acct);

extern bool cli_quiet;

#endif
