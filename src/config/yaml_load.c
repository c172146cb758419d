/*
 * yaml_load.c - YAML text to a tree of positioned nodes, with limits.
 *
 * The tree is built from libyaml's events.  Every check is made as the event
 * arrives, so a hostile document is rejected before it costs anything:
 *   - depth: a stack of at most YAML_MAX_DEPTH open collections;
 *   - size: a running count of nodes with every alias counted as the size of
 *     its target's subtree (known once the target has ended), so an alias
 *     bomb fails at the alias that crosses YAML_MAX_NODES;
 *   - duplicate keys: one hash table keyed by (mapping serial, key).
 * Nodes, scalar text and the source text go to the caller's arena (given
 * back with arena_rewind() when loading fails); the stacks and tables go to
 * a scratch arena on the same account, destroyed before returning.
 */
#include "config/yaml_load.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"

#define YAML_MAX_FILE ((size_t)16 * 1024 * 1024)
#define READ_CHUNK (64 * 1024)
#define SCRATCH_CHUNK (16 * 1024)
#define TAG_PREFIX "tag:yaml.org,2002:"

/* Source lines longer than SHOW_MAX bytes are shown as a window that starts
 * at most SHOW_BEFORE bytes before the caret, so the message fits the error
 * slot and the caret is never cut off. */
#define SHOW_MAX 160
#define SHOW_BEFORE 80
#define SHOW_KEY 60

/* ---- positions and messages ------------------------------------------- */

static bool is_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

/* Bytes of the character at p: a valid UTF-8 sequence, or 1 for a byte that
 * does not start one (*ok set to false). */
static size_t char_len(const char *p, const char *end, bool *ok)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t left = (size_t)(end - p), n;
	uint32_t cp;

	*ok = true;
	if (u[0] < 0x80)
		return 1;
	if (u[0] >= 0xC2 && u[0] <= 0xDF) {
		n = 2;
		cp = u[0] & 0x1F;
	} else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
		n = 3;
		cp = u[0] & 0x0F;
	} else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
		n = 4;
		cp = u[0] & 0x07;
	} else {
		goto bad;
	}
	if (left < n)
		goto bad;
	for (size_t i = 1; i < n; i++) {
		if (!is_cont(u[i]))
			goto bad;
		cp = cp << 6 | (u[i] & 0x3F);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		goto bad;
	return n;
bad:
	*ok = false;
	return 1;
}

/* Bytes of the line break at p, 0 if there is none.  The same breaks as
 * libyaml's: LF, CR LF, CR, and in UTF-8 NEL, LS and PS. */
static size_t break_len(const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t left = (size_t)(end - p);

	if (u[0] == '\n')
		return 1;
	if (u[0] == '\r')
		return left > 1 && u[1] == '\n' ? 2 : 1;
	if (u[0] == 0xC2 && left > 1 && u[1] == 0x85)
		return 2;
	if (u[0] == 0xE2 && left > 2 && u[1] == 0x80 && (u[2] == 0xA8 || u[2] == 0xA9))
		return 3;
	return 0;
}

/* The text after a UTF-8 byte order mark, which libyaml does not count. */
static const char *text_start(const struct ydoc *doc)
{
	if (doc->text_len >= 3 && memcmp(doc->text, "\xEF\xBB\xBF", 3) == 0)
		return doc->text + 3;
	return doc->text;
}

/* [*start, *end) is line `line` (1-based) without its break; empty past the
 * end of the text. */
static void find_line(const struct ydoc *doc, int line, const char **start, const char **end)
{
	const char *e = doc->text + doc->text_len;
	const char *p = text_start(doc);
	int at = 1;

	while (at < line && p < e) {
		size_t b = break_len(p, e);

		if (b != 0) {
			p += b;
			at++;
		} else {
			p++;
		}
	}
	if (at < line)
		p = e;
	*start = p;
	while (p < e && break_len(p, e) == 0)
		p++;
	*end = p;
}

