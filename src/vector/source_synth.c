/* source_synth.c - deterministic synthetic features (like PDAL's faux). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <ogr_api.h>
#include <ogr_srs_api.h>

#include "core/arena.h"
#include "core/step.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/shard.h"
#include "config/pipeline.h"
#include "vector/schema.h"
#include "config/yaml_load.h"
#include "vector/source.h"
#include "vector/batch.h"

struct synth_state {
	struct engine *eng;
	int64_t next;           /* index of the next feature */
	int64_t end;            /* past the last: --shard reads a slice */
	bool done;
	OGRFeatureDefnH defn;   /* per stream */
	struct layer_iter *it;
	const char *crs_wkt;
};

/* splitmix64: a small, well-mixed generator; the stream of feature i
 * depends only on (seed, i), so any slice can be generated alone. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

struct rng {
	uint64_t s;
};

static double rnd(struct rng *r)
{
	r->s = mix(r->s);
	return (double)(r->s >> 11) * (1.0 / 9007199254740992.0);
}

int source_synth_check(struct step *s, struct pipeline *pl)
{
	struct synth_conf *c = &((struct read_conf *)s->conf)->synthetic;
	OGRSpatialReferenceH srs;

	if (!c->has_geometry)
		c->geometry = SYNTH_POLYGON;
	if (!c->has_count)
		c->count = 1000;
	if (!c->has_crs)
		c->crs = "EPSG:4326";
	if (!c->has_extent) {
		c->extent[0] = -10;
		c->extent[1] = 35;
		c->extent[2] = 30;
		c->extent[3] = 60;
	}
	if (!c->has_vertices)
		c->vertices = 24;
	if (!c->has_seed)
		c->seed = 1;
	if (c->layer == NULL)
		c->layer = "synthetic";
	if (c->geometry == SYNTH_POLYGON && c->vertices < 4)
		return ydoc_fail(pl->doc, ynode_get(s->node, "synthetic"),
		                 "synthetic polygons need 'vertices' of at least 4");
	if (c->geometry == SYNTH_LINE && c->vertices < 2)
		return ydoc_fail(pl->doc, ynode_get(s->node, "synthetic"),
		                 "synthetic lines need 'vertices' of at least 2");
	if (c->vertices > 1000000)
		return ydoc_fail(pl->doc, ynode_get(s->node, "synthetic"),
		                 "synthetic 'vertices' is limited to 1000000");
	srs = OSRNewSpatialReference(NULL);
	if (OSRSetFromUserInput(srs, c->crs) != OGRERR_NONE) {
		OSRDestroySpatialReference(srs);
		return ydoc_fail(pl->doc, ynode_get(ynode_get(s->node, "synthetic"), "crs"),
		                 "unknown CRS '%s'", c->crs);
	}
	OSRDestroySpatialReference(srs);
	return 0;
}

int source_synth_open(struct stage *s, struct engine *e)
{
	struct synth_state *st = arena_calloc(s->arena, 1, sizeof *st);

	if (st == NULL)
		return -1;
	st->eng = e;
	s->state = st;
	return 0;
}

int source_synth_next_stream(struct stage *s, struct stream *out)
{
	struct synth_state *st = s->state;
	struct synth_conf *c = &((struct read_conf *)s->step->conf)->synthetic;
	static const OGRwkbGeometryType gt[] = {wkbPoint, wkbLineString, wkbPolygon};
	OGRFieldDefnH fd;

	if (st->done)
		return 0;
	st->done = true;
	engine_dataset_opened(st->eng);
	st->defn = OGR_FD_Create(c->layer);
	if (st->defn == NULL)
		return gp_fail(GP_EX_SOFTWARE, "cannot create a feature definition");
	OGR_FD_Reference(st->defn);
	if (handle_own(out->arena, &s->acct, HANDLE_OGR_FEATURE_DEFN, st->defn, NULL) == NULL) {
		st->defn = NULL; /* released by handle_own, error set */
		return -1;
	}
	OGR_FD_SetGeomType(st->defn, wkbNone);
	fd = OGR_Fld_Create("id", OFTInteger64);
	OGR_FD_AddFieldDefn(st->defn, fd);
	OGR_Fld_Destroy(fd);
	fd = OGR_Fld_Create("code", OFTInteger);
	OGR_FD_AddFieldDefn(st->defn, fd);
	OGR_Fld_Destroy(fd);
	fd = OGR_Fld_Create("name", OFTString);
	OGR_Fld_SetWidth(fd, 32);
	OGR_FD_AddFieldDefn(st->defn, fd);
	OGR_Fld_Destroy(fd);

	out->dataset_index = 0;
	out->path = "synthetic";
	out->name = "synthetic";
	out->stem = "synthetic";
	out->layer = c->layer;
	out->driver = "synthetic";
	out->schema = schema_from_defn(out->arena, st->defn);
	if (out->schema == NULL)
		return -1;
	out->schema->gtype = gt[c->geometry];
	out->srs = OSRNewSpatialReference(NULL);
	if (out->srs == NULL)
		return gp_fail(GP_EX_SOFTWARE, "step '%s': cannot make a CRS", s->step->label);
	if (handle_own(out->arena, &s->acct, HANDLE_OGR_SRS, out->srs, NULL) == NULL) {
		out->srs = NULL; /* released by handle_own, error set */
		return -1;
	}
	OSRSetFromUserInput(out->srs, c->crs);
	OSRSetAxisMappingStrategy(out->srs, OAMS_TRADITIONAL_GIS_ORDER);
	out->srs_from_source = true;
	/* Sharded: slice I of N of the indices, since any slice can be made
	 * alone (whatever the number of shards, one input is few). */
	st->next = 0;
	st->end = c->count;
	if (st->eng->opts->shard_count > 1) {
		st->next = shard_cut(c->count, st->eng->opts->shard_index, st->eng->opts->shard_count);
		st->end = shard_cut(c->count, st->eng->opts->shard_index + 1,
		                    st->eng->opts->shard_count);
	}
	out->count_hint = st->end - st->next;
	st->it = layer_iter_open(out->arena, &s->acct, out->layer);
	return st->it ? 1 : -1;
}

