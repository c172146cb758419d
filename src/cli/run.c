/* run.c - gispipe run. */
#include <unistd.h>

#include "cli.h"
#include "core/engine.h"
#include "core/epoch.h"
#include "core/error.h"

static int run(struct cli_cmd *c, int code)
{
	/* Progress by default on a terminal, as GDAL's own CLI does; --progress
	 * shows it anywhere (a log followed with tail -f), -q nowhere. */
	struct run_opts ro = {.memory_limit = c->o.memory_limit, .threads = c->o.threads,
	                      .quiet = c->o.quiet,
	                      .progress = !c->o.quiet && (c->o.progress || isatty(2)),
	                      .report_path = c->o.report, .lock_wait = c->o.lock_wait,
	                      .incremental = c->o.incremental,
	                      .shard_index = c->o.shard_index, .shard_count = c->o.shard_count};

	if (code != 0)
		return code;
	if (epoch_init() != 0)
		return gp_err_code();
	code = engine_run(c->pl, &ro, &c->acct, c->a, &cli_stop);
	/* engine_run printed the failure's first line, before its table */
	gp_err_clear();
	return code;
}

int cmd_run(int argc, char **argv)
{
	return cli_with_pipeline(argc, argv, true, run);
}
