/*
 * fuzz_wkb.c - libFuzzer harness: bytes as WKB for every reader in wkb.c.
 *
 * The input is copied to a buffer of exactly its size (ASan sees any read
 * past it) and given to wkb_walk(), wkb_npoints() and wkb_envelope().  Each
 * run handed out must lie inside the buffer; the three must agree on
 * whether the WKB is well formed and on the number of points; a walk
 * stopped by its callback must return the callback's value.  Runs are
 * rewritten in place, as the reproject step does.  wkb_mend() must accept
 * only what the walk accepts, write exactly what it measured (into a
 * buffer of that size) and give WKB the walk accepts, with no fewer points.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vector/wkb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	const unsigned char *buf;
	size_t len;
	int64_t points;
	size_t runs;
	size_t stop_at; /* return 7 from this run (1-based); 0: never */
};

static void finding(const char *what)
{
	fprintf(stderr, "fuzz_wkb: %s\n", what);
	abort();
}

static int on_run(const struct wkb_run *r, void *ctx)
{
	struct seen *s = ctx;
	size_t off;

	if (r->n == 0)
		finding("empty run handed out");
	if (r->stride != 16 && r->stride != 24 && r->stride != 32)
		finding("bad stride");
	if (r->has_z && r->stride < 24)
		finding("Z without room for it");
	if (r->le != 0 && r->le != 1)
		finding("bad byte order in a run");
	if (r->p < s->buf || r->p > s->buf + s->len)
		finding("run outside the buffer");
	off = (size_t)(r->p - s->buf);
	if (r->n > (s->len - off) / r->stride)
		finding("run past the end of the buffer");
	/* Write every coordinate in place, as reprojection does: flip the
	 * signs of x, y and z (a NaN stays a NaN, so POINT EMPTY stays empty
	 * and the later walks see the same geometry). */
	for (size_t i = 0; i < r->n; i++) {
		unsigned char *p = r->p + i * r->stride;

		for (int k = 0; k < (r->has_z ? 3 : 2); k++)
			p[8 * k + (r->le ? 7 : 0)] ^= 0x80;
	}
	s->points += (int64_t)r->n;
	s->runs++;
	if (s->stop_at && s->runs == s->stop_at)
		return 7;
	return 0;
}

/* `walked`: what wkb_walk() said of buf; `points`: how many it found. */
static void mend(const unsigned char *buf, size_t size, int walked, int64_t points)
{
	size_t n = wkb_mend(buf, size, NULL);
	unsigned char *out;

	if (n == 0)
		return;
	if (walked != 0)
		finding("wkb_mend accepts what wkb_walk refuses");
	out = malloc(n);
	if (out == NULL)
		return;
	if (wkb_mend(buf, size, out) != n)
		finding("wkb_mend wrote another size than it measured");
	if (wkb_walk(out, n, NULL, NULL, NULL) != 0)
		finding("wkb_mend wrote WKB the walk refuses");
	if (wkb_npoints(out, n) < points)
		finding("wkb_mend lost points");
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *buf = malloc(size ? size : 1);
	struct seen s = {buf, size, 0, 0, 0};
	const char *why = NULL;
	int r, r2;
	int64_t np;
	double env[4];

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	r = wkb_walk(buf, size, on_run, &s, &why);
	if (r != 0 && r != -2)
		finding("wkb_walk returned neither 0 nor -2");
	if (r == -2 && (why == NULL || *why == '\0'))
		finding("malformed WKB without a reason");

	/* Without a callback: same verdict. */
	why = NULL;
	if (wkb_walk(buf, size, NULL, NULL, &why) != r)
		finding("wkb_walk with and without a callback disagree");

	np = wkb_npoints(buf, size);
	if (r == 0 ? np != s.points : np != -1)
		finding("wkb_npoints disagrees with wkb_walk");

	r2 = wkb_envelope(buf, size, env);
	if (r == 0 && r2 != (s.points ? 0 : 1))
		finding("wkb_envelope disagrees with wkb_walk");
	if (r != 0 && r2 != -2)
		finding("wkb_envelope accepts what wkb_walk refuses");
	if (r2 == 0 && !(env[0] <= env[2] && env[1] <= env[3]) && !isnan(env[0]) &&
	    !isnan(env[1]) && !isnan(env[2]) && !isnan(env[3]))
		finding("inverted envelope");

	mend(buf, size, r, r == 0 ? s.points : -1);

	/* Stopped halfway: the callback's value comes back. */
	if (r == 0 && s.runs > 1) {
		struct seen t = {buf, size, 0, 0, (s.runs + 1) / 2};

		if (wkb_walk(buf, size, on_run, &t, NULL) != 7 || t.runs != t.stop_at)
			finding("a walk stopped by its callback did not stop");
	}
	free(buf);
	return 0;
}
