/*
 * pool.c - the run's worker threads (core/pool.h).
 *
 * One mutex guards everything the pool shares: the queue of submitted
 * jobs, each worker's pool_each call, the list of finished jobs and the
 * counters pool_run and pool_each wait on.  Workers sleep on `work`; the
 * main thread sleeps on `done`.  A job runs outside the mutex.
 */
#include "core/pool.h"

#include <pthread.h>
#include <string.h>

#include "core/account.h"
#include "core/error.h"
#include "core/owner.h"

struct worker {
	struct pool *pool;
	int id;
	pthread_t tid;
	/* pool_each's call for this worker, taken before any queued job */
	void (*each_fn)(void *arg, int worker);
	void *each_arg;
	bool each_pending;
	/* pool_run's part for this worker: takes indices until none is left */
	struct pool_job runner;
};

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t work;  /* a worker has something to take, or must quit */
	pthread_cond_t done;  /* a job finished, pool_each or pool_run is over */
	struct pool_job *head, *tail;     /* submitted, not started */
	struct pool_job *fhead, *ftail;   /* submitted and finished, not taken */
	int submitted;        /* given by pool_submit and not taken back */
	int busy;             /* pool_each calls and runners not finished */
	bool quit;
	/* the pool_run under way (one at a time: the main thread's) */
	void (*run_fn)(void *arg, int worker);
	void *const *run_args;
	int run_next, run_count;
	int nworkers;
	struct mem_account *acct; /* what the pool itself was drawn from */
	size_t size;
	struct worker w[];
};

static void queue_push(struct pool_job **head, struct pool_job **tail, struct pool_job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static struct pool_job *queue_pop(struct pool_job **head, struct pool_job **tail)
{
	struct pool_job *j = *head;

	if (j) {
		*head = j->next;
		if (*head == NULL)
			*tail = NULL;
		j->next = NULL;
	}
	return j;
}

/* A runner: pool_run's jobs, one index at a time, until none is left. */
static void run_part(void *arg, int id)
{
	struct pool *p = arg;

	pthread_mutex_lock(&p->mu);
	while (p->run_next < p->run_count) {
		void *a = p->run_args ? p->run_args[p->run_next] : NULL;

		p->run_next++;
		pthread_mutex_unlock(&p->mu);
		p->run_fn(a, id);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;

	owner_set(w->id);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct pool_job *j;

		if (w->each_pending) {
			void (*fn)(void *, int) = w->each_fn;
			void *a = w->each_arg;

			pthread_mutex_unlock(&p->mu);
			fn(a, w->id);
			pthread_mutex_lock(&p->mu);
			w->each_pending = false;
			p->busy--;
			pthread_cond_broadcast(&p->done);
			continue;
		}
		if ((j = queue_pop(&p->head, &p->tail)) != NULL) {
			/* A runner may be taken by any worker; it is the
			 * pool's, and it is not given back. */
			bool runner = j->fn == run_part;

			pthread_mutex_unlock(&p->mu);
			j->fn(j->arg, w->id);
			pthread_mutex_lock(&p->mu);
			if (runner)
				p->busy--;
			else
				queue_push(&p->fhead, &p->ftail, j);
			pthread_cond_broadcast(&p->done);
			continue;
		}
		if (p->quit)
			break;
		pthread_cond_wait(&p->work, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct pool *pool_create(struct mem_account *acct, int nworkers)
{
	size_t size = sizeof(struct pool) + (size_t)(nworkers > 0 ? nworkers : 0) * sizeof(struct worker);
	struct pool *p;
	int started = 0, rc = 0;

	if (nworkers < 1) {
		gp_fail(GP_EX_SOFTWARE, "pool of %d workers", nworkers);
		return NULL;
	}
	if ((p = mem_alloc(acct, size)) == NULL)
		return NULL;
	memset(p, 0, size);
	p->acct = acct;
	p->size = size;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->nworkers = nworkers;
	for (; started < nworkers; started++) {
		struct worker *w = &p->w[started];

		w->pool = p;
		w->id = started + 1;
		w->runner.fn = run_part;
		w->runner.arg = p;
		if ((rc = pthread_create(&w->tid, NULL, worker_main, w)) != 0)
			break;
	}
	if (started < nworkers) {
		p->nworkers = started;
		pool_destroy(p);
		gp_fail(GP_EX_SOFTWARE, "cannot start worker thread %d of %d: %s", started + 1,
		        nworkers, strerror(rc));
		return NULL;
	}
	return p;
}

int pool_size(const struct pool *p)
{
	return p ? p->nworkers : 0;
}

int pool_run(struct pool *p, int njobs, void (*fn)(void *arg, int worker), void *const *args)
{
	int parts;

	if (p == NULL) {
		for (int i = 0; i < njobs; i++)
			fn(args ? args[i] : NULL, owner_self());
		return 0;
	}
	if (owner_self() != 0)
		return gp_fail(GP_EX_SOFTWARE, "pool_run called from worker %d", owner_self());
	parts = njobs < p->nworkers ? njobs : p->nworkers;
	pthread_mutex_lock(&p->mu);
	p->run_fn = fn;
	p->run_args = args;
	p->run_next = 0;
	p->run_count = njobs;
	for (int i = 0; i < parts; i++) {
		queue_push(&p->head, &p->tail, &p->w[i].runner);
		p->busy++;
	}
	pthread_cond_broadcast(&p->work);
	while (p->busy > 0)
		pthread_cond_wait(&p->done, &p->mu);
	p->run_fn = NULL;
	p->run_args = NULL;
	p->run_count = 0;
	pthread_mutex_unlock(&p->mu);
	return 0;
}

void pool_each(struct pool *p, void (*fn)(void *arg, int worker), void *arg)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < p->nworkers; i++) {
		p->w[i].each_fn = fn;
		p->w[i].each_arg = arg;
		p->w[i].each_pending = true;
		p->busy++;
	}
	pthread_cond_broadcast(&p->work);
	while (p->busy > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void pool_submit(struct pool *p, struct pool_job *j)
{
	pthread_mutex_lock(&p->mu);
	queue_push(&p->head, &p->tail, j);
	p->submitted++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
}

struct pool_job *pool_take(struct pool *p, bool wait)
{
	struct pool_job *j;

	pthread_mutex_lock(&p->mu);
	while ((j = queue_pop(&p->fhead, &p->ftail)) == NULL && wait && p->submitted > 0)
		pthread_cond_wait(&p->done, &p->mu);
	if (j)
		p->submitted--;
	pthread_mutex_unlock(&p->mu);
	return j;
}

void pool_destroy(struct pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nworkers; i++)
		pthread_join(p->w[i].tid, NULL);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	mem_free(p->acct, p, p->size);
}
