/* check_cpus.c - unit tests for the CPU count (src/core/cpus.c), on fake
 * /proc/self/cgroup and cgroup trees in a temporary directory. */
#include <check.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cpus.h"

static char root[64];

static void setup(void)
{
	snprintf(root, sizeof root, "/tmp/check_cpus_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

/* root/`rel` with `text`, its directories made first. */
static void put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* ---- cpus_limit --------------------------------------------------------- */

START_TEST(v2_quota_rounds_up)
{
	put("proc/self/cgroup", "0::/job\n");
	put("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
	put("sys/fs/cgroup/job/cpu.max", "150000 100000\n");
	ck_assert_int_eq(cpus_limit(8, root), 2);
	put("sys/fs/cgroup/job/cpu.max", "200000 100000\n");
	ck_assert_int_eq(cpus_limit(8, root), 2);
	put("sys/fs/cgroup/job/cpu.max", "50000 100000\n");
	ck_assert_int_eq(cpus_limit(8, root), 1);
	/* a quota above the affinity does not raise it */
	put("sys/fs/cgroup/job/cpu.max", "1600000 100000\n");
	ck_assert_int_eq(cpus_limit(8, root), 8);
}
END_TEST

START_TEST(v2_max_is_the_affinity)
{
	put("proc/self/cgroup", "0::/job\n");
	put("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
	put("sys/fs/cgroup/job/cpu.max", "max 100000\n");
	ck_assert_int_eq(cpus_limit(6, root), 6);
	ck_assert_int_eq(cpus_limit(1, root), 1);
	ck_assert_int_eq(cpus_limit(0, root), 1);
}
END_TEST

START_TEST(v2_parent_quota_counts)
{
	put("proc/self/cgroup", "0::/user.slice/job/step\n");
	put("sys/fs/cgroup/cgroup.controllers", "cpu\n");
	put("sys/fs/cgroup/user.slice/job/step/cpu.max", "max 100000\n");
	put("sys/fs/cgroup/user.slice/job/cpu.max", "300000 100000\n");
	put("sys/fs/cgroup/user.slice/cpu.max", "max 100000\n");
	ck_assert_int_eq(cpus_limit(16, root), 3);
	/* the smallest on the way up */
	put("sys/fs/cgroup/user.slice/job/step/cpu.max", "100000 50000\n");
	ck_assert_int_eq(cpus_limit(16, root), 2);
}
END_TEST

START_TEST(v2_container_root)
{
	/* No cgroup namespace: the path is the host's, the mount is ours. */
	put("proc/self/cgroup", "0::/docker/abc123\n");
	put("sys/fs/cgroup/cgroup.controllers", "cpu\n");
	put("sys/fs/cgroup/cpu.max", "250000 100000\n");
	ck_assert_int_eq(cpus_limit(64, root), 3);
}
END_TEST

START_TEST(v1_quota)
{
	put("proc/self/cgroup", "5:memory:/job\n3:cpu,cpuacct:/job\n0::/\n");
	put("sys/fs/cgroup/cpu/job/cpu.cfs_quota_us", "150000\n");
	put("sys/fs/cgroup/cpu/job/cpu.cfs_period_us", "100000\n");
	ck_assert_int_eq(cpus_limit(8, root), 2);
	/* -1: no quota */
	put("sys/fs/cgroup/cpu/job/cpu.cfs_quota_us", "-1\n");
	ck_assert_int_eq(cpus_limit(8, root), 8);
	/* a controller list naming "cpuacct" only is not "cpu" */
	put("proc/self/cgroup", "3:cpuacct:/job\n");
	put("sys/fs/cgroup/cpu/job/cpu.cfs_quota_us", "100000\n");
	ck_assert_int_eq(cpus_limit(8, root), 8);
}
END_TEST

START_TEST(hybrid_v2_without_cpu_falls_back_to_v1)
{
	/* systemd's hybrid layout: v2 in unified/ without the cpu
	 * controller, v1's cpu beside it. */
	put("proc/self/cgroup", "1:cpu:/job\n0::/job\n");
	put("sys/fs/cgroup/unified/job/cgroup.procs", "");
	put("sys/fs/cgroup/cpu/job/cpu.cfs_quota_us", "400000\n");
	put("sys/fs/cgroup/cpu/job/cpu.cfs_period_us", "100000\n");
	ck_assert_int_eq(cpus_limit(8, root), 4);
	/* and v2's quota wins when it has one */
	put("sys/fs/cgroup/unified/job/cpu.max", "100000 100000\n");
	ck_assert_int_eq(cpus_limit(8, root), 1);
}
END_TEST

START_TEST(missing_files)
{
	/* no /proc at all */
	ck_assert_int_eq(cpus_limit(4, root), 4);
	/* a cgroup named, no files for it */
	put("proc/self/cgroup", "0::/job\n");
	ck_assert_int_eq(cpus_limit(4, root), 4);
	/* half a v1 pair, and garbage */
	put("proc/self/cgroup", "2:cpu:/job\n");
	put("sys/fs/cgroup/cpu/job/cpu.cfs_quota_us", "100000\n");
	ck_assert_int_eq(cpus_limit(4, root), 4);
	put("proc/self/cgroup", "0::/job\n");
	put("sys/fs/cgroup/cgroup.controllers", "cpu\n");
	put("sys/fs/cgroup/job/cpu.max", "lots\n");
	ck_assert_int_eq(cpus_limit(4, root), 4);
	put("sys/fs/cgroup/job/cpu.max", "100000 0\n");
	ck_assert_int_eq(cpus_limit(4, root), 4);
}
END_TEST

/* ---- cpus_available ----------------------------------------------------- */

START_TEST(available_within_affinity)
{
	cpu_set_t set;
	int n = cpus_available();

	ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
	ck_assert_int_ge(n, 1);
	ck_assert_int_le(n, CPU_COUNT(&set));
	ck_assert_int_eq(n, cpus_limit(CPU_COUNT(&set), ""));
}
END_TEST

static Suite *cpus_suite(void)
{
	Suite *s = suite_create("cpus");
	TCase *tc = tcase_create("cpus_limit");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, v2_quota_rounds_up);
	tcase_add_test(tc, v2_max_is_the_affinity);
	tcase_add_test(tc, v2_parent_quota_counts);
	tcase_add_test(tc, v2_container_root);
	tcase_add_test(tc, v1_quota);
	tcase_add_test(tc, hybrid_v2_without_cpu_falls_back_to_v1);
	tcase_add_test(tc, missing_files);
	suite_add_tcase(s, tc);
	tc = tcase_create("cpus_available");
	tcase_add_test(tc, available_within_affinity);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cpus_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
