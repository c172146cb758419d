/*
 * memplan.h - turning memory.limit into budgets.
 *
 * The plan starts from the RSS measured after GDAL and PROJ are initialised
 * (and library pages nobody needs were given back, see rss.h), keeps a
 * reserve for the libraries' working set, and splits the rest between GDAL's
 * block cache, SQLite's page cache, batches in flight and arenas; a pooled
 * vector run's threads (workers and reader) are planned first.  A limit
 * that cannot hold the minimum plan is refused before anything is read.
 */
#ifndef GISPIPE_MEMPLAN_H
#define GISPIPE_MEMPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct memplan {
	uint64_t limit;          /* 0: no limit, defaults apply */
	uint64_t baseline;       /* RSS at start, bytes */
	uint64_t lib_reserve;    /* libraries' working set during the run */
	uint64_t lib_resident;   /* library file pages resident at start */
	uint64_t gdal_cache;     /* GDAL block cache (GDALSetCacheMax64) */
	uint64_t sqlite_cache;   /* per SQLite connection (OGR_SQLITE_CACHE) */
	int sqlite_conns;        /* connections planned for (source + sink) */
	uint64_t batch_bytes;    /* one batch in flight */
	size_t batch_items;      /* features per batch */
	uint64_t arena_budget;   /* cap on all arenas together */
	uint64_t headroom;       /* what is left */
	uint64_t thread_bytes;   /* a pooled vector run's workers and reader */
	bool batch_fixed;        /* memory.batch was a number */
	size_t batch_asked;      /* that number; 0: automatic */
	bool raster;             /* planned for a raster pipeline */
	uint64_t window_bytes;   /* raster: all steps' block arenas together */
	/* Worker threads (memplan_threads): vector workers on batches,
	 * raster warp pieces. */
	int threads;             /* chosen */
	int threads_wanted;      /* asked for, or the CPUs available */
	bool threads_asked;      /* --threads / threads: gave a number */
	bool nothing_to_share;   /* a vector pipeline without a transform:
	                          * one thread, whatever was asked */
	/* Vector batches in flight when workers run (the run loop's slots,
	 * MEMPLAN_SLOTS_PER_WORKER a worker, each of batch_items); 0: one. */
	int batches_in_flight;
};

/* Bytes a batch of vector features costs per feature, as planned.  Each
 * batch is planned twice, as read and as worked (the steps' new
 * geometries): W3's polygons (23 vertices) measured 0.9 KiB as read and
 * 6.7 KiB buffered with 30 segments a quadrant, 3.8 KiB a feature each
 * time (Debian 12, GEOS 3.11). */
#define MEMPLAN_FEATURE_BYTES 4096u

/* Make the plan for `limit` (0: none) from `baseline` (RSS now), of which
 * `lib_resident` bytes are library file pages still resident (they shrink
 * the reserve); `batch` 0 is auto.  Fails with exit 75 when the limit
 * cannot be held. */
int memplan_make(struct memplan *p, uint64_t limit, uint64_t baseline, uint64_t lib_resident,
                 int64_t batch);

/* The smallest limit memplan_make() accepts for these figures. */
uint64_t memplan_smallest(uint64_t baseline, uint64_t lib_resident, int64_t batch);

/* The limit to advise when the plan cannot be held: the smallest plan or
 * the peak start-up reached (VmHWM), whichever is more, with a margin
 * for another run's start-up taking a little more; whole MiB. */
uint64_t memplan_advise_start(uint64_t baseline, uint64_t lib_resident, int64_t batch,
                              uint64_t startup_peak);

/* The limit to advise when a run planned as `p` went over its limit in a
 * step whose memory grows with the batch: `fixed` bytes of RSS besides the
 * batch, `per_item` bytes more each item of it.  The plan at the advised
 * limit may choose a larger batch (when automatic); the figure covers the
 * batch of its own plan (or `max_items`, the items left to read, when
 * known and fewer; 0: unknown), a tenth spare.  Whole MiB; 0 when nothing
 * up to 1 TiB does. */
uint64_t memplan_advise_grow(const struct memplan *p, uint64_t fixed, uint64_t per_item,
                             uint64_t max_items);

/* Re-plan `p` (made by memplan_make) for a raster pipeline: no batches
 * or SQLite caches; half of what is available goes to the windows in
 * flight, a quarter to GDAL's block cache, a quarter is headroom. */
void memplan_raster(struct memplan *p);

/* What a vector worker holds besides its batches: its GEOS context, its
 * PROJ context (with its database connection) and transform cache, its
 * stage state, its thread's stack and malloc arena.  A PROJ context with
 * two operations and a GEOS context measured about 0.5 MiB (Debian 12,
 * PROJ 9.1, GEOS 3.11); W9's workers added 1.3 MiB each to the run's
 * anonymous peak, their malloc arenas' high-water included. */
#define MEMPLAN_WORKER_BYTES ((uint64_t)2 << 20)
/* What a pooled run's reader thread holds besides the slots' batches:
 * its stack, malloc arena and stage arena (W9: under 1 MiB with 2
 * workers). */
#define MEMPLAN_READER_BYTES ((uint64_t)1 << 20)
/* Batches in flight a vector worker: read ahead, at work, or waiting to
 * be written (vector/run.c's slots). */
#define MEMPLAN_SLOTS_PER_WORKER 2
/* The windows' share one raster warp piece needs: a quarter of it is the
 * source it pulls (warp_budget's floor), as much again the warper's copy,
 * the rest its destination strip. */
#define MEMPLAN_PIECE_BYTES ((uint64_t)1 << 20)

/* Choose the thread count of a plan made by memplan_make (and
 * memplan_raster for a raster pipeline): `asked` (--threads or threads:,
 * 0: auto) up to 1024, or else `cpus`; lowered, under a limit, to what the
 * plan holds.  N > 1 vector workers run with a reader thread: the plan
 * holds N * MEMPLAN_WORKER_BYTES and MEMPLAN_READER_BYTES first, then
 * N * MEMPLAN_SLOTS_PER_WORKER batches in flight, each planned as read and
 * as worked (an automatic batch shrinks to share the batches' quarter,
 * down to the smallest batch; a fixed one is shared between them under a
 * limit); the plan is remade for the workers chosen.  Each raster warp
 * piece needs MEMPLAN_PIECE_BYTES of the windows' share. */
void memplan_threads(struct memplan *p, int64_t asked, int cpus);

/* Apply it: GDAL cache and config options. */
void memplan_apply(const struct memplan *p);

void memplan_print(const struct memplan *p, FILE *out);

#endif
