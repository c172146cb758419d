/* rss.c - resident memory of the process, and giving pages back. */
#include "gispipe/rss.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

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

uint64_t rss_current(void)
{
	return status_kib("VmRSS");
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
