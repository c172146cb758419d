/* fgb_index.c - FlatGeobuf's packed Hilbert R-tree in bounded memory (see
 * fgb_index.h).  The layout is the FlatGeobuf specification's: magic (8
 * bytes), the header's size (uint32 LE) and the header flatbuffer, the
 * index (nodes of four float64 and a uint64, little-endian), then each
 * feature as a uint32 size and a flatbuffer. */
#include "vector/fgb_index.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/error.h"
#include "extsort.h"

#define NODE_BYTES 40
#define MAX_LEVELS 64
#define IO_BUF (256u * 1024)
/* header.fbs: the fields' order in the Header table. */
#define HDR_FEATURES_COUNT 8
#define HDR_INDEX_NODE_SIZE 9

/* Merging: each run gets an equal share of the sort buffer, at least this
 * many bytes, as its windows (an eighth for records, the rest for
 * features); more runs than the buffer has shares take more passes.  Small
 * windows cost a read every few features, which is still less than a pass
 * more, which writes every feature again (2 MiB merge 2048 runs in one
 * pass: 3 GiB of features, or 16 million small ones). */
#define MIN_SHARE 1024u

/* One feature: its sort key, its place in GDAL's file, its box. */
struct frec {
	uint64_t key;
	int64_t id;      /* the order it was written in */
	double box[4];   /* xmin, ymin, xmax, ymax */
	uint64_t off;    /* in GDAL's file: where its size prefix is */
	uint64_t len;    /* with the size prefix */
};

/* A sorted run: `n` records from record `rec_at` of a records file, and
 * their features, in the same order, from byte `byte_at` of a features
 * file. */
struct run {
	uint64_t rec_at, n, byte_at, bytes;
};

/* The runs of one pass and their two files: the first pass's are the
 * sorter's spill and GDAL's file, sorted in place (set 0, descriptors that
 * are not the set's own); a merge pass's, two spills of their own. */
struct runset {
	int rec_fd, byte_fd;
	uint64_t rec_n, byte_n; /* written so far */
	struct run *run;
	size_t n, cap;
};

/* A run being merged: its windows into the sort buffer. */
struct cursor {
	const struct run *run;
	unsigned char *rec, *byt;
	size_t rcap, rpos, rfill, bcap, bpos, bfill;
	uint64_t rdone, bdone;
};

struct fgb_index {
	struct arena *a;
	const char *tmpdir;
	struct xsort sort;
	double ext[4];
	uint64_t count;
	unsigned char *buf[3]; /* I/O: reading records, writing features, writing nodes */
	int src;               /* GDAL's file, while finishing */
	uint64_t pos, end;     /* its features: the next to read, the end */
	const char *path;
	struct runset set[3];  /* the runs: in place (0), in spills (1, 2) */
	int last;              /* the set the last merge reads */
	struct cursor *cur;    /* merge state, `fan` of each */
	size_t *heap, fan;
};

struct fgb_index *fgb_index_create(struct arena *a, const char *tmpdir, size_t budget)
{
	struct fgb_index *b = arena_calloc(a, 1, sizeof *b);

	if (b == NULL ||
	    xsort_init(&b->sort, a, tmpdir, "fgb-index", sizeof(struct frec), budget) != 0 ||
	    xsort_defer_close(&b->sort, a) != 0)
		return NULL;
	for (int i = 0; i < 3; i++)
		if ((b->buf[i] = arena_alloc(a, IO_BUF, 0)) == NULL)
			return NULL;
	*b = (struct fgb_index){.a = a, .tmpdir = tmpdir, .sort = b->sort, .src = -1,
	                        .set = {{.rec_fd = -1, .byte_fd = -1},
	                                {.rec_fd = -1, .byte_fd = -1},
	                                {.rec_fd = -1, .byte_fd = -1}},
	                        .ext = {INFINITY, INFINITY, -INFINITY, -INFINITY},
	                        .buf = {b->buf[0], b->buf[1], b->buf[2]}};
	return b;
}

