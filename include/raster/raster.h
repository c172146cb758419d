/*
 * raster.h - raster pipelines: views, windows and pulling blocks.
 *
 * A raster stream is a chain of views.  The source describes its raster
 * (size, geotransform, CRS, bands, type, nodata); each later step's begin
 * turns the view it receives into the view it produces, in place in the
 * stream.  Pixels are then pulled, not pushed: the engine cuts the sink's
 * view into windows the memory plan sizes, and for each window asks the
 * last transform for its pixels, which asks the step before it for the
 * pixels it needs, and so on up to the source.  A step may need another
 * window than it was asked for (a warp needs the source area under the
 * output window, with a margin for the kernel), which is why it pulls.
 *
 * Window buffers are band-sequential: band b of a w x h window of type t
 * starts at b * w * h * GDALGetDataTypeSizeBytes(t).  A step's scratch
 * buffers come from its block arena (raster_blocks), reset after each
 * window, so a step holds at most one window's worth at a time.
 *
 * raster/view.c holds the views, windows and conversions; raster/run.c the
 * run loop (the engine's raster_run_kind, engine.h) and the calls below
 * that reach into it.
 */
#ifndef GISPIPE_RASTER_H
#define GISPIPE_RASTER_H

#include <gdal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct arena;
struct step;
struct stage;
struct engine;
struct stream;
struct pipeline;

struct rband {
	bool has_nodata;
	double nodata;
	GDALColorInterp interp;
	const char *desc;      /* band description, or NULL */
};

struct rview {
	int width, height, nbands;
	GDALDataType type;     /* every band's */
	double gt[6];          /* geotransform */
	bool has_gt;
	const char *crs;       /* WKT, NULL when unknown */
	struct rband *band;    /* nbands */
	int alpha;             /* 0-based index of the alpha band, -1 for none */
	int block_w, block_h;  /* natural block: the source's, or planned */
};

struct rwin {
	int x, y, w, h;
};

/* Bytes of one pixel of one band. */
size_t raster_tsize(GDALDataType t);

/* Bytes of a window of `v` (all bands). */
size_t raster_win_bytes(const struct rview *v, const struct rwin *w);

/* Deep copy of a view into `a` (band array and CRS included). */
struct rview *raster_view_dup(struct arena *a, const struct rview *v);

/* Allocate `nbands` bands with no nodata, gray interpretation. */
int raster_view_bands(struct arena *a, struct rview *v, int nbands);

/* A band number as written in a 'bands' list: 1 to 65535. */
bool raster_band_number(const char *text, int *band);

/* Parse a GDAL data type name ("Int16", "float32" ...); GDT_Unknown if
 * not one.  raster_type_names: the list, for option docs and errors. */
GDALDataType raster_type_parse(const char *name);
extern const char *const raster_type_names[];

/* The steps' view of the run (raster/run.c); the rest is raster/view.c. */

/* The step's block arena: scratch for one window, reset by the engine
 * after every window of the sink (so everything a step allocates while
 * answering a pull lives until the window is written). */
struct arena *raster_blocks(struct stage *s);

/* Pull window `w` of the view step `s` receives (the previous step's
 * output) into `buf`, band-sequential in that view's type. */
int raster_pull_upstream(struct stage *s, const struct rwin *w, void *buf);

/* Window `w` of the view step `s` receives, pulled into a buffer of its
 * block arena (so it lives until the window is written); NULL with the
 * error set. */
void *raster_pull_input(struct stage *s, const struct rwin *w);

/* Called by step `s` while its pool's workers warp the pieces of a window
 * (and before it waits for them): the run writes the window it pulled
 * before, if it has not been written yet, so that writing one window
 * overlaps warping the next on a run of more than one thread.  0, or -1
 * with the error set (the write failed; the caller still waits for its
 * workers). */
int raster_write_pending(struct stage *s);

/* The view step `s` receives (valid between begin and end). */
const struct rview *raster_input_view(const struct stage *s);

/* Pixels per window the plan allows for a sink writing `v`, as a window
 * size aligned to the view's blocks. */
void raster_plan_window(const struct engine *e, const struct rview *v, int *ww, int *wh);

/* Converting between window buffers and doubles (clamped and rounded to
 * the nearest when the destination is an integer type; NaN becomes 0 for
 * integer types, so callers map NaN to nodata before). */
void raster_to_double(const void *src, GDALDataType t, size_t n, double *dst);
void raster_from_double(const double *src, size_t n, GDALDataType t, void *dst);

/* True when `v` is a value of type `t` exactly (nodata checks). */
bool raster_value_fits(double v, GDALDataType t);

/* A GDAL MEM dataset over a caller's buffer (band-sequential window with
 * `line_pixels` pixels a line, `band_bytes` between bands), with the
 * geotransform and CRS of `v` shifted to window `w`.  Owned by `a` as a
 * counted GDAL dataset of stage `s`.  NULL on failure. */
GDALDatasetH raster_mem_dataset(struct stage *s, struct arena *a, const struct rview *v,
                                const struct rwin *w, void *buf, size_t line_pixels,
                                size_t band_bytes);

/* The read step of raster pipelines (raster/read.c): GDAL datasets and
 * the synthetic raster, its options those of both read steps (input.h). */
int raster_source_check(struct step *s, struct pipeline *pl);
int raster_source_open(struct stage *s, struct engine *e);
int raster_source_next_stream(struct stage *s, struct stream *st);
int raster_source_end(struct stage *s, struct stream *st);
int raster_source_close(struct stage *s, bool ok);
int raster_source_pull(struct stage *s, const struct rwin *w, void *buf);
void raster_source_explain(struct stage *s, struct engine *e, FILE *out);
void raster_source_explain_memory(struct stage *s, struct engine *e, FILE *out);

#endif
