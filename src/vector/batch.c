/* batch.c - helpers on batches. */
#include "vector/batch.h"

#include <string.h>

#include "core/arena.h"
#include "core/error.h"
#include "vector/schema.h"

OGRGeometryH batch_geometry(const struct batch *b, size_t i, const char **why)
{
	const struct feature *f = &b->f[i];
	OGRGeometryH g = NULL;

	if (f->wkb == NULL) {
		*why = "feature has no geometry";
		return NULL;
	}
	if (OGR_G_CreateFromWkbEx(f->wkb, NULL, &g, f->wkb_len) != OGRERR_NONE) {
		*why = "geometry does not decode";
		return NULL;
	}
	return g;
}

int batch_set_geometry(struct batch *b, size_t i, OGRGeometryH g)
{
	size_t len = (size_t)OGR_G_WkbSizeEx(g);
	unsigned char *w = arena_alloc(b->arena, len, 8);

	if (w == NULL)
		return -1;
	if (OGR_G_ExportToIsoWkb(g, wkbNDR, w) != OGRERR_NONE)
		return gp_fail(GP_EX_DATAERR, "geometry cannot be encoded as WKB");
	b->f[i].wkb = w;
	b->f[i].wkb_len = len;
	return 0;
}

int batch_reserve_extra(struct batch *b, size_t i)
{
	struct feature *f = &b->f[i];
	size_t need = (size_t)b->stream->schema->nextra;
	struct fvalue *nv;

	if (f->nextra >= need)
		return 0;
	nv = arena_calloc(b->arena, need, sizeof *nv);
	if (nv == NULL)
		return -1;
	if (f->nextra)
		memcpy(nv, f->extra, f->nextra * sizeof *nv);
	f->extra = nv;
	f->nextra = need;
	return 0;
}

void batch_fail(struct batch *b, size_t i, const char *step, const char *reason)
{
	struct feature *f = &b->f[i];

	f->state = FEAT_FAILED;
	f->fail_step = step;
	f->fail_reason = arena_strdup(b->arena, reason);
}