int fgb_index_add(struct fgb_index *b, const double *env)
{
	struct frec r = {.id = (int64_t)b->count};

	if (env && !(env[0] <= env[2] && env[1] <= env[3]))
		env = NULL;
	if (env) {
		memcpy(r.box, env, sizeof r.box);
		b->ext[0] = fmin(b->ext[0], env[0]);
		b->ext[1] = fmin(b->ext[1], env[1]);
		b->ext[2] = fmax(b->ext[2], env[2]);
		b->ext[3] = fmax(b->ext[3], env[3]);
	} else {
		r.box[0] = r.box[1] = INFINITY;
		r.box[2] = r.box[3] = -INFINITY;
	}
	b->count++;
	return xsort_add(&b->sort, &r);
}

uint64_t fgb_index_count(const struct fgb_index *b)
{
	return b->count;
}

static uint64_t num_nodes(uint64_t n, unsigned node_size, uint64_t *levels, int *nlevels)
{
	uint64_t total = n;
	int k = 0;

	levels[k++] = n;
	do {
		n = (n + node_size - 1) / node_size;
		total += n;
		levels[k++] = n;
	} while (n != 1 && k < MAX_LEVELS);
	*nlevels = k;
	return total;
}

uint64_t fgb_index_temp_bytes(uint64_t n)
{
	uint64_t lv[MAX_LEVELS];
	int k;

	return n ? n * sizeof(struct frec) + num_nodes(n, FGB_NODE_SIZE, lv, &k) * NODE_BYTES : 0;
}

static int bad_file(const struct fgb_index *b, const char *why)
{
	return gp_fail(GP_EX_SOFTWARE, "cannot index '%s': %s", b->path, why);
}

static int io_fail(const char *what, const char *path)
{
	return gp_fail(GP_EX_IOERR, "spatial index: cannot %s '%s': %s", what, path,
	               strerror(errno ? errno : EIO));
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put_f64(unsigned char *p, double d)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	put_u64(p, u);
}

static double get_f64(const unsigned char *p)
{
	uint64_t u = get_u64(p);
	double d;

	memcpy(&d, &u, 8);
	return d;
}

/* Where field `field` of the header's root table is, or 0 when absent
 * (left at its default).  `h` is the header flatbuffer, `len` bytes. */
static size_t header_field(const unsigned char *h, size_t len, int field, size_t width)
{
	uint32_t root;
	int32_t vt_rel;
	size_t vt, vlen, at;

	if (len < 8)
		return 0;
	root = get_u32(h);
	if ((size_t)root + 4 > len)
		return 0;
	vt_rel = (int32_t)get_u32(h + root);
	if ((int64_t)root - vt_rel < 0 || (int64_t)root - vt_rel + 4 > (int64_t)len)
		return 0;
	vt = (size_t)((int64_t)root - vt_rel);
	vlen = (size_t)h[vt] | (size_t)h[vt + 1] << 8;
	if (vt + vlen > len || 4 + 2 * (size_t)field + 2 > vlen)
		return 0;
	at = (size_t)h[vt + 4 + 2 * field] | (size_t)h[vt + 5 + 2 * field] << 8;
	if (at == 0 || root + at + width > len)
		return 0;
	return root + at;
}

/* The header's fields (header.fbs), their width, and where the new root
 * table keeps them.  References to strings, vectors and tables are kept
 * as they are: the old buffer follows the new root whole, shifted by a
 * multiple of 8 so that everything in it stays aligned.  Alignment is
 * counted from the size prefix (the file's offset 8), as readers that map
 * the file's bytes see it: the table's uint64 and the envelope's doubles
 * sit at header offsets of 4 modulo 8. */
