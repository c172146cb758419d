/* proj_raw.c - W7's peer: raw proj_trans_generic() on the coordinates the
 * reproject stage transforms, in the same calls, timed per call.
 *
 * bench.py compiles it into its work directory and runs it.  It reads
 * the coordinates as native doubles, x y interleaved, and the number of
 * coordinates each call transforms as native uint64s (the stage's
 * batches); it writes the transformed coordinates in the same layout, so
 * that bench.py compares them with gispipe's output, and prints one line:
 * "coordinates N seconds S".  S counts only the proj_trans_generic()
 * calls: copying a call's coordinates into its x, y, z arrays is outside
 * the clock, as the arrays are the input the stage's own gathering makes.
 * The clock is the thread's CPU time, the one the stage's seconds are
 * counted on, so that neither side counts time spent waiting for a CPU.
 * The operation is made as gispipe's transform cache makes it: a fresh
 * context without the network, proj_create_crs_to_crs() on the two CRS
 * definitions, then proj_normalize_for_visualization().  Everything is
 * freed at the end; a failure prints its cause and exits 1.
 */
#define _POSIX_C_SOURCE 200809L
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

int main(int argc, char **argv)
{
	PJ_CONTEXT *ctx;
	PJ *op, *norm;
	size_t nbytes, cbytes, n, ncalls, done = 0, most = 0;
	double *xy, *x, *y, *z, secs = 0;
	uint64_t *calls;
	char *src, *dst;
	FILE *out;

	if (argc != 6) {
		fprintf(stderr, "usage: proj_raw SRC_CRS_FILE DST_CRS_FILE COORDS CALLS OUT\n");
		return 1;
	}
	src = slurp(argv[1], &n);
	src[n] = '\0';
	dst = slurp(argv[2], &n);
	dst[n] = '\0';
	xy = slurp(argv[3], &nbytes);
	calls = slurp(argv[4], &cbytes);
	n = nbytes / (2 * sizeof(double));
	ncalls = cbytes / sizeof(uint64_t);
	for (size_t i = 0; i < ncalls; i++) {
		done += calls[i];
		most = calls[i] > most ? calls[i] : most;
	}
	if (done != n) {
		fprintf(stderr, "proj_raw: the calls cover %zu coordinates of %zu\n", done, n);
		return 1;
	}
	ctx = proj_context_create();
	proj_context_set_enable_network(ctx, 0);
	proj_log_level(ctx, PJ_LOG_NONE);
	op = proj_create_crs_to_crs(ctx, src, dst, NULL);
	norm = op ? proj_normalize_for_visualization(ctx, op) : NULL;
	if (norm == NULL) {
		fprintf(stderr, "proj_raw: no operation: %s\n",
		        proj_context_errno_string(ctx, proj_context_errno(ctx)));
		return 1;
	}
	x = malloc((most + 1) * sizeof *x);
	y = malloc((most + 1) * sizeof *y);
	z = malloc((most + 1) * sizeof *z);
	if (x == NULL || y == NULL || z == NULL) {
		fprintf(stderr, "proj_raw: out of memory\n");
		return 1;
	}
	done = 0;
	for (size_t c = 0; c < ncalls; c++) {
		size_t k = calls[c];
		double t;

		for (size_t i = 0; i < k; i++) {
			x[i] = xy[2 * (done + i)];
			y[i] = xy[2 * (done + i) + 1];
			z[i] = 0.0;
		}
		t = now();
		proj_errno_reset(norm);
		proj_trans_generic(norm, PJ_FWD, x, sizeof(double), k, y, sizeof(double), k, z,
		                   sizeof(double), k, NULL, 0, 0);
		secs += now() - t;
		for (size_t i = 0; i < k; i++) {
			xy[2 * (done + i)] = x[i];
			xy[2 * (done + i) + 1] = y[i];
		}
		done += k;
	}
	out = fopen(argv[5], "wb");
	if (out == NULL || fwrite(xy, sizeof(double), 2 * n, out) != 2 * n || fclose(out) != 0) {
		fprintf(stderr, "proj_raw: cannot write '%s'\n", argv[5]);
		return 1;
	}
	printf("coordinates %zu seconds %.9f\n", n, secs);
	free(x);
	free(y);
	free(z);
	free(calls);
	free(xy);
	free(dst);
	free(src);
	proj_destroy(norm);
	proj_destroy(op);
	proj_context_destroy(ctx);
	return 0;
}
