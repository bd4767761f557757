/* Internal: the shared cache (bazel-remote's HTTP protocol, an nginx WebDAV location, or a
 * directory). See remote.c and docs/sharing.md. */
#ifndef QUIRE_REMOTE_H
#define QUIRE_REMOTE_H

#include <signal.h>

#include <jansson.h>

struct quire_project;
struct quire_remote;

/* The project's remote cache (QUIRE_REMOTE_CACHE, else quire.yaml's cache.remote), *out NULL
 * when there is none or QUIRE_NO_REMOTE is set. QUIRE_EINVALID for a URL it cannot use. */
int quire_remote_open(struct quire_remote **out, const struct quire_project *p);
void quire_remote_free(struct quire_remote *r);

/* Another connection to the same remote (its URL, credentials and push setting; its own
 * state): one per thread, a remote being used by one thread at a time. */
struct quire_remote *quire_remote_clone(const struct quire_remote *r);

/* The action result the remote holds for fingerprint fp (quire's JSON: digest, size, call,
 * ...): 0 with *ac set, QUIRE_ENOTFOUND for a miss (also for an entry that is not quire's,
 * and once the remote was given up), another error when it could not be asked. */
int quire_remote_get_ac(struct quire_remote *r, const char *fp, json_t **ac);

/* 1 when the remote holds a result for fingerprint fp and the output it names (of its size),
 * that output's digest then in digest (QUIRE_DIGEST_STRLEN bytes): what a run would take
 * from it. Nothing is downloaded but the result. */
int quire_remote_has_output(struct quire_remote *r, const char *fp, char *digest);

/* 1 when there is a remote and runs write to it (push on). */
int quire_remote_pushes(const struct quire_remote *r);

/* 1 when the remote holds blob digest of size bytes (a HEAD; nothing downloaded). */
int quire_remote_has_blob(struct quire_remote *r, const char *digest, long long size);

/* 1 once the remote failed and is no longer asked. */
int quire_remote_gave_up(const struct quire_remote *r);

/* Brings blob digest (size bytes, -1 when not known) from the remote into the store under
 * qdir, verified: 0, or an error (a copy whose content does not hash to digest is
 * QUIRE_ECORRUPT, not kept, and uploaded again when this run pushes that blob). */
int quire_remote_get_blob(struct quire_remote *r, const char *qdir, const char *digest,
			  long long size);

/* Transfers stop when *flag is set (the run's interrupt). */
void quire_remote_set_cancel(struct quire_remote *r, const volatile sig_atomic_t *flag);

/* With push on: uploads the output the action result ac (JSON text) names, its call record
 * and the blobs that names, each checked to be there, then the result under fp. */
int quire_remote_push(struct quire_remote *r, const char *qdir, const char *fp, const char *ac);

/* For quire push (whatever cache.push says): uploads blob digest from the store unless the
 * remote holds it (*sent 0), checked to be there after: 0, or an error (QUIRE_ENOTFOUND when
 * the store lacks it; the remote given up on a transport error). */
int quire_remote_put_blob(struct quire_remote *r, const char *qdir, const char *digest, int *sent);

/* run --shard: says that the output for fp failed to be made (msg, a provider's message:
 * never a credential), or finds that said (1, msg filled). A result for fp, when there is
 * one, is what counts: a shard run again puts it. */
int quire_remote_put_failed(struct quire_remote *r, const char *fp, const char *msg);
int quire_remote_get_failed(struct quire_remote *r, const char *fp, char *msg, size_t cap);

/* Stores an action result's text (its "quire": 1 included) under fp: the caller has
 * checked that every blob it names is there. Safe on a worker thread (no jansson values). */
int quire_remote_put_result_text(struct quire_remote *r, const char *fp, const char *text);

/* 0 once the remote was given up (*why then says why, until the warning is taken). */
int quire_remote_usable(const struct quire_remote *r, const char **why);

/* What went wrong since the last call, said once (NULL when nothing did): for the run to
 * report. Never holds a credential. */
const char *quire_remote_take_warning(struct quire_remote *r);

#endif
