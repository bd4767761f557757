/* The one hash table of quire's in-memory indexes: open addressing with linear probing over a
 * power-of-two number of 4-byte slots, each holding an element's number in the caller's
 * array plus one (0: empty), at most half full. The caller keeps the keys in its elements and
 * compares them while probing:
 *
 *	uint32_t *s = quire__table_first(&t, quire__hash_str(id));
 *	while (*s && strcmp(rows[*s - 1].id, id))
 *		s = quire__table_next(&t, s);
 *	// *s: the element's number + 1, or the empty slot where it belongs
 *
 * A slot per element rather than a copy of each key keeps a 100,000-entry index near 1 MB,
 * and the probe loop inlines at each use (no comparison through a function pointer). */
#ifndef QUIRE_TABLE_H
#define QUIRE_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct quire__table {
	uint32_t *slots;
	size_t cap; /* 0 until sized */
};

/* Empties t and sizes it for n elements (at least min slots, min a power of two); the caller
 * then adds its elements again. Large tables come from quire__xcalloc_big. */
void quire__table_size(struct quire__table *t, size_t n, size_t min);

/* Whether n elements would fill t past half. */
static inline int quire__table_full(const struct quire__table *t, size_t n)
{
	return 2 * n > t->cap;
}

void quire__table_release(struct quire__table *t);

/* The first slot to probe for hash h (t must be sized). */
static inline uint32_t *quire__table_first(const struct quire__table *t, uint64_t h)
{
	return &t->slots[(size_t)h & (t->cap - 1)];
}

/* The slot after s, wrapping around. */
static inline uint32_t *quire__table_next(const struct quire__table *t, uint32_t *s)
{
	return ++s == t->slots + t->cap ? t->slots : s;
}

#endif
