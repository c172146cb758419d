/* layer_iter.c - explicit close of layer iterators, checked; GDAL errors
 * raised while reading, recorded. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <cpl_error.h>

#include "core/arena.h"
#include "core/handle.h"
#include "vector/source.h"

static atomic_uint_fast64_t unclosed;

static void iter_destroy(void *p)
{
	struct layer_iter *it = p;

	if (!it->closed) {
		/* The owner reset the arena under an open iterator: a bug in
		 * gispipe, made loud so that tests catch it. */
		unclosed++;
		fprintf(stderr, "gispipe: bug: iterator of '%s' destroyed without close\n", it->what);
	}
}

struct layer_iter *layer_iter_open(struct arena *a, struct stage_acct *acct, const char *what)
{
	struct layer_iter *it = arena_calloc(a, 1, sizeof *it);

	if (it == NULL)
		return NULL;
	it->what = what;
	it->h = handle_own(a, acct, HANDLE_LAYER_ITER, it, iter_destroy);
	return it->h ? it : NULL;
}

void layer_iter_close(struct layer_iter *it)
{
	it->closed = true;
	handle_release(it->h);
}

uint64_t layer_iter_unclosed(void)
{
	return unclosed;
}

static void CPL_STDCALL record(CPLErr cls, CPLErrorNum num, const char *msg)
{
	struct gdal_errs *r = CPLGetErrorHandlerUserData();
	uint64_t k;
	char *to;

	(void)num;
	if (cls == CE_Warning) {
		if (!r->quiet)
			fprintf(stderr, "gispipe: warning: %s: %s\n", r->what ? r->what : "GDAL",
			        msg);
		return;
	}
	if (cls < CE_Failure)
		return;
	/* Failure number k is kept if the ring has room for it. */
	k = r->raised++;
	if (k - r->taken < GDAL_ERRS_KEEP) {
		r->seq[k % GDAL_ERRS_KEEP] = k + 1;
		to = r->msg[k % GDAL_ERRS_KEEP];
	} else {
		to = r->over;
	}
	snprintf(to, GDAL_ERRS_MSG, "%s", msg);
}

void gdal_errs_push(struct gdal_errs *r)
{
	CPLPushErrorHandlerEx(record, r);
	/* Debug messages (CPL_DEBUG) are not ours to keep. */
	CPLSetCurrentErrorHandlerCatchDebug(FALSE);
}

void gdal_errs_pop(void)
{
	CPLPopErrorHandler();
}

const char *gdal_errs_peek(const struct gdal_errs *r)
{
	size_t i = r->taken % GDAL_ERRS_KEEP;

	const char *m;

	if (gdal_errs_pending(r) == 0)
		return "";
	m = r->seq[i] == r->taken + 1 ? r->msg[i] : r->over;
	return *m ? m : "GDAL gave no message";
}

void gdal_errs_take(struct gdal_errs *r)
{
	if (gdal_errs_pending(r) > 0)
		r->taken++;
}

void gdal_errs_clear(struct gdal_errs *r)
{
	r->taken = r->raised;
}
