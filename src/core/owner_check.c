/* owner_check.c - counting (and in debug builds, stopping) releases from a
 * thread that is not the owner.  The counter is the only state: a relaxed
 * atomic, read at the end of the run for the report. */
#include "core/owner_check.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/owner.h"

static _Atomic uint64_t cross;

void owner_check(int owner, const char *what, const char *name)
{
	int self = owner_self();

	if (self == owner)
		return;
	atomic_fetch_add_explicit(&cross, 1, memory_order_relaxed);
#ifndef NDEBUG
	fprintf(stderr,
	        "gispipe: internal error: %s '%s' owned by thread %d released by thread %d "
	        "(only its owner may release it)\n",
	        what, name, owner, self);
	abort();
#endif
}

uint64_t owner_check_count(void)
{
	return atomic_load_explicit(&cross, memory_order_relaxed);
}
