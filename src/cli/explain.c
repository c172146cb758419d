/* explain.c - gispipe explain: the resolved pipeline and its memory plan. */
#include <stdio.h>

#include "cli.h"
#include "core/account.h"
#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "config/pipeline.h"

int cmd_explain(int argc, char **argv)
{
	struct mem_account acct;
	struct arena *a;
	struct cli_opts o = {0};
	struct pipeline *pl;
	struct run_opts ro;
	int code;

	mem_account_init(&acct, "explain", NULL, 0);
	a = arena_create(&acct, 0);
	if (a == NULL)
		return gp_err_code();
	if (cli_parse(argc, argv, &o, a, false) != 0 || (pl = cli_load(&o, a, &acct)) == NULL) {
		code = gp_err_code();
		arena_destroy(a);
		return code;
	}
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
	ro = (struct run_opts){.memory_limit = o.memory_limit, .quiet = true};
	code = engine_check(pl, &ro, &acct, a, false, stdout);
	arena_destroy(a);
	return code;
}
