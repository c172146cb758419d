/*
 * fuzz_pipeline.c - libFuzzer harness: bytes as a pipeline file.
 *
 * The input goes through pipeline_load() as `gispipe validate` reads it:
 * YAML loader, top-level sections, variables (--set, vars, ${env:...},
 * ${pipeline_dir}), every step's options and checks.  Inputs are not looked
 * at (skip_inputs), so a run does no I/O but reading the pipeline itself,
 * from a memfd.  A pipeline that is refused must be refused with exit code
 * 78 (75 for memory) and a message, and every byte counted must be given
 * back; anything else is a finding (abort).  Each input is loaded a second
 * time with an allocation failing, to fuzz the out-of-memory paths too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "config/pipeline.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Step checks look up drivers (write) and parse CRSs (reproject):
	 * the same set-up as the command line, and quiet. */
	CPLSetErrorHandler(CPLQuietErrorHandler);
	CPLSetConfigOption("PROJ_NETWORK", "OFF");
	/* A CRS given as a URL is fetched by OSRSetFromUserInput(): keep a
	 * stray "http://..." from holding the fuzzer up. */
	CPLSetConfigOption("GDAL_HTTP_TIMEOUT", "1");
	CPLSetConfigOption("GDAL_HTTP_CONNECTTIMEOUT", "1");
	GDALAllRegister();
	/* Variables the seeds use: ${env:...} must expand to something. */
	setenv("GISPIPE_FUZZ", "x", 1);
	fd = memfd_create("pipeline.yaml", MFD_CLOEXEC);
	if (fd < 0) {
		perror("fuzz_pipeline: memfd_create");
		abort();
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return 0;
}

static void put(const uint8_t *data, size_t size)
{
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
		perror("fuzz_pipeline: writing the memfd");
		abort();
	}
}

/* Load the memfd's pipeline once, with the `fail_at`-th allocation and all
 * later ones failing (0: none), and check how it ended. */
static void load(uint64_t fail_at)
{
	static const char *const sets[] = {"src=in.gpkg", "dist=10", NULL};
	struct pipeline_load_opts o = {.sets = sets, .skip_inputs = true};
	struct mem_account acct;
	struct arena *a;
	struct pipeline *pl;

	/* A limit like a run's: an input that asks for more memory must be
	 * refused with 75, not take the fuzzer down. */
	mem_account_init(&acct, "fuzz", NULL, (uint64_t)256 << 20);
	a = arena_create(&acct, 0);
	mem_fail_after(fail_at);
	if (a == NULL)
		abort();
	pl = pipeline_load(a, &acct, path, &o);
	if (pl == NULL) {
		int code = gp_err_code();

		if ((code != GP_EX_CONFIG && code != GP_EX_TEMPFAIL) || *gp_err_msg() == '\0') {
			fprintf(stderr, "fuzz_pipeline: refused with code %d and message '%s'%s\n",
			        code, gp_err_msg(), fail_at ? " (allocations failing)" : "");
			abort();
		}
	} else if (pl->nsteps < 2 || pl->steps == NULL) {
		fprintf(stderr, "fuzz_pipeline: accepted with %zu steps\n", pl->nsteps);
		abort();
	}
	gp_err_clear();
	arena_destroy(a);
	if (acct.bytes.cur != 0) {
		fprintf(stderr, "fuzz_pipeline: %lld bytes still counted after arena_destroy%s\n",
		        (long long)acct.bytes.cur, fail_at ? " (allocations failing)" : "");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t made, h = 14695981039346656037u;

	put(data, size);
	load(0);
	/* Again with one of the allocations it made failing, and every later
	 * one: the failure must be as clean as a refusal (SQLite's
	 * test_malloc, one N per input, chosen by the input). */
	made = mem_fail_after(0);
	if (made == 0)
		return 0;
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211u;
	load(1 + h % made);
	mem_fail_after(0);
	return 0;
}
