/* Committing a run as a revision (a fold of its events), recovering runs that were
 * killed, and keeping snapshots of the files a run read. */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/manifest.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "quire/run.h"
#include "quire/store.h"
#include "json.h"
#include "manifest_internal.h"
#include "objects.h"
#include "run_commit.h"
#include "run_internal.h"
#include "util.h"
#include "event.h"

struct fold_ctx {
	const char *qdir;
	const char *files; /* the run's files as JSON text, when its runner has them */
	json_t *m;
	struct quire_mbase *base; /* m's base when m is slim */
	int compact;		  /* keep changed entries as text (a run's commit) */
	int started, err;
	const char **calls; /* the call records the run's events name (into their text) */
	size_t ncalls, acalls;
	struct quire_objs *objs;     /* for records given as deltas (at the first) */
	struct quire_objs *objs_own; /* objs when opened here, not the base's */
	int objs_tried;
	int64_t seq; /* the last event folded */
};

/* A run's start event naming only the files that changed ("files_changed"): its text with
 * the whole list, its parent's files with the changes (*out, malloc'd). */
static int start_whole(struct fold_ctx *fc, const char *text, size_t len, char **out)
{
	json_error_t je;
	json_t *data = json_loadb(text, len, 0, &je), *h = NULL;
	long long n;
	if (!data)
		return quire_error_set(QUIRE_ECORRUPT, "a run's start event is invalid: %s",
				       je.text);
	if (!json_object_get(data, "files_changed")) {
		/* The key was some other object's: the event as it is. */
		json_decref(data);
		*out = NULL;
		return 0;
	}
	if (fc->files) {
		/* The runner's own list: what the parent's and the changes make. */
		json_object_del(data, "files_changed");
		*out = quire_json_canonical_with(data, "files", fc->files);
		json_decref(data);
		return *out ? 0 : QUIRE_EINVALID;
	}
	const char *parent = json_string_value(json_object_get(data, "parent"));
	json_t *changed = json_object_get(data, "files_changed");
	int err = !parent || !json_is_object(changed)
			  ? quire_error_set(QUIRE_ECORRUPT,
					    "a run's start event names changed files without a "
					    "revision they changed from")
			  : quire_manifest_head(fc->qdir, parent, &h, &n);
	json_t *files = json_object_get(h, "files");
	if (!err && !json_is_object(files))
		err = quire_error_set(QUIRE_ECORRUPT, "revision %.12s lists no files", parent);
	if (err) {
		err = quire_error_set(err, "the files a run read, from those of revision %.12s: %s",
				      parent ? parent : "(none)", quire_error_last());
	} else {
		const char *rel;
		json_t *v;
		json_object_foreach(changed, rel, v) {
			if (json_is_string(v))
				json_object_set(files, rel, v);
			else
				json_object_del(files, rel);
		}
		char *ftext = quire_json_canonical(files);
		json_object_del(data, "files_changed");
		*out = ftext ? quire_json_canonical_with(data, "files", ftext) : NULL;
		free(ftext);
		if (!*out)
			err = QUIRE_EINVALID;
	}
	json_decref(h);
	json_decref(data);
	return err;
}

/* The record a "deps_delta" (dd) of an event makes, fp's, as its text (*deps, malloc'd). A base
 * record that cannot be read (its pack damaged or lost) stops the commit, naming it: every
 * writer tries the recovery again, so the record comes back once the packs are restored. */
static int undelta(struct fold_ctx *fc, const char *subject, const json_t *dd, const char *fp,
		   char **deps)
{
	const char *delta = json_string_value(json_object_get(dd, "delta"));
	const char *base = json_string_value(json_object_get(dd, "base"));
	if (!fc->objs_tried) {
		/* The run's, read through its base, when it has them. */
		fc->objs_tried = 1;
		fc->objs = quire__mbase_objs_or_open(fc->base, fc->qdir, &fc->objs_own);
		quire_error_clear();
	}
	int err =
		delta ? quire_record_undelta(fc->objs, base, fp, delta,
					     json_string_length(json_object_get(dd, "delta")), deps)
		      : quire_error_set(QUIRE_ECORRUPT, "its record's delta is malformed");
	if (err)
		err = quire_error_set(QUIRE_ECORRUPT,
				      "the dependency record of %s is a delta of record %.19s, "
				      "which cannot be read: %s (restore the packs from git, 'git "
				      "checkout -- .quire/revs/', and run again)",
				      subject ? subject : "an artefact", base ? base : "(none)",
				      quire_error_last());
	return err;
}