static void put_u32(unsigned char **p, uint32_t v)
{
	memcpy(*p, &v, 4);
	*p += 4;
}

static void put_xy(unsigned char **p, double x, double y)
{
	memcpy(*p, &x, 8);
	memcpy(*p + 8, &y, 8);
	*p += 16;
}

/* Geometry of feature i as little-endian WKB in the batch arena. */
static int make_wkb(const struct synth_conf *c, int64_t i, struct arena *a, unsigned char **wkb,
                    size_t *len)
{
	struct rng r = {mix((uint64_t)c->seed * 0x2545f4914f6cdd1dull + (uint64_t)i)};
	double w = c->extent[2] - c->extent[0], h = c->extent[3] - c->extent[1];
	double cx = c->extent[0] + rnd(&r) * w, cy = c->extent[1] + rnd(&r) * h;
	/* Sized so that features are small against the extent, like parcels. */
	double cells = sqrt((double)(c->count > 0 ? c->count : 1));
	double rad = 0.35 * (w < h ? w : h) / (cells > 1 ? cells : 1);
	size_t nv = (size_t)c->vertices;
	unsigned char *p;

	switch (c->geometry) {
	case SYNTH_POINT:
		*len = 1 + 4 + 16;
		break;
	case SYNTH_LINE:
		*len = 1 + 4 + 4 + 16 * nv;
		break;
	default:
		*len = 1 + 4 + 4 + 4 + 16 * nv;
		break;
	}
	p = *wkb = arena_alloc(a, *len, 8);
	if (p == NULL)
		return -1;
	*p++ = 1;
	if (c->geometry == SYNTH_POINT) {
		put_u32(&p, 1);
		put_xy(&p, cx, cy);
		return 0;
	}
	if (c->geometry == SYNTH_LINE) {
		double x = cx, y = cy, step = rad / 2;

		put_u32(&p, 2);
		put_u32(&p, (uint32_t)nv);
		for (size_t k = 0; k < nv; k++) {
			put_xy(&p, x, y);
			x += (rnd(&r) - 0.5) * step;
			y += (rnd(&r) - 0.5) * step;
		}
		return 0;
	}
	/* A star-shaped ring: increasing angles, random radii, always simple. */
	put_u32(&p, 3);
	put_u32(&p, 1);
	put_u32(&p, (uint32_t)nv);
	{
		size_t m = nv - 1;
		double x0 = 0, y0 = 0;

		for (size_t k = 0; k < m; k++) {
			double ang = 2 * M_PI * ((double)k + 0.8 * rnd(&r)) / (double)m;
			double rr = rad * (0.5 + 0.5 * rnd(&r));
			double x = cx + rr * cos(ang), y = cy + rr * sin(ang);

			if (k == 0) {
				x0 = x;
				y0 = y;
			}
			put_xy(&p, x, y);
		}
		put_xy(&p, x0, y0);
	}
	return 0;
}

