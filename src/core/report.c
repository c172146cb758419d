/* report.c - the report: a table, JSON (json-c) or Prometheus text. */
#include "core/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdbool.h>

#include <json-c/json.h>

#include "core/error.h"
#include "core/incremental.h"
#include "core/memplan.h"
#include "core/step.h"

#define MiB (1024.0 * 1024.0)

void report_table(const struct run_result *r, FILE *out)
{
	const struct run_totals *t = r->totals;

	fprintf(out, "\n%-16s %12s %12s %10s %9s %11s  %s\n", "stage", "in", "out", "filtered",
	        "seconds", "arena peak", "live at end (peak)");
	for (size_t k = 0; k < r->nstages; k++) {
		const struct stage *s = &r->stages[k];
		const struct stage_acct *a = &s->acct;
		char live[256] = "";
		size_t n = 0;

		for (int h = 0; h < HANDLE_KIND_COUNT; h++) {
			if (a->live[h].peak == 0)
				continue;
			n += (size_t)snprintf(live + n, sizeof live - n, "%s%s %" PRId64 " (%" PRId64 ")",
			                      n ? ", " : "", handle_kind_name(h), a->live[h].cur,
			                      a->live[h].peak);
			if (n >= sizeof live)
				break;
		}
		fprintf(out, "%-16s %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %9.2f %9.1fMiB  %s\n",
		        s->step->label, k == 0 ? a->items_out : a->items_in, a->items_out,
		        a->items_filtered, a->seconds, (double)a->mem.bytes.peak / MiB,
		        *live ? live : "-");
	}
	if (r->raster) {
		/* Raster runs count windows per stage (in/out above) and pixels. */
		fprintf(out, "raster: %" PRIu64 " pixels written in %" PRIu64 " windows; %" PRIu64
		             " dataset%s, %" PRIu64 " output%s\n",
		        t->pixels_out, t->batches, t->datasets, t->datasets == 1 ? "" : "s", t->outputs,
		        t->outputs == 1 ? "" : "s");
	} else {
		fprintf(out,
		        "features: %" PRIu64 " read, %" PRIu64 " written, %" PRIu64
		        " filtered, %" PRIu64 " rejected; %" PRIu64 " dataset%s, %" PRIu64
		        " output%s\n",
		        t->features_in, t->features_out, t->filtered, t->rejects, t->datasets,
		        t->datasets == 1 ? "" : "s", t->outputs, t->outputs == 1 ? "" : "s");
		fprintf(out, "transform cache: %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64
		             " evictions, %" PRIu64 " clears\n",
		        t->xc_hits, t->xc_misses, t->xc_evictions, t->xc_clears);
	}
	incr_report_table(r->incr, out);
	fprintf(out, "memory: peak RSS %.1f MiB", (double)t->peak_rss / MiB);
	if (r->plan->limit)
		fprintf(out, " of a %.1f MiB limit", (double)r->plan->limit / MiB);
	fprintf(out, "; start-up %.1f MiB, run's own peak %.1f MiB (%.1f MiB anonymous); GDAL "
	             "block cache peak %.1f MiB\n",
	        (double)r->plan->baseline / MiB, (double)t->run_peak_rss / MiB,
	        (double)t->run_peak_anon / MiB, (double)t->gdal_cache_peak / MiB);
	fprintf(out, "open iterators at exit: %" PRIu64 "; %.2f s; %s\n", r->open_iterators,
	        t->seconds, r->exit_code ? "FAILED" : "ok");
}

static json_object *u64(uint64_t v)
{
	return json_object_new_int64((int64_t)v);
}

/* The step's own figures (step.h), only those it has. */
static void add_step_stats(json_object *st, const struct step_stats *ss)
{
	if (ss->has_xform) {
		json_object *xc = json_object_new_object();

		json_object_object_add(xc, "hits", u64(ss->xc_hits));
		json_object_object_add(xc, "misses", u64(ss->xc_misses));
		json_object_object_add(xc, "evictions", u64(ss->xc_evictions));
		json_object_object_add(xc, "clears", u64(ss->xc_clears));
		json_object_object_add(st, "transform_cache", xc);
	}
	if (ss->nfigures > 0) {
		json_object *fig = json_object_new_object();

		for (size_t i = 0; i < ss->nfigures && i < STEP_FIGURES_MAX; i++)
			json_object_object_add(fig, ss->figures[i].name, u64(ss->figures[i].value));
		json_object_object_add(st, "figures", fig);
	}
}

