/*
 * incremental.c - which inputs an incremental run reads, and the record of
 * what made each output (incremental.h).
 *
 * Ownership: everything here is in the run arena, but for the JSON of the
 * old record (json-c's heap, put by a cleanup of that arena) and the new
 * record, built and put in incr_commit.  Entries of the old record are
 * borrowed from it for the run.
 */
#include "core/incremental.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/outfile.h"
#include "core/output.h"
#include "core/stream.h"
#include "config/pipeline.h"
#include "config/yaml_load.h"

#ifndef GISPIPE_VERSION
#define GISPIPE_VERSION "0.1.0"
#endif

#define RECORD_NAME ".gispipe.incremental.json"
/* Files up to this size are hashed as well: reading one costs about what
 * opening it would. */
#define HASH_MAX ((int64_t)1 << 20)

/* Why an input is read; UP_TO_DATE: it is skipped. */
enum why {
	UP_TO_DATE,
	NO_RECORD,
	PIPELINE_CHANGED,
	VERSION_CHANGED,
	NEW_INPUT,
	INPUT_SIZE,
	INPUT_MTIME,
	INPUT_CONTENT,
	INPUT_SIDECARS,
	NOT_LOCAL,
	OUTPUT_MISSING,
	OUTPUT_CHANGED,
	OUTPUT_PATH,
	SHARED_OUTPUT,
	NWHY
};

static const char *const why_key[NWHY] = {
        "up_to_date",     "no_record",      "pipeline_changed", "version_changed",
        "new_input",      "input_size",     "input_mtime",      "input_content",
        "input_sidecars", "not_local_file", "output_missing",   "output_changed",
        "output_path",    "shared_output"};
static const char *const why_text[NWHY] = {
        "up to date",
        "no record of an earlier run",
        "pipeline changed",
        "gispipe version changed",
        "new input",
        "input changed: size",
        "input changed: mtime",
        "input changed: content",
        "input changed: a sidecar file",
        "not a local file (cannot be fingerprinted)",
        "output missing",
        "output changed since it was written",
        "output path changed",
        "shares an output with a rebuilt input"};

struct fprint {
	bool local;
	int64_t size, mtime_ns;
	bool hashed;
	uint64_t hash;      /* content, files up to HASH_MAX */
	uint64_t sidecars;  /* name, size and mtime of files beside it with its stem */
};

struct oid {
	int64_t size, mtime_ns;
	uint64_t ino, dev;
};

struct in {
	const char *path;
	struct fprint fp;       /* taken before the run reads it */
	enum why why;
	const char *detail;     /* the output behind OUTPUT_*, or NULL */
	json_object *rec;       /* its entry in the old record, or NULL */
	const char **outs;      /* written this run */
	size_t nouts, cap;
};

struct incr {
	struct arena *a;
	const struct pipeline *pl;
	bool check;
	int lock_wait;
	volatile sig_atomic_t *stop;
	char pipeline_hash[17];
	const char *tmpl;
	bool append, by_layer;
	const char *record_path;
	struct outset *recset;
	struct outfile recfile;
	bool begun;
	json_object *old;       /* the record file as read, or NULL */
	json_object *unit;      /* old->units[tmpl], borrowed, or NULL */
	struct in *in;
	size_t nin;
	bool decided;
	const char *append_error; /* check only: what the run would fail with */
	const char **orphans;     /* outputs of removed inputs, left in place */
	size_t norphans;
	uint64_t outputs_skipped;
	uint64_t outputs_rebuilt;
	bool committed;           /* the outputs and the record are in place */
};

/* FNV-1a, 64 bits: a change detector, not a defence against forgery. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t k = 0; k < n; k++) {
		h ^= c[k];
		h *= 0x100000001b3ull;
	}
	return h;
}
#define FNV0 0xcbf29ce484222325ull

static int64_t mtime_ns(const struct stat *sb)
{
	return (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

/* The pipeline as parsed, after ${...}: mappings in key order (the order
 * keys are written in means nothing), sequences in theirs, every scalar
 * expanded and length-prefixed.  Top-level keys that cannot change an
 * output (name, vars: they are in the values already, memory, threads,
 * transform_cache) are left out. */
