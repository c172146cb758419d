/*
 * stream.h - a stream: one input layer (or raster dataset) going through
 * the pipeline, vector or raster alike.
 *
 * Steps see a stream begin, see its batches (vector/batch.h) or windows
 * (raster/raster.h), and see it end.  Steps may change the stream as it
 * passes (select changes the schema, reproject the CRS); the writer sees
 * the stream as the last step left it.  A stream and everything hanging
 * from it live in the stream arena, reset when the next stream begins.
 */
#ifndef GISPIPE_STREAM_H
#define GISPIPE_STREAM_H

#include <ogr_api.h>
#include <stdbool.h>
#include <stdint.h>

struct arena;
struct schema;
struct rview;

struct stream {
	uint64_t index;         /* 0-based, over the run */
	uint64_t dataset_index; /* 0-based index of the input dataset */
	int layer_index;        /* index of the layer in its dataset */
	const char *path;       /* dataset as opened */
	const char *name;       /* file name without directories */
	const char *stem;       /* file name without its last extension */
	const char *layer;      /* layer name */
	const char *driver;     /* GDAL short name of the source driver */
	const char *fid_column; /* the source layer's FID column, or NULL */
	const char *geom_column; /* the source layer's geometry column, or NULL */
	struct schema *schema;  /* fields at this point of the pipeline */
	OGRSpatialReferenceH srs; /* CRS at this point; NULL when unknown */
	bool srs_from_source;   /* srs is the layer's own, not set by a step */
	int64_t count_hint;     /* features expected, -1 when unknown */
	struct arena *arena;
	struct rview *raster;   /* raster streams: the view at this point */
};

#endif
