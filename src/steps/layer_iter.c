/* layer_iter.c - explicit close of layer iterators, checked. */
#include <stdatomic.h>
#include <stdio.h>

#include "gispipe/arena.h"
#include "gispipe/handle.h"
#include "source.h"

static atomic_uint_fast64_t unclosed;

static void iter_destroy(void *p)
{
	struct layer_iter *it = p;

	if (!it->closed) {
		/* The owner reset the arena under an open iterator: a bug in
		 * gispipe, made loud so that tests catch it. */
		unclosed++;
		fprintf(stderr, "gispipe: bug: iterator of '%s' destroyed without close\n", it->what);
	}
}

struct layer_iter *layer_iter_open(struct arena *a, struct stage_acct *acct, const char *what)
{
	struct layer_iter *it = arena_calloc(a, 1, sizeof *it);

	if (it == NULL)
		return NULL;
	it->what = what;
	it->h = handle_own(a, acct, HANDLE_LAYER_ITER, it, iter_destroy);
	return it->h ? it : NULL;
}

void layer_iter_close(struct layer_iter *it)
{
	it->closed = true;
	handle_release(it->h);
}

uint64_t layer_iter_unclosed(void)
{
	return unclosed;
}
