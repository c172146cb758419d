/* rss.c - resident memory of the process, and giving pages back. */
#include "core/rss.h"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

static uint64_t status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t klen = strlen(key);
	unsigned long long v = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			sscanf(line + klen + 1, "%llu", &v);
			break;
		}
	}
	fclose(f);
	return (uint64_t)v * 1024;
}

static int statm_fd = -1;
static long page_size;
static pthread_once_t statm_once = PTHREAD_ONCE_INIT;

static void statm_open(void)
{
	page_size = sysconf(_SC_PAGESIZE);
	statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
}

void rss_sample(uint64_t *resident, uint64_t *anon)
{
	/* statm's second field is VmRSS in pages and its third the shared
	 * (file-backed and shmem) part; the kernel reads them from counters,
	 * so a read costs a system call and no page walk. */
	char buf[128];
	ssize_t n;
	unsigned long long size, res, shared;

	*resident = *anon = 0;
	pthread_once(&statm_once, statm_open);
	if (statm_fd < 0)
		return;
	n = pread(statm_fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu %llu", &size, &res, &shared) != 3)
		return;
	*resident = (uint64_t)res * (uint64_t)page_size;
	*anon = res > shared ? (uint64_t)(res - shared) * (uint64_t)page_size : 0;
}

uint64_t rss_current(void)
{
	uint64_t resident, anon;

	rss_sample(&resident, &anon);
	return resident;
}

uint64_t rss_file(void)
{
	return status_kib("RssFile");
}

uint64_t rss_peak(void)
{
	return status_kib("VmHWM");
}

void rss_trim(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];

	malloc_trim(0);
	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi, off, inode;
		char perm[8], dev[32];

		if (sscanf(line, "%lx-%lx %7s %lx %31s %lu", &lo, &hi, perm, &off, dev, &inode) != 6)
			continue;
		/* Only clean, read-only, file-backed mappings: dropping them loses
		 * nothing, and the kernel skips pages other processes share. */
		if (inode == 0 || perm[1] == 'w')
			continue;
		madvise((void *)lo, hi - lo, MADV_PAGEOUT);
	}
	fclose(f);
}
