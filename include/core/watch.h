/*
 * watch.h - the run's watcher: the memory limit and stop requests, seen
 * inside a batch.
 *
 * Checks between batches see a burst only after the step that made it; by
 * then the peak may be far past the limit.  The watcher is a thread that
 * reads the process's resident set (rss_current(), one pread) every 1 to
 * 10 ms, more often the closer it is to the limit, and the first time it
 * is over the limit records the stage at work then and asks the run to
 * stop.
 *
 * Each thread says which stage it works in (watch_enter, keyed by its
 * owner id, core/owner.h): the main thread, a pooled run's workers and its
 * reader at once.  The trip names the stage of the thread whose pages grew
 * most since it entered that stage: RSS grows only by pages a thread
 * touches first, each a minor fault of that thread, counted at entry
 * (getrusage) and at the trip (/proc/self/task/TID/stat, read then only).
 * When none of them grew (a thread that never entered a stage did, a warp
 * piece, a library's own), it names the main thread's stage, which that
 * work serves.  A signal asks the same through the flag the handler
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

/* Threads a watcher tells apart: owner ids 0 (main), 1..1024 (the pool's
 * workers, PIPELINE_THREADS_MAX), 1025 (a pooled run's reader). */
#define WATCH_THREADS 1026

/* One thread as the watcher sees it. */
struct watch_thread {
	_Atomic(const char *) stage; /* label of the stage it works in */
	_Atomic uint64_t entered;    /* its minor faults when it entered it */
	_Atomic int tid;             /* its kernel id; 0: never entered */
	int fd1;                     /* /proc/self/task/TID/stat, plus one (0:
	                              * not open, as in a zeroed watcher);
	                              * under the watcher's mu */
};

struct watch {
	uint64_t limit;                /* bytes; 0: no limit, no thread */
	volatile sig_atomic_t *signal; /* signal number once asked to stop */
	_Atomic int nthreads;          /* threads[] entered: the highest id + 1 */
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
	struct watch_thread threads[WATCH_THREADS]; /* [owner id] */
};

/* Start watching `limit` bytes of RSS (0: signals only, no thread) and the
 * signal flag `signal` (not NULL; it must outlive the watcher).  Returns 0,
 * or -1 with the error set. */
int watch_start(struct watch *w, uint64_t limit, volatile sig_atomic_t *signal);

/* Stop the thread, unregister the GEOS callback and cancel a pending GEOS
 * interrupt.  Safe on a zeroed watcher and on one already stopped; the
 * trip record stays readable. */
void watch_stop(struct watch *w);

/* The stage whose work runs from now on on the calling thread; `label`
 * must outlive the watcher (stage labels live in the pipeline's arena). */
void watch_enter(struct watch *w, const char *label);

/* The stage the calling thread entered last; NULL: none. */
const char *watch_stage(struct watch *w);

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

/* Record that RSS `rss` is over the limit in stage `label` (NULL: the
 * stage of the thread whose pages grew most in it, as the watcher names
 * it); the first record wins.  From any thread. */
void watch_trip(struct watch *w, const char *label, uint64_t rss);

/* The run must stop: the limit was crossed or a signal came. */
bool watch_stopping(const struct watch *w);

/* Whether the limit was crossed (trip_stage and trip_rss are then set). */
bool watch_tripped(const struct watch *w);

#endif
