/* account.c - memory accounts, the allocation function, handle counters. */
#include "core/account.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void counter_add(struct counter *c, int64_t delta)
{
	c->cur += delta;
	if (c->cur > c->peak)
		c->peak = c->cur;
}

void mem_account_init(struct mem_account *acct, const char *name, struct mem_account *parent,
                      uint64_t limit)
{
	acct->name = name;
	acct->parent = parent;
	acct->bytes.cur = 0;
	acct->bytes.peak = 0;
	acct->limit = limit;
}

/* Fault injection for the out-of-memory tests: one process-wide count.
 * mem_fault_armed and fail_sticky are written only before threads start
 * (main(), or a single-threaded unit test), so plain reads are safe. */
bool mem_fault_armed;
static bool fail_sticky;
static _Atomic uint64_t fail_at;
static _Atomic uint64_t alloc_count;

bool mem_fault_tick(void)
{
	uint64_t nth = ++alloc_count;
	uint64_t at = fail_at;

	return at != 0 && (nth == at || (fail_sticky && nth > at));
}

uint64_t mem_fail_after(uint64_t n)
{
	uint64_t made = alloc_count;

	mem_fault_armed = true;
	fail_sticky = true;
	alloc_count = 0;
	fail_at = n;
	return made;
}

int mem_fail_spec(const char *spec)
{
	char *end;
	unsigned long long n;

	if (spec == NULL || *spec == '\0')
		return 0;
	errno = 0;
	n = strtoull(spec, &end, 10);
	if (!isdigit((unsigned char)*spec) || errno != 0 || (*end != '\0' && strcmp(end, "+") != 0))
		return gp_fail(GP_EX_USAGE, "GISPIPE_FAIL_ALLOC: '%s' is not N, N+ or 0", spec);
	mem_fault_armed = true;
	fail_sticky = *end == '+';
	alloc_count = 0;
	fail_at = n;
	return 0;
}

bool mem_fail_counting(void)
{
	return mem_fault_armed;
}

uint64_t mem_fail_count(void)
{
	return alloc_count;
}

void *mem_alloc(struct mem_account *acct, size_t size)
{
	void *p;

	if (mem_fault()) {
		gp_fail(GP_EX_TEMPFAIL, "stage '%s': out of memory allocating %zu bytes (injected)",
		        acct->name, size);
		return NULL;
	}
	for (struct mem_account *a = acct; a != NULL; a = a->parent) {
		uint64_t cur = a->bytes.cur > 0 ? (uint64_t)a->bytes.cur : 0;

		/* cur + size > limit, written so that a huge size cannot wrap. */
		if (a->limit != 0 && (cur > a->limit || size > a->limit - cur)) {
			gp_fail(GP_EX_TEMPFAIL,
			        "stage '%s': cannot allocate %zu bytes: %s's budget of %llu bytes is used up",
			        acct->name, size, a->name, (unsigned long long)a->limit);
			return NULL;
		}
	}
	p = malloc(size);
	if (p == NULL) {
		gp_fail(GP_EX_TEMPFAIL, "stage '%s': out of memory allocating %zu bytes", acct->name,
		        size);
		return NULL;
	}
	for (struct mem_account *a = acct; a != NULL; a = a->parent)
		counter_add(&a->bytes, (int64_t)size);
	return p;
}

void mem_free(struct mem_account *acct, void *p, size_t size)
{
	if (p == NULL)
		return;
	free(p);
	for (struct mem_account *a = acct; a != NULL; a = a->parent)
		counter_add(&a->bytes, -(int64_t)size);
}

static const char *const kind_names[HANDLE_KIND_COUNT] = {
	[HANDLE_OGR_FEATURE] = "ogr_feature",   [HANDLE_OGR_GEOMETRY] = "ogr_geometry",
	[HANDLE_GDAL_DATASET] = "gdal_dataset", [HANDLE_LAYER_ITER] = "layer_iterator",
	[HANDLE_PROJ_OP] = "proj_operation",    [HANDLE_GEOS_GEOM] = "geos_geometry",
	[HANDLE_GEOS_PREPARED] = "geos_prepared", [HANDLE_GDAL_BAND] = "gdal_band",
	[HANDLE_GDAL_WARP] = "gdal_warp",         [HANDLE_GDAL_TRANSFORMER] = "gdal_transformer",
	[HANDLE_OGR_TRANSFORM] = "ogr_transform",
	[HANDLE_OGR_SRS] = "ogr_srs",             [HANDLE_GEOS_PARAMS] = "geos_params",
	[HANDLE_OGR_FEATURE_DEFN] = "ogr_feature_defn",
};

const char *handle_kind_name(enum handle_kind k)
{
	return (unsigned)k < HANDLE_KIND_COUNT ? kind_names[k] : "unknown";
}

void stage_acct_init(struct stage_acct *s, const char *name, struct mem_account *parent)
{
	*s = (struct stage_acct){0};
	mem_account_init(&s->mem, name, parent, 0);
}

void stage_acct_handle_up(struct stage_acct *s, enum handle_kind k)
{
	counter_add(&s->live[k], 1);
}

void stage_acct_handle_down(struct stage_acct *s, enum handle_kind k)
{
	counter_add(&s->live[k], -1);
}

int stage_acct_first_leak(const struct stage_acct *s)
{
	for (int k = 0; k < HANDLE_KIND_COUNT; k++)
		if (s->live[k].cur != 0)
			return k;
	return -1;
}
