/* quire push and quire pull: the blobs revisions name, between the store and the shared cache
 * (docs/sharing.md). */
#ifndef QUIRE_SYNC_H
#define QUIRE_SYNC_H

#include <signal.h>
#include <stddef.h>

#include <jansson.h>

struct quire_project;

struct quire_sync_stats {
	size_t blobs;	 /* blobs the revisions name (outputs, takes, call records and what
			  * they name, the project files they recorded) */
	size_t moved;	 /* uploaded (push) or fetched (pull) */
	size_t there;	 /* already on the other side */
	size_t results;	 /* action results uploaded (push) */
	json_t *missing; /* [{digest, what, why}]: what could not be moved (owned) */
};

/* Called after each blob: done of total (total may grow as call records name more). */
typedef void (*quire_sync_progress)(void *ud, size_t done, size_t total);

/* Moves what revisions revs (names) hold to the shared cache (push) or from it into the store
 * (pull), each blob verified: a push checks each upload is there before the action result
 * that names it (only for outputs made for their fingerprint: what the action cache holds,
 * and a revision's shown clean outputs, never a hand edit or an output accepted with 'run
 * --touch'); a pull checks each download against its digest. A push ignores cache.push: it
 * is asked for. QUIRE_EINVALID when the project has no shared cache (or QUIRE_NO_REMOTE is
 * set), QUIRE_EIO when it cannot be reached (the message says why), QUIRE_ENOTFOUND for a
 * revision that does not exist. st->missing lists what could not be had. */
int quire_sync(const struct quire_project *p, const char *const *revs, size_t nrevs, int push,
	       quire_sync_progress progress, void *ud, struct quire_sync_stats *st);

void quire_sync_stats_release(struct quire_sync_stats *st);

/* Fetches blobs digests[n] the store lacks from the project's shared cache, several at once,
 * each verified: how many were fetched (0 with no cache; what came before a failure counts:
 * the caller asks again its own way and says so). Transfers stop when *cancel is set. */
size_t quire_sync_fetch(const struct quire_project *p, const char *const *digests, size_t n,
			const volatile sig_atomic_t *cancel);

#endif
