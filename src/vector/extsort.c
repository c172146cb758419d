/* extsort.c - external sort of fixed-size records (see extsort.h). */
#include "extsort.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/error.h"

#define REC(s, base, i) ((base) + (size_t)(i) * (s)->rsize)

static int io_fail(const char *what, const char *name)
{
	return gp_fail(GP_EX_IOERR, "spatial index: cannot %s %s: %s", what, name, strerror(errno));
}

int xsort_open_spill(const char *dir, const char *name, const char *suffix)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof path, "%s/.%s-%s-XXXXXX", dir, name, suffix);
	fd = mkstemp(path);
	if (fd < 0)
		return io_fail("create", path);
	unlink(path); /* gone with the descriptor, whatever happens */
	return fd;
}

static int open_spill(struct xsort *s, const char *suffix)
{
	return xsort_open_spill(s->dir, s->name, suffix);
}

int xsort_write_at(int fd, const void *p, size_t len, int64_t off)
{
	const char *c = p;

	while (len > 0) {
		ssize_t w = off < 0 ? write(fd, c, len) : pwrite(fd, c, len, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		len -= (size_t)w;
		if (off >= 0)
			off += w;
	}
	return 0;
}

ssize_t xsort_read_at(int fd, void *p, size_t len, int64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = pread(fd, (char *)p + got, len - got, (off_t)off + (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -1 : (ssize_t)got;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int xsort_init(struct xsort *s, struct arena *a, const char *dir, const char *name,
               size_t rsize, size_t budget)
{
	*s = (struct xsort){.dir = dir, .name = name, .rsize = rsize, .raw_fd = -1,
	                    .run_fd = -1};
	s->cap = budget / rsize;
	if (s->cap < 1024)
		s->cap = 1024;
	s->buf = arena_alloc(a, s->cap * rsize, 0);
	if (s->buf == NULL)
		return -1;
	/* Resident now rather than as records fill it: the budget is planned
	 * for, and a run's memory should not look like it grows with the
	 * first records of an output. */
	memset(s->buf, 0, s->cap * rsize);
	return 0;
}

void xsort_close(struct xsort *s)
{
	if (s->raw_fd >= 0)
		close(s->raw_fd);
	if (s->run_fd >= 0)
		close(s->run_fd);
	s->raw_fd = s->run_fd = -1;
}

static void close_cleanup(void *ctx)
{
	xsort_close(ctx);
}

int xsort_defer_close(struct xsort *s, struct arena *a)
{
	return arena_defer(a, close_cleanup, s);
}

void xsort_reset(struct xsort *s)
{
	xsort_close(s);
	s->n = s->raw_n = s->total = 0;
	s->nruns = 0;
	s->in_memory = false;
}

int xsort_add(struct xsort *s, const void *rec)
{
	if (s->n == s->cap) {
		if (s->raw_fd < 0 && (s->raw_fd = open_spill(s, "raw")) < 0)
			return -1;
		if (xsort_write_at(s->raw_fd, s->buf, s->n * s->rsize, -1) != 0)
			return io_fail("write", "a spill file");
		s->raw_n += s->n;
		s->n = 0;
	}
	memcpy(REC(s, s->buf, s->n), rec, s->rsize);
	s->n++;
	s->total++;
	return 0;
}

int xsort_spill(struct xsort *s)
{
	if (s->raw_fd < 0 && (s->raw_fd = open_spill(s, "raw")) < 0)
		return -1;
	if (s->n && xsort_write_at(s->raw_fd, s->buf, s->n * s->rsize, -1) != 0)
		return io_fail("write", "a spill file");
	s->raw_n += s->n;
	s->n = 0;
	return s->raw_fd;
}

int xsort_cmp(const void *a, const void *b)
{
	const struct xsort_head *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int key_and_sort(struct xsort *s, size_t n, xsort_key_fn key, void *ctx)
{
	for (size_t i = 0; i < n; i++)
		if (key(REC(s, s->buf, i), ctx) != 0)
			return -1;
	qsort(s->buf, n, s->rsize, xsort_cmp);
	return 0;
}

int xsort_finish(struct xsort *s, struct arena *a, xsort_key_fn key, void *ctx)
{
	if (s->raw_fd < 0) {
		s->in_memory = true;
		s->mem_pos = 0;
		return key_and_sort(s, s->n, key, ctx);
	}
	if (xsort_spill(s) < 0 || (s->run_fd = open_spill(s, "runs")) < 0)
		return -1;
	s->nruns = (size_t)((s->raw_n + s->cap - 1) / s->cap);
	s->run_start = arena_calloc(a, s->nruns, sizeof *s->run_start);
	s->run_len = arena_calloc(a, s->nruns, sizeof *s->run_len);
	s->rbuf = arena_calloc(a, s->nruns, sizeof *s->rbuf);
	s->rpos = arena_calloc(a, s->nruns, sizeof *s->rpos);
	s->rfill = arena_calloc(a, s->nruns, sizeof *s->rfill);
	s->rdone = arena_calloc(a, s->nruns, sizeof *s->rdone);
	if (!s->run_start || !s->run_len || !s->rbuf || !s->rpos || !s->rfill || !s->rdone)
		return -1;
	for (size_t i = 0; i < s->nruns; i++) {
		uint64_t start = (uint64_t)i * s->cap;
		size_t len = (size_t)(s->raw_n - start < s->cap ? s->raw_n - start : s->cap);
		ssize_t got = xsort_read_at(s->raw_fd, s->buf, len * s->rsize,
		                            (int64_t)(start * s->rsize));

		if (got != (ssize_t)(len * s->rsize))
			return io_fail("read", "a spill file");
		if (key_and_sort(s, len, key, ctx) != 0)
			return -1;
		if (xsort_write_at(s->run_fd, s->buf, len * s->rsize, -1) != 0)
			return io_fail("write", "a spill file");
		s->run_start[i] = start;
		s->run_len[i] = len;
	}
	close(s->raw_fd);
	s->raw_fd = -1;
	/* Split the buffer into one window per run for the merge. */
	s->rcap = s->cap / s->nruns;
	if (s->rcap == 0)
		return gp_fail(GP_EX_TEMPFAIL, "spatial index: too many runs for the sort buffer");
	for (size_t i = 0; i < s->nruns; i++)
		s->rbuf[i] = REC(s, s->buf, i * s->rcap);
	return 0;
}

static int refill(struct xsort *s, size_t i)
{
	uint64_t left = s->run_len[i] - s->rdone[i];
	size_t len = (size_t)(left < s->rcap ? left : s->rcap);
	ssize_t got;

	s->rpos[i] = 0;
	s->rfill[i] = len;
	if (len == 0)
		return 0;
	got = xsort_read_at(s->run_fd, s->rbuf[i], len * s->rsize,
	                    (int64_t)((s->run_start[i] + s->rdone[i]) * s->rsize));
	if (got != (ssize_t)(len * s->rsize))
		return io_fail("read", "a spill file");
	s->rdone[i] += len;
	return 0;
}

/* The merge is a linear scan of the run heads: runs are few (records /
 * buffer). */
int xsort_next(struct xsort *s, void *out)
{
	size_t best = SIZE_MAX;

	if (s->in_memory) {
		if (s->mem_pos >= s->n)
			return 0;
		memcpy(out, REC(s, s->buf, s->mem_pos), s->rsize);
		s->mem_pos++;
		return 1;
	}
	for (size_t i = 0; i < s->nruns; i++) {
		if (s->rpos[i] == s->rfill[i]) {
			if (s->rdone[i] == s->run_len[i] && s->rfill[i] != 0)
				continue;
			if (s->rdone[i] < s->run_len[i] && refill(s, i) != 0)
				return -1;
			if (s->rfill[i] == 0)
				continue;
		}
		if (s->rpos[i] == s->rfill[i])
			continue;
		if (best == SIZE_MAX || xsort_cmp(REC(s, s->rbuf[i], s->rpos[i]),
		                                 REC(s, s->rbuf[best], s->rpos[best])) < 0)
			best = i;
	}
	if (best == SIZE_MAX)
		return 0;
	memcpy(out, REC(s, s->rbuf[best], s->rpos[best]), s->rsize);
	s->rpos[best]++;
	return 1;
}

uint64_t xsort_hilbert(double cx, double cy, const double ext[4])
{
	double w = ext[2] - ext[0], h = ext[3] - ext[1];
	uint32_t x = w > 0 ? (uint32_t)((cx - ext[0]) / w * 65535.0) : 0;
	uint32_t y = h > 0 ? (uint32_t)((cy - ext[1]) / h * 65535.0) : 0;
	uint64_t d = 0;

	if (x > 65535)
		x = 65535;
	if (y > 65535)
		y = 65535;
	for (uint32_t s = 1u << 15; s > 0; s >>= 1) {
		uint32_t rx = (x & s) != 0, ry = (y & s) != 0;

		d += (uint64_t)s * s * ((3 * rx) ^ ry);
		if (ry == 0) {
			if (rx == 1) {
				x = 65535 - x;
				y = 65535 - y;
			}
			uint32_t t = x;

			x = y;
			y = t;
		}
	}
	return d;
}
