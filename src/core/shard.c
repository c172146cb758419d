/*
 * shard.c - `--shard I/N`: parsing it, and the whole-input share (shard.h).
 *
 * Every shard computes the same plan from the same inputs, so the plan
 * must depend on nothing but them: sizes, paths and N.  The tables made
 * here live in the caller's arena.
 */
#include "core/shard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_vsi.h>

#include "core/arena.h"
#include "core/error.h"

/* A whole number from 0 to max, all of s.  -1 when it is not one. */
static long long whole_number(const char *s, long long max)
{
	char *end;
	long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	return v;
}

/* An environment variable's whole number, or -1 with the error set. */
static long long env_number(const char *form, const char *name, long long max)
{
	const char *v = getenv(name);
	long long n = whole_number(v, max);

	if (v == NULL)
		return gp_fail(GP_EX_USAGE, "--shard %s: %s is not set", form, name);
	if (n < 0)
		return gp_fail(GP_EX_USAGE, "--shard %s: %s='%s' is not a whole number from 0 to %lld",
		               form, name, v, max);
	return n;
}

static int check(const char *arg, long long index, long long count, int *i, int *n)
{
	if (count < 1 || count > SHARD_COUNT_MAX)
		return gp_fail(GP_EX_USAGE, "--shard %s: the count must be from 1 to %d, not %lld", arg,
		               SHARD_COUNT_MAX, count);
	if (index < 0 || index >= count)
		return gp_fail(GP_EX_USAGE,
		               "--shard %s: the index must be from 0 to %lld (count - 1), not %lld",
		               arg, count - 1, index);
	*i = (int)index;
	*n = (int)count;
	return 0;
}

int shard_parse(const char *arg, int *index, int *count)
{
	const char *slash = strchr(arg, '/');

	if (strcmp(arg, "slurm") == 0) {
		/* Arrays may start anywhere (--array=1-4): the index is the
		 * task's place in the array. */
		long long id = env_number(arg, "SLURM_ARRAY_TASK_ID", 1LL << 40);
		long long min = id < 0 ? -1 : env_number(arg, "SLURM_ARRAY_TASK_MIN", 1LL << 40);
		long long n = min < 0 ? -1 : env_number(arg, "SLURM_ARRAY_TASK_COUNT", SHARD_COUNT_MAX);

		if (n < 0)
			return -1;
		if (id < min)
			return gp_fail(GP_EX_USAGE,
			               "--shard slurm: SLURM_ARRAY_TASK_ID %lld is below "
			               "SLURM_ARRAY_TASK_MIN %lld",
			               id, min);
		return check(arg, id - min, n, index, count);
	}
	if (strcmp(arg, "k8s") == 0) {
		long long id = env_number(arg, "JOB_COMPLETION_INDEX", 1LL << 40);
		long long n = id < 0 ? -1 : env_number(arg, "GISPIPE_SHARD_COUNT", SHARD_COUNT_MAX);

		if (n < 0)
			return -1;
		return check(arg, id, n, index, count);
	}
	if (slash != NULL) {
		char head[32];
		size_t len = (size_t)(slash - arg);
		long long i = -1, n = -1;

		if (len < sizeof head) {
			memcpy(head, arg, len);
			head[len] = '\0';
			i = whole_number(head, 1LL << 40);
			n = whole_number(slash + 1, 1LL << 40);
		}
		if (i >= 0 && n >= 0)
			return check(arg, i, n, index, count);
	}
	return gp_fail(GP_EX_USAGE,
	               "--shard: '%s' is not I/N (0 <= I < N), 'slurm' or 'k8s' (see gispipe(1))",
	               arg);
}

bool shard_whole_inputs(size_t n, int count)
{
	return n >= 2 * (size_t)count;
}

int64_t shard_cut(int64_t n, int k, int count)
{
	return (int64_t)((__int128)n * k / count);
}

const char *shard_label(char *buf, size_t len, int index, int count)
{
	if (count == 0)
		snprintf(buf, len, "%s", "");
	else
		snprintf(buf, len, "%d/%d", index, count);
	return buf;
}

struct sized {
	const char *path;
	uint64_t size;
	size_t at; /* index in the inputs */
};

static int larger_first(const void *pa, const void *pb)
{
	const struct sized *a = pa, *b = pb;

	if (a->size != b->size)
		return a->size > b->size ? -1 : 1;
	return strcmp(a->path, b->path);
}

int shard_mine(struct arena *a, const char *const *paths, size_t n, int index, int count,
               bool whole, bool **mine)
{
	struct sized *v;
	uint64_t *load;

	*mine = NULL;
	if (count <= 1 || (!whole && !shard_whole_inputs(n, count)))
		return 0;
	v = arena_calloc(a, n ? n : 1, sizeof *v);
	load = arena_calloc(a, (size_t)count, sizeof *load);
	*mine = arena_calloc(a, n ? n : 1, sizeof **mine);
	if (v == NULL || load == NULL || *mine == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		VSIStatBufL sb;

		v[i].path = paths[i];
		v[i].at = i;
		v[i].size = VSIStatL(paths[i], &sb) == 0 ? (uint64_t)sb.st_size : 0;
	}
	qsort(v, n, sizeof *v, larger_first);
	/* Largest first to the least loaded: within 4/3 of the best share
	 * (Graham's bound), and every shard gets an input when n >= count. */
	for (size_t i = 0; i < n; i++) {
		int best = 0;

		for (int k = 1; k < count; k++)
			if (load[k] < load[best])
				best = k;
		load[best] += v[i].size;
		(*mine)[v[i].at] = best == index;
	}
	return 0;
}
