/* run.c - gispipe run. */
#include <stdio.h>

#include "cli.h"
#include "core/report.h"
#include "core/account.h"
#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "config/pipeline.h"

int cmd_run(int argc, char **argv)
{
	struct mem_account acct;
	struct arena *a;
	struct cli_opts o = {0};
	struct pipeline *pl;
	struct run_opts ro;
	int code;

	mem_account_init(&acct, "run", NULL, 0);
	a = arena_create(&acct, 0);
	if (a == NULL)
		return gp_err_code();
	if (cli_parse(argc, argv, &o, a, true) != 0) {
		code = gp_err_code();
		arena_destroy(a);
		return code;
	}
	if ((pl = cli_load(&o, a, &acct)) == NULL) {
		/* Cron jobs watch the report: it must say this run failed. */
		code = gp_err_code();
		if (o.report) {
			char msg[4096];

			snprintf(msg, sizeof msg, "%s", gp_err_msg());
			if (report_write_early(o.report, o.pipeline, code, msg) != 0)
				fprintf(stderr, "gispipe: %s\n", gp_err_msg());
			gp_fail(code, "%s", msg);
		}
		arena_destroy(a);
		return code;
	}
	ro = (struct run_opts){.memory_limit = o.memory_limit, .threads = o.threads,
	                       .quiet = o.quiet, .progress = o.progress, .report_path = o.report,
	                       .lock_wait = o.lock_wait};
	code = engine_run(pl, &ro, &acct, a, &cli_stop);
	arena_destroy(a);
	return code;
}