/* An entry's event giving its record, or a take's, as a delta ("deps_delta"): its text with
 * each record's "deps" made from it (*out, malloc'd; NULL when the key was some other
 * object's). */
static int entry_whole(struct fold_ctx *fc, const char *subject, const char *text, size_t len,
		       char **out)
{
	*out = NULL;
	json_error_t je;
	json_t *data = json_loadb(text, len, 0, &je);
	if (!data)
		return quire_error_set(QUIRE_ECORRUPT, "an event has invalid data: %s", je.text);
	const json_t *dd = json_object_get(data, "deps_delta");
	int found = dd != NULL, err = 0;
	size_t k;
	json_t *t;
	json_array_foreach(json_object_get(data, "takes"), k, t) {
		const json_t *td = json_object_get(t, "deps_delta");
		char *tdeps = NULL;
		if (!td || err)
			continue;
		found = 1;
		err = undelta(fc, subject, td, json_string_value(json_object_get(t, "fingerprint")),
			      &tdeps);
		json_t *parsed = err ? NULL : json_loads(tdeps, 0, &je);
		if (!err && !parsed)
			err = quire_error_set(QUIRE_ECORRUPT, "a take's record is invalid: %s",
					      je.text);
		if (!err) {
			json_object_set_new(t, "deps", parsed);
			json_object_del(t, "deps_delta");
		}
		free(tdeps);
	}
	char *deps = NULL;
	if (!err && dd)
		err = undelta(fc, subject, dd,
			      json_string_value(json_object_get(data, "fingerprint")), &deps);
	if (!err && found) {
		json_object_del(data, "deps_delta");
		*out = deps ? quire_json_canonical_with(data, "deps", deps)
			    : quire_json_canonical(data);
		if (!*out)
			err = QUIRE_EINVALID;
	}
	free(deps);
	json_decref(data);
	return err;
}

/* The call records an event names ("call", "failed_call"), found in its text without
 * parsing it again. */
static void note_calls(struct fold_ctx *fc, const char *text, size_t len)
{
	static const char key[] = "call\":\"sha256:";
	const char *t = text, *e = text + len;
	while (t && t < e) {
		const char *at = memmem(t, (size_t)(e - t), key, sizeof(key) - 1);
		if (!at)
			break;
		const char *d = at + sizeof(key) - 1 - strlen("sha256:");
		if ((size_t)(e - d) >= QUIRE_DIGEST_STRLEN - 1 &&
		    d[QUIRE_DIGEST_STRLEN - 1] == '"') {
			QUIRE_GROW(fc->calls, fc->acalls, fc->ncalls + 1);
			fc->calls[fc->ncalls++] = quire__xstrndup(d, QUIRE_DIGEST_STRLEN - 1);
		}
		t = at + sizeof(key) - 1;
	}
}

