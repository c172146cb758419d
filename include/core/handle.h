/*
 * handle.h - foreign handles (OGR, GDAL, PROJ, GEOS) owned by an arena.
 *
 * handle_own() registers a handle the moment it is created: the stage's live
 * counter for its kind goes up, and an arena cleanup destroys it and brings
 * the counter down when the arena is reset or destroyed, unless it was
 * released or taken back earlier.  Nothing else moves the live counters.
 * A handle belongs to the thread that owned it (owner_self()); releasing or
 * taking it from another thread breaks the ownership rule
 * (core/owner_check.h).
 */
#ifndef GISPIPE_HANDLE_H
#define GISPIPE_HANDLE_H

#include "core/account.h"

struct arena;

typedef void (*handle_destroy_fn)(void *ptr);

struct handle {
	void *ptr;                  /* NULL once released or taken */
	enum handle_kind kind;
	struct stage_acct *stage;
	handle_destroy_fn destroy;
	int owner;                  /* owner_self() of the thread that owned it */
};

/* Take ownership of `ptr` (NULL is refused).  `destroy` NULL means the
 * kind's usual destructor (OGR_F_Destroy, OGR_G_DestroyGeometry, GDALClose,
 * proj_destroy, GDALDestroyWarpOperation, GDALDestroyTransformer,
 * OCTDestroyCoordinateTransformation, OSRRelease, OGR_FD_Release; a band is
 * only counted); HANDLE_LAYER_ITER, HANDLE_GEOS_GEOM and HANDLE_GEOS_PARAMS
 * need one (GEOS destructors need the context too).  `destroy` must have
 * exactly the handle_destroy_fn type: never cast a function to it, write a
 * wrapper.  On failure the handle is destroyed at once and NULL returned
 * (error set). */
struct handle *handle_own(struct arena *a, struct stage_acct *stage, enum handle_kind kind,
                          void *ptr, handle_destroy_fn destroy);

/* Destroy the handle now; the arena's cleanup then does nothing. */
void handle_release(struct handle *h);

/* Give the handle back to the caller, who must destroy it (used for
 * datasets whose close must be checked).  The live counter goes down. */
void *handle_take(struct handle *h);

#endif
