/*
 * outfile.h - atomic outputs.
 *
 * An output is written into a fresh temporary directory beside its target
 * (same file system), as files with the target's own names, so that
 * multi-file formats (Shapefile) work unchanged.  outfile_commit() syncs the
 * files and renames each into place; outfile_abort() removes the temporary
 * directory and the directories begin created for the target.  Until commit
 * the target is untouched; after abort nothing is left behind.
 */
#ifndef GISPIPE_OUTFILE_H
#define GISPIPE_OUTFILE_H

#include <stdbool.h>

struct arena;

enum outfile_mode { OUTFILE_CREATE, OUTFILE_OVERWRITE, OUTFILE_APPEND };

struct outfile {
	const char *target;   /* final path */
	const char *tmpdir;   /* temporary directory beside it */
	const char *tmppath;  /* where GDAL writes: tmpdir/<target's name> */
	bool existed;         /* the target existed at begin */
	bool done;            /* committed or aborted */
	char **old_files;     /* files of the previous target (CSL), for overwrite */
	const char *dir;      /* the target's directory */
	int dirs_made;        /* directories created for it, removed on abort */
};

/* Prepare `o` for `target`: fails with 73 when mode is create and the
 * target exists, or when the directory cannot be written.  With append, the
 * existing dataset's files are copied into the temporary directory first.
 * An arena cleanup aborts the output if it is neither committed nor
 * aborted when `a` goes. */
int outfile_begin(struct arena *a, struct outfile *o, const char *target, enum outfile_mode mode);

/* Sync and rename into place; 74 on I/O errors. */
int outfile_commit(struct outfile *o);

/* Remove the temporary directory and all in it. */
void outfile_abort(struct outfile *o);

/* True when `path` names something GDAL could open (file or directory). */
bool outfile_exists(const char *path);

#endif