/* 1-based line and column of byte `off` (libyaml's reader errors give only
 * an offset into the raw input). */
static void offset_pos(const struct ydoc *doc, size_t off, int *line, int *col)
{
	const char *end = doc->text + doc->text_len;
	const char *e = doc->text + (off < doc->text_len ? off : doc->text_len);
	const char *p = text_start(doc);
	long l = 1, c = 1;
	bool ok;

	while (p < e) {
		size_t b = break_len(p, end);

		if (b != 0) {
			p += b;
			l++;
			c = 1;
		} else {
			p += char_len(p, end, &ok);
			c++;
		}
	}
	*line = l > INT_MAX ? INT_MAX : (int)l;
	*col = c > INT_MAX ? INT_MAX : (int)c;
}

static int mark_line(yaml_mark_t m)
{
	return m.line >= (size_t)INT_MAX ? INT_MAX : (int)m.line + 1;
}

static int mark_col(yaml_mark_t m)
{
	return m.column >= (size_t)INT_MAX ? INT_MAX : (int)m.column + 1;
}

static int vfail_at(const struct ydoc *doc, int line, int col, const char *fmt, va_list ap)
{
	char msg[2048];
	char src[SHOW_MAX + 8];
	char caret[SHOW_MAX + 8];
	const char *ls = "", *le = ls, *ws, *we, *cb, *p;
	size_t ns = 0, nc = 0, n;
	bool ok;

	if (line < 1)
		line = 1;
	if (col < 1)
		col = 1;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (doc->text != NULL)
		find_line(doc, line, &ls, &le);

	/* cb: the byte of column `col`, or the end of the line */
	cb = ls;
	for (int c = 1; c < col && cb < le; c++)
		cb += char_len(cb, le, &ok);
	ws = ls;
	we = le;
	if (le - ls > SHOW_MAX) {
		while (cb - ws > SHOW_BEFORE)
			ws += char_len(ws, le, &ok);
		for (we = ws; we < le; we += n) {
			n = char_len(we, le, &ok);
			if ((size_t)(we - ws) + n > SHOW_MAX)
				break;
		}
	}
	for (p = ws; p < we; p += n) {
		unsigned char c = (unsigned char)*p;

		n = char_len(p, we, &ok);
		if (!ok || (c < 0x20 && c != '\t') || c == 0x7F) {
			src[ns++] = '?';
		} else {
			memcpy(src + ns, p, n);
			ns += n;
		}
	}
	src[ns] = '\0';
	if (ws > ls) {
		memcpy(caret, "   ", 3);
		nc = 3;
	}
	for (p = ws; p < cb; p += char_len(p, cb, &ok))
		caret[nc++] = *p == '\t' ? '\t' : ' ';
	caret[nc] = '\0';
	return gp_fail(GP_EX_CONFIG, "%s:%d:%d: %s\n  %s%s%s\n  %s^",
	               doc->path ? doc->path : "<string>", line, col, msg,
	               ws > ls ? "..." : "", src, we < le ? "..." : "", caret);
}

int ydoc_fail_at(const struct ydoc *doc, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_at(doc, line, col, fmt, ap);
	va_end(ap);
	return -1;
}

int ydoc_fail(const struct ydoc *doc, const struct ynode *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_at(doc, at ? at->line : 1, at ? at->col : 1, fmt, ap);
	va_end(ap);
	return -1;
}

/* A key or name fit for a message: at most SHOW_KEY bytes, cut at a
 * character boundary, control characters replaced. */
