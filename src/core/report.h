/*
 * report.h - the end-of-run report: a table on stderr, JSON or Prometheus.
 *
 * JSON schema (version 1, stable; fields are only ever added):
 * {
 *   "gispipe_report": 1, "pipeline": str, "name": str|null,
 *   "status": "ok"|"failed", "exit_code": int, "error": str|null,
 *   "seconds": num, "peak_rss_bytes": int (the process's, start-up included),
 *   "run_peak_rss_bytes": int (the highest RSS sampled after start-up: what
 *   the data cost; 0 when the run failed before its plan),
 *   "run_peak_anon_bytes": int (the same, of RSS's anonymous part: heap,
 *   arenas and caches, without library pages, whose residency depends on
 *   what other processes map),
 *   "memory_limit_bytes": int (0: none),
 *   "gdal_cache_peak_bytes": int, "open_iterators": int,
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
 *                "figures": {name: count, ...} (steps with their own)} ... ]
 * }
 */
#ifndef GISPIPE_REPORT_H
#define GISPIPE_REPORT_H

#include <stdio.h>

struct engine;

void report_table(const struct engine *e, FILE *out);

/* Write the report to `path` (.json or .prom by extension), atomically.
 * Returns 0, or -1 with the error set (74). */
int report_write(const struct engine *e, const char *path, const char *error);

/* A report for a run that failed before it started (the pipeline did not
 * load): status, exit code and error only, and an empty `stages`. */
int report_write_early(const char *path, const char *pipeline, int code, const char *error);

#endif
