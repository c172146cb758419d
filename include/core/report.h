/*
 * report.h - the end-of-run report: a table on stderr, JSON or Prometheus.
 *
 * JSON schema (version 1, stable; fields are only ever added):
 * {
 *   "gispipe_report": 1, "pipeline": str, "name": str|null,
 *   "shard": "I/N"|null (--shard; the .prom file's series carry it as the
 *   label shard="I/N"),
 *   "status": "ok"|"failed", "exit_code": int, "error": str|null,
 *   "seconds": num, "peak_rss_bytes": int (the process's, start-up included),
 *   "run_peak_rss_bytes": int (the highest RSS sampled after start-up: what
 *   the data cost; 0 when the run failed before its plan),
 *   "run_peak_anon_bytes": int (the same, of RSS's anonymous part: heap,
 *   arenas and caches, without library pages, whose residency depends on
 *   what other processes map),
 *   "memory_limit_bytes": int (0: none),
 *   "gdal_cache_peak_bytes": int, "open_iterators": int,
 *   "cross_thread_releases": int (arenas and handles released by a thread
 *   that does not own them, core/owner_check.h: 0 unless a bug),
 *   "plan": {"baseline_rss_bytes", "gdal_cache_bytes", "sqlite_cache_bytes",
 *            "batch_features"},
 *   "totals": {"datasets", "streams", "batches", "features_in", "features_out",
 *              "filtered", "rejects", "outputs"},
 *   "transform_cache": {"hits", "misses", "evictions", "clears"} (summed),
 *   "stages": [ {"name", "step", "items_in", "items_out", "items_filtered",
 *                "rejects", "seconds", "arena_bytes", "arena_peak_bytes",
 *                "live": {kind: count at the end, ...},
 *                "live_peak": {kind: high-water mark, ...},
 *                "transform_cache": {...} (steps with one, step_stats),
 *                "figures": {name: count, ...} (steps with their own)} ... ],
 *   "incremental" (--incremental only): {"record": str, "committed": bool
 *                (false: the run failed, outputs and record are as they
 *                were, and the output counts are 0), "inputs_skipped",
 *                "inputs_read", "outputs_skipped", "outputs_rebuilt",
 *                "reasons": {reason: inputs read for it, ...},
 *                "rebuilt": [{"input", "reason", "detail": str|null,
 *                             "outputs": [str, ...]}, ...],
 *                "orphaned_outputs": [str, ...] (outputs of removed inputs,
 *                left in place)}
 * }
 */
#ifndef GISPIPE_REPORT_H
#define GISPIPE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct memplan;
struct stage;
struct incr;

/* The run's totals, counted by the engine and its run loops. */
struct run_totals {
	uint64_t datasets;
	uint64_t streams;
	uint64_t batches;
	uint64_t features_in;
	uint64_t features_out;
	uint64_t filtered;
	uint64_t rejects;
	double seconds;
	uint64_t peak_rss;        /* VmHWM, bytes: the process's, start-up included */
	uint64_t run_peak_rss;    /* highest RSS sampled after start-up (the plan),
	                           * in the watcher and between steps; 0 when the
	                           * run ended before its plan */
	uint64_t run_peak_anon;   /* the same, of RSS's anonymous part */
	uint64_t gdal_cache_peak; /* bytes */
	uint64_t xc_hits, xc_misses, xc_clears, xc_evictions;
	uint64_t outputs;
	uint64_t pixels_out;      /* raster runs: pixels written */
	uint64_t cross_thread_releases; /* owner_check_count() at the end */
};

/* What a run reports: filled by the engine once the run is over, every
 * pointer borrowed from it for the call to report_table/report_write.  The
 * stages are the run's steps, each with its accounting and its own figures
 * (step.h's step_stats). */
struct run_result {
	const char *pipeline;     /* the pipeline file */
	const char *name;         /* its name, or NULL */
	const char *shard;        /* "I/N" with --shard, or NULL */
	bool raster;              /* a raster run: pixels and windows, not features */
	int exit_code;
	const struct memplan *plan;
	const struct run_totals *totals;
	uint64_t open_iterators;  /* layer iterators never closed */
	size_t nstages;
	const struct stage *stages; /* the run's, one per step */
	const struct incr *incr;  /* --incremental's decisions, or NULL */
};

void report_table(const struct run_result *r, FILE *out);

/* Write the report to `path` (.json or .prom by extension), atomically.
 * Returns 0, or -1 with the error set (74). */
int report_write(const struct run_result *r, const char *path, const char *error);

/* A report for a run that failed before it started (the pipeline did not
 * load): status, exit code, error and the shard (NULL: none) only, and an
 * empty `stages`. */
int report_write_early(const char *path, const char *pipeline, const char *shard, int code,
                       const char *error);

#endif
