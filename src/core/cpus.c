/* cpus.c - the CPUs this process may use: affinity and cgroup quota.
 *
 * Only files are read and only the stack is used, so this may run before
 * anything else is set up.  The cgroup a process is in is named in
 * /proc/self/cgroup relative to the hierarchy's mount; inside a container
 * with no cgroup namespace that path may not exist under the mount (the
 * container sees its own cgroup as the mount's root), and the mount's root
 * is then read instead.  A quota anywhere up the tree limits the process,
 * so the smallest on the way to the root counts. */
#include "core/cpus.h"

#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The first line of `path` in `buf`, without its newline; false when it
 * cannot be read. */
static bool read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (f == NULL)
		return false;
	ok = fgets(buf, (int)size, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* CPUs a quota of `quota` microseconds every `period` allows, rounded up
 * (1.5 CPUs' worth keeps 2 threads busy part of the time); 0 when none. */
static int quota_cpus(long long quota, long long period)
{
	long long n;

	if (quota <= 0 || period <= 0)
		return 0;
	n = (quota + period - 1) / period;
	return n > INT_MAX ? INT_MAX : (int)n;
}

/* cgroup v2: "max 100000" or "150000 100000". */
static int v2_quota(const char *dir)
{
	char path[PATH_MAX], buf[128];
	long long quota, period;

	if (snprintf(path, sizeof path, "%s/cpu.max", dir) >= (int)sizeof path ||
	    !read_line(path, buf, sizeof buf))
		return 0;
	if (sscanf(buf, "%lld %lld", &quota, &period) != 2)
		return 0; /* "max ..." */
	return quota_cpus(quota, period);
}

/* cgroup v1: cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us. */
static int v1_quota(const char *dir)
{
	char path[PATH_MAX], buf[64];
	long long quota, period;

	if (snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir) >= (int)sizeof path ||
	    !read_line(path, buf, sizeof buf) || sscanf(buf, "%lld", &quota) != 1)
		return 0;
	if (snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir) >= (int)sizeof path ||
	    !read_line(path, buf, sizeof buf) || sscanf(buf, "%lld", &period) != 1)
		return 0;
	return quota_cpus(quota, period);
}

/* The smallest quota from `mount`/`cg` up to `mount` (0: none), read with
 * `quota`.  `cg` starts with '/'. */
static int tree_quota(const char *mount, const char *cg, int (*quota)(const char *dir))
{
	char dir[PATH_MAX];
	size_t mlen = strlen(mount);
	int best = 0;

	if (snprintf(dir, sizeof dir, "%s%s", mount, cg) >= (int)sizeof dir || !is_dir(dir))
		snprintf(dir, sizeof dir, "%s", mount); /* a container's own root */
	for (;;) {
		int n = quota(dir);
		char *slash;

		if (n > 0 && (best == 0 || n < best))
			best = n;
		slash = strrchr(dir + mlen, '/');
		if (slash == NULL)
			break;
		*slash = '\0';
	}
	return best;
}

/* Whether the comma-separated `list` names `name`. */
static bool lists(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list;; p++) {
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
		p = strchr(p, ',');
		if (p == NULL)
			return false;
	}
}

int cpus_limit(int affinity, const char *root)
{
	char path[PATH_MAX], line[PATH_MAX], v2[PATH_MAX] = "", v1[PATH_MAX] = "";
	char mount[PATH_MAX];
	int n = affinity > 0 ? affinity : 1, q = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
	f = fopen(path, "r");
	if (f == NULL)
		return n;
	/* "0::/path" is v2; "4:cpu,cpuacct:/path" is v1's cpu controller. */
	while (fgets(line, sizeof line, f)) {
		char *ctl = strchr(line, ':'), *cg = ctl ? strchr(ctl + 1, ':') : NULL;

		if (cg == NULL)
			continue;
		*ctl++ = '\0';
		*cg++ = '\0';
		cg[strcspn(cg, "\n")] = '\0';
		if (*cg != '/')
			continue;
		if (*ctl == '\0' && strcmp(line, "0") == 0)
			snprintf(v2, sizeof v2, "%s", cg);
		else if (lists(ctl, "cpu"))
			snprintf(v1, sizeof v1, "%s", cg);
	}
	fclose(f);
	if (*v2) {
		snprintf(mount, sizeof mount, "%s/sys/fs/cgroup/cgroup.controllers", root);
		/* Unified at the top, or the hybrid layout's v2 tree beside v1's. */
		snprintf(mount, sizeof mount, "%s/sys/fs/cgroup%s", root,
		         access(mount, F_OK) == 0 ? "" : "/unified");
		q = tree_quota(mount, v2, v2_quota);
	}
	if (q == 0 && *v1) {
		snprintf(mount, sizeof mount, "%s/sys/fs/cgroup/cpu", root);
		q = tree_quota(mount, v1, v1_quota);
	}
	return q > 0 && q < n ? q : n;
}

int cpus_available(void)
{
	cpu_set_t set;
	int n = 1;

	if (sched_getaffinity(0, sizeof set, &set) == 0)
		n = CPU_COUNT(&set);
	return cpus_limit(n, "");
}
