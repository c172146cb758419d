/*
 * output.h - one output of a writer step, from begin to the run's commit.
 *
 * The vector and raster writers stage, check and close their outputs the
 * same way, here: output_begin() begins the target in the run's outset
 * (outfile.h), so that GDAL writes in a locked temporary directory beside
 * it, and watches that directory (iocheck.h), so that no failed write goes
 * unseen; the writer gives GDAL `gdal_path`; output_close() closes the
 * output's dataset and checks the close, where drivers flush and text
 * formats ignore a failed write.  Nothing is committed here: the engine
 * commits every output of the run at once (outset_commit), and a writer
 * whose run failed aborts its outputs with output_abort_all().  What is
 * particular to a writer (layers and transactions, a staged copy) stays in
 * the writer.  Both writers also name their outputs the same way: the path
 * templates and the driver guessed from the extension are here too.
 *
 * Ownership: an output, its strings and its dataset handle belong to the
 * arena given to output_begin(), the writer's step arena, which the engine
 * keeps until the commit; its cleanups close a dataset still open and
 * abort an output neither committed nor aborted.  A writer's outputs form a
 * list in that arena, newest first; a writer that needs more per output
 * puts struct output first in its own struct and casts list members back.
 */
#ifndef GISPIPE_OUTPUT_H
#define GISPIPE_OUTPUT_H

#include <gdal.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/outfile.h"

struct arena;
struct handle;
struct iocheck;
struct pipeline;
struct stage_acct;
struct step;
struct stream;

struct output {
	struct output *next;   /* the writer's outputs, newest first */
	const char *path;      /* the target as the user named it: errors name it */
	struct outfile of;     /* staged in of.tmpdir until the run commits */
	struct iocheck *chk;   /* every write under of.tmpdir, checked */
	const char *gdal_path; /* of.tmppath as GDAL is given it (iocheck.h) */
	struct handle *ds;     /* the dataset being written, or NULL */
};

/* The output of `list` for `path`, or NULL. */
struct output *output_find(struct output *list, const char *path);

/* Refuse a target that exists when `mode` is create, before any input is
 * read: 73 "cannot create '<path>': it exists (use mode: <others>)".  A
 * path whose only templates are {shard} is expanded for `shard` of
 * `shards` (output_expand, in `a`); one with other templates is known per
 * input only (0: begin refuses it then).  -1 also when out of memory. */
int output_check_absent(struct arena *a, const char *path, enum outfile_mode mode,
                        const char *others, int shard, int shards);

/* Begin `o` (zeroed, allocated by the caller in `a`) for `path` in `set`
 * and put it first in `*list`; `path` is copied into `a`.  Fails as
 * outfile_begin() does (73, 75, 128+N), or on memory, with the error set;
 * `o` is in the list once its outfile is begun, so output_abort_all()
 * finds it whatever failed after. */
int output_begin(struct output **list, struct output *o, struct outset *set, struct arena *a,
                 const char *path, enum outfile_mode mode);

/* 0 while every write to `o` has worked; else -1 with the I/O error set
 * (74, naming o->path: iocheck_status). */
int output_status(struct output *o);

/* A GDAL call on `o` failed: -1 with the I/O error when iocheck saw one
 * (it is the cause), else with gp_fail(code, fmt, ...). */
int output_fail(struct output *o, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* `ds`, just created or opened for `o`, becomes o->ds: owned by `a`,
 * counted in `acct`.  NULL `ds` (GDAL failed) is 73 "cannot create",
 * or the I/O error that made it fail. */
int output_own_dataset(struct output *o, struct arena *a, struct stage_acct *acct,
                       GDALDatasetH ds);

/* Close `ds`, a dataset written under o's temporary directory and owned
 * by the caller, and check the close: the I/O error, or 74 "cannot
 * finish" with GDAL's message.  `ds` is gone either way. */
int output_close_dataset(struct output *o, GDALDatasetH ds);

/* Close o->ds as output_close_dataset() does; 0 when there is none. */
int output_close(struct output *o);

/* Destroy o->ds unchecked: what it wrote is to be aborted. */
void output_drop(struct output *o);

/* Abort every output of `list` not yet committed: a writer's close when
 * the run failed.  Outputs closed whole wait for the engine, which commits
 * every output of the run at once (outset_commit) or aborts them with it. */
void output_abort_all(struct output *list);

/* The explain lines of a writer's output: its path, driver and mode,
 * then `note` (NULL: none, else whole lines), then how it is committed. */
void output_explain(FILE *out, const char *path, GDALDriverH drv, const char *mode,
                    const char *note);

/* Output paths, of both writers: templates {stem} {name} {layer} {index}
 * {shard} checked at load time and expanded per stream. */
int output_check_template(struct pipeline *pl, const struct step *s, const char *key,
                          const char *t);
/* A writer's `path`: its templates, and a local file (outputs are atomic). */
int output_check_path(struct pipeline *pl, const struct step *s, const char *path);
/* {shard} is `shard` of `shards` (0 of 0 without --shard), zero-padded to
 * the width of shards - 1, so that a glob over the parts lists them in
 * shard order. */
char *output_expand(struct arena *a, const char *t, const struct stream *st, int shard,
                    int shards);
const char *output_path_ext(const char *p);
/* The driver for an output: `format` if given (and `can` do it, else
 * `what` is the reason), else the one that lists the path's extension and
 * `can` (its primary extension first).  NULL with *why set otherwise. */
GDALDriverH output_find_driver(const char *path, const char *format, bool (*can)(GDALDriverH),
                               const char *what, const char **why);

#endif
