/*
 * pipeline.h - a pipeline file, loaded and checked.
 *
 * pipeline_load() reads the YAML, applies --set overrides, parses every
 * section and every step's options, and runs each step's check.  Nothing is
 * opened for writing; when the read step's options do not say whether it
 * reads a raster, its first input is opened to see (not with skip_inputs).
 * The pipeline lives in the arena it is given.
 */
#ifndef GISPIPE_PIPELINE_H
#define GISPIPE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/account.h"
#include "config/opts.h"
#include "config/vars.h"

struct arena;
struct ydoc;
struct step;

enum on_error { ON_ERROR_FAIL, ON_ERROR_REJECT };

struct pipeline {
	struct arena *arena;
	struct mem_account *acct;   /* the run's account, for step arenas */
	struct ydoc *doc;
	const char *path;
	const char *dir;            /* ${pipeline_dir} */
	const char *name;
	int version;
	struct vars vars;           /* from 'vars' and --set (vars.h) */
	struct opt_env env;         /* what parsing this file's options sees (opts.h) */
	uint64_t memory_limit;      /* 0: none */
	int64_t batch;              /* 0: auto */
	int64_t threads;            /* 0: auto */
	int64_t xc_max_entries;
	int64_t xc_clear_every;
	enum on_error on_error;
	const char *rejects_path;
	const char *rejects_format;
	int64_t max_rejects;        /* -1: no maximum */
	bool raster;                /* a raster pipeline (raster.h) */
	size_t nsteps;
	struct step *steps;
};

/* Ranges of the top-level numbers, shared with the command line (gispipe(1)
 * documents them).  A memory limit of 0 means none. */
#define PIPELINE_MEMORY_LIMIT_MIN ((uint64_t)1 << 20)
#define PIPELINE_MEMORY_LIMIT_MAX ((uint64_t)1 << 50)
#define PIPELINE_THREADS_MAX 1024
#define PIPELINE_BATCH_MAX 1000000
#define PIPELINE_XC_ENTRIES_MAX 1024
#define PIPELINE_MAX_REJECTS_MAX 1000000000000

struct pipeline_load_opts {
	const char *const *sets;    /* "key=value", NULL-terminated; may be NULL */
	bool skip_inputs;           /* tell raster from vector by the options alone,
	                               opening no input (the fuzzer: no I/O) */
};

/* Load and check `path`.  NULL with the error set (66 missing, 78 invalid,
 * 64 for a malformed --set). */
struct pipeline *pipeline_load(struct arena *a, struct mem_account *acct, const char *path,
                               const struct pipeline_load_opts *o);

/* Value of variable `name`, NULL if not defined. */
const char *pipeline_var(const struct pipeline *pl, const char *name);

#endif
