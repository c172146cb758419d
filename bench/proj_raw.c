/* proj_raw.c - W7's peer: raw proj_trans_generic() on the coordinates the
 * reproject stage transforms, in the same calls, timed per call.
 *
 * bench.py compiles it into its work directory and runs it.  It reads
 * the coordinates as native doubles, x y interleaved, and the number of
 * coordinates each call transforms as native uint64s (the stage's
 * batches); it writes the transformed coordinates in the same layout, so
 * that bench.py compares them with gispipe's output, and prints one line:
 * "coordinates N seconds S threads T".  S counts only the
 * proj_trans_generic() calls: copying a call's coordinates into its x, y,
 * z arrays is outside the clock, as the arrays are the input the stage's
 * own gathering makes.  The clock is the thread's CPU time, the one the
 * stage's seconds are counted on, so that neither side counts time spent
 * waiting for a CPU.
 *
 * With THREADS (default 1), that many threads take the calls in turn, as
 * the stage's workers take batches, each with an operation of its own,
 * all at once: S is the sum of their CPU times, the peer of the stage's
 * seconds summed over its workers on the same machine with the same
 * number of threads running PROJ at a time.
 *
 * The operation is made as gispipe's transform cache makes it: a fresh
 * context without the network, proj_create_crs_to_crs() on the two CRS
 * definitions, then proj_normalize_for_visualization().  Everything is
 * freed at the end; a failure prints its cause and exits 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <proj.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The whole of `path` in a malloc'd buffer; its size in *len. */
static void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	void *buf = NULL;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "proj_raw: cannot read '%s'\n", path);
		exit(1);
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

struct job {
	const char *src, *dst;
	double *xy;                    /* in, then out: calls write their own ranges */
	const uint64_t *calls, *first; /* per call: count, first coordinate */
	size_t ncalls, most;
	_Atomic size_t next; /* the next call to take */
	pthread_barrier_t start;
};

struct worker {
	pthread_t tid;
	struct job *job;
	double secs;
	int failed;
};

static void *run(void *arg)
{
	struct worker *w = arg;
	struct job *j = w->job;
	PJ_CONTEXT *ctx = proj_context_create();
	PJ *op = NULL, *norm = NULL;
	double *x, *y, *z;

	proj_context_set_enable_network(ctx, 0);
	proj_log_level(ctx, PJ_LOG_NONE);
	op = proj_create_crs_to_crs(ctx, j->src, j->dst, NULL);
	norm = op ? proj_normalize_for_visualization(ctx, op) : NULL;
	x = malloc((j->most + 1) * sizeof *x);
	y = malloc((j->most + 1) * sizeof *y);
	z = malloc((j->most + 1) * sizeof *z);
	if (norm == NULL)
		fprintf(stderr, "proj_raw: no operation: %s\n",
		        proj_context_errno_string(ctx, proj_context_errno(ctx)));
	else if (x == NULL || y == NULL || z == NULL)
		fprintf(stderr, "proj_raw: out of memory\n");
	w->failed = norm == NULL || x == NULL || y == NULL || z == NULL;
	/* Every thread starts calling at once (set up first, or failed). */
	pthread_barrier_wait(&j->start);
	for (size_t c; !w->failed && (c = j->next++) < j->ncalls;) {
		size_t k = j->calls[c];
		double *xy = j->xy + 2 * j->first[c], t;

		for (size_t i = 0; i < k; i++) {
			x[i] = xy[2 * i];
			y[i] = xy[2 * i + 1];
			z[i] = 0.0;
		}
		t = now();
		proj_errno_reset(norm);
		proj_trans_generic(norm, PJ_FWD, x, sizeof(double), k, y, sizeof(double), k, z,
		                   sizeof(double), k, NULL, 0, 0);
		w->secs += now() - t;
		for (size_t i = 0; i < k; i++) {
			xy[2 * i] = x[i];
			xy[2 * i + 1] = y[i];
		}
	}
	free(x);
	free(y);
	free(z);
	proj_destroy(norm);
	proj_destroy(op);
	proj_context_destroy(ctx);
	return NULL;
}

int main(int argc, char **argv)
{
	struct job j = {0};
	struct worker *w;
	size_t nbytes, cbytes, n, done = 0;
	uint64_t *first;
	char *src, *dst;
	double secs = 0;
	long threads = argc == 7 ? strtol(argv[6], NULL, 10) : 1;
	int failed = 0;
	FILE *out;

	if ((argc != 6 && argc != 7) || threads < 1 || threads > 256) {
		fprintf(stderr,
		        "usage: proj_raw SRC_CRS_FILE DST_CRS_FILE COORDS CALLS OUT [THREADS]\n");
		return 1;
	}
	src = slurp(argv[1], &n);
	src[n] = '\0';
	dst = slurp(argv[2], &n);
	dst[n] = '\0';
	j.src = src;
	j.dst = dst;
	j.xy = slurp(argv[3], &nbytes);
	j.calls = slurp(argv[4], &cbytes);
	n = nbytes / (2 * sizeof(double));
	j.ncalls = cbytes / sizeof(uint64_t);
	first = malloc((j.ncalls + 1) * sizeof *first);
	w = calloc((size_t)threads, sizeof *w);
	if (first == NULL || w == NULL) {
		fprintf(stderr, "proj_raw: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < j.ncalls; i++) {
		first[i] = done;
		done += j.calls[i];
		j.most = j.calls[i] > j.most ? j.calls[i] : j.most;
	}
	j.first = first;
	if (done != n) {
		fprintf(stderr, "proj_raw: the calls cover %zu coordinates of %zu\n", done, n);
		return 1;
	}
	pthread_barrier_init(&j.start, NULL, (unsigned)threads);
	for (long t = 1; t < threads; t++) {
		w[t].job = &j;
		if (pthread_create(&w[t].tid, NULL, run, &w[t]) != 0) {
			fprintf(stderr, "proj_raw: cannot start a thread\n");
			return 1;
		}
	}
	w[0].job = &j;
	run(&w[0]);
	for (long t = 0; t < threads; t++) {
		if (t > 0)
			pthread_join(w[t].tid, NULL);
		secs += w[t].secs;
		failed |= w[t].failed;
	}
	pthread_barrier_destroy(&j.start);
	if (failed)
		return 1;
	out = fopen(argv[5], "wb");
	if (out == NULL || fwrite(j.xy, sizeof(double), 2 * n, out) != 2 * n || fclose(out) != 0) {
		fprintf(stderr, "proj_raw: cannot write '%s'\n", argv[5]);
		return 1;
	}
	printf("coordinates %zu seconds %.9f threads %ld\n", n, secs, threads);
	free(w);
	free(first);
	free((void *)j.calls);
	free(j.xy);
	free(dst);
	free(src);
	return 0;
}
