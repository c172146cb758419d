/*
 * owner_check.h - proving the ownership rule: releases by the owner only.
 *
 * Every arena and counted handle records the thread that made it
 * (owner_self(), core/owner.h); a reset, rewind, destroy, release or take
 * from any other thread breaks the rule (a batch must go back to its owner
 * through its release queue instead).  Each one is counted in a
 * process-wide counter, which the report carries as cross_thread_releases
 * so tests can assert it is 0.  Builds without NDEBUG (debug and test
 * builds) also abort at once, naming the owner and the caller: the stack
 * of the abort is the bug.  Release builds keep only the counter: the
 * compare costs nothing next to a reset, and a run whose outputs are right
 * is better reported than lost to an abort that a user can do nothing
 * about.
 */
#ifndef GISPIPE_OWNER_CHECK_H
#define GISPIPE_OWNER_CHECK_H

#include <stdint.h>

/* `what` (e.g. "arena", "handle") of `name` (its account or kind), made by
 * thread `owner`, is being released by the calling thread: nothing when
 * that is its owner; otherwise counted, and (without NDEBUG) a message on
 * stderr and abort(). */
void owner_check(int owner, const char *what, const char *name);

/* Releases from a thread other than the owner since the process started. */
uint64_t owner_check_count(void);

#endif
