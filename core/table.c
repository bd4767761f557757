/* The in-memory hash table's sizing (table.h). */
#include <stdlib.h>

#include "table.h"
#include "util.h"

void quire__table_size(struct quire__table *t, size_t n, size_t min)
{
	size_t cap = min;
	while (cap < 2 * n)
		cap *= 2;
	free(t->slots);
	t->cap = cap;
	t->slots = quire__xcalloc_big(cap, sizeof(*t->slots));
}

void quire__table_release(struct quire__table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = 0;
}
