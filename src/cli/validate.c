/* validate.c - gispipe validate: the full check, nothing opened for writing. */
#include <stdio.h>

#include "cli.h"
#include "core/engine.h"
#include "core/error.h"
#include "config/pipeline.h"

static int validate(struct cli_cmd *c, int code)
{
	struct run_opts ro = {.memory_limit = c->o.memory_limit, .quiet = true,
	                      .shard_index = c->o.shard_index, .shard_count = c->o.shard_count};

	if (code == 0)
		code = engine_check(c->pl, &ro, &c->acct, c->a, true, NULL);
	/* validate answers one question, whether the pipeline can run as it
	 * stands: 0 or 78, with the reason (a missing input, an existing
	 * output, a limit too small, a pipeline that does not load) in the
	 * message. */
	if (code != 0 && code != GP_EX_USAGE) {
		gp_fail(GP_EX_CONFIG, "%s", gp_err_msg());
		code = GP_EX_CONFIG;
	}
	if (code == 0 && !c->o.quiet)
		printf("%s: ok (%zu steps)\n", c->o.pipeline, c->pl->nsteps);
	return code;
}

int cmd_validate(int argc, char **argv)
{
	return cli_with_pipeline(argc, argv, false, validate);
}
