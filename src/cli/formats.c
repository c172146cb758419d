/* formats.c - gispipe formats: GDAL vector drivers and what they can do. */
#include <stdio.h>

#include <gdal.h>

#include "cli.h"

int cmd_formats(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("%-18s %-5s %-6s %-16s %s\n", "format", "read", "write", "extensions", "name");
	for (int i = 0; i < GDALGetDriverCount(); i++) {
		GDALDriverH d = GDALGetDriver(i);
		const char *ext = GDALGetMetadataItem(d, GDAL_DMD_EXTENSIONS, NULL);

		if (!GDALGetMetadataItem(d, GDAL_DCAP_VECTOR, NULL))
			continue;
		printf("%-18s %-5s %-6s %-16s %s\n", GDALGetDriverShortName(d),
		       GDALGetMetadataItem(d, GDAL_DCAP_OPEN, NULL) ? "yes" : "no",
		       GDALGetMetadataItem(d, GDAL_DCAP_CREATE, NULL) ? "yes" : "no", ext ? ext : "-",
		       GDALGetDriverLongName(d));
	}
	return 0;
}
