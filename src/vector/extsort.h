/*
 * extsort.h - sorting fixed-size records in bounded memory.
 *
 * The spatial index builders (gpkg_rtree.c, fgb_index.c) collect one record
 * per feature and need them along a Hilbert curve whose grid is known only
 * when the last one is in.  A sorter buffers records in memory; when the
 * buffer is full they go to an unsorted spill file; xsort_finish() keys
 * each record, sorts chunks of the buffer's size into runs and merges them.
 * Memory is the buffer (`budget` bytes) whatever the number of records.
 * fgb_index.c sorts its records with the features they stand for: it takes
 * the spill and the buffer with xsort_spill() and merges its own runs.
 *
 * Ownership: the buffer and the merge state come from the arena given to
 * xsort_init() and xsort_finish(); the spill files are unlinked as soon as
 * they are made (they live in `dir`, the output's temporary directory) and
 * go with their descriptors in xsort_close(), which the owner calls on
 * every path (and may call twice).
 */
#ifndef GISPIPE_EXTSORT_H
#define GISPIPE_EXTSORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct arena;

/* Every record starts so: sorted by key, then by id. */
struct xsort_head {
	uint64_t key;
	int64_t id;
};

/* Set the record's key (and complete it if need be).  Called once per
 * record, in the order the records were added; 0, or -1 with the error set. */
typedef int (*xsort_key_fn)(void *rec, void *ctx);

struct xsort {
	const char *dir;
	const char *name;
	size_t rsize;
	unsigned char *buf;
	size_t cap, n;
	int raw_fd;           /* unsorted spill, -1 until needed */
	uint64_t raw_n;
	int run_fd;           /* sorted runs, one after another */
	size_t nruns;
	uint64_t *run_start;  /* record index of each run in run_fd */
	uint64_t *run_len;
	unsigned char **rbuf; /* merge: per-run window into buf */
	size_t *rpos, *rfill, rcap;
	uint64_t *rdone;
	size_t mem_pos;       /* in-memory streaming position */
	bool in_memory;
	uint64_t total;
};

/* Records of `rsize` bytes (a multiple of 8, at least a head), `budget`
 * bytes of buffer from `a`, spills as `dir`/.`name`-*.  -1 with the error
 * set. */
int xsort_init(struct xsort *s, struct arena *a, const char *dir, const char *name,
               size_t rsize, size_t budget);

/* Add a copy of `rec`. */
int xsort_add(struct xsort *s, const void *rec);

/* Key every record with `key` and make them ready to stream in order.
 * The merge state comes from `a`. */
int xsort_finish(struct xsort *s, struct arena *a, xsort_key_fn key, void *ctx);

/* Copy the next record in order to `out`: 1, 0 at the end, -1 on error. */
int xsort_next(struct xsort *s, void *out);

/* Write the records still buffered to the unsorted spill, which then
 * holds all of them in the order added from offset 0, and leave the buffer
 * free for the caller until xsort_reset(): the spill's descriptor (the
 * sorter's, closed by xsort_close()), or -1 with the error set.  For a
 * caller that sorts the records its own way. */
int xsort_spill(struct xsort *s);

/* The order of xsort_finish(): by key, then by id (qsort's comparator). */
int xsort_cmp(const void *a, const void *b);

/* A new spill file under `dir`, .`name`-`suffix`-*, already unlinked: its
 * descriptor, or -1 with the error set. */
int xsort_open_spill(const char *dir, const char *name, const char *suffix);

/* Close the spills and empty the sorter for new records (same buffer). */
void xsort_reset(struct xsort *s);

/* Close the spill files.  Safe twice, and on a sorter never initialised
 * past `raw_fd = run_fd = -1`. */
void xsort_close(struct xsort *s);

/* Have `a` close the spills when it is reset or destroyed, for a sorter
 * that lives in `a` and whose owner may never finish it (a failed run). */
int xsort_defer_close(struct xsort *s, struct arena *a);

/* Position along a Hilbert curve of order 16 of the point (cx, cy), on a
 * grid over `ext` (xmin, ymin, xmax, ymax). */
uint64_t xsort_hilbert(double cx, double cy, const double ext[4]);

/* Write all of `len` bytes at `off` (-1: at the file position); 0, or -1
 * with errno set. */
int xsort_write_at(int fd, const void *p, size_t len, int64_t off);

/* Read up to `len` bytes at `off`: the count (short at the end of the
 * file), or -1 with errno set. */
ssize_t xsort_read_at(int fd, void *p, size_t len, int64_t off);

#endif