#define NFIELDS 14
#define NEW_ROOT 136u
#define NEW_TABLE 44u
#define NEW_ENVELOPE 96u
enum { F_REF, F_U8, F_U16, F_U64 };
static const struct {
	unsigned char kind, at;
} hdr_fields[NFIELDS] = {
	{F_REF, 4},  /* name */
	{F_REF, 16}, /* envelope: ours */
	{F_U8, 42},  /* geometry_type */
	{F_U8, 43},  /* has_z */
	{F_U8, 44},  /* has_m */
	{F_U8, 45},  /* has_t */
	{F_U8, 46},  /* has_tm */
	{F_REF, 20}, /* columns */
	{F_U64, 8},  /* features_count: ours */
	{F_U16, 40}, /* index_node_size: ours */
	{F_REF, 24}, /* crs */
	{F_REF, 28}, /* title */
	{F_REF, 32}, /* description */
	{F_REF, 36}, /* metadata */
};

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

/* A new header in `out`: a root table with every field of the old one,
 * plus features_count, index_node_size and (when there are boxes) the
 * envelope; then the old buffer.  The new length, or 0 when the old
 * header is not a readable flatbuffer. */
static uint32_t reencode_header(const unsigned char *h, uint32_t hlen, unsigned char *out,
                                uint64_t count, const double ext[4], unsigned node_size)
{
	unsigned char *vt = out + 4, *t = out + NEW_TABLE;
	uint32_t nlen;
	bool has_ext = isfinite(ext[0]) && isfinite(ext[2]);

	if (hlen < 8 || header_field(h, hlen, 0, 4) == 0) /* name is required */
		return 0;
	memset(out, 0, NEW_ROOT);
	put_u32(out, NEW_TABLE);
	vt[0] = 4 + 2 * NFIELDS;
	vt[2] = 48;
	put_u32(t, (uint32_t)(NEW_TABLE - 4)); /* soffset back to the vtable */
	for (int f = 0; f < NFIELDS; f++) {
		static const size_t width[] = {4, 1, 2, 8};
		size_t at = header_field(h, hlen, f, width[hdr_fields[f].kind]);
		unsigned char *dst = t + hdr_fields[f].at;

		if (f == HDR_FEATURES_COUNT) {
			put_u64(dst, count);
		} else if (f == HDR_INDEX_NODE_SIZE) {
			dst[0] = (unsigned char)node_size;
			dst[1] = (unsigned char)(node_size >> 8);
		} else if (f == 1) {
			if (!has_ext)
				continue;
			put_u32(dst, (uint32_t)(NEW_ENVELOPE - (NEW_TABLE + hdr_fields[f].at)));
			put_u32(out + NEW_ENVELOPE, 4);
			for (int i = 0; i < 4; i++)
				put_f64(out + NEW_ENVELOPE + 4 + 8 * i, ext[i]);
		} else if (at == 0) {
			continue;
		} else if (hdr_fields[f].kind == F_REF) {
			uint64_t target = at + (uint64_t)get_u32(h + at);

			if (target >= hlen)
				return 0;
			put_u32(dst, (uint32_t)(NEW_ROOT + target - (NEW_TABLE + hdr_fields[f].at)));
		} else {
			memcpy(dst, h + at, width[hdr_fields[f].kind]);
		}
		vt[4 + 2 * f] = hdr_fields[f].at;
	}
	memcpy(out + NEW_ROOT, h, hlen);
	/* The index after it starts at a file offset of a multiple of 8. */
	nlen = NEW_ROOT + hlen;
	while ((12 + nlen) % 8)
		out[nlen++] = 0;
	return nlen;
}

/* A sequential writer at a position of the new file. */
struct bw {
	int fd;
	uint64_t off;
	unsigned char *buf;
	size_t n;
	const char *path;
};

static int bw_flush(struct bw *w)
{
	if (w->n && xsort_write_at(w->fd, w->buf, w->n, (int64_t)w->off) != 0)
		return io_fail("write", w->path);
	w->off += w->n;
	w->n = 0;
	return 0;
}

