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

/* One feature: its sort key, its place in GDAL's file, its box. */
struct frec {
	uint64_t key;
	int64_t id;      /* the order it was written in */
	double box[4];   /* xmin, ymin, xmax, ymax */
	uint64_t off;    /* in GDAL's file: where its size prefix is */
	uint64_t len;    /* with the size prefix */
};

struct fgb_index {
	struct arena *a;
	const char *tmpdir;
	struct xsort sort;
	double ext[4];
	uint64_t count;
	unsigned char *buf[3]; /* I/O: reading sizes, copying, writing nodes */
	/* While keying: walking GDAL's features in order. */
	int src;
	uint64_t pos, end;
	uint64_t win_off;
	size_t win_len;
	const char *path;
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

/* The key of each feature, in the order GDAL wrote them: its place in
 * GDAL's file is read from the size prefixes as they come. */
static int key_feature(void *rec, void *ctx)
{
	struct fgb_index *b = ctx;
	struct frec *r = rec;
	unsigned char *w = b->buf[0];
	uint32_t size;

	if (b->pos + 4 > b->end)
		return bad_file(b, "fewer features than were written");
	if (b->pos < b->win_off || b->pos + 4 > b->win_off + b->win_len) {
		ssize_t got = xsort_read_at(b->src, w, IO_BUF, (int64_t)b->pos);

		if (got < 4)
			return got < 0 ? io_fail("read", b->path)
			               : bad_file(b, "a feature is cut short");
		b->win_off = b->pos;
		b->win_len = (size_t)got;
	}
	size = get_u32(w + (b->pos - b->win_off));
	r->off = b->pos;
	r->len = 4 + (uint64_t)size;
	b->pos += r->len;
	if (b->pos > b->end)
		return bad_file(b, "a feature is cut short");
	if (isinf(r->box[0]))
		r->key = UINT64_MAX; /* no geometry: last */
	else
		r->key = xsort_hilbert((r->box[0] + r->box[2]) / 2, (r->box[1] + r->box[3]) / 2,
		                       b->ext);
	return 0;
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

/* Leaves and features together, in the sorted order: each leaf is its
 * feature's offset in the features section. */
static int write_leaves(struct fgb_index *b, int dst, uint64_t leaf_at, uint64_t feat_at,
                        const char *dpath)
{
	struct bw leaves = {.fd = dst, .off = leaf_at, .buf = b->buf[2], .path = dpath};
	struct bw feats = {.fd = dst, .off = feat_at, .buf = b->buf[0], .path = dpath};
	unsigned char *copy = b->buf[1];
	uint64_t at = 0;
	struct frec r;
	int got;

	while ((got = xsort_next(&b->sort, &r)) == 1) {
		if (put_node(&leaves, r.box, at) != 0)
			return -1;
		for (uint64_t done = 0; done < r.len;) {
			size_t k = r.len - done < IO_BUF ? (size_t)(r.len - done) : IO_BUF;

			if (xsort_read_at(b->src, copy, k, (int64_t)(r.off + done)) != (ssize_t)k)
				return io_fail("read", b->path);
			if (bw_put(&feats, copy, k) != 0)
				return -1;
			done += k;
		}
		at += r.len;
	}
	if (got < 0)
		return -1;
	return bw_flush(&leaves) == 0 && bw_flush(&feats) == 0 ? 0 : -1;
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
	/* Keys need GDAL's feature offsets: walk them from the first. */
	b->pos = 12 + (uint64_t)hlen;
	b->win_off = b->win_len = 0;
	if (xsort_finish(&b->sort, b->a, key_feature, b) != 0)
		return -1;
	if (b->pos != b->end)
		return bad_file(b, "more features than were written");
	total = num_nodes(b->count, node_size, levels, &nlev);
	idx_at = 12 + (uint64_t)nlen;
	/* Storage order is top-down: level k (0 = leaves) starts after all
	 * the levels above it. */
	{
		uint64_t start = total;

		for (int k = 0; k < nlev; k++)
			first[k] = start -= levels[k];
	}
	if (write_leaves(b, dst, idx_at + first[0] * NODE_BYTES, idx_at + total * NODE_BYTES,
	                 dpath) != 0)
		return -1;
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
	b->src = open(path, O_RDONLY | O_CLOEXEC);
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
	xsort_close(&b->sort);
	return r;
}
