/* run.c - gispipe run. */
#include "cli.h"
#include "core/engine.h"

static int run(struct cli_cmd *c, int code)
{
	struct run_opts ro = {.memory_limit = c->o.memory_limit, .threads = c->o.threads,
	                      .quiet = c->o.quiet, .progress = c->o.progress,
	                      .report_path = c->o.report, .lock_wait = c->o.lock_wait,
	                      .shard_index = c->o.shard_index, .shard_count = c->o.shard_count};

	if (code != 0)
		return code;
	return engine_run(c->pl, &ro, &c->acct, c->a, &cli_stop);
}

int cmd_run(int argc, char **argv)
{
	return cli_with_pipeline(argc, argv, true, run);
}
