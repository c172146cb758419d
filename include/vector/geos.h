/*
 * geos.h - GEOS for the steps: one context per thread, geometry in and out
 * as WKB, every geometry a counted handle.
 *
 * Only GEOS's reentrant API is used (GEOS_USE_ONLY_R_API).  A thread makes
 * its context with geos_create() and uses it alone; the context is finished
 * by the arena cleanup, on the same thread.  GEOS's error and notice
 * messages land in the context, so a step can give a failed feature GEOS's
 * own reason (geos_reason()).
 */
#ifndef GISPIPE_GEOS_H
#define GISPIPE_GEOS_H

#include <geos_c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct handle;
struct stage_acct;
struct geos;
struct watch;

/* Make this thread's context in `a`; finished when `a` goes.  NULL with
 * the error set. */
struct geos *geos_create(struct arena *a);

GEOSContextHandle_t geos_handle(const struct geos *g);

/* Stop with the run: once `w` (borrowed; it must outlive `g` or be unset
 * with NULL) says the run is stopping, geos_apply fails the run instead of
 * the feature (a GEOS call interrupted by the watcher fails this way too). */
void geos_set_watch(struct geos *g, const struct watch *w);
bool geos_stopping(const struct geos *g);

/* Operations geos_apply() has completed on this context: the engine's
 * measure of how far a step got into a batch. */
uint64_t geos_applied(const struct geos *g);

/* GEOS's last error or notice since geos_reset(), or `fallback`. */
const char *geos_reason(const struct geos *g, const char *fallback);
void geos_reset(struct geos *g);

/* A GEOS geometry from WKB, owned by `a` as a live geos_geometry handle of
 * `stage` (release it early with handle_release).  NULL when GEOS cannot
 * read it (geos_reason() says why, gp_err_code() is 0) or when `a` is full
 * (gp_err_code() is set: a failure of the run, not of the feature). */
struct handle *geos_read(struct geos *g, struct arena *a, struct stage_acct *stage,
                         const unsigned char *wkb, size_t len);

/* Take ownership of a geometry GEOS returned.  NULL for a NULL geometry
 * (gp_err_code() 0) or a full arena (gp_err_code() set, geometry freed). */
struct handle *geos_own(struct geos *g, struct arena *a, struct stage_acct *stage,
                        GEOSGeometry *geom);

/* ISO WKB (little-endian, Z kept) of `geom`, copied into `a`.  -1 when GEOS
 * cannot write it (geos_reason()), -2 when `a` is full (error set). */
int geos_write(struct geos *g, struct arena *a, const GEOSGeometry *geom, unsigned char **wkb,
               size_t *len);

struct batch;
struct step;
struct stage;

/* Make `geom` the geometry of feature i of `b`, as WKB in the batch arena;
 * `geom` is released either way.  0: stored; 1: the feature failed
 * (batch_fail as step `label`, with GEOS's reason); -1: the batch arena is
 * full (error set), which fails the run. */
int geos_store(struct geos *g, struct batch *b, size_t i, const char *label,
               struct handle *geom);

/* The geometry of feature i of `b`, read for stage `s`, or NULL with *r
 * saying why: 0, there is nothing to read (the feature is not live, or has
 * no geometry -- then it is filtered out when `drop_empty`, left live
 * otherwise); 1, GEOS cannot read it and the feature failed (batch_fail as
 * the step, with GEOS's reason); -1, the batch arena is full (error set),
 * which fails the run.  Messages of the read stay for geos_reason(). */
struct handle *geos_read_feature(struct geos *g, struct stage *s, struct batch *b, size_t i,
                                 bool drop_empty, int *r);

/* An operation on one geometry: a new geometry the caller will own, or
 * NULL when GEOS cannot do it (its message then says why). */
typedef GEOSGeometry *(*geos_op)(GEOSContextHandle_t h, const GEOSGeometry *in, void *ctx);

/* Replace the geometry of feature i of `b` (live, with a geometry) by
 * op(geometry), every GEOS object released before it returns.  0: replaced;
 * 1: the feature failed (batch_fail with GEOS's reason, or `what` when
 * GEOS gave none); -1: the run fails (the batch arena is full, or the run
 * is stopping -- checked before the operation and after a failed one --
 * error set). */
int geos_apply(struct geos *g, struct stage *s, struct batch *b, size_t i, geos_op op, void *ctx,
               const char *what);

#endif
