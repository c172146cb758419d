/*
 * cpus.h - how many CPUs this process may use.
 *
 * The default thread count: the CPUs in the process's affinity mask
 * (taskset, cpusets), lowered by the CPU quota of its cgroup (a container's
 * --cpus, systemd's CPUQuota=), which lets the process run on every CPU but
 * only for quota/period of the time: more threads than that only queue.
 * Nothing is allocated; the answer is computed again on each call.
 */
#ifndef GISPIPE_CPUS_H
#define GISPIPE_CPUS_H

/* The CPUs this process may use, at least 1: cpus_limit() of the affinity
 * count, with the real /proc and /sys. */
int cpus_available(void);

/* `affinity` (CPUs in the affinity mask; values below 1 count as 1)
 * lowered to ceil(quota / period) of the process's cgroup and its
 * ancestors, read below `root` ("" for the real files): the cgroup from
 * root/proc/self/cgroup; cgroup v2's cpu.max under root/sys/fs/cgroup (or
 * root/sys/fs/cgroup/unified, the hybrid layout), else cgroup v1's
 * cpu.cfs_quota_us and cpu.cfs_period_us under root/sys/fs/cgroup/cpu.
 * Files that are missing or unreadable mean no quota. */
int cpus_limit(int affinity, const char *root);

#endif
