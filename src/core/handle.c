/* handle.c - counted ownership of foreign handles. */
#include "core/handle.h"

#include <gdal.h>
#include <gdal_alg.h>
#include <gdalwarper.h>
#include <ogr_srs_api.h>
#include <ogr_api.h>
#include <proj.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/owner.h"
#include "core/owner_check.h"

static void destroy_feature(void *p)
{
	OGR_F_Destroy(p);
}

static void destroy_geometry(void *p)
{
	OGR_G_DestroyGeometry(p);
}

static void destroy_dataset(void *p)
{
	GDALClose(p);
}

static void destroy_proj(void *p)
{
	proj_destroy(p);
}

static void forget_band(void *p)
{
	(void)p; /* a band belongs to its dataset */
}

static void destroy_warp(void *p)
{
	GDALDestroyWarpOperation(p);
}

static void destroy_transformer(void *p)
{
	GDALDestroyTransformer(p);
}

static void destroy_ogr_transform(void *p)
{
	OCTDestroyCoordinateTransformation(p);
}

/* Spatial references and feature definitions are reference-counted:
 * GDAL objects that took a reference (a layer, a transformation) keep
 * theirs, ours is given back. */
static void release_srs(void *p)
{
	OSRRelease(p);
}

static void release_feature_defn(void *p)
{
	OGR_FD_Release(p);
}

static handle_destroy_fn default_destroy(enum handle_kind k)
{
	switch (k) {
	case HANDLE_OGR_FEATURE:
		return destroy_feature;
	case HANDLE_OGR_GEOMETRY:
		return destroy_geometry;
	case HANDLE_GDAL_DATASET:
		return destroy_dataset;
	case HANDLE_PROJ_OP:
		return destroy_proj;
	case HANDLE_GDAL_BAND:
		return forget_band;
	case HANDLE_GDAL_WARP:
		return destroy_warp;
	case HANDLE_GDAL_TRANSFORMER:
		return destroy_transformer;
	case HANDLE_OGR_TRANSFORM:
		return destroy_ogr_transform;
	case HANDLE_OGR_SRS:
		return release_srs;
	case HANDLE_OGR_FEATURE_DEFN:
		return release_feature_defn;
	default:
		return NULL;
	}
}

static void handle_cleanup(void *ctx)
{
	handle_release(ctx);
}

struct handle *handle_own(struct arena *a, struct stage_acct *stage, enum handle_kind kind,
                          void *ptr, handle_destroy_fn destroy)
{
	struct handle *h;

	if (destroy == NULL)
		destroy = default_destroy(kind);
	if (ptr == NULL || destroy == NULL) {
		gp_fail(GP_EX_SOFTWARE, "stage '%s': cannot own a %s handle", stage->mem.name,
		        handle_kind_name(kind));
		return NULL;
	}
	h = arena_alloc(a, sizeof *h, 0);
	if (h == NULL) {
		destroy(ptr);
		return NULL;
	}
	*h = (struct handle){.ptr = ptr, .kind = kind, .stage = stage, .destroy = destroy,
	                     .owner = owner_self()};
	stage_acct_handle_up(stage, kind);
	if (arena_defer(a, handle_cleanup, h) != 0)
		return NULL; /* handle_cleanup ran: destroyed and counted down */
	return h;
}

void handle_release(struct handle *h)
{
	void *p = h->ptr;

	if (p == NULL)
		return;
	owner_check(h->owner, "handle", handle_kind_name(h->kind));
	h->ptr = NULL;
	h->destroy(p);
	stage_acct_handle_down(h->stage, h->kind);
}

void *handle_take(struct handle *h)
{
	void *p = h->ptr;

	if (p != NULL) {
		owner_check(h->owner, "handle", handle_kind_name(h->kind));
		h->ptr = NULL;
		stage_acct_handle_down(h->stage, h->kind);
	}
	return p;
}