static const char *shown(char *buf, const char *s, size_t len)
{
	size_t n = len, i;

	if (n > SHOW_KEY) {
		n = SHOW_KEY;
		while (n > 0 && is_cont((unsigned char)s[n]))
			n--;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = c < 0x20 || c == 0x7F ? '?' : (char)c;
	}
	if (n < len) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* ---- the loader ------------------------------------------------------- */

/* n bytes of s and a NUL; unlike arena_strndup() this keeps NUL bytes (a
 * document or a "\0" escape may contain them). */
static char *copy_bytes(struct arena *a, const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX) {
		gp_fail(GP_EX_TEMPFAIL, "stage '%s': string too long", arena_account(a)->name);
		return NULL;
	}
	p = arena_alloc(a, n + 1, 1);
	if (p == NULL)
		return NULL;
	if (n != 0)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Open-addressing table of strings qualified by a serial: mapping keys use
 * the serial of their mapping, anchors use 0. */
struct hent {
	const char *s; /* NULL: empty slot */
	size_t len;
	uint64_t hash;
	uint64_t serial;
	void *val;
	int line;
};

struct table {
	struct hent *e;
	size_t cap; /* 0 or a power of two */
	size_t n;
};

struct anchor {
	struct ynode *node;
	uint64_t size; /* nodes of the subtree, aliases expanded */
	bool open;     /* collection not yet ended */
};

struct frame {
	struct ynode *node;
	size_t base;           /* its first child in loader.pend */
	uint64_t serial;
	struct anchor *anchor; /* defined on this collection, or NULL */
	uint64_t size;         /* nodes so far, itself included, aliases expanded */
};

struct loader {
	struct arena *a;   /* the tree */
	struct arena *tmp; /* everything else, destroyed at the end */
	struct ydoc *doc;
	struct frame frames[YAML_MAX_DEPTH];
	int depth;
	struct ynode **pend; /* children of every open collection, innermost last */
	size_t npend;
	size_t cappend;
	struct table keys;
	struct table anchors;
	uint64_t serial;
	uint64_t total; /* nodes so far, aliases expanded */
	int ndocs;
};

static uint64_t hash_str(const char *s, size_t len, uint64_t serial)
{
	uint64_t h = 0xcbf29ce484222325u ^ (serial * 0x9e3779b97f4a7c15u);

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3u;
	}
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9u;
	h ^= h >> 29;
	return h;
}

/* The entry for (serial, s) or the empty slot where it would go.  The table
 * must have a free slot. */
static struct hent *table_find(const struct table *t, uint64_t hash, uint64_t serial, const char *s,
                               size_t len)
{
	size_t mask = t->cap - 1;

	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		struct hent *e = &t->e[i];

		if (e->s == NULL)
			return e;
		if (e->hash == hash && e->serial == serial && e->len == len &&
		    memcmp(e->s, s, len) == 0)
			return e;
	}
}

/* Make room for one more entry (load factor at most 1/2). */
static int table_reserve(struct loader *L, struct table *t)
{
	struct table nt;

	if ((t->n + 1) * 2 <= t->cap)
		return 0;
	nt.cap = t->cap ? t->cap * 2 : 64;
	nt.n = t->n;
	nt.e = arena_calloc(L->tmp, nt.cap, sizeof *nt.e);
	if (nt.e == NULL)
		return -1;
	for (size_t i = 0; i < t->cap; i++) {
		const struct hent *old = &t->e[i];

		if (old->s != NULL)
			*table_find(&nt, old->hash, old->serial, old->s, old->len) = *old;
	}
	*t = nt;
	return 0;
}

static int fail_mark(struct loader *L, yaml_mark_t m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_mark(struct loader *L, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_at(L->doc, mark_line(m), mark_col(m), fmt, ap);
	va_end(ap);
	return -1;
}

static int syntax_error(struct loader *L, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "unknown error";
	yaml_mark_t m = p->problem_mark;
	int line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return gp_fail(GP_EX_TEMPFAIL, "%s: out of memory in the YAML parser",
		               L->doc->path);
	case YAML_READER_ERROR:
		offset_pos(L->doc, p->problem_offset, &line, &col);
		return ydoc_fail_at(L->doc, line, col, "syntax error: %s", problem);
	default:
		if (m.index == 0 && m.line == 0 && m.column == 0)
			m = p->context_mark;
		if (p->context != NULL)
			return fail_mark(L, m, "syntax error: %s (%s at line %d)", problem,
			                 p->context, mark_line(p->context_mark));
		return fail_mark(L, m, "syntax error: %s", problem);
	}
}

