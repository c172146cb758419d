/*
 * shard.h - `--shard I/N`: which 1/N of a run's work this process does.
 *
 * The work is cut into units of (input, feature range), the same way in
 * every shard, from nothing but the inputs themselves, so N processes that
 * never talk to each other together do every feature exactly once:
 *   - many inputs (at least 2N): whole inputs, balanced by size: the
 *     inputs sorted by size, largest first (ties by path), each given to
 *     the shard with the fewest bytes so far (ties: the lowest shard);
 *   - fewer: every input, each of its layers cut into N ranges of features
 *     (vector/fid_range.c: by FID, at the FIDs that split the layer into
 *     equal counts), shard I reading range I of every layer.
 * Raster inputs always go whole (shard_mine with `whole`).
 * Nothing here keeps state: the shard is two ints in struct run_opts, the
 * tables shard_mine makes are in the caller's arena.
 */
#ifndef GISPIPE_SHARD_H
#define GISPIPE_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/* The most shards a run can be cut into. */
#define SHARD_COUNT_MAX 100000

/* Parse --shard's value: "I/N" (0 <= I < N <= SHARD_COUNT_MAX), "slurm"
 * (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT)
 * or "k8s" (JOB_COMPLETION_INDEX of GISPIPE_SHARD_COUNT, which the Indexed
 * Job's manifest sets to its `completions`).  0, or -1 with the error set
 * (64) naming what is wrong. */
int shard_parse(const char *arg, int *index, int *count);

/* Whether `n` inputs are shared out whole among `count` shards (many
 * inputs) rather than cut into feature ranges (few). */
bool shard_whole_inputs(size_t n, int count);

/* Shard `index` of `count`: which of the `n` inputs (`paths`) it reads
 * whole, by size as the header says (sizes from VSIStatL; one that cannot
 * be read counts 0).  Sets *mine to a table of n flags in `a`, or to NULL
 * when every input is read (no sharding, or feature ranges, unless
 * `whole`).  0, or -1 with the error set. */
int shard_mine(struct arena *a, const char *const *paths, size_t n, int index, int count,
               bool whole, bool **mine);

/* Where part k of `count` starts in `n` items: floor(n * k / count), so
 * part k is [shard_cut(n, k), shard_cut(n, k + 1)) and the parts cover
 * [0, n) exactly once. */
int64_t shard_cut(int64_t n, int k, int count);

/* "I/N" into buf (for reports and messages); "" without sharding. */
const char *shard_label(char *buf, size_t len, int index, int count);

#endif