int source_synth_read(struct stage *s, struct batch *b)
{
	struct synth_state *st = s->state;
	struct synth_conf *c = &((struct read_conf *)s->step->conf)->synthetic;
	size_t want = engine_batch_size(st->eng);
	static const char *const words[] = {"alder", "birch", "cedar", "elm", "fir", "hazel",
	                                    "larch", "maple", "oak", "pine", "rowan", "yew"};

	if (st->next >= st->end)
		return 0;
	if ((int64_t)want > st->end - st->next)
		want = (size_t)(st->end - st->next);
	b->f = arena_calloc(b->arena, want, sizeof *b->f);
	if (b->f == NULL)
		return -1;
	b->cap = want;
	for (b->n = 0; b->n < want; b->n++, st->next++) {
		struct feature *ft = &b->f[b->n];
		OGRFeatureH f = OGR_F_Create(st->defn);
		uint64_t h = mix((uint64_t)c->seed ^ ((uint64_t)st->next << 1));
		char name[32];

		if (f == NULL)
			return gp_fail(GP_EX_SOFTWARE, "cannot create a feature");
		ft->attrs = handle_own(b->arena, &s->acct, HANDLE_OGR_FEATURE, f, NULL);
		if (ft->attrs == NULL)
			return -1;
		ft->fid = st->next + 1;
		OGR_F_SetFID(f, ft->fid);
		OGR_F_SetFieldInteger64(f, 0, st->next + 1);
		OGR_F_SetFieldInteger(f, 1, (int)(h % 100));
		snprintf(name, sizeof name, "%s-%lld", words[(h >> 8) % 12], (long long)st->next + 1);
		OGR_F_SetFieldString(f, 2, name);
		if (make_wkb(c, st->next, b->arena, &ft->wkb, &ft->wkb_len) != 0)
			return -1;
	}
	return 1;
}

int source_synth_end(struct stage *s, struct stream *st)
{
	struct synth_state *ss = s->state;

	(void)st;
	if (ss->it) {
		layer_iter_close(ss->it);
		ss->it = NULL;
	}
	return 0;
}

int source_synth_close(struct stage *s, bool ok)
{
	(void)s;
	(void)ok;
	return 0;
}

void source_synth_explain(struct stage *s, struct engine *e, FILE *out)
{
	struct synth_conf *c = &((struct read_conf *)s->step->conf)->synthetic;
	static const char *const g[] = {"point", "line", "polygon"};

	(void)e;
	fprintf(out, "  input: synthetic %s x %lld, %s, extent [%g, %g, %g, %g], %lld vertices, "
	             "seed %lld\n",
	        g[c->geometry], (long long)c->count, c->crs, c->extent[0], c->extent[1],
	        c->extent[2], c->extent[3], (long long)c->vertices, (long long)c->seed);
}
