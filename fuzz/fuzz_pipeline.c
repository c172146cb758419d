/*
 * fuzz_pipeline.c - libFuzzer harness: bytes as a pipeline file.
 *
 * The input goes through pipeline_load() as `gispipe validate` reads it:
 * YAML loader, top-level sections, variables (--set, vars, ${env:...},
 * ${pipeline_dir}), every step's options and checks.  Inputs are not looked
 * at (skip_inputs), so a run does no I/O but reading the pipeline itself,
 * from a memfd.  A pipeline that is refused must be refused with exit code
 * 78 and a message; anything else is a finding (abort).
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

#include "gispipe/account.h"
#include "gispipe/arena.h"
#include "gispipe/error.h"
#include "gispipe/pipeline.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sets[] = {"src=in.gpkg", "dist=10", NULL};
	struct pipeline_load_opts o = {.sets = sets, .skip_inputs = true};
	struct mem_account acct;
	struct arena *a;
	struct pipeline *pl;

	put(data, size);
	/* A limit like a run's: an input that asks for more memory must be
	 * refused with 75, not take the fuzzer down. */
	mem_account_init(&acct, "fuzz", NULL, (uint64_t)256 << 20);
	a = arena_create(&acct, 0);
	if (a == NULL)
		abort();
	pl = pipeline_load(a, &acct, path, &o);
	if (pl == NULL) {
		int code = gp_err_code();

		if ((code != GP_EX_CONFIG && code != GP_EX_TEMPFAIL) || *gp_err_msg() == '\0') {
			fprintf(stderr, "fuzz_pipeline: refused with code %d and message '%s'\n",
			        code, gp_err_msg());
			abort();
		}
	} else if (pl->nsteps < 2 || pl->steps == NULL) {
		fprintf(stderr, "fuzz_pipeline: accepted with %zu steps\n", pl->nsteps);
		abort();
	}
	gp_err_clear();
	arena_destroy(a);
	if (acct.bytes.cur != 0) {
		fprintf(stderr, "fuzz_pipeline: %lld bytes still counted after arena_destroy\n",
		        (long long)acct.bytes.cur);
		abort();
	}
	return 0;
}