static int bw_put(struct bw *w, const void *p, size_t len)
{
	const unsigned char *c = p;

	while (len > 0) {
		size_t k = IO_BUF - w->n < len ? IO_BUF - w->n : len;

		memcpy(w->buf + w->n, c, k);
		w->n += k;
		c += k;
		len -= k;
		if (w->n == IO_BUF && bw_flush(w) != 0)
			return -1;
	}
	return 0;
}

static int put_node(struct bw *w, const double box[4], uint64_t offset)
{
	unsigned char node[NODE_BYTES];

	for (int i = 0; i < 4; i++)
		put_f64(node + 8 * i, box[i]);
	put_u64(node + 32, offset);
	return bw_put(w, node, sizeof node);
}

static uint64_t key_of(const struct fgb_index *b, const struct frec *r)
{
	if (isinf(r->box[0]))
		return UINT64_MAX; /* no geometry: last */
	return xsort_hilbert((r->box[0] + r->box[2]) / 2, (r->box[1] + r->box[3]) / 2, b->ext);
}

/* All of `len` bytes at `off`: 0, or -1 with errno set (EIO when short). */
static int read_full(int fd, void *p, size_t len, uint64_t off)
{
	ssize_t got = xsort_read_at(fd, p, len, (int64_t)off);

	if (got == (ssize_t)len)
		return 0;
	if (got >= 0)
		errno = EIO;
	return -1;
}

static int spill_fail(const char *what)
{
	return gp_fail(GP_EX_IOERR, "spatial index: cannot %s a spill file: %s", what,
	               strerror(errno ? errno : EIO));
}

static int add_run(struct fgb_index *b, struct runset *set, const struct run *r)
{
	if (set->n == set->cap) {
		size_t cap = set->cap ? 2 * set->cap : 64;
		struct run *grown = arena_realloc(b->a, set->run, set->cap * sizeof *grown,
		                                  cap * sizeof *grown);

		if (grown == NULL)
			return -1;
		set->run = grown;
		set->cap = cap;
	}
	set->run[set->n++] = *r;
	return 0;
}

/* Empty spills for `set`, made when first needed. */
static int set_open(struct fgb_index *b, struct runset *set)
{
	if (set->rec_fd < 0 && (set->rec_fd = xsort_open_spill(b->tmpdir, "fgb-index", "recs")) < 0)
		return -1;
	if (set->byte_fd < 0 &&
	    (set->byte_fd = xsort_open_spill(b->tmpdir, "fgb-index", "feats")) < 0)
		return -1;
	if (ftruncate(set->rec_fd, 0) != 0 || ftruncate(set->byte_fd, 0) != 0)
		return spill_fail("empty");
	set->rec_n = set->byte_n = 0;
	set->n = 0;
	return 0;
}

/* The records as they were added, read back from the sorter's spill. */
struct recs_in {
	int fd;
	unsigned char *buf;
	size_t pos, fill;
	uint64_t read, total;
};

static int next_rec(struct recs_in *in, struct frec *r)
{
	if (in->pos == in->fill) {
		uint64_t left = in->total - in->read;
		size_t k = left < IO_BUF / sizeof *r ? (size_t)left : IO_BUF / sizeof *r;

		if (read_full(in->fd, in->buf, k * sizeof *r, in->read * sizeof *r) != 0)
			return spill_fail("read");
		in->read += k;
		in->fill = k;
		in->pos = 0;
	}
	memcpy(r, in->buf + in->pos++ * sizeof *r, sizeof *r);
	return 0;
}

/* The first pass sorts in place: GDAL's features are read in chunks of
 * the sort buffer, in order, and each chunk is written back sorted over
 * itself, its records likewise over theirs in the sorter's spill.  Each
 * chunk is then a run, and the pages rewritten are the page cache's
 * already (new pages cost more than the copy).  A quarter of the buffer
 * holds a chunk's records, the rest its features; a feature larger than
 * that is a run of its own, left where it is. */
