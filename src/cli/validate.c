/* validate.c - gispipe validate: the full check, nothing opened for writing. */
#include <stdio.h>

#include "cli.h"
#include "core/account.h"
#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "config/pipeline.h"

int cmd_validate(int argc, char **argv)
{
	struct mem_account acct;
	struct arena *a;
	struct cli_opts o = {0};
	struct pipeline *pl;
	struct run_opts ro;
	int code;

	mem_account_init(&acct, "validate", NULL, 0);
	a = arena_create(&acct, 0);
	if (a == NULL)
		return gp_err_code();
	if (cli_parse(argc, argv, &o, a, false) != 0) {
		code = gp_err_code();
		arena_destroy(a);
		return code;
	}
	if ((pl = cli_load(&o, a, &acct)) == NULL) {
		code = gp_err_code();
	} else {
		ro = (struct run_opts){.memory_limit = o.memory_limit, .quiet = true};
		code = engine_check(pl, &ro, &acct, a, true, NULL);
	}
	/* validate answers one question, whether the pipeline can run as it
	 * stands: 0 or 78, with the reason (a missing input, an existing
	 * output, a limit too small) in the message. */
	if (code != 0 && code != GP_EX_USAGE) {
		gp_fail(GP_EX_CONFIG, "%s", gp_err_msg());
		code = GP_EX_CONFIG;
	}
	if (code == 0 && !o.quiet)
		printf("%s: ok (%zu steps)\n", o.pipeline, pl->nsteps);
	arena_destroy(a);
	return code;
}
