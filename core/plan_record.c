/* A node's dependency record (canonical JSON, written directly) and its fingerprint. */
#include <stdlib.h>
#include <string.h>

#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "plan_internal.h"
#include "util.h"

/* Appends s as a JSON string exactly as jansson's compact encoder writes it (the fingerprint
 * must not depend on which of the two wrote it). */
/* Canonical JSON strings: the bytes jansson writes, so the record hashes as it always did. */
static void put_jstr(struct quire_buf *b, const char *s)
{
	quire_buf_put_jstr(b, s, strlen(s));
}

/* A digest ("sha256:" and 64 hex digits, nothing to escape) as a JSON string. */
static void put_digest(struct quire_buf *b, const char *d)
{
	if (!quire_digest_valid(d)) {
		put_jstr(b, d);
		return;
	}
	char q[QUIRE_DIGEST_STRLEN + 2];
	q[0] = '"';
	memcpy(q + 1, d, QUIRE_DIGEST_STRLEN - 1);
	q[QUIRE_DIGEST_STRLEN] = '"';
	quire_buf_add(b, q, QUIRE_DIGEST_STRLEN + 1);
}

static int cmp_ipair(const void *x, const void *y)
{
	return strcmp(((const struct quire__ipair *)x)->key, ((const struct quire__ipair *)y)->key);
}

/* The inputs node n's record names, sorted by key: each input it uses by the digest of its
 * value, but a list input whose templates read it item by item ({{Notes[p]}}) by the items
 * read, so that editing one page's note re-runs that page only. */
struct quire__ipair *quire__plan_input_pairs(const struct quire_project *p,
					     const struct quire_node *n, size_t *count)
{
	const struct quire_producer *pr = &p->bp->producers[n->producer];
	struct quire__ipair *v = NULL;
	size_t nv = 0, alloc = 0;
	for (size_t k = 0; k < pr->nuses; k++) {
		if (!pr->uses[k].is_input)
			continue;
		const struct quire_input_decl *in = &p->bp->inputs[pr->uses[k].target];
		json_t *ks = in->type == QUIRE_INPUT_LIST ? json_array() : NULL;
		if (ks && !quire_project_list_keys(p, (size_t)n->producer, in->name, n->idx, ks)) {
			const json_t *list = json_object_get(p->inputs, in->name);
			size_t i;
			json_t *x;
			json_array_foreach(ks, i, x) {
				long long at = json_integer_value(x);
				QUIRE_GROW(v, alloc, nv + 1);
				v[nv].key = v[nv].owned =
					quire__xasprintf("%s[%lld]", in->name, at);
				const json_t *item =
					at >= 0 ? json_array_get(list, (size_t)at) : NULL;
				quire_hash_json(item ? item : json_null(), &v[nv].d);
				nv++;
			}
		} else {
			QUIRE_GROW(v, alloc, nv + 1);
			v[nv].key = in->name;
			v[nv].owned = NULL;
			quire_project_input_digest(p, in->name, &v[nv].d);
			nv++;
		}
		json_decref(ks);
	}
	if (nv > 1) /* qsort(NULL, 0, ...) is undefined: a producer may use no input */
		qsort(v, nv, sizeof(*v), cmp_ipair);
	/* An item read twice ({{Notes[p]}} in the prompt and the schema) is one entry. */
	size_t u = 0;
	for (size_t i = 0; i < nv; i++) {
		if (u && !strcmp(v[u - 1].key, v[i].key)) {
			free(v[i].owned);
			continue;
		}
		v[u++] = v[i];
	}
	*count = u;
	return v;
}

void quire__plan_free_ipairs(struct quire__ipair *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].owned);
	free(v);
}

