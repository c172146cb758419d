/*
 * pool.h - the run's worker threads: one pool per run, made once by the
 * engine, serving the vector workers and the raster warp pieces alike (no
 * thread is started per batch or per window).
 *
 * A run of N threads has N workers, numbered 1..N (core/owner.h); the main
 * thread (0) reads, writes and hands out the work.  Not N-1: the main
 * thread's part (decoding and encoding features, GDAL I/O) is a small
 * share of a run whose steps are worth threading, and it spends the rest
 * asleep waiting for a batch; with N-1 workers a 2-thread run would do
 * its transforms on one core, no faster than a 1-thread run.  A run of 1
 * thread makes no pool at all: its steps run on the main thread as they
 * always did.
 *
 * Three ways to give work, from the main thread only (pool_submit also
 * from a vector run's reader thread, vector/run.c; never from a worker):
 *   pool_run     njobs jobs on whichever workers are free, and wait for
 *                all of them (the pieces of a raster window);
 *   pool_each    one call on every worker, and wait (what each worker must
 *                do itself: open its copy of a step, begin a stream);
 *   pool_submit  one job, without waiting; it comes back from pool_take
 *                when it is done (the batches of a vector run).
 * A worker takes what pool_each gave it before anything else, then jobs
 * in the order they were given.  Everything goes through one mutex and
 * condition variables: a worker with nothing to do sleeps.
 *
 * Ownership: the pool is drawn from an account, not an arena (no arena
 * reset may take it while its threads run): pool_destroy joins them and
 * gives it back, before the run's arenas go.  A
 * job's storage is the caller's and must stay valid until pool_take gives
 * it back (pool_submit) or the call returns (pool_run, pool_each).
 */
#ifndef GISPIPE_POOL_H
#define GISPIPE_POOL_H

#include <stdbool.h>

struct pool;
struct mem_account;

/* A job for pool_submit: `fn(arg, worker)` runs on one worker, `worker`
 * being its id (1..N).  `next` is the pool's while the job is queued. */
struct pool_job {
	void (*fn)(void *arg, int worker);
	void *arg;
	struct pool_job *next;
};

/* Start `nworkers` (>= 1) threads, numbered 1..nworkers, the pool drawn
 * from `acct` (which must outlive it).  NULL with the error set (70 when a
 * thread cannot be started, 75 out of memory); none is left running. */
struct pool *pool_create(struct mem_account *acct, int nworkers);

/* Number of workers; 0 for a NULL pool. */
int pool_size(const struct pool *p);

/* Run fn(args[i], worker) for i in 0..njobs-1 on the workers and return
 * when every one has returned.  A NULL pool runs them here, in order, with
 * this thread's id.  0, or -1 with the error set (70) when called from a
 * worker, where waiting for the pool could wait for ever. */
int pool_run(struct pool *p, int njobs, void (*fn)(void *arg, int worker), void *const *args);

/* Run fn(arg, worker) once on every worker and return when every one has
 * returned.  Nothing for a NULL pool. */
void pool_each(struct pool *p, void (*fn)(void *arg, int worker), void *arg);

/* Queue `j` for whichever worker is free first; returns at once. */
void pool_submit(struct pool *p, struct pool_job *j);

/* A job given by pool_submit that has finished (in the order they finish);
 * with `wait`, sleeps until one does.  NULL when none has finished and
 * (without `wait`) none is ready, or (with `wait`) none is left to wait
 * for.  The job's storage is the caller's again. */
struct pool_job *pool_take(struct pool *p, bool wait);

/* Wait for the jobs queued and at work, stop and join every worker, free
 * the pool.  Jobs finished but not taken are dropped (their storage is the
 * caller's).  NULL is allowed. */
void pool_destroy(struct pool *p);

#endif