static int make_runs(struct fgb_index *b)
{
	struct runset *out = &b->set[0];
	struct recs_in in = {.fd = xsort_spill(&b->sort), .buf = b->buf[0], .total = b->count};
	size_t rcap = b->sort.cap / 4, bcap = (b->sort.cap - rcap) * sizeof(struct frec);
	struct frec *recs = (struct frec *)b->sort.buf;
	unsigned char *bytes = b->sort.buf + rcap * sizeof *recs;
	uint64_t taken = 0;

	if (in.fd < 0)
		return -1;
	*out = (struct runset){.rec_fd = in.fd, .byte_fd = b->src};
	while (taken < b->count) {
		uint64_t left = b->end - b->pos;
		size_t want = left < bcap ? (size_t)left : bcap, q = 0, n = 0;
		struct run run = {.rec_at = taken, .byte_at = b->pos};
		struct bw w = {.fd = b->src, .off = b->pos, .buf = b->buf[2], .path = b->path};

		if (left < 4)
			return bad_file(b, left ? "a feature is cut short"
			                        : "fewer features than were written");
		if (read_full(b->src, bytes, want, b->pos) != 0)
			return io_fail("read", b->path);
		while (n < rcap && taken < b->count && q + 4 <= want) {
			struct frec *r = recs + n;
			uint64_t len = 4 + (uint64_t)get_u32(bytes + q);

			if (b->pos + q + len > b->end)
				return bad_file(b, "a feature is cut short");
			if (q + len > want && q > 0)
				break;
			if (next_rec(&in, r) != 0)
				return -1;
			taken++;
			r->off = b->pos + q;
			r->len = len;
			r->key = key_of(b, r);
			n++;
			if (q + len > want)
				break; /* the giant (q is 0): its bytes stay where they are */
			q += (size_t)len;
		}
		qsort(recs, n, sizeof *recs, xsort_cmp);
		for (size_t i = 0; q > 0 && i < n; i++)
			if (bw_put(&w, bytes + (recs[i].off - b->pos), (size_t)recs[i].len) != 0)
				return -1;
		if (bw_flush(&w) != 0)
			return -1;
		if (xsort_write_at(in.fd, recs, n * sizeof *recs,
		                   (int64_t)(run.rec_at * sizeof *recs)) != 0)
			return spill_fail("write");
		run.n = n;
		run.bytes = q ? q : recs[0].len;
		b->pos += run.bytes;
		if (add_run(b, out, &run) != 0)
			return -1;
	}
	if (b->pos != b->end)
		return bad_file(b, "more features than were written");
	return 0;
}

/* Where the merge writes: the leaves and the features of the new file
 * (final), or the records and features of a longer run. */
struct sink {
	bool final;
	struct bw head, body;
	uint64_t at, n; /* bytes and records written */
};

static int fill_recs(struct runset *in, struct cursor *c)
{
	uint64_t left = c->run->n - c->rdone;
	size_t k = left < c->rcap ? (size_t)left : c->rcap;

	if (read_full(in->rec_fd, c->rec, k * sizeof(struct frec),
	              (c->run->rec_at + c->rdone) * sizeof(struct frec)) != 0)
		return spill_fail("read");
	c->rdone += k;
	c->rfill = k;
	c->rpos = 0;
	return 0;
}

static int fill_bytes(struct runset *in, struct cursor *c)
{
	uint64_t left = c->run->bytes - c->bdone;
	size_t k = left < c->bcap ? (size_t)left : c->bcap;

	if (k == 0)
		errno = EIO; /* a run shorter than its records */
	if (k == 0 || read_full(in->byte_fd, c->byt, k, c->run->byte_at + c->bdone) != 0)
		return spill_fail("read");
	c->bdone += k;
	c->bfill = k;
	c->bpos = 0;
	return 0;
}

