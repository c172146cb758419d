/*
 * fgb_index.h - FlatGeobuf's spatial index, built in bounded memory.
 *
 * GDAL 3.6's FlatGeobuf writer keeps an index item for every feature until
 * the file closes, so its memory grows with the output.  gispipe has GDAL
 * write the file without an index (SPATIAL_INDEX=NO, which streams), notes
 * each feature's envelope as it is written, and when GDAL has closed the
 * file rewrites it the way the FlatGeobuf specification lays it out: the
 * magic bytes, the header (with index_node_size set), the packed Hilbert
 * R-tree (root level first, leaves last, each leaf the byte offset of its
 * feature) and the features in the order of the leaves.  The features and
 * their envelopes are sorted along the Hilbert curve together, as an
 * external merge sort in a fixed buffer: GDAL's file is read once in order,
 * in chunks each sorted in memory and written back over itself (its
 * envelopes over theirs in the spill extsort.h keeps as they are noted),
 * and the chunks are merged into the new file, leaves and features side by
 * side, every read and write sequential and large.  The tree's upper
 * levels are written level by level and read back from the new file.
 * Memory is the sort buffer and a few I/O buffers, whatever the number of
 * features; temporary disk is 64 bytes a feature (the spill) besides the
 * new file, and a copy of the features more when there are more chunks
 * than the merge takes in one pass (outputs of some GiB).
 *
 * Ownership: the build and its buffers belong to the arena given to
 * fgb_index_create(); its spill files are closed by an arena cleanup if
 * fgb_index_finish() never runs.  Everything is written under `tmpdir`,
 * the output's temporary directory, which a failed run removes.
 */
#ifndef GISPIPE_FGB_INDEX_H
#define GISPIPE_FGB_INDEX_H

#include <stddef.h>
#include <stdint.h>

struct arena;
struct fgb_index;

/* FlatGeobuf's default node size (GDAL 3.6 offers no other). */
#define FGB_NODE_SIZE 16

/* Sort memory the build uses, and what it adds for I/O. */
#define FGB_INDEX_IO_BYTES (3u * 256 * 1024)

/* A build in `a`, sorting in `budget` bytes, spilling under `tmpdir`.
 * NULL with the error set. */
struct fgb_index *fgb_index_create(struct arena *a, const char *tmpdir, size_t budget);

/* Note the next feature written: its envelope [xmin, ymin, xmax, ymax], or
 * NULL when it has no geometry (or an empty one): its leaf then matches no
 * search, as in GDAL's own trees. */
int fgb_index_add(struct fgb_index *b, const double *env);

/* Rewrite `path`, a FlatGeobuf file GDAL wrote and closed without an index
 * and holding exactly the features added, in order, with its index of
 * `node_size`.  The new file replaces `path` only when whole; on failure
 * `path` may have its features reordered (the sort works in it), a
 * temporary file for the caller to drop.  A file of no features is left as
 * it is.  0, or -1 with the error set (74 for I/O, 70 when the file is not
 * what GDAL was asked to write). */
int fgb_index_finish(struct fgb_index *b, const char *path, unsigned node_size);

/* Features added so far. */
uint64_t fgb_index_count(const struct fgb_index *b);

/* Temporary disk the build of `n` features takes besides the output. */
uint64_t fgb_index_temp_bytes(uint64_t n);

#endif
