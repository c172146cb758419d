/*
 * outfile.h - atomic, locked outputs.
 *
 * An output is written into a fresh temporary directory beside its target
 * (same file system), as files with the target's own names, so that
 * multi-file formats (Shapefile) work unchanged.  Committing syncs the files
 * and renames each into place; aborting removes the temporary directory and
 * the directories begin created for the target.  Until commit the target
 * is untouched; after abort nothing is left behind.
 *
 * Locks.  From begin to commit or abort a run holds two advisory locks
 * (flock): one on a lock file beside the target, `.<name>.gispipe-lock`,
 * which holds the run's PID and is removed when the run lets go, so that a
 * second run on that target waits or fails with 75 naming the holder; and
 * one on its temporary directory, so that a later run in that directory
 * can tell a temporary whose owner is gone (it can take the lock) from one
 * being written (it cannot).  begin removes the former and stale lock files
 * the first time a run writes in a directory.
 *
 * A run's outputs form an outset: begin refuses (73) an output that is the
 * same file as one already begun in the set, and outset_commit() commits
 * them all with SIGINT, SIGTERM and SIGHUP held, so the exit status always
 * matches what is on disk.
 *
 * Ownership: an outset lives in the run arena; each outfile lives in its
 * writer's arena, which is shorter-lived, so the set's list is unlinked by
 * the outfile's arena cleanup, never left pointing at freed memory.
 */
#ifndef GISPIPE_OUTFILE_H
#define GISPIPE_OUTFILE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct arena;
struct outset;

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
	/* private to outfile.c */
	enum outfile_mode mode;
	const char *canon;    /* canonical path: realpath of the directory + name */
	const char *lock_path;
	int lock_fd;          /* the target's lock, or -1 */
	int tmp_fd;           /* the temporary directory, locked, or -1 */
	struct outset *set;   /* NULL when begun alone */
	struct outfile *prev, *next; /* in the set, begin order */
};

/* A run's outputs.  `lock_wait`: seconds to wait for a target another run
 * holds (0: fail at once).  `stop` (may be NULL): the signal flag; a stop
 * asked before the commit begins aborts it (128+N). */
struct outset *outset_create(struct arena *run, int lock_wait, volatile sig_atomic_t *stop);

/* Sync every output of `set` not yet done, then rename each into place,
 * oldest first, with SIGINT/SIGTERM/SIGHUP blocked in this thread and
 * their handlers replaced by one that only records the signal in `stop`
 * for the rest of the process's life: once the commit has begun, no signal
 * stops it or changes the exit status it gives.  When `stop` was already
 * set, nothing is committed and 128+N is returned.  Returns 0, 73 (a
 * create target appeared meanwhile) or 74, with the error set.  Outputs
 * not committed stay begun: abort them (outset_abort, or their arenas). */
int outset_commit(struct outset *set);

/* Abort every output of `set` not yet done. */
void outset_abort(struct outset *set);

/* Outputs committed so far. */
uint64_t outset_committed(const struct outset *set);

/* An output that is no file (a database transaction): outset_commit()
 * runs its commit() with the signals held, after the stop check and
 * before any file is synced or renamed (a failed commit leaves the files
 * as they were); outset_abort() runs abort() when it was not committed.
 * Each runs at most once, and the hook leaves the set then.  The hook
 * belongs to the caller, whose arena must outlive the set's commit or
 * abort, or call outset_hook_abort() from its cleanup. */
struct outset_hook {
	struct outset_hook *next;
	struct outset *set;
	int (*commit)(void *ctx); /* 0, or -1 with the error set */
	void (*abort)(void *ctx);
	void *ctx;
};
void outset_add_hook(struct outset *set, struct outset_hook *h);
/* Abort `h` now if it is still pending. */
void outset_hook_abort(struct outset_hook *h);

/* Prepare `o` for `target` in `set` (NULL: alone).  Fails with 73 when the
 * target is one already begun in the set, when mode is create and the
 * target exists, or when the directory cannot be written; with 75 when
 * another run holds the target past the set's lock_wait; with 128+N when
 * the set's stop flag is raised while waiting.  With append, the existing
 * dataset's files are copied into the temporary directory once the lock is
 * held.  An arena cleanup aborts the output if it is neither committed nor
 * aborted when `a` goes. */
int outfile_begin(struct outset *set, struct arena *a, struct outfile *o, const char *target,
                  enum outfile_mode mode);

/* Sync and rename into place, on its own (outset_commit commits a set);
 * 73 when mode is create and the target appeared, 74 on I/O errors. */
int outfile_commit(struct outfile *o);

/* Remove the temporary directory and all in it; let go of the locks. */
void outfile_abort(struct outfile *o);

/* True when `path` names something GDAL could open (file or directory). */
bool outfile_exists(const char *path);

/* True when paths `a` and `b` would be one file: the same name in the same
 * directory, compared by the real path of the deepest existing parent. */
bool outfile_same_target(const char *a, const char *b);

#endif