static int canon(struct opt_env *env, const struct ynode *n, int depth, uint64_t *h)
{
	static const char *const ignored[] = {"name", "vars", "memory", "threads",
	                                      "transform_cache", NULL};
	char tag[32];

	if (n == NULL) {
		*h = fnv(*h, "~", 1);
		return 0;
	}
	if (n->type == YNODE_SCALAR) {
		const char *v = opts_expand(env, n);

		if (v == NULL)
			return -1;
		snprintf(tag, sizeof tag, "s%zu:", strlen(v));
		*h = fnv(*h, tag, strlen(tag));
		*h = fnv(*h, v, strlen(v));
		return 0;
	}
	/* Closed by "]" rather than counted: a key left out leaves no trace. */
	*h = fnv(*h, n->type == YNODE_SEQ ? "q[" : "m[", 2);
	if (n->type == YNODE_SEQ) {
		for (size_t k = 0; k < n->n; k++)
			if (canon(env, n->items[k], depth + 1, h) != 0)
				return -1;
		*h = fnv(*h, "]", 1);
		return 0;
	}
	/* Keys in byte order: a selection sort, mappings are small. */
	{
		const char *last = NULL;

		for (size_t done = 0; done < n->n; done++) {
			size_t best = n->n;
			bool skip = false;

			for (size_t k = 0; k < n->n; k++) {
				const char *key = n->keys[k]->str;

				if (last && strcmp(key, last) <= 0)
					continue;
				if (best == n->n || strcmp(key, n->keys[best]->str) < 0)
					best = k;
			}
			if (best == n->n)
				break;
			last = n->keys[best]->str;
			for (const char *const *ig = ignored; depth == 0 && *ig; ig++)
				skip |= strcmp(*ig, last) == 0;
			if (skip)
				continue;
			snprintf(tag, sizeof tag, "k%zu:", strlen(last));
			*h = fnv(*h, tag, strlen(tag));
			*h = fnv(*h, last, strlen(last));
			if (canon(env, n->items[best], depth + 1, h) != 0)
				return -1;
		}
	}
	*h = fnv(*h, "]", 1);
	return 0;
}

static void put_json(void *j)
{
	json_object_put(j);
}

struct incr *incr_create(struct arena *run, const struct pipeline *pl, int lock_wait,
                         volatile sig_atomic_t *stop, bool check)
{
	struct incr *i;
	struct opt_env env;
	uint64_t h = FNV0;

	if (pl->on_error == ON_ERROR_REJECT) {
		gp_fail(GP_EX_USAGE,
		        "--incremental cannot be used with on_error: reject: the rejects dataset "
		        "gathers the rejects of every input, and skipped inputs would lose theirs");
		return NULL;
	}
	i = arena_calloc(run, 1, sizeof *i);
	if (i == NULL)
		return NULL;
	i->a = run;
	i->pl = pl;
	i->check = check;
	i->lock_wait = lock_wait;
	i->stop = stop;
	/* A copy: the pipeline's own bound on expansions is not spent. */
	env = pl->env;
	env.arena = run;
	env.expanded = 0;
	if (canon(&env, pl->doc->root, 0, &h) != 0)
		return NULL;
	snprintf(i->pipeline_hash, sizeof i->pipeline_hash, "%016" PRIx64, h);
	return i;
}

int incr_inputs(struct incr *i, const char *const *paths, size_t n)
{
	if (i == NULL)
		return 0;
	i->in = arena_calloc(i->a, n ? n : 1, sizeof *i->in);
	if (i->in == NULL)
		return -1;
	for (size_t k = 0; k < n; k++)
		if ((i->in[k].path = arena_strdup(i->a, paths[k])) == NULL)
			return -1;
	i->nin = n;
	return 0;
}

/* Content of a small file; false when it cannot be read. */
static bool hash_file(const char *path, uint64_t *out)
{
	char buf[16384];
	uint64_t h = FNV0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	while ((r = read(fd, buf, sizeof buf)) > 0)
		h = fnv(h, buf, (size_t)r);
	close(fd);
	*out = h;
	return r == 0;
}

/* Files beside `path` named like it up to its last dot (a shapefile's
 * .dbf, .shx and .prj, a GeoTIFF's .aux.xml, a GeoPackage's -wal does not
 * count: it is the file's own), in any order. */
