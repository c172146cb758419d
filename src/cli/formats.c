/* formats.c - gispipe formats: GDAL drivers for vector and raster
 * pipelines, and what they can do there. */
#include <stdio.h>

#include <gdal.h>

#include "cli.h"
#include "vector/drivers.h"

static void list(const char *cap, bool raster)
{
	printf("%-18s %-5s %-6s %-16s %s%s\n", "format", "read", "write", "extensions",
	       raster ? "" : "memory    ", "name");
	for (int i = 0; i < GDALGetDriverCount(); i++) {
		GDALDriverH d = GDALGetDriver(i);
		const char *ext = GDALGetMetadataItem(d, GDAL_DMD_EXTENSIONS, NULL);
		bool create = GDALGetMetadataItem(d, GDAL_DCAP_CREATE, NULL) != NULL;
		bool copy = GDALGetMetadataItem(d, GDAL_DCAP_CREATECOPY, NULL) != NULL;

		if (!GDALGetMetadataItem(d, cap, NULL))
			continue;
		/* A raster output may be written through CreateCopy (staged);
		 * vector outputs need Create. */
		printf("%-18s %-5s %-6s %-16s ", GDALGetDriverShortName(d),
		       GDALGetMetadataItem(d, GDAL_DCAP_OPEN, NULL) ? "yes" : "no",
		       create ? "yes" : raster && copy ? "copy" : "no", ext ? ext : "-");
		/* Under a memory limit a vector output must stream (drivers.h). */
		if (!raster)
			printf("%-9s ", create ? drivers_summary(GDALGetDriverShortName(d)) : "-");
		printf("%s\n", GDALGetDriverLongName(d));
	}
}

int cmd_formats(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("vector (read and write steps of vector pipelines):\n");
	list(GDAL_DCAP_VECTOR, false);
	printf("\nmemory: whether a vector output's memory stays flat (streams) or grows with the "
	       "output;\nunder a memory limit, only formats that stream are written. streams*: "
	       "grows with\nsome creation options (gispipe-pipeline(5), OUTPUT DRIVERS).\n");
	printf("\nraster (read and write steps of raster pipelines; write 'copy': through a "
	       "staged GeoTIFF):\n");
	list(GDAL_DCAP_RASTER, true);
	return 0;
}
