/* memplan.c - the memory plan. */
#include "core/memplan.h"

#include <cpl_conv.h>
#include <gdal.h>
#include <inttypes.h>

#include "core/error.h"

#define MiB ((uint64_t)1024 * 1024)

/* Library pages a run faults back in after start-up's are given back:
 * measured on Debian 12 (GDAL 3.6, PROJ 9.1, GEOS 3.11) with none shared
 * with another process, a GPKG read, reprojected, buffered and written to
 * GPKG (W9) held 22.5 MiB of file-backed pages (RssFile) at its peak, 1.7
 * MiB at start; W1 (no GEOS) 21.4 MiB.  Pages still resident at start
 * (another process shares them) shrink the reserve, to MIN_LIB_RESERVE:
 * they are mostly the same libraries' (a run that started beside another
 * one's start-up faulted in 20 MiB more: what the GDAL block cache, idle
 * in a vector run, and the headroom absorb). */
#define LIB_RESERVE (26 * MiB)
#define MIN_LIB_RESERVE (4 * MiB)
/* Stage state and the buffers of spatial index builds: GeoPackage's sort
 * (2 MiB), FlatGeobuf's sort and I/O (2.75 MiB, fgb_index.h). */
#define ARENA_FIXED (6 * MiB)
#define MIN_GDAL_CACHE (1 * MiB)
#define DEFAULT_GDAL_CACHE (64 * MiB)
#define MIN_SQLITE_CACHE (1 * MiB)
#define DEFAULT_SQLITE_CACHE (8 * MiB)
#define MIN_BATCH 64
#define MAX_BATCH 4096
#define DEFAULT_BATCH 1024

static int memplan_make_quiet(struct memplan *p, uint64_t limit, uint64_t baseline,
                              uint64_t lib_resident, int64_t batch, int threads);

/* The reserve is for library pages the run will fault back in; those
 * still resident (shared with another process, so not given back) are
 * already in the baseline. */
static uint64_t lib_reserve(uint64_t lib_resident)
{
	return lib_resident >= LIB_RESERVE - MIN_LIB_RESERVE ? MIN_LIB_RESERVE
	                                                     : LIB_RESERVE - lib_resident;
}

uint64_t memplan_smallest(uint64_t baseline, uint64_t lib_resident, int64_t batch)
{
	uint64_t items = batch > 0 ? (uint64_t)batch : MIN_BATCH;

	return baseline + lib_reserve(lib_resident) + ARENA_FIXED + MIN_GDAL_CACHE +
	       2 * MIN_SQLITE_CACHE + items * MEMPLAN_FEATURE_BYTES * 2;
}

/* Advice is followed by another run on the same machine, whose start-up
 * may take a few MiB more (pages other processes shared with this one are
 * given back by them, or not): a tenth more and 4 MiB, in whole MiB. */
static uint64_t with_margin(uint64_t bytes)
{
	return (bytes + bytes / 10 + 4 * MiB + MiB - 1) / MiB * MiB;
}

uint64_t memplan_advise_start(uint64_t baseline, uint64_t lib_resident, int64_t batch,
                              uint64_t startup_peak)
{
	uint64_t need = memplan_smallest(baseline, lib_resident, batch);

	return with_margin(need > startup_peak ? need : startup_peak);
}

#define MAX_ADVICE ((uint64_t)1 << 40)

uint64_t memplan_advise_grow(const struct memplan *p, uint64_t fixed, uint64_t per_item,
                             uint64_t max_items)
{
	int64_t batch = (int64_t)p->batch_asked;
	uint64_t n = with_margin(p->limit > fixed ? p->limit : fixed);

	/* The plan's batch grows with the limit (when automatic), and the
	 * burst with the batch: the first limit whose own plan fits its
	 * projected peak, a tenth spare.  The batch stops growing at
	 * MAX_BATCH, so the search ends. */
	for (; n < MAX_ADVICE; n += MiB) {
		struct memplan q;
		uint64_t peak;

		if (memplan_make_quiet(&q, n, p->baseline, p->lib_resident, batch, 1) != 0)
			continue;
		peak = fixed +
		       (max_items && max_items < q.batch_items ? max_items : q.batch_items) *
		               per_item;
		if (peak + peak / 10 <= n)
			return n;
	}
	return 0;
}

