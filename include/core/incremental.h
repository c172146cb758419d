/*
 * incremental.h - `gispipe run --incremental`: skip the inputs whose
 * outputs are up to date, and record what made each output.
 *
 * The unit of work is an input file.  The source registers its inputs
 * (incr_inputs), the writer its path template and mode (incr_sink); the
 * writer's registration reads the record and decides, before any input is
 * opened, which inputs are read and why (incr_skip tells the source).  An
 * input is skipped only when the resolved pipeline, gispipe's version, the
 * input's fingerprint (path, size, mtime_ns, a content hash of files up to
 * 1 MiB, its sidecar files) and every output it made last time (size,
 * mtime_ns, inode) are what the record says.  Inputs that share an output
 * are rebuilt together (a fixed path: all of them).  With mode: append
 * only inputs not yet recorded are read; a recorded input that changed is
 * exit 65.
 *
 * The record is a JSON file, `.gispipe.incremental.json`, in the
 * directory of the writer's path (the part before any template), one entry
 * per path template.  It is locked for the run like an output and replaced
 * atomically (outfile.h) after every output has been committed, with each
 * output's identity taken from the committed file: a run that fails
 * commits nothing and leaves the old record, and an output changed since
 * (by hand, or by a commit that failed half-way) no longer matches it.
 *
 * Ownership: a struct incr and all it holds live in the run arena given to
 * incr_create(); the record read from disk (json-c) is released by a
 * cleanup of that arena.  Inputs and templates passed in are copied.
 */
#ifndef GISPIPE_INCREMENTAL_H
#define GISPIPE_INCREMENTAL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct arena;
struct pipeline;
struct incr;

/* The state of an incremental run of `pl`, in `run`.  `lock_wait` and
 * `stop` are the run's (outfile.h); `check` (explain): the record is read,
 * never locked nor written, and a decision that would fail the run is only
 * shown.  NULL with the error set: 64 for what --incremental cannot do (a
 * rejects dataset gathers every input's rejects), or out of memory. */
struct incr *incr_create(struct arena *run, const struct pipeline *pl, int lock_wait,
                         volatile sig_atomic_t *stop, bool check);

/* The source's inputs, in order (their index is the stream's
 * dataset_index); copied.  `i` NULL: a no-op. */
int incr_inputs(struct incr *i, const char *const *paths, size_t n);

/* The writer's path template (expanded as output_expand does) and mode
 * (enum outfile_mode): reads and locks the record and decides each input.
 * -1 with the error set: 64 without registered inputs (a synthetic
 * source), 65 for a recorded input of an append that changed, 75 when
 * another run holds the record, 74 for an unreadable record.  `i` NULL: 0. */
int incr_sink(struct incr *i, const char *tmpl, int mode);

/* False when every input is up to date: the writer makes nothing (a
 * fixed `mode: create` target that exists is no error then).  `i` NULL:
 * true. */
bool incr_reads_any(const struct incr *i);

/* 1: input `index` is up to date, the source must not open it; 0: read
 * it.  `i` NULL: 0. */
int incr_skip(const struct incr *i, size_t index);

/* The writer writes `path` from input `index` this run.  `i` NULL: 0. */
int incr_output(struct incr *i, uint64_t index, const char *path);

/* Every output of the run is committed: write the new record and commit
 * it.  -1 with the error set (74); the outputs stay, and the old record
 * no longer matches them, so they are rebuilt next time. */
int incr_commit(struct incr *i);

/* The run failed: the record stays as it was. */
void incr_abort(struct incr *i);

/* Figures for the report (NULL `i`: nothing printed or added). */
void incr_report_table(const struct incr *i, FILE *out);
/* Adds "incremental" to `root`, a json_object *. */
void incr_report_json(const struct incr *i, void *root);
/* The counts, for the .prom report: inputs skipped and read, outputs
 * skipped (up to date) and rebuilt, inputs read for each reason
 * (incr_reason_key names reason k, NULL past the last). */
struct incr_counts {
	uint64_t inputs_skipped, inputs_read, outputs_skipped, outputs_rebuilt;
	uint64_t reason[16];
};
void incr_counts(const struct incr *i, struct incr_counts *out);
const char *incr_reason_key(int k);

/* explain: what a run with --incremental would read, and why. */
void incr_explain(const struct incr *i, FILE *out);

#endif
