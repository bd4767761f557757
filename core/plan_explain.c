/* Why an instance is dirty: its entry's record compared with what it would be made from now. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quire/blob.h"
#include "quire/error.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "quire/reason.h"
#include "json.h"
#include "plan_internal.h"
#include "util.h"

/* Reasons naming more upstream ids than this are summarised ("and N more"). */
#define MAX_UPSTREAM_REASONS 3

/* Adds a reason (from the name table: quire/reason.h) and marks the node dirty. */
void quire__plan_add_reason(struct quire_node *n, enum quire_reason_kind k, const char *subject)
{
	n->reasons = quire__xrealloc(n->reasons, (n->nreasons + 1) * sizeof(char *));
	n->reasons[n->nreasons++] = quire_reason_text(k, subject);
	n->dirty = 1;
}

void quire__plan_add_regenerate(struct quire_node *n)
{
	char take[48];
	snprintf(take, sizeof(take), "take %lld", n->take);
	quire__plan_add_reason(n, QUIRE_REASON_REGENERATE, take);
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int same(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return !strcmp(a, b);
}

/* The next JSON string token at t[*i] (after spacing): its bytes between the quotes in
 * *s, *len; 0, or -1 when there is none. */
static int next_str(const char *t, size_t n, size_t *i, const char **s, size_t *len)
{
	size_t j = *i;
	while (j < n && (t[j] == ' ' || t[j] == '\n'))
		j++;
	size_t e = j < n && t[j] == '"' ? quire_json_value_end(t, n, j) : (size_t)-1;
	if (e == (size_t)-1)
		return -1;
	*s = t + j + 1;
	*len = e - j - 2;
	*i = e;
	return 0;
}

/* Skips spacing and then expects c at t[*i]. */
static int next_char(const char *t, size_t n, size_t *i, char c)
{
	size_t j = *i;
	while (j < n && (t[j] == ' ' || t[j] == '\n'))
		j++;
	if (j >= n || t[j] != c)
		return -1;
	*i = j + 1;
	return 0;
}

/* Compares the recorded upstream list, as its JSON text ([["id", "digest"], ...]), with n's
 * upstream nodes in order, without parsing it into 20,000 JSON values for a collector of
 * 10,000: with reason 0 only checks that the ids are the same in the same order (0, else
 * -1: the caller compares the lists as sets); with reason 1 adds the reasons. */
static int upstream_in_order(const struct quire_project *p, struct quire_plan *plan,
			     struct quire_node *n, const char *t, size_t len, int reason,
			     size_t *shown, size_t *more)
{
	const struct quire_producer *pr = &p->bp->producers[n->producer];
	int twice = 0;
	for (size_t a = 0; a < pr->nuses; a++)
		for (size_t b = a + 1; b < pr->nuses; b++)
			twice |= !pr->uses[a].is_input && !pr->uses[b].is_input &&
				 pr->uses[a].target == pr->uses[b].target;
	size_t i = 0;
	if (next_char(t, len, &i, '['))
		return -1;
	for (size_t k = 0; k < n->ndeps; k++) {
		const struct quire_node *u = &plan->nodes[n->deps[k]];
		const char *id, *dg;
		size_t idl, dgl;
		if ((k && next_char(t, len, &i, ',')) || next_char(t, len, &i, '[') ||
		    next_str(t, len, &i, &id, &idl) || next_char(t, len, &i, ',') ||
		    next_str(t, len, &i, &dg, &dgl) || next_char(t, len, &i, ']'))
			return -1;
		/* Ids need no escapes (quire_id_valid), so their JSON text is the id. */
		if (idl != strlen(u->id) || memcmp(id, u->id, idl))
			return -1;
		int changed = u->dirty || dgl != strlen(u->digest) || memcmp(dg, u->digest, dgl);
		if (!reason || !changed)
			continue;
		/* An upstream used twice is one upstream (only two uses of one producer can name
		 * the same instance twice). */
		int again = 0;
		for (size_t j = 0; twice && j < k && !again; j++)
			again = n->deps[j] == n->deps[k];
		if (again)
			continue;
		if ((*shown)++ < MAX_UPSTREAM_REASONS)
			quire__plan_add_reason(n, QUIRE_REASON_UPSTREAM_CHANGED, u->id);
		else
			(*more)++;
	}
	return next_char(t, len, &i, ']');
}

static void upstream_reason(struct quire_node *n, enum quire_reason_kind k, const char *what,
			    size_t *shown, size_t *more)
{
	if ((*shown)++ < MAX_UPSTREAM_REASONS)
		quire__plan_add_reason(n, k, what);
	else
		(*more)++;
}

static int cmp_fpair(const void *x, const void *y)
{
	return strcmp(((const struct quire__fpair *)x)->key, ((const struct quire__fpair *)y)->key);
}

/* Whether a record names fields of upstream id ("Outline.chapters[1].title"). */
static int read_by_fields(const json_t *old, const char *id)
{
	const char *key;
	const json_t *v;
	size_t n = strlen(id);
	json_object_foreach((json_t *)json_object_get(old, "fields"), key, v)
		if (!strncmp(key, id, n) && key[n] == '.')
			return 1;
	return 0;
}

/* Names the fields whose values differ between two sorted lists. */
static void diff_fields(struct quire_node *n, const struct quire__fpair *a, size_t na,
			const struct quire__fpair *b, size_t nb, size_t *shown, size_t *more)
{
	size_t x = 0, y = 0;
	while (x < na || y < nb) {
		int c = x == na ? 1 : y == nb ? -1 : strcmp(a[x].key, b[y].key);
		const char *key = c <= 0 ? a[x].key : b[y].key;
		/* A field read now and not then, or then and not now, is a template's change
		 * (or an index's), which has its own reason. */
		int differ = c == 0 && (a[x].absent != b[y].absent ||
					(!a[x].absent && strcmp(a[x].d.s, b[y].d.s)));
		if (differ)
			upstream_reason(n, QUIRE_REASON_UPSTREAM_FIELD, key, shown, more);
		x += c <= 0;
		y += c >= 0;
	}
}

/* The reasons for the upstreams node i reads by their JSON fields: the fields that changed,
 * against the record's "fields", or (a record of before them, naming those upstreams whole)
 * against the fields of the outputs it names; the upstream itself when it is to be made again
 * or the old output cannot be read. */
static void field_reasons(struct quire_plan *plan, const struct quire_project *p, size_t i,
			  const json_t *old, const json_t *paths, const unsigned char *fl,
			  size_t *shown, size_t *more)
{
	struct quire_node *n = &plan->nodes[i];
	int ready = 1;
	for (size_t k = 0; k < n->ndeps; k++) {
		const struct quire_node *u = &plan->nodes[n->deps[k]];
		int again = 0;
		for (size_t j = 0; j < k && !again; j++)
			again = n->deps[j] == n->deps[k];
		if (fl[k] && !again && (u->dirty || !u->digest[0])) {
			upstream_reason(n, QUIRE_REASON_UPSTREAM_CHANGED, u->id, shown, more);
			ready = 0;
		}
	}
	struct quire__fpair *now = NULL, *then = NULL;
	size_t nnow = 0, nthen = 0;
	if (!ready || quire__plan_field_pairs(plan, p, i, paths, fl, NULL, &now, &nnow)) {
		quire_error_clear();
		return;
	}
	const json_t *rec = json_object_get(old, "fields");
	const char **olds = NULL;
	if (json_is_object(rec)) {
		then = quire__xcalloc(json_object_size(rec) + 1, sizeof(*then));
		const char *key;
		const json_t *d;
		json_object_foreach((json_t *)rec, key, d) {
			then[nthen].key = quire__xstrdup(key);
			then[nthen].absent = !json_is_string(d);
			if (json_is_string(d))
				snprintf(then[nthen].d.s, sizeof(then[nthen].d.s), "%s",
					 json_string_value(d));
			nthen++;
		}
		if (nthen > 1)
			qsort(then, nthen, sizeof(*then), cmp_fpair);
	} else if (!(olds = quire__plan_recorded_digests(plan, i, old, fl)) ||
		   quire__plan_field_pairs(plan, p, i, paths, fl, olds, &then, &nthen)) {
		/* The output it was made from is gone: the upstream is all there is to say. */
		quire_error_clear();
		for (size_t k = 0; k < n->ndeps; k++) {
			const struct quire_node *u = &plan->nodes[n->deps[k]];
			if (fl[k] && (!olds || !olds[k] || strcmp(olds[k], u->digest)))
				upstream_reason(n, QUIRE_REASON_UPSTREAM_CHANGED, u->id, shown,
						more);
		}
		then = NULL;
		nthen = 0;
	}
	diff_fields(n, then, nthen, now, nnow, shown, more);
	quire__plan_free_digests(olds, n->ndeps);
	quire__plan_free_fpairs(then, nthen);
	quire__plan_free_fpairs(now, nnow);
}

/* Explains why node i differs from its manifest entry e (full; NULL when there is none). */
void quire__plan_explain(struct quire_plan *plan, const struct quire_project *p, size_t i,
			 const json_t *e, struct quire_blob_set *blobs)
{
	struct quire_node *n = &plan->nodes[i];
	const struct quire_producer *pr = &p->bp->producers[n->producer];
	if (!e) {
		quire__plan_add_reason(n, QUIRE_REASON_NEW, NULL);
		return;
	}
	const char *status = jstr(e, "status");
	if (status && !strcmp(status, "failed"))
		quire__plan_add_reason(n, QUIRE_REASON_FAILED, NULL);
	else if (status && !strcmp(status, "blocked"))
		quire__plan_add_reason(n, QUIRE_REASON_BLOCKED, NULL);
	else if (status && !strcmp(status, "stale"))
		quire__plan_add_reason(n,
				       json_is_true(json_object_get(e, "released"))
					       ? QUIRE_REASON_RELEASED
					       : QUIRE_REASON_STALE,
				       NULL);
	const json_t *old = json_object_get(e, "deps");
	json_t *parsed = NULL;
	if (json_is_string(old)) {
		/* Kept as text (a collector's): parsed but for its upstream list. */
		old = parsed = quire_json_loads_keeping(json_string_value(old),
							json_string_length(old), "upstream", 0);
	}
	/* Never built (it failed or was blocked the first time): there is nothing to compare. */
	if (!old)
		return;
	size_t fb_now = json_array_size(n->feedback),
	       fb_then = json_array_size(json_object_get(old, "feedback"));
	if (fb_now > fb_then)
		quire__plan_add_reason(n, QUIRE_REASON_FEEDBACK,
				       json_string_value(json_array_get(n->feedback, fb_now - 1)));
	if (!n->feedback_round && n->take != json_integer_value(json_object_get(old, "take")) &&
	    n->take > json_integer_value(json_object_get(e, "take")))
		quire__plan_add_regenerate(n);
	if (!same(jstr(old, "definition"), pr->def_digest))
		quire__plan_add_reason(n, QUIRE_REASON_DEFINITION, pr->name);
	const struct quire_binding *b = quire_project_binding(p, pr->role);
	if (!same(jstr(old, "binding"), b->digest.s))
		quire__plan_add_reason(n, QUIRE_REASON_BINDING, pr->role);
	if (!same(jstr(old, "prompt"), quire_project_prompt_digest(p, (size_t)n->producer, n->idx)))
		quire__plan_add_reason(n, QUIRE_REASON_PROMPT, NULL);
	if (!same(jstr(old, "schema"), quire_project_file_digest(p, pr->output.schema)))
		quire__plan_add_reason(n, QUIRE_REASON_SCHEMA, NULL);
	const json_t *oin = json_object_get(old, "inputs");
	size_t nin;
	struct quire__ipair *ins = quire__plan_input_pairs(p, n, &nin);
	for (size_t k = 0; k < nin; k++)
		if (!same(jstr(oin, ins[k].key), ins[k].d.s))
			quire__plan_add_reason(n, QUIRE_REASON_INPUT, ins[k].key);
	quire__plan_free_ipairs(ins, nin);
	/* Upstream compared as a set of ids: a fan-out that grew or shrank names what changed. */
	const json_t *oup = json_object_get(old, "upstream");
	size_t shown = 0, more = 0;
	json_t *oparsed = NULL;
	unsigned char *fl = quire__xcalloc(n->ndeps + 1, 1);
	json_t *paths = quire__plan_fl(plan, p, i, fl);
	int fields_told = 0;
	if (json_is_string(oup)) {
		const char *t = json_string_value(oup);
		size_t tl = json_string_length(oup);
		if (!paths && upstream_in_order(p, plan, n, t, tl, 0, &shown, &more) == 0) {
			upstream_in_order(p, plan, n, t, tl, 1, &shown, &more);
			goto summed;
		}
		oup = oparsed = json_loadb(t, tl, 0, NULL);
	}
	json_t *prev = json_object();
	size_t k;
	json_t *pair;
	json_array_foreach(oup, k, pair) {
		const char *oid = json_string_value(json_array_get(pair, 0));
		if (oid)
			json_object_set(prev, oid, json_array_get(pair, 1));
	}
	json_t *seen = json_object();
	for (k = 0; k < n->ndeps; k++) {
		const struct quire_node *u = &plan->nodes[n->deps[k]];
		/* An upstream used twice (uses: [Scene[i][*], Scene[i][0]]) is one upstream. */
		if (json_object_get(seen, u->id))
			continue;
		json_object_set_new(seen, u->id, json_true());
		if (fl[k]) {
			/* Where the first upstream read by its fields is in the list. */
			if (!fields_told++)
				field_reasons(plan, p, i, old, paths, fl, &shown, &more);
			json_object_del(prev, u->id);
			continue;
		}
		/* Read by its fields then, whole now: the template changed, which says so. */
		if (read_by_fields(old, u->id))
			continue;
		const char *od = json_string_value(json_object_get(prev, u->id));
		enum quire_reason_kind what =
			!od ? QUIRE_REASON_UPSTREAM_ADDED : QUIRE_REASON_UPSTREAM_CHANGED;
		int changed = !od || u->dirty || !same(od, u->digest);
		json_object_del(prev, u->id);
		if (!changed)
			continue;
		upstream_reason(n, what, u->id, &shown, &more);
	}
	const char *gone;
	json_t *unused;
	json_object_foreach(prev, gone, unused) {
		upstream_reason(n, QUIRE_REASON_UPSTREAM_REMOVED, gone, &shown, &more);
	}
	json_decref(prev);
	json_decref(seen);
	json_decref(oparsed);
summed:
	json_decref(paths);
	free(fl);
	json_decref(parsed);
	if (more) {
		char nb[32];
		snprintf(nb, sizeof(nb), "%zu", more);
		quire__plan_add_reason(n, QUIRE_REASON_UPSTREAM_MORE, nb);
	}
	if (n->nreasons)
		return;
	if (!jstr(e, "digest") || !quire__plan_has_blob(blobs, p, jstr(e, "digest"))) {
		quire__plan_add_reason(n, QUIRE_REASON_OUTPUT_MISSING, NULL);
		n->missing = jstr(e, "digest") != NULL;
	}
}
