/* Selecting a plan's targets: ids, id patterns and out/ files, with what they depend on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quire/error.h"
#include "quire/hash.h"
#include "quire/id.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "plan_internal.h"
#include "util.h"

/* The stem of an out/ file a target names ("out/Scene-1-0.md" -> "Scene-1-0"), or NULL when
 * the target is not under the project's out directory. Malloc'd. */
static char *out_stem(const struct quire_project *p, const char *t)
{
	size_t ol = strlen(p->out_dir);
	if (!strncmp(t, "./", 2))
		t += 2;
	if (strncmp(t, p->out_dir, ol) || t[ol] != '/' || !t[ol + 1] || strchr(t + ol + 1, '/'))
		return NULL;
	char *stem = quire__xstrdup(t + ol + 1);
	char *dot = strrchr(stem, '.');
	if (dot && dot != stem)
		*dot = '\0';
	return stem;
}

/* Selects the instance whose out/ file is stem; whether one was. */
static int select_out_file(struct quire_plan *plan, const char *stem)
{
	for (size_t i = 0; i < plan->n; i++) {
		char *name = quire_id_filename(plan->nodes[i].id, NULL);
		int hit = !strcmp(name, stem);
		free(name);
		if (hit)
			return plan->nodes[i].selected = 1;
	}
	return 0;
}

int quire__plan_select_targets(struct quire_plan *plan, const struct quire_project *p,
			       const char *const *targets, size_t ntargets)
{
	if (!ntargets) {
		for (size_t i = 0; i < plan->n; i++)
			plan->nodes[i].selected = 1;
		return 0;
	}
	for (size_t t = 0; t < ntargets; t++) {
		/* An out/ file stands for the instance it holds (the way make takes a file). */
		char *stem = out_stem(p, targets[t]);
		if (stem) {
			int hit = select_out_file(plan, stem);
			free(stem);
			if (!hit)
				return quire_error_set(QUIRE_EINVALID,
						       "'%s' is not the out/ file of any instance",
						       targets[t]);
			continue;
		}
		if (!quire_id_valid_pattern(targets[t]))
			return quire_error_set(QUIRE_EINVALID,
					       "'%s' is not an id, an id pattern (e.g. Chapter[2], "
					       "Scene[1][*]) or "
					       "an out/ file",
					       targets[t]);
		int any = 0;
		for (size_t i = 0; i < plan->n; i++)
			if (quire_id_match(targets[t], plan->nodes[i].id))
				plan->nodes[i].selected = any = 1;
		if (!any) {
			const char *best = NULL;
			size_t bestd = (size_t)-1;
			char name[256];
			snprintf(name, sizeof(name), "%s", targets[t]);
			char *br = strchr(name, '[');
			if (br)
				*br = '\0';
			for (size_t k = 0; k < p->bp->nproducers; k++) {
				size_t d = quire__edit_distance(name, p->bp->producers[k].name);
				if (d < bestd)
					bestd = d, best = p->bp->producers[k].name;
			}
			if (best && bestd && bestd <= strlen(name) / 3 + 1)
				return quire_error_set(
					QUIRE_EINVALID,
					"no instance matches '%s' (did you mean '%s'?)", targets[t],
					best);
			return quire_error_set(QUIRE_EINVALID, "no instance matches '%s'",
					       targets[t]);
		}
	}
	/* Dependencies of a selected node are selected: walk in reverse dependency order. */
	for (size_t i = plan->n; i-- > 0;)
		if (plan->nodes[i].selected)
			for (size_t k = 0; k < plan->nodes[i].ndeps; k++)
				plan->nodes[plan->nodes[i].deps[k]].selected = 1;
	return 0;
}

int quire_plan_shard_of(const char *id, int n)
{
	struct quire_digest d;
	quire_hash_bytes(id, strlen(id), &d);
	/* The first 64 bits of the id's SHA-256: spread evenly, the same on every machine. */
	char head[17];
	memcpy(head, d.s + 7, 16);
	head[16] = '\0';
	unsigned long long v = strtoull(head, NULL, 16);
	return n > 0 ? (int)(v % (unsigned long long)n) : 0;
}

void quire_plan_select_shard(struct quire_plan *plan, int k, int n)
{
	unsigned char *keep = quire__xcalloc(plan->n + 1, 1);
	for (size_t i = 0; i < plan->n; i++) {
		const struct quire_node *nd = &plan->nodes[i];
		keep[i] = nd->selected && nd->dirty && quire_plan_shard_of(nd->id, n) == k - 1;
	}
	/* What a kept instance reads, as far up as it goes (dependency order: users last). */
	for (size_t i = plan->n; i-- > 0;)
		for (size_t d = 0; keep[i] && d < plan->nodes[i].ndeps; d++)
			keep[plan->nodes[i].deps[d]] = 1;
	plan->nselected = plan->ndirty = plan->nwaiting = 0;
	for (size_t i = 0; i < plan->n; i++) {
		struct quire_node *nd = &plan->nodes[i];
		nd->selected = keep[i];
		plan->nselected += keep[i];
		plan->ndirty += keep[i] && nd->dirty && !nd->waiting;
		plan->nwaiting += keep[i] && nd->dirty && nd->waiting;
	}
	free(keep);
}
