/* main.c - the gispipe command: shared set-up and dispatch. */
#include <errno.h>
#include <inttypes.h>
#include <geos_c.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_multiproc.h>
#include <gdal.h>
#include <ogr_srs_api.h>
#include <proj.h>
#include <yaml.h>

#include "cli.h"
#include "core/account.h"
#include "core/error.h"
#include "core/iocheck.h"

#ifndef GISPIPE_VERSION
#define GISPIPE_VERSION "0.1.0"
#endif

enum { NEEDS_GDAL = 1 };

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	unsigned flags;
	const char *help;
} commands[] = {
	{"run", cmd_run, NEEDS_GDAL, "run a pipeline"},
	{"validate", cmd_validate, NEEDS_GDAL, "check a pipeline fully; opens nothing for writing"},
	{"explain", cmd_explain, NEEDS_GDAL, "the resolved pipeline, its inputs and memory plan"},
	{"stages", cmd_stages, NEEDS_GDAL, "the step catalogue, or one step's options"},
	{"formats", cmd_formats, NEEDS_GDAL, "GDAL vector drivers that can read or write"},
};

volatile sig_atomic_t cli_stop;
bool cli_quiet;

static void on_signal(int sig)
{
	if (cli_stop) {
		/* Asked twice: stop now, the way the user expects. */
		signal(sig, SIG_DFL);
		raise(sig);
	}
	/* atomic: the workers read it (watch_stopping, engine_stopping) */
	__atomic_store_n(&cli_stop, sig, __ATOMIC_RELAXED);
}

static void gdal_errors(CPLErr cls, CPLErrorNum num, const char *msg)
{
	char buf[2048];

	(void)num;
	/* Output paths reach GDAL through the write checker (iocheck.h), and
	 * connection strings may hold a password. */
	iocheck_strip(msg, buf, sizeof buf);
	msg = gp_redact(buf);
	/* Errors come back to us through CPLGetLastErrorMsg() and are reported
	 * with context; warnings are shown as they happen. */
	if (cls == CE_Warning && !cli_quiet)
		fprintf(stderr, "gispipe: warning: %s\n", msg);
	else if (cls == CE_Debug)
		fprintf(stderr, "gispipe: debug: %s\n", msg);
}

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: gispipe run PIPELINE.yaml [--set key=value]... [--memory-limit SIZE]\n"
	        "                   [--threads N] [--report FILE.json|FILE.prom] [--progress|-q]\n"
	        "                   [--lock-wait SECONDS] [--incremental] [--config KEY VALUE]\n"
	        "                   [--shard I/N|slurm|k8s]\n"
	        "       gispipe validate PIPELINE.yaml [--set key=value]... [--shard I/N|slurm|k8s]\n"
	        "       gispipe explain PIPELINE.yaml [--set key=value]... [--memory-limit SIZE]\n"
	        "                       [--shard I/N|slurm|k8s]\n"
	        "       gispipe stages [STEP]\n"
	        "       gispipe formats\n"
	        "       gispipe --version | --help\n\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(out,
	        "\nexit status: 0 ok, 64 usage, 65 data error, 66 input missing, 70 internal\n"
	        "error, 73 cannot create output, 74 I/O error, 75 memory limit cannot be held\n"
	        "or output locked by another run, 78 pipeline invalid, 128+N stopped by\n"
	        "signal N.  See gispipe(1).\n"
	        "\nrun shows a progress line when stderr is a terminal (--progress: always;\n"
	        "-q: never, and nothing at all on success).  SOURCE_DATE_EPOCH, when set,\n"
	        "is the time written into outputs, for reproducible files.\n");
}

static void version(void)
{
	printf("gispipe %s (GDAL %s, PROJ %d.%d.%d, GEOS %s, libyaml %s)\n", GISPIPE_VERSION,
	       GDALVersionInfo("RELEASE_NAME"), PROJ_VERSION_MAJOR, PROJ_VERSION_MINOR,
	       PROJ_VERSION_PATCH, GEOSversion(), yaml_get_version_string());
}

static int finish(int code)
{
	/* Exit 0 only if what we printed reached its destination. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (code == 0) {
			fprintf(stderr, "gispipe: cannot write to standard output: %s\n", strerror(errno));
			code = GP_EX_IOERR;
		}
	}
	return code;
}

int main(int argc, char **argv)
{
	const struct command *cmd = NULL;
	struct sigaction sa;
	int code;

	/* Tests only (account.h): fail the N-th allocation of this process. */
	if (mem_fail_spec(getenv("GISPIPE_FAIL_ALLOC")) != 0) {
		fprintf(stderr, "gispipe: %s\n", gp_err_msg());
		return GP_EX_USAGE;
	}
	if (argc < 2) {
		usage(stderr);
		return GP_EX_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return finish(0);
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		version();
		return finish(0);
	}
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL) {
		fprintf(stderr, "gispipe: unknown command '%s'\n\n", argv[1]);
		usage(stderr);
		return GP_EX_USAGE;
	}
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
			cli_quiet = true;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A cron shell or an ssh session gone: stop cleanly, like SIGTERM. */
	sigaction(SIGHUP, &sa, NULL);
	if (cmd->flags & NEEDS_GDAL) {
		CPLSetErrorHandler(gdal_errors);
		/* Never reach for the network from a batch job, and keep PROJ's
		 * messages out of stderr: failures are reported with context. */
		CPLSetConfigOption("PROJ_NETWORK", "OFF");
		GDALAllRegister();
	}
	code = cmd->fn(argc - 1, argv + 1);
	if (code != 0 && *gp_err_msg())
		fprintf(stderr, "gispipe: %s\n", gp_err_msg());
	if (cmd->flags & NEEDS_GDAL) {
		GDALDestroyDriverManager();
		OSRCleanup();
		CPLCleanupTLS();
	}
	if (mem_fail_counting())
		fprintf(stderr, "gispipe: GISPIPE_FAIL_ALLOC: %" PRIu64 " allocations\n",
		        mem_fail_count());
	return finish(code);
}