/* Accept no tag or a standard one; *is_str tells a `!!str`. */
static int check_tag(struct loader *L, const yaml_char_t *tag, yaml_mark_t m, bool *is_str)
{
	static const char *const ok[] = {"str", "int", "float", "bool", "null", "seq", "map"};
	const char *t = (const char *)tag;
	size_t plen = strlen(TAG_PREFIX);

	*is_str = false;
	if (t == NULL)
		return 0;
	if (strncmp(t, TAG_PREFIX, plen) != 0)
		return fail_mark(L, m, "unsupported tag '%.100s'", t);
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		if (strcmp(t + plen, ok[i]) == 0) {
			*is_str = i == 0;
			return 0;
		}
	}
	return fail_mark(L, m, "unsupported tag '!!%.100s'", t + plen);
}

/* Count `add` more nodes (aliases expanded) against YAML_MAX_NODES. */
static int count_nodes(struct loader *L, uint64_t add, yaml_mark_t m, bool alias)
{
	if (add > YAML_MAX_NODES - L->total) {
		if (alias)
			return fail_mark(L, m, "alias expansion exceeds %d nodes (alias bomb?)",
			                 YAML_MAX_NODES);
		return fail_mark(L, m, "document has more than %d nodes", YAML_MAX_NODES);
	}
	L->total += add;
	return 0;
}

static struct ynode *new_node(struct loader *L, enum ynode_type type, yaml_mark_t m)
{
	struct ynode *n = arena_alloc(L->a, sizeof *n, alignof(struct ynode));

	if (n != NULL)
		*n = (struct ynode){.type = type, .line = mark_line(m), .col = mark_col(m)};
	return n;
}

static int push(struct loader *L, struct ynode *n)
{
	if (L->npend == L->cappend) {
		size_t cap = L->cappend ? L->cappend * 2 : 256;
		struct ynode **v = arena_realloc(L->tmp, L->pend, L->cappend * sizeof *v,
		                                 cap * sizeof *v);

		if (v == NULL)
			return -1;
		L->pend = v;
		L->cappend = cap;
	}
	L->pend[L->npend++] = n;
	return 0;
}

static int check_duplicate(struct loader *L, const struct frame *f, const struct ynode *key,
                           yaml_mark_t m)
{
	struct hent *e;
	uint64_t h;
	char buf[SHOW_KEY + 4];

	if (table_reserve(L, &L->keys) < 0)
		return -1;
	h = hash_str(key->str, key->len, f->serial);
	e = table_find(&L->keys, h, f->serial, key->str, key->len);
	if (e->s != NULL)
		return fail_mark(L, m, "duplicate key '%s' (first at line %d)",
		                 shown(buf, key->str, key->len), e->line);
	*e = (struct hent){.s = key->str, .len = key->len, .hash = h, .serial = f->serial,
	                   .line = mark_line(m)};
	L->keys.n++;
	return 0;
}

/* Attach `n` (starting at `m` in the text) to the open collection, or make
 * it the root. */
static int add_child(struct loader *L, struct ynode *n, yaml_mark_t m)
{
	const struct frame *f;

	if (L->depth == 0) {
		L->doc->root = n;
		return 0;
	}
	f = &L->frames[L->depth - 1];
	if (f->node->type == YNODE_MAP && (L->npend - f->base) % 2 == 0) {
		if (n->type != YNODE_SCALAR)
			return fail_mark(L, m, "mapping keys must be scalars");
		if (check_duplicate(L, f, n, m) < 0)
			return -1;
	}
	return push(L, n);
}