int memplan_make(struct memplan *p, uint64_t limit, uint64_t baseline, uint64_t lib_resident,
                 int64_t batch)
{
	if (memplan_make_quiet(p, limit, baseline, lib_resident, batch, 1) == 0)
		return 0;
	return gp_fail(GP_EX_TEMPFAIL,
	               "memory limit of %" PRIu64 " MiB cannot be held: start-up takes %" PRIu64
	               " MiB and the smallest plan needs %" PRIu64 " MiB (retry with "
	               "--memory-limit %" PRIu64 "MiB or more)",
	               limit / MiB, baseline / MiB,
	               (memplan_smallest(baseline, lib_resident, batch) + MiB - 1) / MiB,
	               memplan_advise_start(baseline, lib_resident, batch, baseline) / MiB);
}

/* The plan for `threads` workers (the minimum check is for one).  One
 * thread holds its batch twice, as read and as worked (one arena);
 * `threads` > 1 workers hold MEMPLAN_SLOTS_PER_WORKER batches each, read
 * ahead, at work or waiting to be written, each twice too (the reader's
 * slot arena, the worker's), and the threads themselves: their memory is
 * planned first, not taken from the drivers' headroom. */
static int memplan_make_quiet(struct memplan *p, uint64_t limit, uint64_t baseline,
                              uint64_t lib_resident, int64_t batch, int threads)
{
	uint64_t need, avail, rest, reserve = lib_reserve(lib_resident);
	bool pooled = threads > 1;
	uint64_t slots = pooled ? (uint64_t)threads * MEMPLAN_SLOTS_PER_WORKER : 1;
	uint64_t units = 2 * slots;

	*p = (struct memplan){.limit = limit,
	                      .baseline = baseline,
	                      .lib_reserve = reserve,
	                      .lib_resident = lib_resident,
	                      .sqlite_conns = 2,
	                      .batch_fixed = batch > 0,
	                      .batch_asked = batch > 0 ? (size_t)batch : 0,
	                      .batches_in_flight = pooled ? (int)slots : 0};
	if (pooled)
		p->thread_bytes = (uint64_t)threads * MEMPLAN_WORKER_BYTES + MEMPLAN_READER_BYTES;
	if (limit == 0) {
		p->gdal_cache = DEFAULT_GDAL_CACHE;
		p->sqlite_cache = DEFAULT_SQLITE_CACHE;
		p->batch_items = batch > 0 ? (size_t)batch : DEFAULT_BATCH;
		p->batch_bytes = (uint64_t)p->batch_items * MEMPLAN_FEATURE_BYTES;
		p->arena_budget = 0;
		return 0;
	}
	p->batch_items = batch > 0 ? (size_t)batch : MIN_BATCH;
	need = memplan_smallest(baseline, lib_resident, batch);
	if (limit < need)
		return -1;
	avail = limit - baseline - reserve - ARENA_FIXED;
	if (p->thread_bytes + MIN_GDAL_CACHE + 2 * MIN_SQLITE_CACHE > avail)
		return -1;
	avail -= p->thread_bytes;
	/* Batches first, a quarter of what is available when automatic;
	 * then a third of the rest to GDAL's block cache and a sixth to each
	 * SQLite connection, within their bounds; the last third is headroom
	 * for drivers' own buffers.  The minimum check above guarantees every
	 * floor fits for one worker; more must fit their batches at the
	 * smallest size. */
	if (batch <= 0) {
		uint64_t floors = MIN_GDAL_CACHE + 2 * MIN_SQLITE_CACHE;
		uint64_t items = (avail / 4) / (units * MEMPLAN_FEATURE_BYTES);

		/* Near the smallest limit a quarter can be more than the
		 * caches' floors leave. */
		if (items > (avail - floors) / (units * MEMPLAN_FEATURE_BYTES))
			items = (avail - floors) / (units * MEMPLAN_FEATURE_BYTES);
		if (items > MAX_BATCH)
			items = MAX_BATCH;
		if (items < MIN_BATCH && pooled)
			return -1;
		if (items < MIN_BATCH)
			items = MIN_BATCH;
		p->batch_items = (size_t)items;
	} else if (pooled) {
		/* a fixed batch is shared by the slots: the features in flight
		 * are no more than a 1-thread run holds (the smallest batch at
		 * least) */
		p->batch_items = (size_t)batch / slots;
		if (p->batch_items < MIN_BATCH)
			p->batch_items = MIN_BATCH;
	}
	p->batch_bytes = (uint64_t)p->batch_items * MEMPLAN_FEATURE_BYTES;
	if (units * p->batch_bytes > avail)
		return -1;
	rest = avail - units * p->batch_bytes;
	p->gdal_cache = rest / 3;
	if (p->gdal_cache > DEFAULT_GDAL_CACHE)
		p->gdal_cache = DEFAULT_GDAL_CACHE;
	if (p->gdal_cache < MIN_GDAL_CACHE)
		p->gdal_cache = MIN_GDAL_CACHE;
	p->sqlite_cache = rest / 6;
	if (p->sqlite_cache > DEFAULT_SQLITE_CACHE)
		p->sqlite_cache = DEFAULT_SQLITE_CACHE;
	if (p->sqlite_cache < MIN_SQLITE_CACHE)
		p->sqlite_cache = MIN_SQLITE_CACHE;
	if (p->gdal_cache + 2 * p->sqlite_cache > rest)
		return -1;
	p->arena_budget = units * p->batch_bytes + ARENA_FIXED;
	p->headroom = rest - p->gdal_cache - 2 * p->sqlite_cache;
	return 0;
}