static int fold_cb(void *ud, int64_t seq, int64_t time_ns, const char *kind, const char *subject,
		   const char *text, size_t len)
{
	(void)seq;
	struct fold_ctx *fc = ud;
	fc->started |= !strcmp(kind, quire_ev_name(QUIRE_EV_RUN_START));
	if (text && (!strcmp(kind, quire_ev_name(QUIRE_EV_PRODUCED)) ||
		     !strcmp(kind, quire_ev_name(QUIRE_EV_CACHED)) ||
		     !strcmp(kind, quire_ev_name(QUIRE_EV_FAILED))))
		note_calls(fc, text, len);
	/* Only a key can match these (inside a JSON string the quotes would be escaped), but
	 * a nested one too (an input named so): whether the event's own is checked parsed. */
	char *whole = NULL;
	if (text && !strcmp(kind, quire_ev_name(QUIRE_EV_RUN_START)) &&
	    memmem(text, len, "\"files_changed\":", 16))
		fc->err = start_whole(fc, text, len, &whole);
	else if (text && memmem(text, len, "\"deps_delta\":", 13))
		fc->err = entry_whole(fc, subject, text, len, &whole);
	if (fc->err)
		return 1;
	/* An entry only in the base is read from the parent's text first; 10,000 new entries
	 * held parsed were most of a large first run's memory, so they are compacted again (and
	 * a run's large records are kept as text: see quire_manifest_fold_text). */
	fc->err = quire_manifest_fold_text(fc->m, fc->base, time_ns, kind, subject,
					   whole ? whole : text, whole ? strlen(whole) : len,
					   fc->compact);
	free(whole);
	if (fc->err)
		return 1;
	fc->seq = seq;
	return 0;
}

/* A first build's fold, begun on a thread while the run goes on (quire_run__fold_start). */
struct quire_run_fold {
	struct fold_ctx fc;
	char *qdir;
	int64_t run;
	pthread_t t;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int poked;
	_Atomic int stop; /* also looked at between events: the commit folds the rest */
	int err;	  /* the fold failed (the commit fails with it): its message in msg */
	char *msg;
};

/* Events read at once by the thread, then folded with no statement open: a reader paused
 * inside a statement would keep the writer's log from being reused (it grew twice as
 * large). */
#define EARLY_BATCH 256

struct early_row {
	int64_t seq, time_ns;
	char *kind, *subject, *text;
	size_t len;
};

struct early_batch {
	struct early_row v[EARLY_BATCH];
	size_t n;
};

/* Copies one event into the batch; a full batch ends the read. */
static int early_take(void *ud, int64_t seq, int64_t time_ns, const char *kind, const char *subject,
		      const char *text, size_t len)
{
	struct early_batch *b = ud;
	b->v[b->n++] = (struct early_row){ seq,
					   time_ns,
					   quire__xstrdup(kind),
					   subject ? quire__xstrdup(subject) : NULL,
					   text ? quire__xstrndup(text, len) : NULL,
					   len };
	return b->n == EARLY_BATCH;
}

/* Folds what was committed since the last batch, until it has caught up; 1 when it must
 * stop (asked to, or the fold failed: f->err), -1 when reading failed (the commit reads
 * the rest). */
static int early_catch_up(struct quire_run_fold *f, struct quire_store *rs, struct early_batch *b)
{
	for (;;) {
		b->n = 0;
		int err = quire_store_events_text_after(rs, f->run, f->fc.seq, early_take, b);
		int full = b->n == EARLY_BATCH, ret = err && !full ? -1 : 0;
		for (size_t k = 0; k < b->n; k++) {
			struct early_row *e = &b->v[k];
			if (!ret && f->stop)
				ret = 1;
			if (!ret && fold_cb(&f->fc, e->seq, e->time_ns, e->kind, e->subject,
					    e->text, e->len)) {
				f->err = f->fc.err;
				f->msg = quire__xstrdup(quire_error_last());
				ret = 1;
			}
			free(e->kind);
			free(e->subject);
			free(e->text);
		}
		if (ret || !full)
			return ret;
	}
}

/* Folds what was committed since it last looked, each time it is poked, through a
 * connection of its own: a reader sees only committed events, so the fold is never ahead of
 * what a recovery would fold. */
static void *early_main(void *arg)
{
	struct quire_run_fold *f = arg;
	struct quire_store *rs = NULL;
	/* Only the time the run's own threads leave: at normal priority (or niced) it took as
	 * much from them as it saved the commit. */
	struct sched_param sp = { 0 };
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	if (quire_store_open(&rs, f->qdir, 1))
		rs = NULL;
	else
		quire_store_small_cache(rs);
	struct early_batch *b = rs ? quire__xmalloc(sizeof(*b)) : NULL;
	for (;;) {
		pthread_mutex_lock(&f->mu);
		while (!f->poked && !f->stop)
			pthread_cond_wait(&f->cv, &f->mu);
		int stop = f->stop;
		f->poked = 0;
		pthread_mutex_unlock(&f->mu);
		if (stop || !rs || early_catch_up(f, rs, b))
			break;
	}
	free(b);
	quire_error_clear();
	quire_store_close(rs);
	return NULL;
}

