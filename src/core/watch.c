/* watch.c - the watcher thread: RSS against the limit, and GEOS interrupts. */
#include "core/watch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <geos_c.h>

#include "core/error.h"
#include "core/owner.h"
#include "core/rss.h"

#define MS 1000000L
/* Sampling period bounds, and the growth rate it is sized for: at 2 GiB/s
 * (page faults of one busy core) a tenth of a 64 MiB limit lasts 3 ms. */
#define MIN_PERIOD_NS (1 * MS)
#define MAX_PERIOD_NS (10 * MS)
#define GROWTH_BYTES_PER_NS 2.0

/* GEOS's interrupt callback takes no argument: the watcher in charge. */
static _Atomic(struct watch *) active;
static GEOSInterruptCallback *previous_callback;

bool watch_tripped(const struct watch *w)
{
	return atomic_load_explicit(&((struct watch *)w)->tripped, memory_order_acquire);
}

bool watch_stopping(const struct watch *w)
{
	/* any thread: the handler stores the flag atomically (cli/main.c) */
	return watch_tripped(w) || (w->signal && __atomic_load_n(w->signal, __ATOMIC_RELAXED));
}

/* The calling thread's entry. */
static struct watch_thread *self_thread(struct watch *w)
{
	int id = owner_self();

	return &w->threads[id < 0 ? 0 : id >= WATCH_THREADS ? WATCH_THREADS - 1 : id];
}

void watch_enter(struct watch *w, const char *label)
{
	struct watch_thread *t = self_thread(w);
	int n = (int)(t - w->threads) + 1, seen;
	struct rusage ru;

	/* Its faults so far, from which its stage's growth is counted (a
	 * system call of well under a microsecond, once a stage a batch). */
	if (getrusage(RUSAGE_THREAD, &ru) == 0)
		atomic_store_explicit(&t->entered, (uint64_t)ru.ru_minflt, memory_order_relaxed);
	atomic_store_explicit(&t->stage, label, memory_order_relaxed);
	if (atomic_load_explicit(&t->tid, memory_order_relaxed) != 0)
		return;
	/* First entry: the watcher may read its faults from now on. */
	atomic_store_explicit(&t->tid, (int)syscall(SYS_gettid), memory_order_release);
	seen = atomic_load_explicit(&w->nthreads, memory_order_relaxed);
	while (n > seen &&
	       !atomic_compare_exchange_weak_explicit(&w->nthreads, &seen, n, memory_order_release,
	                                              memory_order_relaxed))
		;
}

const char *watch_stage(struct watch *w)
{
	return atomic_load_explicit(&self_thread(w)->stage, memory_order_relaxed);
}

/* Thread `t`'s minor page faults so far (field 10 of its stat, after the
 * parenthesised name); false when it cannot be read (the thread ended).
 * Under w->mu, which guards the file it opens. */
