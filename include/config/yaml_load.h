/*
 * yaml_load.h - YAML text to a tree of positioned nodes, safely.
 *
 * The loader uses libyaml's event parser and builds a tree in an arena.
 * Before it returns a tree it has rejected, with `file:line:col: message`,
 * the source line and a caret (exit code 78):
 *   - syntax errors (libyaml's problem and its mark),
 *   - duplicate keys in a mapping,
 *   - nesting deeper than YAML_MAX_DEPTH (counted on the event stream, since
 *     libyaml 0.2.5 has no limit of its own),
 *   - aliases to unknown anchors, alias cycles (an alias to a collection
 *     that is still open), and alias bombs (the tree, with aliases expanded,
 *     would have more than YAML_MAX_NODES nodes),
 *   - more than one document, non-scalar mapping keys, tags other than the
 *     standard ones.
 * An alias is resolved by pointing at the anchored node (no copy).
 */
#ifndef GISPIPE_YAML_LOAD_H
#define GISPIPE_YAML_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

#define YAML_MAX_DEPTH 64
#define YAML_MAX_NODES 100000

enum ynode_type { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };

struct ynode {
	enum ynode_type type;
	int line;              /* 1-based position of the node's first character */
	int col;               /* 1-based, in characters */
	bool quoted;           /* scalar written in quotes or as a block scalar */
	const char *str;       /* scalar text, NUL-terminated */
	size_t len;            /* scalar length in bytes */
	size_t n;              /* items of a sequence, pairs of a mapping */
	struct ynode **items;  /* sequence items, or mapping values */
	struct ynode **keys;   /* mapping keys (scalars), NULL for a sequence */
};

struct ydoc {
	const char *path;      /* as given, for messages */
	const char *text;      /* whole source, NUL-terminated, for caret lines */
	size_t text_len;
	struct ynode *root;    /* NULL for an empty document */
};

/* Read and parse `path`.  Everything is allocated in `a` (the document lives
 * as long as the arena).  Returns NULL with the error set: 66 when the file
 * cannot be read, 78 for any of the faults listed above. */
struct ydoc *ydoc_load_file(struct arena *a, const char *path);

/* Same from memory; `name` is used in messages.  `text` is copied. */
struct ydoc *ydoc_load_string(struct arena *a, const char *name, const char *text, size_t len);

/* Fail with exit code 78 and the message
 *     path:line:col: <formatted message>
 *       <source line>
 *       <spaces>^
 * pointing at `at` (NULL: the start of the document).  Returns -1. */
int ydoc_fail(const struct ydoc *doc, const struct ynode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Same at an explicit position (1-based line and column). */
int ydoc_fail_at(const struct ydoc *doc, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Value of `key` in a mapping, NULL if absent or `map` is not a mapping. */
const struct ynode *ynode_get(const struct ynode *map, const char *key);

/* Scalar conversions; each returns 0, or -1 without touching the error slot
 * when the text is not of that type.  Booleans: true/false/yes/no/on/off in
 * any case.  Integers: decimal with optional sign, overflow is -1.  Doubles:
 * strtod syntax, finite only. */
int yscalar_bool(const struct ynode *n, bool *out);
int yscalar_i64(const struct ynode *n, int64_t *out);
int yscalar_double(const struct ynode *n, double *out);

/* "256MiB", "1.5GiB", "64M", "1024", "64 KiB": binary units K/KiB, M/MiB,
 * G/GiB, T/TiB (case-insensitive, optional space, optional B; "64MB" is 64
 * MiB), plain bytes without a unit.  Returns 0, or -1 for anything else, a
 * fraction of a byte ("0.5", "1.3KiB") or an overflow. */
int parse_size(const char *s, uint64_t *out);

/* The candidate closest to `word` by edit distance, if close enough to be a
 * plausible typo (distance <= max(1, strlen(word) / 3)), else NULL.
 * `candidates` ends with NULL. */
const char *suggest_word(const char *word, const char *const *candidates);

#endif