#define DEFAULT_WINDOWS (48 * MiB)
#define MIN_WINDOWS (1 * MiB)
#define MAX_WINDOWS (256 * MiB)
#define DEFAULT_RASTER_CACHE (32 * MiB)
#define MAX_RASTER_CACHE (256 * MiB)

void memplan_raster(struct memplan *p)
{
	uint64_t avail;

	p->raster = true;
	p->batch_items = 0;
	p->batch_bytes = 0;
	p->sqlite_cache = 0;
	p->sqlite_conns = 0;
	if (p->limit == 0) {
		p->window_bytes = DEFAULT_WINDOWS;
		p->gdal_cache = DEFAULT_RASTER_CACHE;
		return;
	}
	/* memplan_make checked that limit covers baseline, reserve and the
	 * fixed arenas with a few MiB to spare. */
	avail = p->limit - p->baseline - p->lib_reserve - ARENA_FIXED;
	/* Half to the windows, a quarter to the block cache, a quarter for
	 * drivers' own buffers.  The windows' share is planned as if every
	 * step worked in doubles (raster.c's pixel_cost), which leaves room for
	 * GDAL's copies of them (a warp reads its source into buffers of its
	 * own) when they do not. */
	p->window_bytes = avail / 2;
	if (p->window_bytes > MAX_WINDOWS)
		p->window_bytes = MAX_WINDOWS;
	if (p->window_bytes < MIN_WINDOWS)
		p->window_bytes = MIN_WINDOWS;
	p->gdal_cache = avail / 4;
	if (p->gdal_cache > MAX_RASTER_CACHE)
		p->gdal_cache = MAX_RASTER_CACHE;
	if (p->gdal_cache < MIN_GDAL_CACHE)
		p->gdal_cache = MIN_GDAL_CACHE;
	p->arena_budget = p->window_bytes + ARENA_FIXED;
	p->headroom = avail > p->window_bytes + p->gdal_cache ? avail - p->window_bytes - p->gdal_cache
	                                                      : 0;
}

/* Of the same bound as PIPELINE_THREADS_MAX (config/pipeline.h, which
 * core does not include); the CLI and the pipeline check theirs first. */
#define MAX_THREADS 1024