struct quire_run_fold *quire_run__fold_start(const char *qdir, int64_t run, json_t *m,
					     struct quire_mbase *base, const char *files)
{
	struct quire_run_fold *f = quire__xcalloc(1, sizeof(*f));
	f->fc = (struct fold_ctx){
		.qdir = qdir, .files = files, .m = m, .base = base, .compact = 1
	};
	f->qdir = quire__xstrdup(qdir);
	f->run = run;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	if (pthread_create(&f->t, NULL, early_main, f) == 0)
		return f;
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f->qdir);
	free(f);
	return NULL;
}

void quire_run__fold_poke(struct quire_run_fold *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->poked = 1;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

/* Stops the thread (what it has not folded is left to the commit) and waits for it. */
static void early_stop(struct quire_run_fold *f)
{
	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->t, NULL);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
}

/* Frees what a fold kept besides the manifest: the objects it opened, the calls it noted. */
static void fold_ctx_release(struct fold_ctx *fc)
{
	quire_objs_free(fc->objs_own);
	fc->objs_own = fc->objs = NULL;
	for (size_t k = 0; k < fc->ncalls; k++)
		free((char *)fc->calls[k]);
	free(fc->calls);
	fc->calls = NULL;
	fc->ncalls = 0;
}

/* Frees a stopped thread's own parts (its fold context is the caller's to release or take). */
static void early_drop(struct quire_run_fold *f)
{
	free(f->msg);
	free(f->qdir);
	free(f);
}

void quire_run__fold_free(struct quire_run_fold *f)
{
	if (!f)
		return;
	early_stop(f);
	fold_ctx_release(&f->fc);
	early_drop(f);
}

/* What a commit does on a second thread while the revision's tree is made: the file system's
 * sync (every blob and event durable before the revision that names them is written), then
 * the calls pack written under a temporary name. Joined before anything is named. */
struct beside {
	pthread_t t;
	int started, done;
	const char *qdir;
	const char *const *calls;
	size_t ncalls;
	int sync_err;
	char *sync_msg;
	struct quire_calls_pending *pack;
};

static void *beside_main(void *arg)
{
	struct beside *b = arg;
	if ((b->sync_err = quire_fs_sync_fs(b->qdir))) {
		b->sync_msg = quire__xstrdup(quire_error_last());
		return NULL;
	}
	/* A pack that cannot be written costs only that (the store keeps the records). */
	if (quire_calls_begin(b->qdir, b->calls, b->ncalls, &b->pack))
		quire_error_clear();
	return NULL;
}

/* Waits for the second thread's work (done here when no thread could be started): the sync's
 * error, set on this thread, or 0. */
static int beside_join(struct beside *b)
{
	if (!b->done) {
		if (b->started)
			pthread_join(b->t, NULL);
		else
			beside_main(b);
		b->done = 1;
	}
	return b->sync_err ? quire_error_set(b->sync_err, "%s", b->sync_msg) : 0;
}

struct naming {
	struct quire_store *store;
	int64_t run;
	struct beside *beside;
};

/* Once the revision has its name and before the manifest takes it: the sync is waited for,
 * the call pack named after the revision (a revision recovered as written has it too), then
 * the run's row learns the name, so that recovery after a kill from then on commits that
 * file rather than a second revision. */
static int name_run(void *ud, const char *name)
{
	const struct naming *nm = ud;
	int err = beside_join(nm->beside);
	if (err)
		return err;
	/* What the calls sent and got, committed beside the manifest so that a clone can show
	 * it. Written again in calls/ when the pending pack cannot be moved there (.quire/tmp
	 * on another file system); a pack that cannot be written costs only that. */
	struct beside *b = nm->beside;
	if (quire_calls_finish(b->pack, name) || (!b->pack && b->ncalls))
		(void)quire_calls_write(b->qdir, name, b->calls, b->ncalls);
	quire_error_clear();
	b->pack = NULL;
	return quire_store_run_name(nm->store, nm->run, name);
}

