/*
 * owner.h - which thread this is, as the ownership rule counts threads.
 *
 * Every arena and handle belongs to the thread that made it, and only that
 * thread may reset or destroy it (vector/batch.h).  Threads are numbered
 * for that rule: 0 is the main thread (the engine: it reads, writes and
 * runs the steps when there is no pool), 1..N are the pool's workers
 * (core/pool.h), N+1 a pooled vector run's reader (vector/run.c), each
 * numbered once, when it starts, by owner_set().
 * The id is thread-local: reading it takes no lock.
 */
#ifndef GISPIPE_OWNER_H
#define GISPIPE_OWNER_H

/* The calling thread's id: 0 unless owner_set() said otherwise. */
int owner_self(void);

/* Number the calling thread `id` (>= 0).  Called once by each pool worker
 * before it runs anything. */
void owner_set(int id);

#endif
