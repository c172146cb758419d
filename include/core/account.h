/*
 * account.h - counters for memory and foreign handles.
 *
 * A counter has a current value and a high-water mark; only the allocator
 * (mem_alloc/mem_free) and the handle wrappers (handle.h) move them.
 *
 * A mem_account is what arenas draw from.  Accounts form a tree: a stage's
 * account has the run's account as parent, and a byte counted in a child is
 * counted in every ancestor.  An account may carry a limit; an allocation
 * that would cross a limit anywhere on the path fails with exit code 75 and a
 * message naming the account.
 *
 * A stage_acct is everything the report shows for one stage.
 */
#ifndef GISPIPE_ACCOUNT_H
#define GISPIPE_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct counter {
	int64_t cur;
	int64_t peak;
};

void counter_add(struct counter *c, int64_t delta);

struct mem_account {
	const char *name;          /* stage name, for messages; not owned */
	struct mem_account *parent;
	struct counter bytes;
	uint64_t limit;            /* 0: none */
};

void mem_account_init(struct mem_account *acct, const char *name, struct mem_account *parent,
                      uint64_t limit);

/* The one allocation function: malloc(size) counted in `acct` and its
 * ancestors.  NULL with the error set when a limit would be crossed, the
 * system refuses, or the test hook (mem_fail_after) says so. */
void *mem_alloc(struct mem_account *acct, size_t size);

/* Give back a block from mem_alloc() of `size` bytes.  NULL is allowed. */
void mem_free(struct mem_account *acct, void *p, size_t size);

/*
 * Fault injection, for tests only.  An allocation is one mem_alloc() or one
 * arena_alloc() (and its friends, arena.h) served from a chunk it already
 * has: every call that could fail counts once, so each caller's error path
 * can be reached.  An injected failure takes the path a real out-of-memory
 * takes: NULL, error 75 naming the stage.
 *
 * Off (the default) it costs one predictable branch on mem_fault_armed.
 */

/* Unit tests: the n-th allocation from now (1 = the next) and every later
 * one fails; 0 turns failures off.  Returns how many allocations were made
 * since the last call, so a test can loop n = 1, 2, ... until an operation
 * succeeds with no failure injected. */
uint64_t mem_fail_after(uint64_t n);

/* Whole runs: the GISPIPE_FAIL_ALLOC environment variable, read once by
 * main() before any thread starts and before any allocation.  Allocations
 * are counted from process start: "N" fails the N-th one only, "N+" the
 * N-th and every later one, "0" fails none and only counts.  NULL or ""
 * leaves injection off.  -1 with the error set (64) if `spec` is none of
 * these. */
int mem_fail_spec(const char *spec);

/* Whether injection is on, and allocations counted so far. */
bool mem_fail_counting(void);
uint64_t mem_fail_count(void);

/* Private to account.c and arena.c: the branch on the fast path. */
extern bool mem_fault_armed;
bool mem_fault_tick(void);

/* True when this allocation must fail; count it when injection is on. */
static inline bool mem_fault(void)
{
	return __builtin_expect(mem_fault_armed, 0) && mem_fault_tick();
}

/* Kinds of foreign handles whose life is counted per stage. */
enum handle_kind {
	HANDLE_OGR_FEATURE,
	HANDLE_OGR_GEOMETRY,
	HANDLE_GDAL_DATASET,
	HANDLE_LAYER_ITER,
	HANDLE_PROJ_OP,
	HANDLE_GEOS_GEOM,
	HANDLE_GEOS_PREPARED,
	HANDLE_GDAL_BAND,        /* a band in use (owned by its dataset: counted, not freed) */
	HANDLE_GDAL_WARP,        /* GDALWarpOperationH */
	HANDLE_GDAL_TRANSFORMER, /* GDAL transformer argument (gen-img-proj, approx) */
	HANDLE_OGR_TRANSFORM,    /* OGRCoordinateTransformationH */
	HANDLE_OGR_SRS,          /* OGRSpatialReferenceH (reference-counted: released) */
	HANDLE_GEOS_PARAMS,      /* GEOS parameter objects (buffer, make-valid) */
	HANDLE_OGR_FEATURE_DEFN, /* OGRFeatureDefnH (reference-counted: released) */
	HANDLE_KIND_COUNT
};

/* Stable names used in the report ("ogr_feature", ...). */
const char *handle_kind_name(enum handle_kind k);

struct stage_acct {
	struct mem_account mem;    /* arena bytes of the stage */
	struct counter live[HANDLE_KIND_COUNT];
	uint64_t items_in;
	uint64_t items_out;
	uint64_t items_filtered;
	uint64_t rejects;
	double seconds;             /* in its calls (engine_stage_clock) */
};

void stage_acct_init(struct stage_acct *s, const char *name, struct mem_account *parent);
void stage_acct_handle_up(struct stage_acct *s, enum handle_kind k);
void stage_acct_handle_down(struct stage_acct *s, enum handle_kind k);

/* The first live handle kind with a non-zero count, or -1. */
int stage_acct_first_leak(const struct stage_acct *s);

#endif
