/*
 * iocheck.h - every write of an output checked, whatever the driver.
 *
 * GDAL's text writers (GeoJSON, GML, KML, CSV...) ignore short writes, and
 * the others report a full disk as a failed feature.  So outputs are
 * written through a checking layer of GDAL's virtual file system: GDAL is
 * given iocheck_path(real path), the real path behind a prefix of our own;
 * every call is forwarded to the real file (nothing is buffered here), and
 * the first failed write, flush, seek, truncate or close of a file under a
 * watched directory is recorded in that directory's struct iocheck, where
 * the writer asks for it after each batch and before it commits.  The files
 * a driver derives from the path it was given (.shx, .dbf, .xsd, -journal,
 * FlatGeobuf's and COG's temporary files) go through the layer too.
 *
 * Records are thread-safe: any thread may write through the layer, and any
 * may ask.  The prefix is ours only: iocheck_gdal_msg() takes it out of
 * GDAL's messages, and no driver puts the full path into the files it
 * writes (GML's schemaLocation and shapefile sidecars use base names).
 *
 * --config GISPIPE_IOCHECK NO bypasses the layer (iocheck_path returns the
 * path as it is): tests compare what is written with and without it.
 */
#ifndef GISPIPE_IOCHECK_H
#define GISPIPE_IOCHECK_H

#include <stddef.h>

struct arena;
struct iocheck;

/* Watch every file under directory `dir` (an output's temporary
 * directory).  The record belongs to `a`: an arena cleanup stops watching
 * when `a` is reset or destroyed (files still open keep it alive until they
 * close).  NULL with the error set. */
struct iocheck *iocheck_watch(struct arena *a, const char *dir);

/* The name to give GDAL for `path`, a file under a watched directory;
 * allocated in `a`. */
const char *iocheck_path(struct arena *a, const char *path);

/* 0 while no write under the watched directory has failed; otherwise
 * exit 74 naming `target` (the output as the user knows it), the file that
 * failed when it is another one (a sidecar), and the OS error: returns -1
 * with the error set.  NULL `c` is 0. */
int iocheck_status(struct iocheck *c, const char *target);

/* GDAL's last error message with the layer's prefix taken out.  Borrowed:
 * valid on this thread until the next call. */
const char *iocheck_gdal_msg(void);

/* `msg` with the layer's prefix taken out, written to `buf` (truncated to
 * `size`); returns `buf`. */
const char *iocheck_strip(const char *msg, char *buf, size_t size);

#endif
