/*
 * watch.h - the run's watcher: the memory limit and stop requests, seen
 * inside a batch.
 *
 * Checks between batches see a burst only after the step that made it; by
 * then the peak may be far past the limit.  The watcher is a thread that
 * reads the process's resident set (rss_current(), one pread) every 1 to
 * 10 ms, more often the closer it is to the limit, and the first time it
 * is over the limit records the stage at work then (watch_enter) and asks
 * the run to stop.  A signal asks the same through the flag the handler
 * sets.  Either way GEOS is interrupted: a callback registered with
 * GEOS_interruptRegisterCallback requests the interrupt at GEOS's next
 * check, inside a long call, as long as the run is stopping.  Our own long
 * loops ask watch_stopping() (GDAL's warper through its progress callback).
 *
 * One watcher at a time (GEOS's interrupt is process-wide).  The struct is
 * the engine's, on its stack; nothing here allocates after watch_start(),
 * so the stop path takes no memory.
 */
#ifndef GISPIPE_WATCH_H
#define GISPIPE_WATCH_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct watch {
	uint64_t limit;                /* bytes; 0: no limit, no thread */
	volatile sig_atomic_t *signal; /* signal number once asked to stop */
	_Atomic(const char *) stage;   /* label of the stage at work now */
	atomic_bool tripped;           /* RSS went over the limit */
	atomic_bool quit;
	/* Written once, before `tripped` is set (release) */
	const char *trip_stage;
	uint64_t trip_rss;
	/* The highest RSS sampled since watch_start(): the run's own peak,
	 * start-up (library loading) left out. */
	_Atomic uint64_t peak;
	_Atomic uint64_t peak_anon; /* the same, of the anonymous part */
	/* The thread's own cost, for measuring it (valid after watch_stop) */
	uint64_t samples;
	double cpu_seconds;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running;
	bool made; /* mu and cv initialised */
};

/* Start watching `limit` bytes of RSS (0: signals only, no thread) and the
 * signal flag `signal` (not NULL; it must outlive the watcher).  Returns 0,
 * or -1 with the error set. */
int watch_start(struct watch *w, uint64_t limit, volatile sig_atomic_t *signal);

/* Stop the thread, unregister the GEOS callback and cancel a pending GEOS
 * interrupt.  Safe on a zeroed watcher and on one already stopped; the
 * trip record stays readable. */
void watch_stop(struct watch *w);

/* The stage whose work runs from now on; `label` must outlive the watcher
 * (stage labels live in the pipeline's arena). */
static inline void watch_enter(struct watch *w, const char *label)
{
	atomic_store_explicit(&w->stage, label, memory_order_relaxed);
}

static inline void watch_raise(_Atomic uint64_t *peak, uint64_t v)
{
	uint64_t seen = atomic_load_explicit(peak, memory_order_relaxed);

	while (v > seen && !atomic_compare_exchange_weak_explicit(peak, &seen, v,
	                                                          memory_order_relaxed,
	                                                          memory_order_relaxed))
		;
}

/* Note a sample of RSS and of its anonymous part for the run's peaks;
 * from any thread. */
static inline void watch_sample(struct watch *w, uint64_t rss, uint64_t anon)
{
	watch_raise(&w->peak, rss);
	watch_raise(&w->peak_anon, anon);
}

/* Record that RSS `rss` is over the limit in stage `label`, as the thread
 * does; the first record wins.  For checks made on the engine's thread. */
void watch_trip(struct watch *w, const char *label, uint64_t rss);

/* The run must stop: the limit was crossed or a signal came. */
bool watch_stopping(const struct watch *w);

/* Whether the limit was crossed (trip_stage and trip_rss are then set). */
bool watch_tripped(const struct watch *w);

#endif