static struct anchor *define_anchor(struct loader *L, const yaml_char_t *name, struct ynode *n,
                                    uint64_t size, bool open)
{
	size_t len = strlen((const char *)name);
	struct anchor *an;
	struct hent *e;
	uint64_t h;

	if (table_reserve(L, &L->anchors) < 0)
		return NULL;
	an = arena_alloc(L->tmp, sizeof *an, alignof(struct anchor));
	if (an == NULL)
		return NULL;
	*an = (struct anchor){.node = n, .size = size, .open = open};
	h = hash_str((const char *)name, len, 0);
	e = table_find(&L->anchors, h, 0, (const char *)name, len);
	if (e->s == NULL) {
		char *copy = copy_bytes(L->tmp, (const char *)name, len);

		if (copy == NULL)
			return NULL;
		*e = (struct hent){.s = copy, .len = len, .hash = h};
		L->anchors.n++;
	}
	e->val = an; /* a redefinition hides the earlier one */
	return an;
}

static int on_scalar(struct loader *L, const yaml_event_t *ev)
{
	yaml_mark_t m = ev->start_mark;
	struct ynode *n;
	bool is_str;

	if (check_tag(L, ev->data.scalar.tag, m, &is_str) < 0 || count_nodes(L, 1, m, false) < 0)
		return -1;
	n = new_node(L, YNODE_SCALAR, m);
	if (n == NULL)
		return -1;
	n->str = copy_bytes(L->a, (const char *)ev->data.scalar.value, ev->data.scalar.length);
	if (n->str == NULL)
		return -1;
	n->len = ev->data.scalar.length;
	n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || is_str;
	if (add_child(L, n, m) < 0)
		return -1;
	if (L->depth > 0)
		L->frames[L->depth - 1].size++;
	if (ev->data.scalar.anchor == NULL)
		return 0;
	return define_anchor(L, ev->data.scalar.anchor, n, 1, false) ? 0 : -1;
}

static int on_alias(struct loader *L, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	yaml_mark_t m = ev->start_mark;
	size_t len = strlen(name);
	const struct anchor *an = NULL;
	char buf[SHOW_KEY + 4];

	if (L->anchors.cap != 0) {
		const struct hent *e =
			table_find(&L->anchors, hash_str(name, len, 0), 0, name, len);

		an = e->val;
	}
	if (an == NULL)
		return fail_mark(L, m, "unknown anchor '*%s'", shown(buf, name, len));
	if (an->open)
		return fail_mark(L, m, "alias '*%s' refers to an enclosing node (cycle)",
		                 shown(buf, name, len));
	if (count_nodes(L, an->size, m, true) < 0 || add_child(L, an->node, m) < 0)
		return -1;
	if (L->depth > 0)
		L->frames[L->depth - 1].size += an->size;
	return 0;
}

static int on_start(struct loader *L, const yaml_event_t *ev)
{
	bool map = ev->type == YAML_MAPPING_START_EVENT;
	const yaml_char_t *tag = map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
	const yaml_char_t *anchor =
		map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	yaml_mark_t m = ev->start_mark;
	struct frame *f;
	struct ynode *n;
	bool is_str;

	if (L->depth >= YAML_MAX_DEPTH)
		return fail_mark(L, m, "nesting deeper than %d levels", YAML_MAX_DEPTH);
	if (check_tag(L, tag, m, &is_str) < 0 || count_nodes(L, 1, m, false) < 0)
		return -1;
	n = new_node(L, map ? YNODE_MAP : YNODE_SEQ, m);
	if (n == NULL || add_child(L, n, m) < 0)
		return -1;
	f = &L->frames[L->depth++];
	*f = (struct frame){.node = n, .base = L->npend, .serial = ++L->serial, .size = 1};
	if (anchor != NULL) {
		f->anchor = define_anchor(L, anchor, n, 0, true);
		if (f->anchor == NULL)
			return -1;
	}
	return 0;
}