int quire__plan_record(const struct quire_plan *plan, const struct quire_project *p, size_t i,
		       const struct quire__recopt *o, struct quire_digest *fp, char **deps_out)
{
	const struct quire_node *n = &plan->nodes[i];
	const struct quire_producer *pr = &p->bp->producers[n->producer];
	const struct quire_binding *b = quire_project_binding(p, pr->role);
	for (size_t k = 0; k < n->ndeps; k++)
		if (!plan->nodes[n->deps[k]].digest[0])
			return quire_error_set(QUIRE_ERROR, "internal: %s has no output digest yet",
					       plan->nodes[n->deps[k]].id);
	const char *pd = quire_project_prompt_digest(p, (size_t)n->producer, n->idx);
	const char *sd = quire_project_file_digest(p, pr->output.schema);
	/* Canonical JSON (sorted keys, compact) of {"deps": {...}, "v": 1}, written directly:
	 * building and dumping a JSON tree per instance dominated planning. */
	struct quire_buf c = QUIRE_BUF_INIT;
	/* One allocation of about the record's size (a collector's names every upstream). */
	quire_buf_grow(&c, 512 + n->ndeps * (QUIRE_DIGEST_STRLEN + 32));
	quire_buf_puts(&c, "{\"deps\":{\"binding\":");
	put_digest(&c, b->digest.s);
	quire_buf_puts(&c, ",\"definition\":");
	put_digest(&c, pr->def_digest);
	/* Only feedback recorded with its draft has one: older records hash as they did. */
	if (n->draft && json_array_size(n->feedback)) {
		quire_buf_puts(&c, ",\"draft\":");
		put_digest(&c, n->draft);
	}
	quire_buf_puts(&c, ",\"feedback\":");
	if (json_array_size(n->feedback)) {
		char *fb = json_dumps(n->feedback, JSON_COMPACT | JSON_SORT_KEYS);
		quire_buf_puts(&c, fb);
		free(fb);
	} else {
		quire_buf_puts(&c, "[]");
	}
	if (o->fl) {
		/* Version 2: the JSON fields it reads from the upstreams fl marks. */
		quire_buf_puts(&c, ",\"fields\":{");
		for (size_t k = 0; k < o->nfields; k++) {
			if (k)
				quire_buf_putc(&c, ',');
			put_jstr(&c, o->fields[k].key);
			quire_buf_putc(&c, ':');
			if (o->fields[k].absent)
				quire_buf_puts(&c, "null");
			else
				put_digest(&c, o->fields[k].d.s);
		}
		quire_buf_putc(&c, '}');
	}
	quire_buf_puts(&c, ",\"index\":[");
	for (int d = 0; d < pr->ndims; d++) {
		if (d)
			quire_buf_putc(&c, ',');
		quire_buf_put_int(&c, n->idx[d]);
	}
	quire_buf_puts(&c, "],\"inputs\":{");
	size_t nn;
	struct quire__ipair *ins = quire__plan_input_pairs(p, n, &nn);
	for (size_t k = 0; k < nn; k++) {
		if (k)
			quire_buf_putc(&c, ',');
		put_jstr(&c, ins[k].key);
		quire_buf_putc(&c, ':');
		put_jstr(&c, ins[k].d.s);
	}
	quire__plan_free_ipairs(ins, nn);
	quire_buf_puts(&c, "},\"prompt\":");
	if (pd)
		put_digest(&c, pd);
	else
		quire_buf_puts(&c, "null");
	quire_buf_puts(&c, ",\"schema\":");
	if (sd)
		put_jstr(&c, sd);
	else
		quire_buf_puts(&c, "null");
	quire_buf_puts(&c, ",\"take\":");
	quire_buf_put_int(&c, n->take);
	quire_buf_puts(&c, ",\"upstream\":[");
	int first = 1;
	for (size_t k = 0; k < n->ndeps; k++) {
		const struct quire_node *u = &plan->nodes[n->deps[k]];
		if (o->fl && o->fl[k])
			continue;
		quire_buf_puts(&c, first ? "[" : ",[");
		first = 0;
		put_jstr(&c, u->id);
		quire_buf_putc(&c, ',');
		put_digest(&c, o->subst && o->subst[k] ? o->subst[k] : u->digest);
		quire_buf_putc(&c, ']');
	}
	quire_buf_puts(&c, o->fl ? "]},\"v\":2}" : "]},\"v\":1}");
	quire_hash_bytes(c.ptr, c.len, fp);
	if (deps_out) {
		/* The same record as text, for the manifest: what follows {"deps": up to ,"v":N}.
		 */
		static const char head[] = "{\"deps\":", tail[] = ",\"v\":1}";
		size_t len = c.len - (sizeof(head) - 1) - (sizeof(tail) - 1);
		*deps_out = quire__xmalloc(len + 1);
		memcpy(*deps_out, c.ptr + sizeof(head) - 1, len);
		(*deps_out)[len] = '\0';
	}
	quire_buf_release(&c);
	return 0;
}

int quire_plan_fingerprint(const struct quire_plan *plan, const struct quire_project *p, size_t i,
			   struct quire_digest *fp, char **deps_out)
{
	int same;
	return quire_plan_match(plan, p, i, NULL, 0, fp, deps_out, &same);
}