static json_object *build_json(const struct run_result *r, const char *error)
{
	const struct run_totals *t = r->totals;
	json_object *root = json_object_new_object();
	json_object *plan = json_object_new_object();
	json_object *tot = json_object_new_object();
	json_object *xc = json_object_new_object();
	json_object *stages = json_object_new_array();

	json_object_object_add(root, "gispipe_report", json_object_new_int(1));
	json_object_object_add(root, "pipeline", json_object_new_string(r->pipeline));
	json_object_object_add(root, "name", r->name ? json_object_new_string(r->name) : NULL);
	json_object_object_add(root, "shard", r->shard ? json_object_new_string(r->shard) : NULL);
	json_object_object_add(root, "status", json_object_new_string(r->exit_code ? "failed" : "ok"));
	json_object_object_add(root, "exit_code", json_object_new_int(r->exit_code));
	json_object_object_add(root, "error", error ? json_object_new_string(error) : NULL);
	json_object_object_add(root, "seconds", json_object_new_double(t->seconds));
	json_object_object_add(root, "peak_rss_bytes", u64(t->peak_rss));
	json_object_object_add(root, "run_peak_rss_bytes", u64(t->run_peak_rss));
	json_object_object_add(root, "run_peak_anon_bytes", u64(t->run_peak_anon));
	json_object_object_add(root, "memory_limit_bytes", u64(r->plan->limit));
	json_object_object_add(root, "gdal_cache_peak_bytes", u64(t->gdal_cache_peak));
	json_object_object_add(root, "open_iterators", u64(r->open_iterators));
	json_object_object_add(root, "cross_thread_releases", u64(t->cross_thread_releases));
	json_object_object_add(plan, "baseline_rss_bytes", u64(r->plan->baseline));
	json_object_object_add(plan, "gdal_cache_bytes", u64(r->plan->gdal_cache));
	json_object_object_add(plan, "sqlite_cache_bytes", u64(r->plan->sqlite_cache));
	json_object_object_add(plan, "batch_features", u64(r->plan->batch_items));
	json_object_object_add(plan, "raster_window_bytes", u64(r->plan->window_bytes));
	json_object_object_add(plan, "threads", u64((uint64_t)r->plan->threads));
	json_object_object_add(root, "plan", plan);
	json_object_object_add(tot, "datasets", u64(t->datasets));
	json_object_object_add(tot, "streams", u64(t->streams));
	json_object_object_add(tot, "batches", u64(t->batches));
	json_object_object_add(tot, "features_in", u64(t->features_in));
	json_object_object_add(tot, "features_out", u64(t->features_out));
	json_object_object_add(tot, "filtered", u64(t->filtered));
	json_object_object_add(tot, "rejects", u64(t->rejects));
	json_object_object_add(tot, "outputs", u64(t->outputs));
	json_object_object_add(tot, "pixels_out", u64(t->pixels_out));
	json_object_object_add(root, "totals", tot);
	json_object_object_add(xc, "hits", u64(t->xc_hits));
	json_object_object_add(xc, "misses", u64(t->xc_misses));
	json_object_object_add(xc, "evictions", u64(t->xc_evictions));
	json_object_object_add(xc, "clears", u64(t->xc_clears));
	json_object_object_add(root, "transform_cache", xc);
	for (size_t k = 0; k < r->nstages; k++) {
		const struct stage *s = &r->stages[k];
		const struct stage_acct *a = &s->acct;
		json_object *st = json_object_new_object();
		json_object *live = json_object_new_object();
		json_object *peak = json_object_new_object();

		json_object_object_add(st, "name", json_object_new_string(s->step->label));
		json_object_object_add(st, "step", json_object_new_string(s->step->desc->name));
		json_object_object_add(st, "items_in", u64(k == 0 ? a->items_out : a->items_in));
		json_object_object_add(st, "items_out", u64(a->items_out));
		json_object_object_add(st, "items_filtered", u64(a->items_filtered));
		json_object_object_add(st, "rejects", u64(a->rejects));
		json_object_object_add(st, "seconds", json_object_new_double(a->seconds));
		json_object_object_add(st, "arena_bytes", json_object_new_int64(a->mem.bytes.cur));
		json_object_object_add(st, "arena_peak_bytes", json_object_new_int64(a->mem.bytes.peak));
		for (int h = 0; h < HANDLE_KIND_COUNT; h++) {
			json_object_object_add(live, handle_kind_name(h),
			                       json_object_new_int64(a->live[h].cur));
			json_object_object_add(peak, handle_kind_name(h),
			                       json_object_new_int64(a->live[h].peak));
		}
		json_object_object_add(st, "live", live);
		json_object_object_add(st, "live_peak", peak);
		add_step_stats(st, &s->stats);
		json_object_array_add(stages, st);
	}
	json_object_object_add(root, "stages", stages);
	incr_report_json(r->incr, root);
	return root;
}

static void prom_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

