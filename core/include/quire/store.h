/* The project database (.quire/quire.db, SQLite in WAL mode): event log, runs, revisions,
 * stat cache and action cache, with forward-only schema migrations. */
#ifndef QUIRE_STORE_H
#define QUIRE_STORE_H

#include <stdint.h>

#include <jansson.h>

struct quire_digest;
struct quire_store;

/* The newest schema version this build knows. */
#define QUIRE_STORE_SCHEMA 2

/* Opens (creating and migrating unless readonly) <qdir>/quire.db. A read-only open of a missing
 * database succeeds with an empty, in-memory store. QUIRE_EIO, QUIRE_ECORRUPT when the database
 * is newer than this build. */
int quire_store_open(struct quire_store **out, const char *qdir, int readonly);
void quire_store_close(struct quire_store *s);

/* Transactions (BEGIN IMMEDIATE / COMMIT / ROLLBACK). */
int quire_store_begin(struct quire_store *s);
int quire_store_commit(struct quire_store *s);
int quire_store_rollback(struct quire_store *s);

/* Appends an event of run `run`; `data` is stored as canonical JSON (may be NULL). */
int quire_store_event(struct quire_store *s, int64_t run, const char *kind, const char *subject,
		      const json_t *data);

/* The same with data already written as canonical JSON text (may be NULL). */
int quire_store_event_text(struct quire_store *s, int64_t run, const char *kind,
			   const char *subject, const char *data);

/* Callback for quire_store_events(): return non-zero to stop (passed back). `data` is borrowed. */
typedef int (*quire_event_cb)(void *ctx, int64_t seq, int64_t time_ns, const char *kind,
			      const char *subject, const json_t *data);

/* Calls cb for every event of run `run`, in order. */
int quire_store_events(struct quire_store *s, int64_t run, quire_event_cb cb, void *ctx);

/* The same with each event's data as its text (len bytes, NUL-terminated; NULL when it has
 * none), unparsed: a commit keeps a collector's dependency record as text. */
typedef int (*quire_event_text_cb)(void *ctx, int64_t seq, int64_t time_ns, const char *kind,
				   const char *subject, const char *text, size_t len);
int quire_store_events_text(struct quire_store *s, int64_t run, quire_event_text_cb cb, void *ctx);
/* Keeps the connection's page cache small (128 KiB): for a reader that reads once, in order,
 * beside a writer (a fold of a run's events as it runs). */
void quire_store_small_cache(struct quire_store *s);
/* The same for the events after seq `after` only (event numbers grow in the order events
 * are committed): a fold that began while the run went on reads the rest. */
int quire_store_events_text_after(struct quire_store *s, int64_t run, int64_t after,
				  quire_event_text_cb cb, void *ctx);

/* Records the start of a run that will commit revision `rev` on top of `parent` (may be NULL)
 * and its `run.start` event (data: canonical JSON text) in one transaction. */
int quire_store_run_start(struct quire_store *s, const char *rev, const char *parent,
			  const char *command, const char *start, int64_t *run_id);
/* The same inside the caller's transaction (quire_store_begin): an edit records its run, its
 * events and its end as one. */
int quire_store_run_start_in(struct quire_store *s, const char *rev, const char *parent,
			     const char *command, const char *start, int64_t *run_id);

/* Records an already committed revision as a finished run (rebuilding the database from the
 * revisions). */
int quire_store_run_restore(struct quire_store *s, const char *rev, const char *parent,
			    const char *command, int64_t started_ns);

/* SQLite's quick integrity check: *problem is NULL when the database is sound, else what is
 * wrong (malloc'd). */
int quire_store_check(struct quire_store *s, char **problem);

/* 1 when run `run` has its `run.start` event, 0 when not, or QUIRE_EIO. */
int quire_store_run_has_start(struct quire_store *s, int64_t run);

/* Records the name run's revision is being given (its manifest written, not yet in place). */
int quire_store_run_name(struct quire_store *s, int64_t run, const char *rev);

/* Renames the revisions the runs name (their own and their parents', and the parent in an
 * unfinished run's start event), names mapping each old name to its new one (the upgrade to
 * format 2): merge and recovery find them again. */
int quire_store_rename_revisions(struct quire_store *s, const json_t *names);

/* Marks a run committed (its manifest written and `current` moved) or abandoned; rev, when
 * not NULL, is the name its revision was given (a run starts before its name is known). */
int quire_store_run_finish(struct quire_store *s, int64_t run, const char *state, const char *rev);

/* Which of revs[0..n) this store committed last (its index), or -1 when none. */
int quire_store_last_committed(struct quire_store *s, const char *const *revs, size_t n);

/* The oldest run left "running" (a crash or SIGKILL), its revision and parent (malloc'd), or
 * *run_id = 0 when there is none. */
int quire_store_unfinished_run(struct quire_store *s, int64_t *run_id, char **rev, char **parent);

/* Stat cache: 1 and *digest filled when path's (size, mtime_ns, ino) match a trustworthy entry,
 * 0 on a miss. */
int quire_store_stat_get(struct quire_store *s, const char *path, int64_t size, int64_t mtime_ns,
			 int64_t ino, struct quire_digest *digest);
int quire_store_stat_put(struct quire_store *s, const char *path, int64_t size, int64_t mtime_ns,
			 int64_t ino, const struct quire_digest *digest);
/* The same, for a file stat'ed at stat_ns (taken just before the stat, not after the hash:
 * a file rewritten within its timestamp tick after that stat must stay racy). */
int quire_store_stat_put_at(struct quire_store *s, const char *path, int64_t size, int64_t mtime_ns,
			    int64_t ino, const struct quire_digest *digest, int64_t stat_ns);
/* Loads the stat cache's rows now (quire_store_stat_get loads them on first use): afterwards,
 * until the next quire_store_stat_put, quire_store_stat_get may be called from several
 * threads at once. */
void quire_store_stat_load(struct quire_store *s);

/* Action cache: the recorded result (new reference) of a fingerprint, or *out = NULL. */
int quire_store_ac_get(struct quire_store *s, const char *fingerprint, json_t **out);
int quire_store_ac_put(struct quire_store *s, const char *fingerprint, const json_t *result);
/* The same with the result already canonical JSON text. */
int quire_store_ac_put_text(struct quire_store *s, const char *fingerprint, const char *result);

/* 1 when some action-cache entry's output is this digest. */
int quire_store_ac_has_digest(struct quire_store *s, const char *digest);

/* Calls cb with every digest the action cache keeps (its results' outputs). */
int quire_store_ac_digests(struct quire_store *s, void (*cb)(void *ud, const char *digest),
			   void *ud);

/* Small named values the core remembers between commands (e.g. which set of templates was
 * last checked). get: *value malloc'd, or NULL when unset; put (a NULL value removes the key):
 * QUIRE_EIO. */
int quire_store_meta_get(struct quire_store *s, const char *key, char **value);
int quire_store_meta_put(struct quire_store *s, const char *key, const char *value);

/* 1 when the store was opened read-only. */
int quire_store_readonly(const struct quire_store *s);

#endif