/* Folds run `run`'s events into m (consumed: changed in place; slim with its base, or full),
 * writes it as revision rev (QUIRE_REV_MAX bytes: a run named QUIRE_REV_PENDING gets its
 * digest's name there) and moves `current`; *out gets m when given. */
int quire_run__commit_onto(const char *qdir, struct quire_store *store, int64_t run, char *rev,
			   json_t *m, struct quire_mbase *base, int compact, const char *files,
			   const json_t *parent, struct quire_run_fold *early, json_t **out)
{
	struct fold_ctx fc = {
		.qdir = qdir, .files = files, .m = m, .base = base, .compact = compact
	};
	int err = 0;
	if (early) {
		/* The thread's fold of m goes on from where it stopped. */
		early_stop(early);
		fc = early->fc;
		if (files)
			fc.files = files;
		if (early->err)
			err = quire_error_set(early->err, "%s", early->msg);
		early_drop(early);
	}
	if (!err)
		err = quire_store_events_text_after(store, run, fc.seq, fold_cb, &fc);
	if (fc.err)
		err = fc.err;
	quire_objs_free(fc.objs_own);
	fc.objs_own = fc.objs = NULL;
	/* A run quire 0.1 started (named rev-NNNN when it started), committed now in format 2. */
	const char *named = json_string_value(json_object_get(m, "revision"));
	if (!err && named && !strcmp(rev, QUIRE_REV_PENDING) && !quire_rev_is_digest(named))
		json_object_set_new(m, "revision", json_string(rev));
	/* A slim manifest's files, inputs and counts are empty until run.start sets them. */
	if (!err && ((base && !fc.started) || !json_is_string(json_object_get(m, "revision")) ||
		     strcmp(json_string_value(json_object_get(m, "revision")), rev)))
		err = quire_error_set(QUIRE_ECORRUPT, "run %lld has no start event",
				      (long long)run);
	/* Blobs and the event log are written without fsyncs; one sync of the file system makes
	 * all of them durable before the manifest that names them (name_run waits for it). */
	struct beside bs = { .qdir = qdir, .calls = fc.calls, .ncalls = fc.ncalls };
	if (!err)
		bs.started = pthread_create(&bs.t, NULL, beside_main, &bs) == 0;
	struct naming nm = { store, run, &bs };
	if (!err &&
	    !(err = quire_manifest_write_named(qdir, rev, m, base, parent, rev, name_run, &nm)))
		json_object_set_new(m, "revision", json_string(rev));
	if (bs.started && !bs.done)
		pthread_join(bs.t, NULL); /* stopped before the revision was named */
	quire_calls_abandon(bs.pack);
	free(bs.sync_msg);
	fold_ctx_release(&fc);
	if (!err)
		err = quire_manifest_advance(qdir, json_string_value(json_object_get(m, "parent")),
					     rev);
	if (!err)
		err = quire_store_run_finish(store, run, "committed", rev);
	if (err || !out)
		json_decref(m);
	else
		*out = m;
	return err;
}

int quire__run_commit(const char *qdir, struct quire_store *store, int64_t run, char *rev,
		      const char *parent, const json_t *parent_manifest, json_t **out)
{
	json_t *m = NULL;
	if (parent && parent_manifest) {
		/* Already in memory: a copy is much cheaper than parsing the file again. */
		m = json_deep_copy(parent_manifest);
	} else if (parent) {
		int err = quire_manifest_load(qdir, parent, &m);
		if (err)
			return err;
	} else {
		m = quire_manifest_empty();
	}
	return quire_run__commit_onto(qdir, store, run, rev, m, NULL, 0, NULL, parent_manifest,
				      NULL, out);
}

int quire__run_commit_slim(const char *qdir, struct quire_store *store, int64_t run, char *rev,
			   json_t *m, struct quire_mbase *base, json_t **out)
{
	return quire_run__commit_onto(qdir, store, run, rev, m, base, 0, NULL, NULL, NULL, out);
}