static void write_prom(const struct run_result *r, FILE *f)
{
	const struct run_totals *t = r->totals;
	const char *name = r->name ? r->name : r->pipeline;

	/* A shard's series are its own: N shards report side by side. */
#define PIPE()                                                                                  \
	(fputs("{pipeline=\"", f), prom_escape(f, name), fputs("\"", f),                          \
	 r->shard ? fprintf(f, ",shard=\"%s\"", r->shard) : 0)
	fputs("# HELP gispipe_exit_code Exit status of the last run.\n"
	      "# TYPE gispipe_exit_code gauge\n", f);
	fputs("gispipe_exit_code", f);
	PIPE();
	fprintf(f, "} %d\n", r->exit_code);
	fputs("# HELP gispipe_peak_rss_bytes Peak resident memory of the last run.\n"
	      "# TYPE gispipe_peak_rss_bytes gauge\n", f);
	fputs("gispipe_peak_rss_bytes", f);
	PIPE();
	fprintf(f, "} %" PRIu64 "\n", t->peak_rss);
	fputs("# HELP gispipe_run_peak_rss_bytes Peak resident memory of the last run after "
	      "start-up.\n"
	      "# TYPE gispipe_run_peak_rss_bytes gauge\n", f);
	fputs("gispipe_run_peak_rss_bytes", f);
	PIPE();
	fprintf(f, "} %" PRIu64 "\n", t->run_peak_rss);
	fputs("# HELP gispipe_memory_limit_bytes Memory limit of the last run (0: none).\n"
	      "# TYPE gispipe_memory_limit_bytes gauge\n", f);
	fputs("gispipe_memory_limit_bytes", f);
	PIPE();
	fprintf(f, "} %" PRIu64 "\n", r->plan->limit);
	fputs("# HELP gispipe_cross_thread_releases Arenas and handles the last run released "
	      "from a thread that did not own them (0 unless a bug).\n"
	      "# TYPE gispipe_cross_thread_releases gauge\n", f);
	fputs("gispipe_cross_thread_releases", f);
	PIPE();
	fprintf(f, "} %" PRIu64 "\n", t->cross_thread_releases);
	fputs("# HELP gispipe_run_seconds Wall time of the last run.\n"
	      "# TYPE gispipe_run_seconds gauge\n", f);
	fputs("gispipe_run_seconds", f);
	PIPE();
	fprintf(f, "} %.6f\n", t->seconds);
	fputs("# HELP gispipe_last_run_timestamp_seconds When the last run ended.\n"
	      "# TYPE gispipe_last_run_timestamp_seconds gauge\n", f);
	fputs("gispipe_last_run_timestamp_seconds", f);
	PIPE();
	fprintf(f, "} %lld\n", (long long)time(NULL));
	fputs("# HELP gispipe_stage_items Items through each stage of the last run.\n"
	      "# TYPE gispipe_stage_items gauge\n", f);
	for (size_t k = 0; k < r->nstages; k++) {
		const struct stage *s = &r->stages[k];
		const char *dir[] = {"in", "out", "filtered"};
		uint64_t v[] = {k == 0 ? s->acct.items_out : s->acct.items_in, s->acct.items_out,
		                s->acct.items_filtered};

		for (int d = 0; d < 3; d++) {
			fputs("gispipe_stage_items", f);
			PIPE();
			fprintf(f, ",stage=\"%s\",direction=\"%s\"} %" PRIu64 "\n", s->step->label,
			        dir[d], v[d]);
		}
	}
	fputs("# HELP gispipe_stage_arena_peak_bytes Arena high-water mark of each stage.\n"
	      "# TYPE gispipe_stage_arena_peak_bytes gauge\n", f);
	for (size_t k = 0; k < r->nstages; k++) {
		fputs("gispipe_stage_arena_peak_bytes", f);
		PIPE();
		fprintf(f, ",stage=\"%s\"} %" PRId64 "\n", r->stages[k].step->label,
		        r->stages[k].acct.mem.bytes.peak);
	}
	fputs("# HELP gispipe_stage_live_handles Foreign handles alive at the end (0 unless a leak).\n"
	      "# TYPE gispipe_stage_live_handles gauge\n", f);
	for (size_t k = 0; k < r->nstages; k++)
		for (int h = 0; h < HANDLE_KIND_COUNT; h++) {
			fputs("gispipe_stage_live_handles", f);
			PIPE();
			fprintf(f, ",stage=\"%s\",kind=\"%s\"} %" PRId64 "\n",
			        r->stages[k].step->label, handle_kind_name(h),
			        r->stages[k].acct.live[h].cur);
		}
	if (r->incr) {
		struct incr_counts c;
		const char *what[] = {"inputs_skipped", "inputs_read", "outputs_skipped",
		                      "outputs_rebuilt"};

		uint64_t v[4];

		incr_counts(r->incr, &c);
		v[0] = c.inputs_skipped;
		v[1] = c.inputs_read;
		v[2] = c.outputs_skipped;
		v[3] = c.outputs_rebuilt;

		fputs("# HELP gispipe_incremental Inputs and outputs of the last --incremental run, "
		      "skipped (up to date) or read and rebuilt.\n"
		      "# TYPE gispipe_incremental gauge\n", f);
		for (int k = 0; k < 4; k++) {
			fputs("gispipe_incremental", f);
			PIPE();
			fprintf(f, ",count=\"%s\"} %" PRIu64 "\n", what[k], v[k]);
		}
		fputs("# HELP gispipe_incremental_inputs_read Inputs the last --incremental run "
		      "read, by reason.\n"
		      "# TYPE gispipe_incremental_inputs_read gauge\n", f);
		for (int k = 1; incr_reason_key(k); k++) {
			fputs("gispipe_incremental_inputs_read", f);
			PIPE();
			fprintf(f, ",reason=\"%s\"} %" PRIu64 "\n", incr_reason_key(k), c.reason[k]);
		}
	}
#undef PIPE
}