static int on_end(struct loader *L)
{
	struct frame *f = &L->frames[--L->depth];
	struct ynode *n = f->node;
	size_t cnt = L->npend - f->base;
	/* pend is still NULL after a root `[]`: no arithmetic on it then. */
	struct ynode **kids = cnt ? L->pend + f->base : NULL;

	n->n = n->type == YNODE_MAP ? cnt / 2 : cnt;
	n->items = arena_alloc(L->a, (n->n ? n->n : 1) * sizeof *n->items, alignof(struct ynode *));
	if (n->items == NULL)
		return -1;
	if (n->type == YNODE_MAP) {
		n->keys = arena_alloc(L->a, (n->n ? n->n : 1) * sizeof *n->keys,
		                      alignof(struct ynode *));
		if (n->keys == NULL)
			return -1;
		for (size_t i = 0; i < n->n; i++) {
			n->keys[i] = kids[2 * i];
			n->items[i] = kids[2 * i + 1];
		}
	} else if (cnt != 0) {
		memcpy(n->items, kids, cnt * sizeof *kids);
	}
	L->npend = f->base;
	if (f->anchor != NULL) {
		f->anchor->open = false;
		f->anchor->size = f->size;
	}
	if (L->depth > 0)
		L->frames[L->depth - 1].size += f->size;
	return 0;
}

static int on_event(struct loader *L, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (L->ndocs++ > 0)
			return fail_mark(L, ev->start_mark, "only one YAML document is allowed");
		return 0;
	case YAML_SCALAR_EVENT:
		return on_scalar(L, ev);
	case YAML_ALIAS_EVENT:
		return on_alias(L, ev);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return on_start(L, ev);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return L->depth > 0 ? on_end(L) : 0;
	default:
		return 0;
	}
}

/* Parse doc->text into doc->root. */
static int parse_doc(struct arena *a, struct ydoc *doc)
{
	struct loader L = {.a = a, .doc = doc};
	yaml_parser_t parser;
	int rc = -1;

	L.tmp = arena_create(arena_account(a), SCRATCH_CHUNK);
	if (L.tmp == NULL)
		return -1;
	if (!yaml_parser_initialize(&parser)) {
		gp_fail(GP_EX_TEMPFAIL, "%s: out of memory in the YAML parser", doc->path);
		arena_destroy(L.tmp);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)doc->text, doc->text_len);
	for (;;) {
		yaml_event_t ev;
		yaml_event_type_t type;
		int r;

		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(&L, &parser);
			break;
		}
		type = ev.type;
		r = on_event(&L, &ev);
		yaml_event_delete(&ev);
		if (r < 0)
			break;
		if (type == YAML_STREAM_END_EVENT || type == YAML_NO_EVENT) {
			rc = 0;
			break;
		}
	}
	yaml_parser_delete(&parser);
	arena_destroy(L.tmp);
	/* A document with no content (`---` alone) is an empty plain scalar. */
	if (rc == 0 && doc->root != NULL && doc->root->type == YNODE_SCALAR && !doc->root->quoted &&
	    doc->root->len == 0)
		doc->root = NULL;
	return rc;
}

static struct ydoc *new_doc(struct arena *a, const char *name)
{
	struct ydoc *doc = arena_alloc(a, sizeof *doc, alignof(struct ydoc));

	if (doc == NULL)
		return NULL;
	*doc = (struct ydoc){.text = ""};
	doc->path = arena_strdup(a, name ? name : "<string>");
	return doc->path ? doc : NULL;
}

struct ydoc *ydoc_load_string(struct arena *a, const char *name, const char *text, size_t len)
{
	struct arena_mark mark = arena_mark(a);
	struct ydoc *doc = new_doc(a, name);

	if (doc == NULL)
		goto fail;
	doc->text = copy_bytes(a, text, len);
	if (doc->text == NULL)
		goto fail;
	doc->text_len = len;
	if (parse_doc(a, doc) < 0)
		goto fail;
	return doc;
fail:
	/* Keeps the error; gives back what the failed load took. */
	arena_rewind(a, mark);
	return NULL;
}

