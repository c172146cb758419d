/* arena.c - chunked bump allocation with LIFO cleanups. */
#include "core/arena.h"

#include <stdarg.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>

#include "core/account.h"
#include "core/error.h"
#include "core/owner.h"
#include "core/owner_check.h"

#define ARENA_DEFAULT_CHUNK (64 * 1024)

struct chunk {
	struct chunk *prev;
	size_t size; /* usable bytes after the header */
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

struct cleanup {
	struct cleanup *next;
	arena_cleanup_fn fn;
	void *ctx;
};

struct arena {
	struct mem_account *acct;
	int owner;                 /* owner_self() of its creator: the only
	                            * thread that may reset, rewind or destroy it */
	size_t chunk_size;
	struct chunk *head;        /* newest chunk */
	struct cleanup *cleanups;  /* newest first */
	size_t used;
	size_t peak;
	size_t reserved;
	uint64_t total;
	size_t nchunks;
	uint64_t resets;
	size_t ncleanups;
};

struct arena *arena_create(struct mem_account *acct, size_t chunk_size)
{
	struct arena *a;

	/* Refused, not crashed on: every failure message names the account. */
	if (acct == NULL) {
		gp_fail(GP_EX_SOFTWARE, "cannot create an arena without a memory account");
		return NULL;
	}
	a = mem_alloc(acct, sizeof *a);
	if (a == NULL)
		return NULL;
	*a = (struct arena){.acct = acct,
	                    .owner = owner_self(),
	                    .chunk_size = chunk_size ? chunk_size : ARENA_DEFAULT_CHUNK};
	return a;
}

static void run_cleanups_until(struct arena *a, struct cleanup *stop)
{
	while (a->cleanups != stop && a->cleanups != NULL) {
		struct cleanup *c = a->cleanups;

		a->cleanups = c->next;
		a->ncleanups--;
		c->fn(c->ctx);
	}
}

static void free_chunk(struct arena *a, struct chunk *c)
{
	a->reserved -= c->size;
	a->nchunks--;
	mem_free(a->acct, c, sizeof *c + c->size);
}

void arena_destroy(struct arena *a)
{
	if (a == NULL)
		return;
	owner_check(a->owner, "arena", a->acct->name);
	run_cleanups_until(a, NULL);
	while (a->head != NULL) {
		struct chunk *c = a->head;

		a->head = c->prev;
		free_chunk(a, c);
	}
	mem_free(a->acct, a, sizeof *a);
}

void arena_reset(struct arena *a)
{
	owner_check(a->owner, "arena", a->acct->name);
	run_cleanups_until(a, NULL);
	/* Keep the oldest chunk: a batch arena reset per batch then never
	 * goes back to malloc in steady state. */
	while (a->head != NULL && a->head->prev != NULL) {
		struct chunk *c = a->head;

		a->head = c->prev;
		free_chunk(a, c);
	}
	if (a->head != NULL)
		a->head->used = 0;
	a->used = 0;
	a->resets++;
}

static size_t pad_for(const struct chunk *c, size_t align)
{
	uintptr_t at = (uintptr_t)(c->data + c->used);

	return (align - (at & (align - 1))) & (align - 1);
}

static struct chunk *new_chunk(struct arena *a, size_t need)
{
	size_t size = a->chunk_size;
	struct chunk *c;

