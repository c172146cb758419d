/*
 * rss.h - resident memory of the process.
 */
#ifndef GISPIPE_RSS_H
#define GISPIPE_RSS_H

#include <stdint.h>

/* VmRSS and VmHWM in bytes, 0 when /proc is not there.  rss_current()
 * is cheap (one pread of /proc/self/statm, a few microseconds) and safe
 * from any thread. */
uint64_t rss_current(void);
uint64_t rss_peak(void);

/* VmRSS and its anonymous part (heap, arenas, caches: what the data can
 * cost, unlike library pages, whose residency depends on what other
 * processes map) in bytes, from one read of /proc/self/statm; 0s when /proc
 * is not there.  As cheap as rss_current(). */
void rss_sample(uint64_t *resident, uint64_t *anon);

/* The file-backed part of VmRSS (library code and data), bytes. */
uint64_t rss_file(void);

/* Give back resident pages of read-only file mappings (library code and
 * data touched once during start-up: relocation, driver registration) and
 * free malloc's unused memory.  Pages still needed fault back in from the
 * page cache.  Safe to call at any time; does nothing where unsupported. */
void rss_trim(void);

#endif
