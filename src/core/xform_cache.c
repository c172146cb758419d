/* xform_cache.c - LRU of PROJ operations with scheduled clearing. */
#include "core/xform_cache.h"

#include <string.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"

struct entry {
	char *key;         /* src NUL dst NUL, from mem_alloc; NUL cannot be in
	                    * either, so the pair is unambiguous */
	size_t key_size;
	PJ *op;
	uint64_t used;     /* tick of last use */
};

struct xform_cache {
	struct stage_acct *acct;
	PJ_CONTEXT *ctx;
	size_t max;
	size_t n;
	uint64_t tick;
	struct entry *e;
	struct xform_stats st;
};

static void drop_entry(struct xform_cache *c, size_t i)
{
	struct entry *e = &c->e[i];

	proj_destroy(e->op);
	stage_acct_handle_down(c->acct, HANDLE_PROJ_OP);
	mem_free(&c->acct->mem, e->key, e->key_size);
	c->e[i] = c->e[--c->n];
}

static void drop_all(struct xform_cache *c)
{
	while (c->n > 0)
		drop_entry(c, c->n - 1);
}

static void cache_cleanup(void *ctx)
{
	struct xform_cache *c = ctx;

	drop_all(c);
	if (c->ctx)
		proj_context_destroy(c->ctx);
	c->ctx = NULL;
}

static PJ_CONTEXT *new_context(void)
{
	PJ_CONTEXT *ctx = proj_context_create();

	if (ctx == NULL) {
		gp_fail(GP_EX_SOFTWARE, "cannot create a PROJ context");
		return NULL;
	}
	/* Never reach for the network from a batch job. */
	proj_context_set_enable_network(ctx, 0);
	proj_log_level(ctx, PJ_LOG_NONE);
	return ctx;
}

struct xform_cache *xform_cache_create(struct arena *a, struct stage_acct *acct,
                                       size_t max_entries)
{
	struct xform_cache *c = arena_calloc(a, 1, sizeof *c);

	if (c == NULL)
		return NULL;
	c->acct = acct;
	c->max = max_entries ? max_entries : 1;
	c->e = arena_calloc(a, c->max, sizeof *c->e);
	if (c->e == NULL)
		return NULL;
	c->ctx = new_context();
	if (c->ctx == NULL)
		return NULL;
	if (arena_defer(a, cache_cleanup, c) != 0)
		return NULL;
	return c;
}

static PJ *make_op(struct xform_cache *c, const char *src, const char *dst)
{
	PJ *op, *norm;
	int err;

	op = proj_create_crs_to_crs(c->ctx, src, dst, NULL);
	if (op == NULL) {
		err = proj_context_errno(c->ctx);
		gp_fail(GP_EX_CONFIG, "no coordinate operation from '%.200s' to '%.200s': %s", src,
		        dst, err ? proj_context_errno_string(c->ctx, err) : "unknown CRS");
		return NULL;
	}
	norm = proj_normalize_for_visualization(c->ctx, op);
	proj_destroy(op);
	if (norm == NULL) {
		err = proj_context_errno(c->ctx);
		gp_fail(GP_EX_CONFIG, "cannot normalise the operation to '%.200s': %s", dst,
		        err ? proj_context_errno_string(c->ctx, err) : "unknown error");
		return NULL;
	}
	return norm;
}

PJ *xform_cache_get(struct xform_cache *c, const char *src, const char *dst)
{
	size_t slen = strlen(src), dlen = strlen(dst);
	size_t ksize = slen + dlen + 2;
	struct entry *e;
	char *key;
	PJ *op;

	c->tick++;
	for (size_t i = 0; i < c->n; i++) {
		e = &c->e[i];
		if (e->key_size == ksize && memcmp(e->key, src, slen) == 0 && e->key[slen] == '\0' &&
		    memcmp(e->key + slen + 1, dst, dlen) == 0) {
			e->used = c->tick;
			c->st.hits++;
			return e->op;
		}
	}
	c->st.misses++;
	key = mem_alloc(&c->acct->mem, ksize);
	if (key == NULL)
		return NULL;
	memcpy(key, src, slen);
	key[slen] = '\0';
	memcpy(key + slen + 1, dst, dlen + 1);
	/* Evict first: never more than max operations alive, even for a
	 * moment. */
	if (c->n == c->max) {
		size_t lru = 0;

		for (size_t i = 1; i < c->n; i++)
			if (c->e[i].used < c->e[lru].used)
				lru = i;
		drop_entry(c, lru);
		c->st.evictions++;
	}
	op = make_op(c, src, dst);
	if (op == NULL) {
		mem_free(&c->acct->mem, key, ksize);
		return NULL;
	}
	stage_acct_handle_up(c->acct, HANDLE_PROJ_OP);
	e = &c->e[c->n++];
	*e = (struct entry){.key = key, .key_size = ksize, .op = op, .used = c->tick};
	return op;
}

int xform_cache_clear(struct xform_cache *c)
{
	drop_all(c);
	proj_context_destroy(c->ctx);
	c->ctx = new_context();
	c->st.clears++;
	return c->ctx ? 0 : -1;
}

void xform_cache_stats(const struct xform_cache *c, struct xform_stats *out)
{
	*out = c->st;
	out->entries = c->n;
}

PJ_CONTEXT *xform_cache_context(struct xform_cache *c)
{
	return c->ctx;
}