void memplan_threads(struct memplan *p, int64_t asked, int cpus)
{
	int64_t n = asked > 0 ? asked : cpus;

	if (n < 1)
		n = 1;
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	p->threads_asked = asked > 0;
	p->threads_wanted = (int)n;
	if (p->limit && p->raster) {
		uint64_t fit = p->window_bytes / MEMPLAN_PIECE_BYTES;

		if ((uint64_t)n > fit)
			n = fit > 1 ? (int64_t)fit : 1;
	} else if (!p->raster) {
		/* One worker is the plan as made; the most that fit replan
		 * (without a limit, every count fits). */
		for (; n > 1; n--) {
			struct memplan q;

			if (memplan_make_quiet(&q, p->limit, p->baseline, p->lib_resident,
			                       (int64_t)p->batch_asked, (int)n) == 0) {
				q.threads_asked = p->threads_asked;
				q.threads_wanted = p->threads_wanted;
				*p = q;
				break;
			}
		}
	}
	p->threads = (int)n;
}

void memplan_apply(const struct memplan *p)
{
	char buf[32];

	GDALSetCacheMax64((GIntBig)p->gdal_cache);
	snprintf(buf, sizeof buf, "%" PRIu64, p->sqlite_cache / MiB ? p->sqlite_cache / MiB : 1);
	CPLSetConfigOption("OGR_SQLITE_CACHE", buf);
}

static void line(FILE *out, const char *what, uint64_t bytes, const char *note)
{
	fprintf(out, "  %-22s %10.1f MiB  %s\n", what, (double)bytes / MiB, note);
}

/* Why the plan runs p->threads workers. */
static void print_threads(const struct memplan *p, FILE *out)
{
	fprintf(out, "  threads: %d (", p->threads);
	if (p->nothing_to_share)
		fprintf(out, "no transform to share out");
	else if (p->threads < p->threads_wanted)
		fprintf(out, "lowered from %d: the memory plan holds %d %s under %" PRIu64 " MiB",
		        p->threads_wanted, p->threads,
		        p->raster ? (p->threads == 1 ? "warp piece" : "warp pieces")
		                  : (p->threads == 1 ? "worker's batches" : "workers' batches"),
		        p->limit / MiB);
	else if (p->threads_asked)
		fprintf(out, "as asked: --threads or threads:");
	else
		fprintf(out, "%d CPU%s available", p->threads, p->threads == 1 ? "" : "s");
	fprintf(out, ")\n");
}

void memplan_print(const struct memplan *p, FILE *out)
{
	if (p->limit)
		line(out, "limit", p->limit, "memory.limit / --memory-limit");
	else
		fprintf(out, "  %-22s %14s  %s\n", "limit", "none", "(defaults below)");
	if (p->threads > 0)
		print_threads(p, out);
	line(out, "start-up RSS", p->baseline, "measured after GDAL and PROJ are initialised");
	line(out, "library reserve", p->lib_reserve, "code and PROJ database pages during the run");
	if (p->thread_bytes) {
		char note[80];

		snprintf(note, sizeof note, "%d workers' GEOS and PROJ contexts, the reader's",
		         p->threads);
		line(out, "worker threads", p->thread_bytes, note);
	}
	line(out, "GDAL block cache", p->gdal_cache, "GDALSetCacheMax64");
	if (p->raster) {
		line(out, "raster windows", p->window_bytes,
		     "all steps' block arenas together; sizes the output windows");
		if (p->limit) {
			line(out, "arena budget", p->arena_budget, "all arenas together");
			line(out, "headroom", p->headroom, "GDAL's copies of windows, drivers' buffers");
		}
		return;
	}
	line(out, "SQLite page cache", p->sqlite_cache, "per connection (OGR_SQLITE_CACHE)");
	fprintf(out, "  %-22s %10zu      features per batch%s\n", "batch", p->batch_items,
	        p->batch_fixed ? " (memory.batch)" : " (auto)");
	if (p->batches_in_flight > 1) {
		char note[64];

		snprintf(note, sizeof note, "each of %d batches in flight, planned twice",
		         p->batches_in_flight);
		line(out, "batch memory", p->batch_bytes, note);
	} else {
		line(out, "batch memory", p->batch_bytes, "one batch in flight, planned twice");
	}
	if (p->limit) {
		line(out, "arena budget", p->arena_budget, "all arenas together");
		line(out, "headroom", p->headroom, "drivers' own buffers");
	}
}