/* Read all of fd into *buf (NUL-terminated) in `a`. */
static int read_all(struct arena *a, int fd, const struct stat *st, const char *path, char **buf,
                    size_t *len)
{
	size_t cap = READ_CHUNK, n = 0;
	char probe[4096];
	char *p;

	if (S_ISREG(st->st_mode) && st->st_size > 0) {
		if ((uint64_t)st->st_size > YAML_MAX_FILE)
			goto too_large;
		cap = (size_t)st->st_size + 1;
	}
	p = arena_alloc(a, cap, 1);
	if (p == NULL)
		return -1;
	for (;;) {
		bool full = n == cap - 1;
		ssize_t r = full ? read(fd, probe, sizeof probe) : read(fd, p + n, cap - 1 - n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return gp_fail(GP_EX_NOINPUT, "cannot read '%s': %s", path,
			               strerror(errno));
		}
		if (r == 0)
			break;
		if ((size_t)r > YAML_MAX_FILE - n)
			goto too_large;
		if (full) {
			size_t ncap = cap * 2 > YAML_MAX_FILE + 1 ? YAML_MAX_FILE + 1 : cap * 2;
			char *q;

			if (ncap < n + (size_t)r + 1)
				ncap = n + (size_t)r + 1;
			q = arena_realloc(a, p, cap, ncap);

			if (q == NULL)
				return -1;
			p = q;
			cap = ncap;
			memcpy(p + n, probe, (size_t)r);
		}
		n += (size_t)r;
	}
	p[n] = '\0';
	*buf = p;
	*len = n;
	return 0;
too_large:
	return gp_fail(GP_EX_CONFIG, "%s: file too large (more than %zu MiB)", path,
	               YAML_MAX_FILE / (1024 * 1024));
}

struct ydoc *ydoc_load_file(struct arena *a, const char *path)
{
	struct arena_mark mark = arena_mark(a);
	struct ydoc *doc = NULL;
	struct stat st;
	char *text;
	size_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		gp_fail(GP_EX_NOINPUT, "cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		gp_fail(GP_EX_NOINPUT, "cannot open '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		gp_fail(GP_EX_NOINPUT, "cannot open '%s': %s", path, strerror(EISDIR));
		goto fail;
	}
	doc = new_doc(a, path);
	if (doc == NULL || read_all(a, fd, &st, path, &text, &len) < 0)
		goto fail;
	close(fd);
	fd = -1;
	doc->text = text;
	doc->text_len = len;
	if (parse_doc(a, doc) < 0)
		goto fail;
	return doc;
fail:
	if (fd >= 0)
		close(fd);
	arena_rewind(a, mark);
	return NULL;
}

/* ---- accessors and conversions ---------------------------------------- */