static const struct frec *head_of(const struct fgb_index *b, size_t i)
{
	const struct cursor *c = &b->cur[i];

	return (const struct frec *)(c->rec + c->rpos * sizeof(struct frec));
}

static void sift_down(struct fgb_index *b, size_t n, size_t i)
{
	size_t *h = b->heap;

	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < n && xsort_cmp(head_of(b, h[l]), head_of(b, h[m])) < 0)
			m = l;
		if (l + 1 < n && xsort_cmp(head_of(b, h[l + 1]), head_of(b, h[m])) < 0)
			m = l + 1;
		if (m == i)
			return;
		size_t t = h[i];

		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* Merge runs [lo, hi) of `in` (at most `fan`) into `out`, by key then id:
 * each run gets an equal share of the sort buffer as its windows. */
static int merge(struct fgb_index *b, struct runset *in, size_t lo, size_t hi, struct sink *out)
{
	size_t k = hi - lo, n = k;
	size_t share = b->sort.cap / k * sizeof(struct frec); /* records stay aligned */
	size_t rcap = share / 8 / sizeof(struct frec);

	for (size_t i = 0; i < k; i++) {
		struct cursor *c = &b->cur[i];

		*c = (struct cursor){.run = &in->run[lo + i],
		                     .rec = b->sort.buf + i * share,
		                     .rcap = rcap,
		                     .byt = b->sort.buf + i * share + rcap * sizeof(struct frec),
		                     .bcap = share - rcap * sizeof(struct frec)};
		if (fill_recs(in, c) != 0)
			return -1;
		b->heap[i] = i;
	}
	for (size_t i = k / 2; i-- > 0;)
		sift_down(b, n, i);
	while (n > 0) {
		struct cursor *c = &b->cur[b->heap[0]];
		struct frec r;

		memcpy(&r, c->rec + c->rpos++ * sizeof r, sizeof r);
		if ((out->final ? put_node(&out->head, r.box, out->at)
		                : bw_put(&out->head, &r, sizeof r)) != 0)
			return -1;
		for (uint64_t left = r.len; left > 0;) {
			size_t t;

			if (c->bpos == c->bfill && fill_bytes(in, c) != 0)
				return -1;
			t = c->bfill - c->bpos < left ? c->bfill - c->bpos : (size_t)left;
			if (bw_put(&out->body, c->byt + c->bpos, t) != 0)
				return -1;
			c->bpos += t;
			left -= t;
		}
		out->at += r.len;
		out->n++;
		if (c->rpos == c->rfill && c->rdone < c->run->n && fill_recs(in, c) != 0)
			return -1;
		if (c->rpos == c->rfill)
			b->heap[0] = b->heap[--n];
		sift_down(b, n, 0);
	}
	return bw_flush(&out->head) == 0 && bw_flush(&out->body) == 0 ? 0 : -1;
}

/* Merge passes until the runs are few enough for the last merge, which
 * writes the new file.  Each pass merges `fan` runs at a time into a set
 * of spills (sets 1 and 2 in turn) and empties the set it read, when it
 * is one of those. */
static int merge_down(struct fgb_index *b)
{
	b->fan = b->sort.cap * sizeof(struct frec) / MIN_SHARE;
	b->cur = arena_calloc(b->a, b->fan, sizeof *b->cur);
	b->heap = arena_calloc(b->a, b->fan, sizeof *b->heap);
	if (b->cur == NULL || b->heap == NULL)
		return -1;
	b->last = 0;
	while (b->set[b->last].n > b->fan) {
		int next = b->last == 1 ? 2 : 1;
		struct runset *in = &b->set[b->last], *to = &b->set[next];

		if (set_open(b, to) != 0)
			return -1;
		for (size_t lo = 0; lo < in->n; lo += b->fan) {
			size_t hi = in->n - lo < b->fan ? in->n : lo + b->fan;
			struct sink out = {
				.head = {.fd = to->rec_fd, .off = to->rec_n * sizeof(struct frec),
				         .buf = b->buf[2], .path = "a spill file"},
				.body = {.fd = to->byte_fd, .off = to->byte_n, .buf = b->buf[1],
				         .path = "a spill file"}};
			struct run run = {.rec_at = to->rec_n, .byte_at = to->byte_n};

			if (merge(b, in, lo, hi, &out) != 0)
				return -1;
			run.n = out.n;
			run.bytes = out.at;
			to->rec_n += out.n;
			to->byte_n += out.at;
			if (add_run(b, to, &run) != 0)
				return -1;
		}
		if (b->last != 0 && set_open(b, in) != 0) /* empty: its disk back */
			return -1;
		b->last = next;
	}
	return 0;
}

