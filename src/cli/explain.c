/* explain.c - gispipe explain: the resolved pipeline and its memory plan. */
#include <stdio.h>

#include "cli.h"
#include "core/engine.h"
#include "config/pipeline.h"

/* What the pipeline file resolved to, before the engine's plan. */
static void explain_pipeline(const struct pipeline *pl)
{
	printf("pipeline: %s%s%s%s\n", pl->path, pl->name ? " (" : "", pl->name ? pl->name : "",
	       pl->name ? ")" : "");
	if (pl->vars.n) {
		printf("vars:\n");
		for (size_t i = 0; i < pl->vars.n; i++)
			printf("  %s = %s%s\n", pl->vars.item[i].name, pl->vars.item[i].value,
			       pl->vars.item[i].from_cli ? "  (--set)" : "");
	}
	printf("on_error: %s; transform cache: %lld entries, cleared every %lld datasets\n\n",
	       pl->on_error == ON_ERROR_FAIL ? "fail" : "reject", (long long)pl->xc_max_entries,
	       (long long)pl->xc_clear_every);
}

static int explain(struct cli_cmd *c, int code)
{
	struct run_opts ro = {.memory_limit = c->o.memory_limit, .threads = c->o.threads,
	                      .quiet = true, .shard_index = c->o.shard_index,
	                      .shard_count = c->o.shard_count};

	if (code != 0)
		return code;
	explain_pipeline(c->pl);
	return engine_check(c->pl, &ro, &c->acct, c->a, false, stdout);
}

int cmd_explain(int argc, char **argv)
{
	return cli_with_pipeline(argc, argv, false, explain);
}