	if (need > size)
		size = need;
	if (size > SIZE_MAX - sizeof *c) {
		gp_fail(GP_EX_TEMPFAIL, "stage '%s': allocation of %zu bytes is too large",
		        a->acct->name, need);
		return NULL;
	}
	c = mem_alloc(a->acct, sizeof *c + size);
	if (c == NULL)
		return NULL;
	c->size = size;
	c->used = 0;
	c->prev = a->head;
	a->head = c;
	a->reserved += size;
	a->nchunks++;
	return c;
}

/* A test's injected failure where the chunk had room: any call may be the
 * one that needs a new chunk, so any call may fail this way. */
static void *injected_failure(struct arena *a, size_t size)
{
	gp_fail(GP_EX_TEMPFAIL, "stage '%s': out of memory allocating %zu bytes (injected)",
	        a->acct->name, size);
	return NULL;
}

void *arena_alloc(struct arena *a, size_t size, size_t align)
{
	struct chunk *c = a->head;
	size_t pad;
	void *p;

	if (align == 0)
		align = alignof(max_align_t);
	if ((align & (align - 1)) != 0 || align > alignof(max_align_t)) {
		gp_fail(GP_EX_SOFTWARE, "stage '%s': bad alignment %zu", a->acct->name, align);
		return NULL;
	}
	if (size == 0)
		size = 1;
	pad = c ? pad_for(c, align) : 0;
	if (c == NULL || c->size - c->used < pad || c->size - c->used - pad < size) {
		c = new_chunk(a, size); /* mem_alloc() counts this allocation */
		if (c == NULL)
			return NULL;
		pad = 0; /* chunk data is max-aligned */
	} else if (mem_fault()) {
		return injected_failure(a, size);
	}
	p = c->data + c->used + pad;
	c->used += pad + size;
	a->used += pad + size;
	a->total += size;
	if (a->used > a->peak)
		a->peak = a->used;
	return p;
}

void *arena_calloc(struct arena *a, size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size) {
		gp_fail(GP_EX_TEMPFAIL, "stage '%s': allocation of %zu x %zu bytes overflows",
		        a->acct->name, n, size);
		return NULL;
	}
	p = arena_alloc(a, n * size, 0);
	if (p != NULL)
		memset(p, 0, n * size);
	return p;
}

void *arena_realloc(struct arena *a, void *old, size_t old_size, size_t new_size)
{
	struct chunk *c = a->head;
	void *p;

	if (old != NULL && c != NULL && (unsigned char *)old + old_size == c->data + c->used &&
	    new_size >= old_size && new_size - old_size <= c->size - c->used) {
		if (mem_fault())
			return injected_failure(a, new_size);
		c->used += new_size - old_size;
		a->used += new_size - old_size;
		a->total += new_size - old_size;
		if (a->used > a->peak)
			a->peak = a->used;
		return old;
	}
	p = arena_alloc(a, new_size, 0);
	if (p != NULL && old != NULL)
		memcpy(p, old, old_size < new_size ? old_size : new_size);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p;

	/* Like strndup(3): at most n bytes, and never past the terminator. */
	n = strnlen(s, n);
	if (n == SIZE_MAX) {
		gp_fail(GP_EX_TEMPFAIL, "stage '%s': string too long", a->acct->name);
		return NULL;
	}
	p = arena_alloc(a, n + 1, 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		gp_fail(GP_EX_SOFTWARE, "stage '%s': bad format", a->acct->name);
		return NULL;
	}
	p = arena_alloc(a, (size_t)n + 1, 1);
	if (p == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

int arena_defer(struct arena *a, arena_cleanup_fn fn, void *ctx)
{
	struct cleanup *c = arena_alloc(a, sizeof *c, alignof(struct cleanup));

	if (c == NULL) {
		fn(ctx);
		return -1;
	}
	c->fn = fn;
	c->ctx = ctx;
	c->next = a->cleanups;
	a->cleanups = c;
	a->ncleanups++;
	return 0;
}

static void destroy_cleanup(void *ctx)
{
	arena_destroy(ctx);
}

int arena_defer_destroy(struct arena *owner, struct arena *a)
{
	return arena_defer(owner, destroy_cleanup, a);
}

struct arena_mark arena_mark(struct arena *a)
{
	return (struct arena_mark){
		.chunk = a->head,
		.used = a->head ? a->head->used : 0,
		.cleanup = a->cleanups,
		.total_used = a->used,
	};
}

void arena_rewind(struct arena *a, struct arena_mark m)
{
	owner_check(a->owner, "arena", a->acct->name);
	run_cleanups_until(a, m.cleanup);
	while (a->head != NULL && a->head != m.chunk) {
		struct chunk *c = a->head;

		a->head = c->prev;
		free_chunk(a, c);
	}
	if (a->head != NULL)
		a->head->used = m.used;
	a->used = m.total_used;
}

void arena_get_stats(const struct arena *a, struct arena_stats *out)
{
	*out = (struct arena_stats){
		.used = a->used,
		.peak = a->peak,
		.reserved = a->reserved,
		.total = a->total,
		.chunks = a->nchunks,
		.resets = a->resets,
		.cleanups = a->ncleanups,
	};
}

struct mem_account *arena_account(const struct arena *a)
{
	return a->acct;
}

int arena_owner(const struct arena *a)
{
	return a->owner;
}