/* One level above another: `n` child nodes from index `first` (read back
 * from the new file) make parents written from index `up`. */
static int write_parents(struct fgb_index *b, int fd, uint64_t idx_at, uint64_t first,
                         uint64_t n, uint64_t up, unsigned node_size, const char *dpath)
{
	struct bw w = {.fd = fd, .off = idx_at + up * NODE_BYTES, .buf = b->buf[2], .path = dpath};
	unsigned char *rd = b->buf[0];
	size_t per = IO_BUF / NODE_BYTES, have = 0, pos = 0;
	uint64_t read = 0;

	for (uint64_t i = 0; i < n;) {
		double box[4] = {INFINITY, INFINITY, -INFINITY, -INFINITY};
		uint64_t child = first + i;

		for (unsigned j = 0; j < node_size && i < n; j++, i++) {
			const unsigned char *c;

			if (pos == have) {
				size_t k = n - read < per ? (size_t)(n - read) : per;

				if (xsort_read_at(fd, rd, k * NODE_BYTES,
				                  (int64_t)(idx_at + (first + read) * NODE_BYTES)) !=
				    (ssize_t)(k * NODE_BYTES))
					return io_fail("read", dpath);
				read += k;
				have = k;
				pos = 0;
			}
			c = rd + pos++ * NODE_BYTES;
			box[0] = fmin(box[0], get_f64(c));
			box[1] = fmin(box[1], get_f64(c + 8));
			box[2] = fmax(box[2], get_f64(c + 16));
			box[3] = fmax(box[3], get_f64(c + 24));
		}
		if (put_node(&w, box, child) != 0)
			return -1;
	}
	return bw_flush(&w);
}