/* Write through a temporary file renamed into place: node_exporter and
 * other readers must never see half a report. */
static int write_atomically(const char *path, void (*fill)(FILE *f, const void *ctx),
                            const void *ctx)
{
	char *tmp = NULL;
	FILE *f;
	int ok;

	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return gp_fail(GP_EX_IOERR, "out of memory writing the report");
	f = fopen(tmp, "w");
	if (f == NULL) {
		gp_fail(GP_EX_CANTCREAT, "cannot write report '%s': %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	fill(f, ctx);
	ok = !ferror(f);
	ok &= fclose(f) == 0;
	if (!ok || rename(tmp, path) != 0) {
		gp_fail(GP_EX_IOERR, "cannot write report '%s': %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

static bool is_prom(const char *path)
{
	size_t len = strlen(path);

	return len > 5 && strcmp(path + len - 5, ".prom") == 0;
}

static void put_json(FILE *f, json_object *j)
{
	fputs(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
	                                            JSON_C_TO_STRING_NOSLASHESCAPE),
	      f);
	fputc('\n', f);
}

struct run_report {
	const struct run_result *r;
	const char *error;
	bool prom;
};

static void fill_run(FILE *f, const void *ctx)
{
	const struct run_report *rr = ctx;

	if (rr->prom) {
		write_prom(rr->r, f);
	} else {
		json_object *j = build_json(rr->r, rr->error);

		put_json(f, j);
		json_object_put(j);
	}
}

int report_write(const struct run_result *r, const char *path, const char *error)
{
	struct run_report rr = {r, error, is_prom(path)};

	return write_atomically(path, fill_run, &rr);
}

struct early_report {
	const char *pipeline;
	const char *shard;        /* "I/N" or NULL */
	int code;
	const char *error;
	bool prom;
};

/* The end of an early series' labels: the pipeline's closing quote, and
 * the shard's label when there is one (as a run's series carry it). */
static void early_shard(FILE *f, const struct early_report *r)
{
	fputc('"', f);
	if (r->shard)
		fprintf(f, ",shard=\"%s\"", r->shard);
}

static void fill_early(FILE *f, const void *ctx)
{
	const struct early_report *r = ctx;

	if (r->prom) {
		fputs("# HELP gispipe_exit_code Exit status of the last run.\n"
		      "# TYPE gispipe_exit_code gauge\n"
		      "gispipe_exit_code{pipeline=\"", f);
		prom_escape(f, r->pipeline);
		early_shard(f, r);
		fprintf(f, "} %d\n", r->code);
		fputs("# HELP gispipe_last_run_timestamp_seconds When the last run ended.\n"
		      "# TYPE gispipe_last_run_timestamp_seconds gauge\n"
		      "gispipe_last_run_timestamp_seconds{pipeline=\"", f);
		prom_escape(f, r->pipeline);
		early_shard(f, r);
		fprintf(f, "} %lld\n", (long long)time(NULL));
	} else {
		json_object *j = json_object_new_object();

		json_object_object_add(j, "gispipe_report", json_object_new_int(1));
		json_object_object_add(j, "pipeline", json_object_new_string(r->pipeline));
		json_object_object_add(j, "name", NULL);
		json_object_object_add(j, "shard",
		                       r->shard ? json_object_new_string(r->shard) : NULL);
		json_object_object_add(j, "status", json_object_new_string("failed"));
		json_object_object_add(j, "exit_code", json_object_new_int(r->code));
		json_object_object_add(j, "error", json_object_new_string(r->error));
		json_object_object_add(j, "stages", json_object_new_array());
		put_json(f, j);
		json_object_put(j);
	}
}

int report_write_early(const char *path, const char *pipeline, const char *shard, int code,
                       const char *error)
{
	struct early_report r = {pipeline ? pipeline : "", shard, code, error, is_prom(path)};

	return write_atomically(path, fill_early, &r);
}