struct outputs {
	json_t *list; /* [[subject or null for a file snapshot, digest], ...] */
};

static int collect_output(void *ud, int64_t seq, int64_t time_ns, const char *kind,
			  const char *subject, const json_t *data)
{
	(void)seq;
	(void)time_ns;
	struct outputs *o = ud;
	if (!strcmp(kind, quire_ev_name(QUIRE_EV_RUN_START))) {
		/* The snapshots of the files the run read: stored, like outputs, without a sync. */
		const char *rel;
		json_t *d;
		json_object_foreach(json_object_get(data, "files"), rel, d)
			if (json_is_string(d))
				json_array_append_new(o->list, json_pack("[n,O]", d));
		/* Or those this run stored (a clone's first run stores every file's, though
		 * only a few changed): the others' were synced by the commits that stored them. */
		size_t k;
		json_array_foreach(json_object_get(data, "stored"), k, d)
			if (json_is_string(d))
				json_array_append_new(o->list, json_pack("[n,O]", d));
		return 0;
	}
	if (strcmp(kind, quire_ev_name(QUIRE_EV_PRODUCED)) &&
	    strcmp(kind, quire_ev_name(QUIRE_EV_CACHED)))
		return 0;
	const char *digest = json_string_value(json_object_get(data, "digest"));
	if (subject && digest)
		json_array_append_new(o->list, json_pack("[s,s]", subject, digest));
	return 0;
}

/* The outputs (and file snapshots) of a killed run were renamed into the store but not yet
 * synced to disk (that happens once, before a revision is committed), so after a power loss a
 * blob may be missing, empty or partial. Each one is hashed again; a bad one is removed, and
 * a bad output is recorded as lost (the artefact is then failed, without output), so the next
 * run makes it again instead of committing it as clean. A removed snapshot is stored again
 * by the next run that reads the file. */
static int verify_outputs(struct quire_project *p, struct quire_store *store, int64_t run)
{
	struct outputs o = { json_array() };
	int err = quire_store_events(store, run, collect_output, &o);
	size_t k;
	json_t *v;
	json_array_foreach(o.list, k, v) {
		if (err)
			break;
		const char *subject = json_string_value(json_array_get(v, 0));
		const char *digest = json_string_value(json_array_get(v, 1));
		if (!quire_digest_valid(digest))
			continue;
		int herr, bad = 0;
		char *path = quire_blob_path(p->qdir, digest);
		if (access(path, F_OK) == 0) {
			/* A file is hashed as it streams (an output may be a film). */
			struct quire_digest got;
			herr = quire_hash_file(path, &got, NULL);
			if (!herr && strcmp(got.s, digest))
				herr = QUIRE_ECORRUPT;
		} else {
			/* Packed, or missing: a pack that cannot be read is no answer (EIO). */
			struct quire_buf b = QUIRE_BUF_INIT;
			herr = quire_blob_read(p->qdir, digest, &b, 0, 1);
			quire_buf_release(&b);
		}
		free(path);
		if (herr == QUIRE_ENOTFOUND || herr == QUIRE_ECORRUPT) {
			quire_error_clear();
			bad = 1;
		} else if (herr) {
			err = herr; /* unreadable is not lost: nothing is removed on a guess */
		}
		if (bad && quire_blob_remove(p->qdir, digest))
			quire_error_clear(); /* asked again when something reads it */
		if (bad && subject) {
			char msg[256];
			snprintf(msg, sizeof(msg),
				 "its output %.19s... was lost when quire was stopped "
				 "before it reached the disk",
				 digest);
			json_t *d = json_pack("{s:s,s:s}", "error", msg, "digest", digest);
			err = quire__run_record(store, run, quire_ev_name(QUIRE_EV_LOST), subject,
						d, NULL, NULL);
			json_decref(d);
		}
	}
	json_decref(o.list);
	return err;
}