static bool thread_faults(struct watch_thread *t, uint64_t *faults)
{
	int tid = atomic_load_explicit(&t->tid, memory_order_acquire);
	char buf[512], *p;
	ssize_t n;

	if (tid == 0)
		return false;
	if (t->fd1 == 0) {
		int fd;

		snprintf(buf, sizeof buf, "/proc/self/task/%d/stat", tid);
		if ((fd = open(buf, O_RDONLY | O_CLOEXEC)) < 0)
			return false;
		t->fd1 = fd + 1;
	}
	n = pread(t->fd1 - 1, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %" SCNu64, faults) == 1;
}

/* The stage of the thread whose pages grew most since it entered the
 * stage it is in, or the main thread's when none grew.  Under w->mu. */
static const char *grew_most(struct watch *w)
{
	int n = atomic_load_explicit(&w->nthreads, memory_order_acquire);
	const char *stage = NULL;
	uint64_t most = 0;

	for (int i = 0; i < n; i++) {
		struct watch_thread *t = &w->threads[i];
		uint64_t f, from = atomic_load_explicit(&t->entered, memory_order_relaxed);

		if (thread_faults(t, &f) && f > from && f - from > most) {
			most = f - from;
			stage = atomic_load_explicit(&t->stage, memory_order_relaxed);
		}
	}
	return stage ? stage : atomic_load_explicit(&w->threads[0].stage, memory_order_relaxed);
}

void watch_trip(struct watch *w, const char *label, uint64_t rss)
{
	pthread_mutex_lock(&w->mu);
	if (!atomic_load_explicit(&w->tripped, memory_order_relaxed)) {
		w->trip_stage = label ? label : grew_most(w);
		w->trip_rss = rss;
		atomic_store_explicit(&w->tripped, true, memory_order_release);
	}
	pthread_mutex_unlock(&w->mu);
}

/* Called by GEOS before each of its interrupt checks, on the thread running
 * GEOS: while the run is stopping, every GEOS call ends at its next check. */
static void on_geos_check(void)
{
	struct watch *w = atomic_load_explicit(&active, memory_order_acquire);

	if (w && watch_stopping(w))
		GEOS_interruptRequest();
}

/* Sleep less the closer RSS is to where the limit's tenth of slack ends. */
static long period_ns(const struct watch *w, uint64_t rss)
{
	uint64_t end = w->limit + w->limit / 10;
	double ns = rss >= end ? 0 : (double)(end - rss) / GROWTH_BYTES_PER_NS;

	if (ns < MIN_PERIOD_NS)
		return MIN_PERIOD_NS;
	if (ns > MAX_PERIOD_NS)
		return MAX_PERIOD_NS;
	return (long)ns;
}

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	struct timespec at, cpu;

	clock_gettime(CLOCK_MONOTONIC, &at);
	pthread_mutex_lock(&w->mu);
	while (!atomic_load(&w->quit)) {
		uint64_t rss, anon;

		pthread_mutex_unlock(&w->mu);
		rss_sample(&rss, &anon);
		w->samples++;
		watch_sample(w, rss, anon);
		if (rss > w->limit)
			watch_trip(w, NULL, rss);
		if (watch_stopping(w))
			GEOS_interruptRequest();
		pthread_mutex_lock(&w->mu);
		if (atomic_load_explicit(&w->tripped, memory_order_relaxed))
			break; /* nothing more to watch: the run is stopping */
		at.tv_nsec += period_ns(w, rss);
		while (at.tv_nsec >= 1000 * MS) {
			at.tv_nsec -= 1000 * MS;
			at.tv_sec++;
		}
		while (!atomic_load(&w->quit) &&
		       pthread_cond_timedwait(&w->cv, &w->mu, &at) != ETIMEDOUT)
			;
		/* Fell behind (the machine is busy): sample again at once, and
		 * time the next period from now. */
		clock_gettime(CLOCK_MONOTONIC, &at);
	}
	pthread_mutex_unlock(&w->mu);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
	w->cpu_seconds = (double)cpu.tv_sec + (double)cpu.tv_nsec * 1e-9;
	return NULL;
}

int watch_start(struct watch *w, uint64_t limit, volatile sig_atomic_t *signal)
{
	pthread_condattr_t ca;
	int r;

	*w = (struct watch){.limit = limit, .signal = signal, .made = true};
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* Open /proc/self/statm now, not on the thread's first sample; this
	 * first reading starts the run's peak. */
	{
		uint64_t rss, anon;

		rss_sample(&rss, &anon);
		watch_sample(w, rss, anon);
	}
	GEOS_interruptCancel();
	atomic_store_explicit(&active, w, memory_order_release);
	previous_callback = GEOS_interruptRegisterCallback(on_geos_check);
	if (limit == 0)
		return 0;
	r = pthread_create(&w->tid, NULL, watch_main, w);
	if (r != 0) {
		watch_stop(w);
		return gp_fail(GP_EX_SOFTWARE, "cannot start the memory watcher: %s", strerror(r));
	}
	w->running = true;
	return 0;
}

void watch_stop(struct watch *w)
{
	if (w->running) {
		pthread_mutex_lock(&w->mu);
		atomic_store(&w->quit, true);
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->tid, NULL);
		w->running = false;
	}
	if (atomic_load(&active) == w) {
		GEOS_interruptRegisterCallback(previous_callback);
		atomic_store(&active, NULL);
		GEOS_interruptCancel();
	}
	for (int i = 0; i < WATCH_THREADS; i++) {
		if (w->threads[i].fd1 > 0)
			close(w->threads[i].fd1 - 1);
		w->threads[i].fd1 = 0;
	}
	if (w->made) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		w->made = false;
	}
}
