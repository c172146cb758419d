/* geos.c - per-thread GEOS contexts and WKB conversion. */
#include "vector/geos.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/step.h"
#include "core/watch.h"
#include "vector/batch.h"

struct geos {
	GEOSContextHandle_t ctx;
	GEOSWKBReader *reader;
	GEOSWKBWriter *writer;
	const struct watch *watch; /* NULL: never stopped */
	uint64_t applied;          /* operations geos_apply completed */
	char msg[512];
};

/* Handles are destroyed by arena cleanups that only get the geometry: the
 * thread's own context is found here, since a geometry never leaves the
 * thread whose context made it. */
static _Thread_local struct geos *thread_geos;

static void on_message(const char *message, void *userdata)
{
	struct geos *g = userdata;

	snprintf(g->msg, sizeof g->msg, "%s", message);
}

static void finish(void *ctx)
{
	struct geos *g = ctx;

	if (g->reader)
		GEOSWKBReader_destroy_r(g->ctx, g->reader);
	if (g->writer)
		GEOSWKBWriter_destroy_r(g->ctx, g->writer);
	GEOS_finish_r(g->ctx);
	if (thread_geos == g)
		thread_geos = NULL;
}

struct geos *geos_create(struct arena *a)
{
	struct geos *g = arena_calloc(a, 1, sizeof *g);

	if (g == NULL)
		return NULL;
	g->ctx = GEOS_init_r();
	if (g->ctx == NULL) {
		gp_fail(GP_EX_SOFTWARE, "cannot create a GEOS context");
		return NULL;
	}
	if (arena_defer(a, finish, g) != 0)
		return NULL;
	GEOSContext_setErrorMessageHandler_r(g->ctx, on_message, g);
	GEOSContext_setNoticeMessageHandler_r(g->ctx, on_message, g);
	g->reader = GEOSWKBReader_create_r(g->ctx);
	g->writer = GEOSWKBWriter_create_r(g->ctx);
	if (g->reader == NULL || g->writer == NULL) {
		gp_fail(GP_EX_SOFTWARE, "cannot create GEOS WKB reader and writer");
		return NULL;
	}
	GEOSWKBWriter_setByteOrder_r(g->ctx, g->writer, GEOS_WKB_NDR);
	GEOSWKBWriter_setOutputDimension_r(g->ctx, g->writer, 3);
	GEOSWKBWriter_setFlavor_r(g->ctx, g->writer, GEOS_WKB_ISO);
	thread_geos = g;
	return g;
}

void geos_set_watch(struct geos *g, const struct watch *w)
{
	g->watch = w;
}

bool geos_stopping(const struct geos *g)
{
	return g->watch && watch_stopping(g->watch);
}

uint64_t geos_applied(const struct geos *g)
{
	return g->applied;
}

/* The run is stopping: a failure now is GEOS's interrupt (or comes after
 * it), not the feature's.  The engine replaces the message with the
 * reason it stops for. */
static int stopped(void)
{
	return gp_fail(GP_EX_TEMPFAIL, "stopped");
}

GEOSContextHandle_t geos_handle(const struct geos *g)
{
	return g->ctx;
}

const char *geos_reason(const struct geos *g, const char *fallback)
{
	return g->msg[0] ? g->msg : fallback;
}

void geos_reset(struct geos *g)
{
	g->msg[0] = '\0';
}

static void destroy_geom(void *p)
{
	if (thread_geos)
		GEOSGeom_destroy_r(thread_geos->ctx, p);
}

struct handle *geos_own(struct geos *g, struct arena *a, struct stage_acct *stage,
                        GEOSGeometry *geom)
{
	(void)g;
	/* The slot tells the callers' two failures apart: empty, GEOS said
	 * no (geos_reason); set, the arena is full (fatal). */
	gp_err_clear();
	if (geom == NULL)
		return NULL;
	return handle_own(a, stage, HANDLE_GEOS_GEOM, geom, destroy_geom);
}

struct handle *geos_read(struct geos *g, struct arena *a, struct stage_acct *stage,
                         const unsigned char *wkb, size_t len)
{
	GEOSGeometry *geom;

	geos_reset(g);
	gp_err_clear();
	geom = GEOSWKBReader_read_r(g->ctx, g->reader, wkb, len);
	if (geom == NULL) {
		if (!g->msg[0])
			snprintf(g->msg, sizeof g->msg, "GEOS cannot read the geometry");
		return NULL;
	}
	return geos_own(g, a, stage, geom);
}

int geos_write(struct geos *g, struct arena *a, const GEOSGeometry *geom, unsigned char **wkb,
               size_t *len)
{
	size_t n = 0;
	unsigned char *buf;

	geos_reset(g);
	buf = GEOSWKBWriter_write_r(g->ctx, g->writer, geom, &n);
	if (buf == NULL) {
		if (!g->msg[0])
			snprintf(g->msg, sizeof g->msg, "GEOS cannot write the geometry");
		return -1;
	}
	*wkb = arena_alloc(a, n ? n : 1, 8);
	if (*wkb == NULL) {
		GEOSFree_r(g->ctx, buf);
		return -2;
	}
	memcpy(*wkb, buf, n);
	*len = n;
	GEOSFree_r(g->ctx, buf);
	return 0;
}

int geos_store(struct geos *g, struct batch *b, size_t i, const char *label, struct handle *geom)
{
	struct feature *f = &b->f[i];
	int r;

	r = geos_write(g, b->arena, geom->ptr, &f->wkb, &f->wkb_len);
	handle_release(geom);
	if (r == -2)
		return -1;
	if (r != 0) {
		batch_fail(b, i, label, geos_reason(g, "GEOS cannot write it"));
		return 1;
	}
	return 0;
}

struct handle *geos_read_feature(struct geos *g, struct stage *s, struct batch *b, size_t i,
                                 bool drop_empty, int *r)
{
	struct feature *f = &b->f[i];
	struct handle *geom;

	*r = 0;
	if (f->state != FEAT_LIVE)
		return NULL;
	if (f->wkb == NULL) {
		if (drop_empty)
			f->state = FEAT_FILTERED;
		return NULL;
	}
	geom = geos_read(g, b->arena, &s->acct, f->wkb, f->wkb_len);
	if (geom == NULL) {
		if (gp_err_code()) {
			*r = -1;
			return NULL;
		}
		batch_fail(b, i, s->step->label, geos_reason(g, "geometry does not decode"));
		*r = 1;
	}
	return geom;
}

int geos_apply(struct geos *g, struct stage *s, struct batch *b, size_t i, geos_op op, void *ctx,
               const char *what)
{
	struct handle *in, *out;
	int r;

	if (geos_stopping(g))
		return stopped();
	/* The caller gives a live feature with a geometry: *r is never 0. */
	in = geos_read_feature(g, s, b, i, false, &r);
	if (in == NULL)
		return r;
	geos_reset(g);
	out = geos_own(g, b->arena, &s->acct, op(g->ctx, in->ptr, ctx));
	handle_release(in);
	if (out == NULL) {
		if (gp_err_code())
			return -1;
		if (geos_stopping(g))
			return stopped();
		batch_fail(b, i, s->step->label, geos_reason(g, what));
		return 1;
	}
	if (geos_stopping(g)) {
		/* Not another copy of a result the run will not keep. */
		handle_release(out);
		return stopped();
	}
	r = geos_store(g, b, i, s->step->label, out);
	if (r == 0)
		g->applied++;
	return r;
}
