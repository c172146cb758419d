/* stages.c - gispipe stages [STEP]: the catalogue, from the option tables. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/error.h"
#include "config/opts.h"
#include "core/step.h"

static const char *const role_names[] = {"source", "transform", "sink"};

static void print_opts(const struct opt_desc *t, int indent)
{
	for (; t->name; t++) {
		char type[128], range[96];

		/* numbers with their range: "integer 1..1000" */
		snprintf(type, sizeof type, "%s%s%s",
		         t->type == OPT_ENUM ? "choice" : opt_type_name(t->type),
		         *opt_range_text(t, range, sizeof range) ? " " : "", range);
		printf("%*s%-18s %-10s  %s", indent, "", t->name, type, t->doc);
		if (t->flags & OPT_REQUIRED)
			printf(" (required)");
		else if (t->def)
			printf(" [default: %s]", t->def);
		if (t->type == OPT_ENUM) {
			printf("; one of:");
			for (const char *const *c = t->choices; *c; c++)
				printf(" %s", *c);
		}
		printf("\n");
		if (t->type == OPT_SUB)
			print_opts(t->sub, indent + 4);
	}
}

/* A vector and a raster step of one name and one option table are one
 * step to the user (read): shown once, as both. */
static bool one_step(const struct step_desc *v, const struct step_desc *r)
{
	return strcmp(v->name, r->name) == 0 && v->opts == r->opts;
}

static const char *kind_label(const struct step_desc *d)
{
	if (step_kind(d) == STEP_RASTER)
		return "raster";
	for (const struct step_desc *const *c = step_catalogue(STEP_RASTER); *c; c++)
		if (one_step(d, *c))
			return "vector and raster";
	return "vector";
}

static void list_kind(unsigned kind, const char *title)
{
	printf("%s:\n", title);
	for (const struct step_desc *const *c = step_catalogue(kind); *c; c++)
		printf("  %-12s %-9s  %s\n", (*c)->name, role_names[(*c)->role], (*c)->summary);
}

/* Shown already as the vector step it is one with. */
static bool shown_as_vector(const struct step_desc *d)
{
	if (step_kind(d) != STEP_RASTER)
		return false;
	for (const struct step_desc *const *c = step_catalogue(STEP_VECTOR); *c; c++)
		if (one_step(*c, d))
			return true;
	return false;
}

int cmd_stages(int argc, char **argv)
{
	int shown = 0;

	if (argc < 2) {
		list_kind(STEP_VECTOR, "vector steps (a pipeline whose read opens vector data)");
		printf("\n");
		list_kind(STEP_RASTER, "raster steps (a pipeline whose read opens a raster)");
		printf("\ngispipe stages STEP for a step's options\n");
		return 0;
	}
	if (argc > 2) {
		gp_fail(GP_EX_USAGE, "stages: one step at a time");
		return GP_EX_USAGE;
	}
	if (step_lookup_any(argv[1]) == NULL) {
		const char *hint = step_suggest(argv[1]);

		gp_fail(GP_EX_USAGE, "unknown step '%s'%s%s%s", argv[1], hint ? " (did you mean '" : "",
		        hint ? hint : "", hint ? "'?)" : "");
		return GP_EX_USAGE;
	}
	/* A name may have a vector and a raster step (reproject, clip, write):
	 * show each. */
	for (unsigned kind = STEP_VECTOR; kind <= STEP_RASTER; kind++)
		for (const struct step_desc *const *c = step_catalogue(kind); *c; c++) {
			const struct step_desc *d = *c;

			if (strcmp(d->name, argv[1]) != 0 || shown_as_vector(d))
				continue;
			if (shown++)
				printf("\n");
			printf("%s (%s, %s): %s\n\noptions:\n", d->name, kind_label(d), role_names[d->role],
			       d->summary);
			print_opts(d->opts, 2);
			if (d->details)
				printf("\n%s\n", d->details);
		}
	return 0;
}