const struct ynode *ynode_get(const struct ynode *map, const char *key)
{
	size_t len;

	if (map == NULL || key == NULL || map->type != YNODE_MAP)
		return NULL;
	len = strlen(key);
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *k = map->keys[i];

		if (k->len == len && memcmp(k->str, key, len) == 0)
			return map->items[i];
	}
	return NULL;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool same_word(const struct ynode *n, const char *word)
{
	size_t len = strlen(word);

	if (n->len != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (lower((unsigned char)n->str[i]) != word[i])
			return false;
	return true;
}

static bool is_scalar(const struct ynode *n)
{
	return n != NULL && n->type == YNODE_SCALAR && n->str != NULL;
}

int yscalar_bool(const struct ynode *n, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};

	if (!is_scalar(n))
		return -1;
	for (int i = 0; i < 3; i++) {
		if (same_word(n, yes[i])) {
			*out = true;
			return 0;
		}
		if (same_word(n, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int yscalar_i64(const struct ynode *n, int64_t *out)
{
	const char *s, *e;
	bool neg = false;
	uint64_t v = 0, lim;

	if (!is_scalar(n))
		return -1;
	s = n->str;
	e = s + n->len;
	if (s < e && (*s == '+' || *s == '-'))
		neg = *s++ == '-';
	if (s == e)
		return -1;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; s < e; s++) {
		unsigned d = (unsigned char)*s - '0';

		if (d > 9 || v > (lim - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
	return 0;
}

int yscalar_double(const struct ynode *n, double *out)
{
	char *end;
	double v;
	unsigned char c0;

	if (!is_scalar(n) || n->len == 0)
		return -1;
	c0 = (unsigned char)n->str[0];
	/* strtod would skip leading white space; the whole text must be a number */
	if (c0 == ' ' || (c0 >= '\t' && c0 <= '\r'))
		return -1;
	v = strtod(n->str, &end);
	if (end != n->str + n->len || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	uint64_t whole = 0, mult = 1, frac = 0;
	const char *fs = NULL, *fe = NULL;
	int shift = 0;

	if (s == NULL || !(*s >= '0' && *s <= '9'))
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (whole > (UINT64_MAX - d) / 10)
			return -1;
		whole = whole * 10 + d;
	}
	if (*s == '.') {
		fs = ++s;
		while (*s >= '0' && *s <= '9')
			s++;
		fe = s;
		if (fe == fs)
			return -1;
	}
	if (*s == ' ') {
		while (*s == ' ')
			s++;
		if (*s == '\0')
			return -1; /* a space, then no unit */
	}
	switch (lower((unsigned char)*s)) {
	case 'k':
		shift = 10;
		break;
	case 'm':
		shift = 20;
		break;
	case 'g':
		shift = 30;
		break;
	case 't':
		shift = 40;
		break;
	case 'b':
	case '\0':
		break;
	default:
		return -1;
	}
	if (shift != 0) {
		s++;
		if (lower((unsigned char)*s) == 'i')
			s++;
	}
	if (lower((unsigned char)*s) == 'b')
		s++;
	if (*s != '\0')
		return -1;
	mult = (uint64_t)1 << shift;
	/* 0.f1f2...fk * mult, exactly: multiply the digits by mult from the
	 * last one; what carries out of the first is the integer part, and it
	 * is the whole value only if no step leaves a remainder. */
	for (const char *p = fe; p != fs; p--) {
		uint64_t t = (uint64_t)(p[-1] - '0') * mult + frac;

		if (t % 10 != 0)
			return -1; /* a fraction of a byte */
		frac = t / 10;
	}
	if (whole > UINT64_MAX / mult || whole * mult > UINT64_MAX - frac)
		return -1;
	*out = whole * mult + frac;
	return 0;
}

#define SUGGEST_MAX 256

/* Optimal string alignment distance: insertions, deletions, substitutions
 * and swaps of two neighbouring letters each count one ("stpes" is one
 * edit from "steps"). */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t rows[3][SUGGEST_MAX + 1];
	size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t *t;

		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t best = prev[j - 1] + (a[i - 1] != b[j - 1]);

			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			cur[j] = best;
		}
		t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb];
}

const char *suggest_word(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	size_t lw, limit, best_d;

	if (word == NULL || candidates == NULL)
		return NULL;
	lw = strlen(word);
	limit = lw / 3 > 1 ? lw / 3 : 1;
	best_d = limit + 1;
	for (const char *const *c = candidates; *c != NULL; c++) {
		size_t lc = strlen(*c);
		size_t d;

		if (lc == lw && memcmp(*c, word, lw) == 0)
			return *c;
		/* the distance is at least the difference of the lengths; longer
		 * candidates are not compared (no identifier is that long) */
		if ((lc > lw ? lc - lw : lw - lc) >= best_d || lc > SUGGEST_MAX)
			continue;
		d = edit_distance(word, lw, *c, lc);
		if (d < best_d) {
			best_d = d;
			best = *c;
		}
	}
	return best;
}