static int build(struct fgb_index *b, int dst, const char *dpath, unsigned node_size)
{
	unsigned char head[12], *h, *nh;
	uint32_t hlen, nlen;
	size_t at;
	uint64_t levels[MAX_LEVELS], total, idx_at, first[MAX_LEVELS];
	int nlev;
	struct bw w = {.fd = dst, .off = 0, .buf = b->buf[2], .path = dpath};

	if (xsort_read_at(b->src, head, sizeof head, 0) != (ssize_t)sizeof head ||
	    memcmp(head, "fgb\x03", 4) != 0 || memcmp(head + 4, "fgb", 3) != 0)
		return bad_file(b, "not a FlatGeobuf file of version 3");
	hlen = get_u32(head + 8);
	if (hlen > IO_BUF - NEW_ROOT - 8 || 12 + (uint64_t)hlen > b->end)
		return bad_file(b, "header too large");
	h = b->buf[1];
	if (xsort_read_at(b->src, h, hlen, 12) != (ssize_t)hlen)
		return io_fail("read", b->path);
	/* GDAL's header has its count and extent only when the file had an
	 * index; ours gets them, and index_node_size, in a new root table. */
	at = header_field(h, hlen, HDR_FEATURES_COUNT, 8);
	if (at != 0 && get_u64(h + at) != b->count)
		return bad_file(b, "the header does not count the features written");
	nh = b->buf[2];
	nlen = reencode_header(h, hlen, nh, b->count, b->ext, node_size);
	if (nlen == 0)
		return bad_file(b, "the header cannot be read");
	memcpy(head + 8, (unsigned char[4]){(unsigned char)nlen, (unsigned char)(nlen >> 8),
	                                    (unsigned char)(nlen >> 16),
	                                    (unsigned char)(nlen >> 24)}, 4);
	w.buf = b->buf[0];
	if (bw_put(&w, head, sizeof head) != 0 || bw_put(&w, nh, nlen) != 0 || bw_flush(&w) != 0)
		return -1;
	b->pos = 12 + (uint64_t)hlen;
	if (make_runs(b) != 0 || merge_down(b) != 0)
		return -1;
	total = num_nodes(b->count, node_size, levels, &nlev);
	idx_at = 12 + (uint64_t)nlen;
	/* Storage order is top-down: level k (0 = leaves) starts after all
	 * the levels above it. */
	{
		uint64_t start = total;

		for (int k = 0; k < nlev; k++)
			first[k] = start -= levels[k];
	}
	{
		/* Leaves and features together: each leaf is its feature's
		 * offset in the features section. */
		struct sink out = {.final = true,
		                   .head = {.fd = dst, .off = idx_at + first[0] * NODE_BYTES,
		                            .buf = b->buf[2], .path = dpath},
		                   .body = {.fd = dst, .off = idx_at + total * NODE_BYTES,
		                            .buf = b->buf[1], .path = dpath}};

		if (merge(b, &b->set[b->last], 0, b->set[b->last].n, &out) != 0)
			return -1;
	}
	for (int k = 0; k + 1 < nlev; k++)
		if (write_parents(b, dst, idx_at, first[k], levels[k], first[k + 1], node_size,
		                  dpath) != 0)
			return -1;
	return 0;
}

int fgb_index_finish(struct fgb_index *b, const char *path, unsigned node_size)
{
	char dpath[4096] = "";
	int dst = -1, r = -1;
	struct stat sb;
	off_t end;

	b->path = path;
	if (b->count == 0) {
		xsort_close(&b->sort);
		return 0;
	}
	b->src = open(path, O_RDWR | O_CLOEXEC);
	if (b->src < 0) {
		io_fail("open", path);
		goto out;
	}
	end = lseek(b->src, 0, SEEK_END);
	if (end < 0) {
		io_fail("read", path);
		goto out;
	}
	b->end = (uint64_t)end;
	snprintf(dpath, sizeof dpath, "%s/.fgb-index-XXXXXX", b->tmpdir);
	dst = mkstemp(dpath);
	if (dst < 0) {
		io_fail("create", dpath);
		goto out;
	}
	if (build(b, dst, dpath, node_size) != 0)
		goto out;
	/* mkstemp made it 0600: keep the mode GDAL's file was given. */
	if (fstat(b->src, &sb) != 0 || fchmod(dst, sb.st_mode & 07777) != 0) {
		io_fail("set the mode of", dpath);
		goto out;
	}
	if (close(dst) != 0) {
		dst = -1;
		io_fail("write", dpath);
		goto out;
	}
	dst = -1;
	if (rename(dpath, path) != 0) {
		io_fail("rename", dpath);
		goto out;
	}
	dpath[0] = '\0';
	r = 0;
out:
	if (dst >= 0)
		close(dst);
	if (r != 0 && dpath[0])
		unlink(dpath);
	if (b->src >= 0)
		close(b->src);
	b->src = -1;
	for (int i = 1; i < 3; i++) { /* set 0's are the sorter's and src */
		if (b->set[i].rec_fd >= 0)
			close(b->set[i].rec_fd);
		if (b->set[i].byte_fd >= 0)
			close(b->set[i].byte_fd);
		b->set[i].rec_fd = b->set[i].byte_fd = -1;
	}
	xsort_close(&b->sort);
	return r;
}