static uint64_t sidecars(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	const char *dot = strrchr(name, '.');
	size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
	char dir[4096], full[4096 + 258];
	uint64_t sum = 0;
	struct dirent *d;
	DIR *dp;

	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	if (slash == path)
		snprintf(dir, sizeof dir, "/");
	if ((dp = opendir(dir)) == NULL)
		return 0;
	while ((d = readdir(dp)) != NULL) {
		struct stat sb;
		uint64_t h = FNV0;
		int64_t t;

		if (strncmp(d->d_name, name, stem) != 0 || d->d_name[stem] != '.' ||
		    strcmp(d->d_name, name) == 0)
			continue;
		snprintf(full, sizeof full, "%s/%s", dir, d->d_name);
		if (stat(full, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		t = mtime_ns(&sb);
		h = fnv(h, d->d_name, strlen(d->d_name));
		h = fnv(h, &sb.st_size, sizeof sb.st_size);
		h = fnv(h, &t, sizeof t);
		sum += h; /* order-free */
	}
	closedir(dp);
	return sum;
}

static void fingerprint(const char *path, struct fprint *fp)
{
	struct stat sb;

	*fp = (struct fprint){0};
	/* GDAL's virtual paths, connection strings (stat fails) and
	 * directories cannot be fingerprinted. */
	if (strncmp(path, "/vsi", 4) == 0 || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
		return;
	fp->local = true;
	fp->size = sb.st_size;
	fp->mtime_ns = mtime_ns(&sb);
	if (fp->size <= HASH_MAX)
		fp->hashed = hash_file(path, &fp->hash);
	fp->sidecars = sidecars(path);
}

static bool output_id(const char *path, struct oid *o)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		return false;
	*o = (struct oid){.size = sb.st_size, .mtime_ns = mtime_ns(&sb),
	                  .ino = (uint64_t)sb.st_ino, .dev = (uint64_t)sb.st_dev};
	return true;
}

static int64_t jint(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : -1;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static json_object *jget(json_object *o, const char *key)
{
	json_object *v;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static size_t alen(json_object *a)
{
	return a ? json_object_array_length(a) : 0;
}

static uint64_t hex64(const char *s)
{
	return s ? strtoull(s, NULL, 16) : 0;
}

/* Why input `in`, recorded as `rec`, must be read, on its own. */
static enum why input_why(const struct in *in, json_object *rec)
{
	if (!in->fp.local)
		return NOT_LOCAL;
	if (rec == NULL)
		return NEW_INPUT;
	if (jint(rec, "size") != in->fp.size)
		return INPUT_SIZE;
	if (jint(rec, "mtime_ns") != in->fp.mtime_ns)
		return INPUT_MTIME;
	if (in->fp.hashed != (jstr(rec, "hash") != NULL) ||
	    (in->fp.hashed && hex64(jstr(rec, "hash")) != in->fp.hash))
		return INPUT_CONTENT;
	if (hex64(jstr(rec, "sidecars")) != in->fp.sidecars)
		return INPUT_SIDECARS;
	return UP_TO_DATE;
}

/* The outputs recorded for an input: OUTPUT_MISSING or OUTPUT_CHANGED
 * naming the first that is not as recorded, else UP_TO_DATE. */
static enum why outputs_why(const struct incr *i, json_object *rec, const char **detail)
{
	json_object *outs = jget(rec, "outputs"), *ids = jget(i->unit, "outputs");

	for (size_t k = 0; outs && k < json_object_array_length(outs); k++) {
		const char *p = json_object_get_string(json_object_array_get_idx(outs, k));
		json_object *id = jget(ids, p);
		struct oid o;

		*detail = p;
		if (!output_id(p, &o))
			return OUTPUT_MISSING;
		if (i->append)
			continue; /* appending is what changes it */
		if (id == NULL || jint(id, "size") != o.size || jint(id, "mtime_ns") != o.mtime_ns ||
		    (uint64_t)jint(id, "inode") != o.ino || (uint64_t)jint(id, "device") != o.dev)
			return OUTPUT_CHANGED;
	}
	*detail = NULL;
	return UP_TO_DATE;
}

/* Where the record of template `t` lives: the directory of its part
 * before any template. */
static const char *record_path(struct arena *a, const char *t)
{
	const char *brace = strchr(t, '{');
	size_t n = brace ? (size_t)(brace - t) : strlen(t);
	const char *slash = NULL;

	for (size_t k = 0; k < n; k++)
		if (t[k] == '/')
			slash = t + k;
	if (slash == NULL)
		return arena_strdup(a, RECORD_NAME);
	return arena_printf(a, "%.*s/%s", (int)(slash - t), t, RECORD_NAME);
}

static uint64_t count(const struct incr *i, bool skipped);

static bool is(json_object *o, json_type t)
{
	return json_object_is_type(o, t);
}

/* A record's shape, as build_unit() writes it: anything else (a hand edit
 * gone wrong) is refused rather than half understood. */
static bool valid_record(json_object *root)
{
	json_object *units = jget(root, "units");

	if (!is(root, json_type_object) || !is(units, json_type_object))
		return false;
	json_object_object_foreach(units, tmpl, u) {
		json_object *ins = jget(u, "inputs"), *ids = jget(u, "outputs");

		(void)tmpl;
		if (!is(u, json_type_object) || !is(ins, json_type_object) ||
		    !is(ids, json_type_object) || !is(jget(u, "pipeline"), json_type_string) ||
		    !is(jget(u, "version"), json_type_string))
			return false;
		json_object_object_foreach(ids, path, id) {
			(void)path;
			if (!is(id, json_type_object))
				return false;
		}
		json_object_object_foreach(ins, in, e) {
			json_object *outs = jget(e, "outputs");

			(void)in;
			if (!is(e, json_type_object) || !is(outs, json_type_array))
				return false;
			for (size_t k = 0; k < json_object_array_length(outs); k++)
				if (!is(json_object_array_get_idx(outs, k), json_type_string))
					return false;
		}
	}
	return true;
}

static int read_record(struct incr *i)
{
	struct stat sb;
	json_object *units;

	if (stat(i->record_path, &sb) != 0)
		return errno == ENOENT ? 0
		                       : gp_fail(GP_EX_IOERR, "cannot read '%s': %s", i->record_path,
		                                 strerror(errno));
	i->old = json_object_from_file(i->record_path);
	if (i->old && arena_defer(i->a, put_json, i->old) != 0) {
		i->old = NULL;
		return -1;
	}
	if (i->old == NULL || !valid_record(i->old))
		return gp_fail(GP_EX_DATAERR,
		               "cannot read the incremental record '%s': not a record gispipe wrote "
		               "(remove it to rebuild everything)",
		               i->record_path);
	units = jget(i->old, "units");
	i->unit = jget(units, i->tmpl);
	return 0;
}

/* The output input `k` would make, from its path alone (no {layer}). */
static const char *predicted(struct incr *i, size_t k)
{
	const char *path = i->in[k].path;
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	const char *dot = strrchr(name, '.');
	struct stream st = {.dataset_index = k, .path = path, .name = name, .layer = ""};

	st.stem = arena_strndup(i->a, name,
	                        dot && dot != name ? (size_t)(dot - name) : strlen(name));
	return st.stem ? output_expand(i->a, i->tmpl, &st, 0, 1) : NULL;
}

struct pair {
	const char *out;
	size_t who;
};

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->out, y->out);

	return c ? c : (x->who > y->who) - (x->who < y->who);
}

static size_t find(size_t *up, size_t x)
{
	while (up[x] != x)
		x = up[x] = up[up[x]];
	return x;
}

/* Inputs that share an output are read together: the output is written
 * whole from all of them.  Removed inputs (numbered after the current
 * ones) take part: an output one of them fed must be rebuilt from the
 * rest. */
static int close_over_outputs(struct incr *i)
{
	json_object *ins = jget(i->unit, "inputs");
	size_t nrem = 0, np = 0, cap = 0, total;
	struct pair *p;
	size_t *up;
	bool *dirty;

	if (ins) {
		json_object_object_foreach(ins, key, val) {
			bool current = false;

			(void)val;
			for (size_t k = 0; k < i->nin && !current; k++)
				current = strcmp(i->in[k].path, key) == 0;
			nrem += !current;
			cap += alen(jget(val, "outputs"));
		}
	}
	total = i->nin + nrem;
	cap += i->nin;
	p = arena_calloc(i->a, cap ? cap : 1, sizeof *p);
	up = arena_calloc(i->a, total ? total : 1, sizeof *up);
	dirty = arena_calloc(i->a, total ? total : 1, sizeof *dirty);
	if (p == NULL || up == NULL || dirty == NULL)
		return -1;
	for (size_t k = 0; k < total; k++)
		up[k] = k;
	for (size_t k = 0; k < i->nin; k++) {
		json_object *outs = jget(i->in[k].rec, "outputs");

		if (!i->by_layer && (p[np].out = predicted(i, k)) == NULL)
			return -1;
		if (!i->by_layer)
			p[np++].who = k;
		for (size_t m = 0; outs && m < json_object_array_length(outs); m++)
			p[np++] = (struct pair){json_object_get_string(json_object_array_get_idx(outs, m)),
			                        k};
		dirty[k] = i->in[k].why != UP_TO_DATE;
	}
	if (ins) {
		size_t r = i->nin;

		json_object_object_foreach(ins, key, val) {
			json_object *outs = jget(val, "outputs");
			bool current = false;

			for (size_t k = 0; k < i->nin && !current; k++)
				current = strcmp(i->in[k].path, key) == 0;
			if (current)
				continue;
			dirty[r] = true;
			for (size_t m = 0; outs && m < json_object_array_length(outs); m++)
				p[np++] = (struct pair){
				        json_object_get_string(json_object_array_get_idx(outs, m)), r};
			r++;
		}
	}
	qsort(p, np, sizeof *p, pair_cmp);
	for (size_t k = 1; k < np; k++)
		if (strcmp(p[k].out, p[k - 1].out) == 0)
			up[find(up, p[k].who)] = find(up, p[k - 1].who);
	for (size_t k = 0; k < total; k++)
		if (dirty[k])
			dirty[find(up, k)] = true;
	for (size_t k = 0; k < i->nin; k++)
		if (i->in[k].why == UP_TO_DATE && dirty[find(up, k)])
			i->in[k].why = SHARED_OUTPUT;
	return 0;
}

/* The outputs of removed inputs that no current input made: left in
 * place (gispipe removes nothing it did not write in this run), named in
 * the report. */
static int find_orphans(struct incr *i)
{
	json_object *ins = jget(i->unit, "inputs");

	if (ins == NULL || i->append)
		return 0;
	json_object_object_foreach(ins, key, val) {
		json_object *outs = jget(val, "outputs");
		bool current = false;

		for (size_t k = 0; k < i->nin && !current; k++)
			current = strcmp(i->in[k].path, key) == 0;
		for (size_t m = 0; !current && outs && m < json_object_array_length(outs); m++) {
			const char *o = json_object_get_string(json_object_array_get_idx(outs, m));
			const char **n = arena_realloc(i->a, i->orphans, i->norphans * sizeof *n,
			                               (i->norphans + 1) * sizeof *n);

			if (n == NULL)
				return -1;
			i->orphans = n;
			i->orphans[i->norphans++] = o;
		}
	}
	return 0;
}

static int decide(struct incr *i)
{
	json_object *ins = jget(i->unit, "inputs");
	const char *rec_pipeline = jstr(i->unit, "pipeline");
	const char *rec_version = jstr(i->unit, "version");

	for (size_t k = 0; k < i->nin; k++) {
		struct in *in = &i->in[k];

		fingerprint(in->path, &in->fp);
		in->rec = jget(ins, in->path);
		if (i->unit == NULL) {
			in->why = NO_RECORD;
			continue;
		}
		in->why = input_why(in, in->rec);
		if (i->append && in->why == NOT_LOCAL && !i->check)
			return gp_fail(GP_EX_USAGE,
			               "--incremental cannot append from '%s': it is not a local file, "
			               "so whether it was appended already cannot be told",
			               in->path);
		if (i->append) {
			/* Rows appended cannot be taken back: a recorded input is
			 * never read again, and one that changed is an error. */
			if (in->rec && in->why != UP_TO_DATE && in->why != NOT_LOCAL) {
				char *msg = arena_printf(
				        i->a,
				        "input '%s' changed (%s) since it was appended to '%s': appended "
				        "rows cannot be taken back; rebuild with mode: overwrite, or "
				        "remove its record in '%s'",
				        in->path, why_text[in->why], i->tmpl, i->record_path);

				if (msg == NULL)
					return -1;
				if (!i->check)
					return gp_fail(GP_EX_DATAERR, "%s", msg);
				if (i->append_error == NULL)
					i->append_error = msg;
			}
			if (in->rec && in->why != NOT_LOCAL)
				in->why = outputs_why(i, in->rec, &in->detail) == OUTPUT_MISSING
				                  ? OUTPUT_MISSING
				                  : UP_TO_DATE;
			continue;
		}
		if (rec_pipeline == NULL || strcmp(rec_pipeline, i->pipeline_hash) != 0) {
			in->why = PIPELINE_CHANGED;
			continue;
		}
		if (rec_version == NULL || strcmp(rec_version, GISPIPE_VERSION) != 0) {
			in->why = VERSION_CHANGED;
			continue;
		}
		if (in->why != UP_TO_DATE)
			continue;
		if (!i->by_layer) {
			json_object *outs = jget(in->rec, "outputs");
			const char *want = predicted(i, k);

			if (want == NULL)
				return -1;
			/* An input whose output moved (an {index} that shifted) */
			if (outs == NULL || json_object_array_length(outs) != 1 ||
			    strcmp(json_object_get_string(json_object_array_get_idx(outs, 0)), want) != 0) {
				in->why = OUTPUT_PATH;
				in->detail = want;
				continue;
			}
		}
		in->why = outputs_why(i, in->rec, &in->detail);
	}
	if (i->unit && !i->append) {
		if (i->by_layer) {
			/* Outputs named by layer are known only once inputs are
			 * opened: any change rebuilds them all. */
			bool any = ins && (size_t)json_object_object_length(ins) != i->nin;

			for (size_t k = 0; k < i->nin; k++)
				any |= i->in[k].why != UP_TO_DATE;
			for (size_t k = 0; k < i->nin && any; k++)
				if (i->in[k].why == UP_TO_DATE)
					i->in[k].why = SHARED_OUTPUT;
		} else if (close_over_outputs(i) != 0) {
			return -1;
		}
	}
	if (find_orphans(i) != 0)
		return -1;
	i->decided = true;
	return 0;
}

int incr_sink(struct incr *i, const char *tmpl, int mode)
{
	if (i == NULL)
		return 0;
	if (i->in == NULL) {
		if (i->check)
			return 0;
		return gp_fail(GP_EX_USAGE,
		               "--incremental needs input files to fingerprint, and a synthetic "
		               "source has none");
	}
	i->tmpl = arena_strdup(i->a, tmpl);
	i->record_path = i->tmpl ? record_path(i->a, i->tmpl) : NULL;
	if (i->record_path == NULL)
		return -1;
	i->append = mode == OUTFILE_APPEND;
	i->by_layer = strstr(tmpl, "{layer}") != NULL;
	if (!i->check) {
		/* Locked for the run: two incremental runs of one record would
		 * each write what the other did not see. */
		i->recset = outset_create(i->a, i->lock_wait, i->stop);
		if (i->recset == NULL ||
		    outfile_begin(i->recset, i->a, &i->recfile, i->record_path, OUTFILE_OVERWRITE) != 0)
			return -1;
		i->begun = true;
	}
	if (read_record(i) != 0)
		return -1;
	return decide(i);
}

bool incr_reads_any(const struct incr *i)
{
	return i == NULL || !i->decided || count(i, false) > 0;
}

int incr_skip(const struct incr *i, size_t index)
{
	return i && i->decided && index < i->nin && i->in[index].why == UP_TO_DATE;
}

int incr_output(struct incr *i, uint64_t index, const char *path)
{
	struct in *in;

	if (i == NULL || index >= i->nin)
		return 0;
	in = &i->in[index];
	for (size_t k = 0; k < in->nouts; k++)
		if (strcmp(in->outs[k], path) == 0)
			return 0;
	if (in->nouts == in->cap) {
		size_t ncap = in->cap ? 2 * in->cap : 2;
		const char **n = arena_realloc(i->a, in->outs, in->cap * sizeof *n, ncap * sizeof *n);

		if (n == NULL)
			return -1;
		in->outs = n;
		in->cap = ncap;
	}
	if ((in->outs[in->nouts] = arena_strdup(i->a, path)) == NULL)
		return -1;
	in->nouts++;
	return 0;
}

static json_object *hex(uint64_t v)
{
	char buf[17];

	snprintf(buf, sizeof buf, "%016" PRIx64, v);
	return json_object_new_string(buf);
}

/* Record output `p` in `ids` (once): its identity now when this run wrote
 * it, else the recorded one. */
static int record_output(json_object *ids, json_object *old_ids, const char *p, bool written)
{
	json_object *id;
	struct oid o;

	if (jget(ids, p))
		return 0;
	if (!written) {
		id = jget(old_ids, p);
		if (id)
			json_object_object_add(ids, p, json_object_get(id));
		return 0;
	}
	if (!output_id(p, &o))
		return gp_fail(GP_EX_IOERR, "cannot record '%s': %s", p, strerror(errno));
	id = json_object_new_object();
	json_object_object_add(id, "size", json_object_new_int64(o.size));
	json_object_object_add(id, "mtime_ns", json_object_new_int64(o.mtime_ns));
	json_object_object_add(id, "inode", json_object_new_int64((int64_t)o.ino));
	json_object_object_add(id, "device", json_object_new_int64((int64_t)o.dev));
	json_object_object_add(ids, p, id);
	return 0;
}

static json_object *build_unit(struct incr *i)
{
	json_object *u = json_object_new_object(), *ins = json_object_new_object();
	json_object *ids = json_object_new_object(), *old_ids = jget(i->unit, "outputs");

	json_object_object_add(u, "pipeline", json_object_new_string(i->pipeline_hash));
	json_object_object_add(u, "version", json_object_new_string(GISPIPE_VERSION));
	json_object_object_add(u, "mode", json_object_new_string(i->append ? "append" : "replace"));
	json_object_object_add(u, "inputs", ins);
	json_object_object_add(u, "outputs", ids);
	for (size_t k = 0; k < i->nin; k++) {
		struct in *in = &i->in[k];
		json_object *e, *outs;

		if (in->why == UP_TO_DATE) {
			/* Skipped: as recorded, and so are its outputs. */
			json_object_object_add(ins, in->path, json_object_get(in->rec));
			outs = jget(in->rec, "outputs");
			for (size_t m = 0; outs && m < json_object_array_length(outs); m++)
				record_output(ids, old_ids,
				              json_object_get_string(json_object_array_get_idx(outs, m)),
				              false);
			continue;
		}
		if (!in->fp.local)
			continue; /* never skipped, nothing to record */
		e = json_object_new_object();
		json_object_object_add(e, "size", json_object_new_int64(in->fp.size));
		json_object_object_add(e, "mtime_ns", json_object_new_int64(in->fp.mtime_ns));
		json_object_object_add(e, "hash", in->fp.hashed ? hex(in->fp.hash) : NULL);
		json_object_object_add(e, "sidecars", hex(in->fp.sidecars));
		outs = json_object_new_array();
		for (size_t m = 0; m < in->nouts; m++) {
			json_object_array_add(outs, json_object_new_string(in->outs[m]));
			if (record_output(ids, old_ids, in->outs[m], true) != 0) {
				json_object_put(e);
				json_object_put(outs);
				json_object_put(u);
				return NULL;
			}
		}
		/* Append: the rows of an output rebuilt from scratch came from
		 * this run only, and those of a kept one from the earlier too. */
		json_object_object_add(e, "outputs", outs);
		json_object_object_add(ins, in->path, e);
	}
	if (i->append) {
		/* Rows of removed inputs stay in the output: so do their
		 * entries, or the input would be appended again if it came
		 * back. */
		json_object *old_ins = jget(i->unit, "inputs");

		if (old_ins) {
			json_object_object_foreach(old_ins, key, val) {
				json_object *outs = jget(val, "outputs");

				if (jget(ins, key))
					continue;
				json_object_object_add(ins, key, json_object_get(val));
				for (size_t m = 0; outs && m < json_object_array_length(outs); m++)
					record_output(ids, old_ids,
					              json_object_get_string(json_object_array_get_idx(outs, m)),
					              false);
			}
		}
	}
	return u;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Outputs rebuilt (written this run) and skipped (recorded for a skipped
 * input, and not rebuilt), each counted once: inputs merged into one
 * output share it. */
static int count_outputs(struct incr *i)
{
	size_t n = 0, cap = 0;
	const char **v;
	bool *rebuilt;

	for (size_t k = 0; k < i->nin; k++)
		cap += i->in[k].nouts + alen(jget(i->in[k].rec, "outputs"));
	v = arena_calloc(i->a, cap ? cap : 1, sizeof *v);
	rebuilt = arena_calloc(i->a, cap ? cap : 1, sizeof *rebuilt);
	if (v == NULL || rebuilt == NULL)
		return -1;
	for (size_t k = 0; k < i->nin; k++) {
		json_object *outs = jget(i->in[k].rec, "outputs");

		for (size_t m = 0; m < i->in[k].nouts; m++)
			v[n++] = i->in[k].outs[m];
		for (size_t m = 0; i->in[k].why == UP_TO_DATE && m < alen(outs); m++)
			v[n++] = json_object_get_string(json_object_array_get_idx(outs, m));
	}
	/* Sorted, a name written this run is found by bsearch among them. */
	qsort(v, n, sizeof *v, str_cmp);
	for (size_t k = 0; k < i->nin; k++)
		for (size_t m = 0; m < i->in[k].nouts; m++) {
			const char **at = bsearch(&i->in[k].outs[m], v, n, sizeof *v, str_cmp);

			/* bsearch finds one of equal names: mark the first */
			while (at > v && strcmp(at[-1], *at) == 0)
				at--;
			rebuilt[at - v] = true;
		}
	for (size_t k = 0; k < n; k++) {
		if (k > 0 && strcmp(v[k], v[k - 1]) == 0)
			continue;
		if (rebuilt[k])
			i->outputs_rebuilt++;
		else
			i->outputs_skipped++;
	}
	return 0;
}

int incr_commit(struct incr *i)
{
	json_object *root, *units, *u;
	int r;

	if (i == NULL || i->check || !i->begun)
		return 0;
	if (count_outputs(i) != 0)
		goto fail;
	u = build_unit(i);
	if (u == NULL)
		goto fail;
	root = json_object_new_object();
	units = json_object_new_object();
	json_object_object_add(root, "gispipe_incremental", json_object_new_int(1));
	json_object_object_add(root, "units", units);
	/* Other templates' entries, as they were. */
	if (jget(i->old, "units")) {
		json_object_object_foreach(jget(i->old, "units"), key, val) {
			if (strcmp(key, i->tmpl) != 0)
				json_object_object_add(units, key, json_object_get(val));
		}
	}
	json_object_object_add(units, i->tmpl, u);
	r = json_object_to_file_ext(i->recfile.tmppath, root,
	                            JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	json_object_put(root);
	if (r != 0) {
		gp_fail(GP_EX_IOERR, "cannot write '%s': %s", i->record_path, strerror(errno));
		goto fail;
	}
	/* Not outset_commit: a signal that came during the outputs' commit
	 * (held since, exit status unchanged) must not stop this one. */
	if (outfile_commit(&i->recfile) != 0)
		goto fail;
	i->committed = true;
	return 0;
fail:
	gp_fail_prefix("the outputs are committed, the incremental record is not (they will be "
	               "rebuilt)");
	incr_abort(i);
	return -1;
}

void incr_abort(struct incr *i)
{
	if (i && i->recset)
		outset_abort(i->recset);
}

static uint64_t count(const struct incr *i, bool skipped)
{
	uint64_t n = 0;

	for (size_t k = 0; k < i->nin; k++)
		n += (i->in[k].why == UP_TO_DATE) == skipped;
	return n;
}

void incr_counts(const struct incr *i, struct incr_counts *out)
{
	*out = (struct incr_counts){0};
	if (i == NULL)
		return;
	out->inputs_skipped = count(i, true);
	out->inputs_read = count(i, false);
	out->outputs_skipped = i->outputs_skipped;
	out->outputs_rebuilt = i->outputs_rebuilt;
	for (size_t k = 0; k < i->nin; k++)
		out->reason[i->in[k].why]++;
}

const char *incr_reason_key(int k)
{
	return k >= 0 && k < NWHY ? why_key[k] : NULL;
}

/* One input's line: why it is read, and what it makes. */
static void why_line(const struct in *in, FILE *out)
{
	fprintf(out, "  %s: %s%s%s%s", in->path, why_text[in->why], in->detail ? " ('" : "",
	        in->detail ? in->detail : "", in->detail ? "')" : "");
	for (size_t m = 0; m < in->nouts; m++)
		fprintf(out, "%s%s", m ? ", " : " -> ", in->outs[m]);
	fputc('\n', out);
}

void incr_report_table(const struct incr *i, FILE *out)
{
	size_t shown = 0;

	if (i == NULL || !i->decided)
		return;
	if (i->committed)
		fprintf(out, "incremental: %" PRIu64 " output%s up to date (skipped), %" PRIu64
		             " rebuilt; ",
		        i->outputs_skipped, i->outputs_skipped == 1 ? "" : "s", i->outputs_rebuilt);
	else
		fprintf(out, "incremental: nothing committed, the record is as it was; ");
	fprintf(out, "%" PRIu64 " input%s skipped, %" PRIu64 " read\n", count(i, true),
	        count(i, true) == 1 ? "" : "s", count(i, false));
	for (size_t k = 0; k < i->nin; k++) {
		if (i->in[k].why == UP_TO_DATE)
			continue;
		if (shown++ == 20) {
			fprintf(out, "  ... and %" PRIu64 " more (the JSON report lists all)\n",
			        count(i, false) - 20);
			break;
		}
		why_line(&i->in[k], out);
	}
	for (size_t k = 0; k < i->norphans; k++)
		fprintf(out, "  %s: its input is gone; left in place\n", i->orphans[k]);
}

void incr_report_json(const struct incr *i, void *root)
{
	json_object *j, *rebuilt, *orph, *reasons;
	struct incr_counts c;

	if (i == NULL || !i->decided)
		return;
	incr_counts(i, &c);
	j = json_object_new_object();
	json_object_object_add(j, "record", json_object_new_string(i->record_path));
	json_object_object_add(j, "committed", json_object_new_boolean(i->committed));
	json_object_object_add(j, "inputs_skipped", json_object_new_int64((int64_t)c.inputs_skipped));
	json_object_object_add(j, "inputs_read", json_object_new_int64((int64_t)c.inputs_read));
	json_object_object_add(j, "outputs_skipped",
	                       json_object_new_int64((int64_t)c.outputs_skipped));
	json_object_object_add(j, "outputs_rebuilt",
	                       json_object_new_int64((int64_t)c.outputs_rebuilt));
	reasons = json_object_new_object();
	for (int k = 1; k < NWHY; k++)
		if (c.reason[k])
			json_object_object_add(reasons, why_key[k],
			                       json_object_new_int64((int64_t)c.reason[k]));
	json_object_object_add(j, "reasons", reasons);
	rebuilt = json_object_new_array();
	for (size_t k = 0; k < i->nin; k++) {
		const struct in *in = &i->in[k];
		json_object *e, *outs;

		if (in->why == UP_TO_DATE)
			continue;
		e = json_object_new_object();
		outs = json_object_new_array();
		json_object_object_add(e, "input", json_object_new_string(in->path));
		json_object_object_add(e, "reason", json_object_new_string(why_key[in->why]));
		json_object_object_add(e, "detail",
		                       in->detail ? json_object_new_string(in->detail) : NULL);
		for (size_t m = 0; m < in->nouts; m++)
			json_object_array_add(outs, json_object_new_string(in->outs[m]));
		json_object_object_add(e, "outputs", outs);
		json_object_array_add(rebuilt, e);
	}
	json_object_object_add(j, "rebuilt", rebuilt);
	orph = json_object_new_array();
	for (size_t k = 0; k < i->norphans; k++)
		json_object_array_add(orph, json_object_new_string(i->orphans[k]));
	json_object_object_add(j, "orphaned_outputs", orph);
	json_object_object_add(root, "incremental", j);
}

void incr_explain(const struct incr *i, FILE *out)
{
	if (i == NULL || !i->decided || i->unit == NULL)
		return;
	fprintf(out, "incremental (record %s): with --incremental, %" PRIu64
	             " input%s up to date, %" PRIu64 " to read\n",
	        i->record_path, count(i, true), count(i, true) == 1 ? "" : "s", count(i, false));
	for (size_t k = 0; k < i->nin; k++)
		if (i->in[k].why != UP_TO_DATE)
			why_line(&i->in[k], out);
	for (size_t k = 0; k < i->norphans; k++)
		fprintf(out, "  %s: its input is gone; it would be left in place\n", i->orphans[k]);
	if (i->append_error)
		fprintf(out, "  a run would fail (65): %s\n", i->append_error);
	fputc('\n', out);
}
