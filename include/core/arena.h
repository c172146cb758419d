/*
 * arena.h - region allocation with cleanups.
 *
 * Every byte gispipe allocates for itself comes from an arena: bump
 * allocation in chunks, each chunk drawn from a memory account (account.h)
 * through mem_alloc(), the one allocation function.  An arena also keeps a
 * LIFO list of cleanups: GDAL, OGR, GEOS and PROJ handles are registered the
 * moment they are created, and arena_reset(), arena_rewind() past them and
 * arena_destroy() run them newest first.
 *
 * Ownership: memory from arena_alloc() belongs to the arena and is never
 * freed on its own; it is valid until the arena is reset, rewound past it or
 * destroyed.  A pointer must never be stored in an object whose arena
 * outlives the arena of what it points to.
 *
 * Threads: an arena belongs to the thread that created it (owner_self(),
 * core/owner.h).  Only that thread may reset, rewind or destroy it; any
 * other is counted and, in builds without NDEBUG, aborts
 * (core/owner_check.h).  Memory from it may be read by other threads
 * while the owner hands it over (a batch through the workers), and comes
 * back to the owner to be released.
 *
 * Failure: allocation functions return NULL with the error set (exit code
 * 75, message naming the account, i.e. the stage); they never abort.  Tests
 * make any call fail this way (account.h, fault injection).
 */
#ifndef GISPIPE_ARENA_H
#define GISPIPE_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mem_account;
struct arena;

struct arena_stats {
	size_t used;       /* bytes handed out now */
	size_t peak;       /* high-water mark of used */
	size_t reserved;   /* bytes of chunks held now */
	uint64_t total;    /* bytes handed out over the arena's life */
	size_t chunks;     /* chunks held now */
	uint64_t resets;   /* arena_reset() calls */
	size_t cleanups;   /* cleanups registered and not yet run */
};

/* A position to come back to with arena_rewind(). */
struct arena_mark {
	void *chunk;
	size_t used;
	void *cleanup;
	size_t total_used;
};

typedef void (*arena_cleanup_fn)(void *ctx);

/* Create an arena whose chunks are drawn from `acct` (the account must
 * outlive the arena).  `chunk_size` 0 means the default (64 KiB).
 * Returns NULL with the error set; a NULL `acct` is refused (70). */
struct arena *arena_create(struct mem_account *acct, size_t chunk_size);

/* Run every cleanup (newest first), return every chunk to the account and
 * free the arena itself.  NULL is allowed. */
void arena_destroy(struct arena *a);

/* Run every cleanup, then keep only the first chunk, emptied, for reuse. */
void arena_reset(struct arena *a);

/* Allocate `size` bytes aligned to `align` (a power of two, 0 = max_align_t).
 * Memory is not zeroed. */
void *arena_alloc(struct arena *a, size_t size, size_t align);

/* Zeroed array of n elements of `size` bytes; n * size is checked for
 * overflow (an overflow fails like an out-of-memory). */
void *arena_calloc(struct arena *a, size_t n, size_t size);

/* Grow the most recent allocation in place when it is the last one in its
 * chunk, or copy it; `old` may be NULL. */
void *arena_realloc(struct arena *a, void *old, size_t old_size, size_t new_size);

char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Register fn(ctx) to run when the arena is reset, destroyed, or rewound to a
 * mark taken before this call.  If the record cannot be allocated, fn(ctx) runs
 * at once and -1 is returned, so a handle is never leaked. */
int arena_defer(struct arena *a, arena_cleanup_fn fn, void *ctx);

/* arena_defer() of arena_destroy(a): `a` (a scratch arena of the owner's
 * user) goes when `owner` is reset or destroyed, or at once on failure.
 * Cleanups take exactly an arena_cleanup_fn: never cast a function to it. */
int arena_defer_destroy(struct arena *owner, struct arena *a);

/* Remember the current position; arena_rewind() frees everything allocated
 * and runs every cleanup registered after it.  Marks nest LIFO. */
struct arena_mark arena_mark(struct arena *a);
void arena_rewind(struct arena *a, struct arena_mark m);

void arena_get_stats(const struct arena *a, struct arena_stats *out);
struct mem_account *arena_account(const struct arena *a);

/* The owner id of the thread that created `a`: the one to send it back to
 * for its reset. */
int arena_owner(const struct arena *a);

#endif