/* A run that was killed left events but no manifest: commit what it finished. */
int quire__run_recover(struct quire_project *p, struct quire_store *store, char *recovered,
		       size_t len)
{
	int64_t run;
	char *rev = NULL, *parent = NULL, name[QUIRE_REV_MAX];
	int err = quire_store_unfinished_run(store, &run, &rev, &parent);
	while (!err && run) {
		/* Its start event records what it read: without one (a store made before the row
		 * and the event were one transaction, killed between them) nothing can be committed
		 * and nothing was produced, since jobs start only after it. */
		int has = quire_store_run_has_start(store, run);
		if (has == 0) {
			err = quire_store_run_finish(store, run, "abandoned", NULL);
			goto next;
		}
		/* Killed after its manifest was written under its name: committed but for the
		 * pointer and the row. */
		char *path = quire__xasprintf("%s/manifests/%s.json", p->qdir, rev);
		int written = quire_rev_is_digest(rev) &&
			      (access(path, F_OK) == 0 || quire__rev2_here(p->qdir, rev));
		free(path);
		if (has > 0 && written) {
			err = quire_manifest_advance(p->qdir, parent, rev);
			if (!err)
				err = quire_store_run_finish(store, run, "committed", rev);
			if (!err)
				snprintf(recovered, len, "%s", rev);
			goto next;
		}
		err = has < 0 ? has : verify_outputs(p, store, run);
		if (!err)
			err = quire__run_record(store, run, quire_ev_name(QUIRE_EV_RUN_RECOVERED),
						NULL, NULL, NULL, NULL);
		/* A name whose file was never put in place: made again (and named again). */
		snprintf(name, sizeof(name), "%s",
			 quire_rev_is_digest(rev) || quire__store_format2(p->qdir)
				 ? QUIRE_REV_PENDING
				 : rev);
		if (!err)
			err = quire__run_commit(p->qdir, store, run, name, parent, NULL, NULL);
		if (!err)
			snprintf(recovered, len, "%s", name);
	next:
		free(rev);
		free(parent);
		rev = parent = NULL;
		if (!err)
			err = quire_store_unfinished_run(store, &run, &rev, &parent);
	}
	free(rev);
	free(parent);
	return err;
}

/* Stores one project file's content; d is the digest it was hashed to. */
static int snapshot_file(struct quire_project *p, const char *rel, const char *d)
{
	char *path = quire__xasprintf("%s/%s", p->root, rel);
	struct quire_digest got;
	int err = quire_blob_put_file(p->qdir, path, &got, NULL);
	free(path);
	if (err)
		return err;
	if (strcmp(got.s, d))
		return quire_error_set(QUIRE_EINVALID, "'%s' changed while quire was reading it",
				       rel);
	return 0;
}

/* Keeps the content of every file the build read, so a revision can be restored later. */
int quire__run_snapshot(struct quire_project *p, const struct quire_plan *plan, json_t *stored)
{
	int err = 0;
	if (plan && plan->files_checked) {
		/* The plan asked the store (mostly answered by trusted shards, see
		 * quire_blob_set_new): a no-op or one-scene run checked 10,000 files here. */
		for (size_t k = 0; k < plan->nunstored && !err; k++) {
			const char *d = quire_project_file_digest(p, plan->unstored[k]);
			if (!(err = snapshot_file(p, plan->unstored[k], d)) && stored && d)
				json_array_append_new(stored, json_string(d));
		}
		return err;
	}
	for (size_t k = 0; k < p->nfiles; k++)
		if (!quire_blob_exists(p->qdir, p->files[k].d.s)) {
			if ((err = snapshot_file(p, p->files[k].rel, p->files[k].d.s)))
				return err;
			if (stored)
				json_array_append_new(stored, json_string(p->files[k].d.s));
		}
	return 0;
}

/* Removes what killed runs left in .quire/tmp (we hold the lock: nobody else writes there). */
void quire__run_clear_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && unlinkat(dirfd(d), e->d_name, 0) < 0) {
			char *sub = quire__xasprintf("%s/%s", dir, e->d_name);
			quire_run__rm_tree(sub); /* a worker's directory */
			free(sub);
		}
	closedir(d);
}
