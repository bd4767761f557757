/* quire push and quire pull: every blob a revision names (its outputs, every take, call
 * records and the prompts and answers they name, the project files it recorded) between the
 * store and the shared cache, and for a push the action results that let another clone's run
 * take the outputs instead of paying for them. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "quire/blob.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "quire/manifest.h"
#include "quire/project.h"
#include "quire/run.h"
#include "quire/store.h"
#include "quire/sync.h"
#include "remote.h"
#include "util.h"

struct sync {
	const struct quire_project *p;
	struct quire_remote *r;
	struct quire_store *store; /* push: its action cache */
	int push;
	json_t *blobs;	 /* digest -> what it is (the first use found) */
	json_t *calls;	 /* call record digest -> the id it was made for */
	json_t *results; /* push: fingerprint -> action result */
	json_t *ok;	 /* digests now on both sides */
	json_t *tried;	 /* digests moved or found missing */
	struct quire_sync_stats *st;
	quire_sync_progress progress;
	void *ud;
	size_t done;
	const volatile sig_atomic_t *cancel; /* set: the transfers stop (a run's Ctrl-C) */
};

static void add(struct sync *s, const json_t *digest, const char *fmt, const char *id,
		const char *rev)
{
	const char *d = json_string_value(digest);
	if (!d || !quire_digest_valid(d) || json_object_get(s->blobs, d))
		return;
	char *what = quire__xasprintf(fmt, id, rev);
	json_object_set_new(s->blobs, d, json_string(what));
	free(what);
}

static void add_call(struct sync *s, const json_t *digest, const char *id, const char *rev)
{
	const char *d = json_string_value(digest);
	add(s, digest, "the call record of %s in %.12s", id, rev);
	if (d && quire_digest_valid(d) && !json_object_get(s->calls, d))
		json_object_set_new(s->calls, d, json_string(id));
}

static const char *str(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "";
}

/* The action result a push may put for take t of entry e: the local action cache's when it
 * maps the take's fingerprint to its output, else, for the shown take of a clean entry, one
 * made from the entry (a clone has no action cache). Never a hand edit's or an accepted
 * output's: the cache maps a fingerprint to what was made for it. */
static json_t *result_for(struct sync *s, const json_t *e, const json_t *t)
{
	const char *fp = str(t, "fingerprint"), *d = str(t, "digest");
	json_t *ac = NULL;
	if (!quire_store_ac_get(s->store, fp, &ac) && ac) {
		if (!strcmp(d, str(ac, "digest")))
			return ac;
		json_decref(ac);
		return NULL;
	}
	quire_error_clear();
	const char *st = str(e, "status");
	/* An output made by a call has its record; one accepted with 'run --touch' has none
	 * (and, since takes say so, is marked accepted). */
	if ((strcmp(st, "clean") && strcmp(st, "pending-review")) ||
	    json_is_true(json_object_get(e, "accepted")) ||
	    json_is_true(json_object_get(t, "accepted")) || !quire_digest_valid(str(t, "call")) ||
	    strcmp(d, str(e, "digest")) ||
	    json_integer_value(json_object_get(e, "take")) !=
		    json_integer_value(json_object_get(t, "take")) ||
	    !json_is_integer(json_object_get(t, "size")))
		return NULL;
	ac = json_pack("{s:s,s:O}", "digest", d, "size", json_object_get(t, "size"));
	if (quire_digest_valid(str(t, "call")))
		json_object_set(ac, "call", json_object_get(t, "call"));
	return ac;
}

static int collect_file(void *ud, const char *rev, const char *path, const json_t *v)
{
	add(ud, v, "file %s of %.12s", path, rev);
	return 0;
}

static int collect_entry(void *ud, const char *rev, const char *k, const json_t *v, int lost)
{
	struct sync *s = ud;
	add(s, json_object_get(v, "digest"), "the output of %s in %.12s", k, rev);
	add_call(s, json_object_get(v, "call"), k, rev);
	/* What a failed attempt left, and a feedback round's draft (gc keeps them). */
	add_call(s, json_object_get(v, "failed_call"), k, rev);
	add(s, json_object_get(v, "partial"), "the cut-off answer of %s in %.12s", k, rev);
	add(s, json_object_get(v, "draft"), "the draft of %s in %.12s", k, rev);
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(v, "takes"), i, t) {
		add(s, json_object_get(t, "digest"), "a take of %s in %.12s", k, rev);
		add_call(s, json_object_get(t, "call"), k, rev);
		const char *fp = str(t, "fingerprint");
		if (!s->push || !quire_digest_valid(fp) || !quire_digest_valid(str(t, "digest")) ||
		    json_object_get(s->results, fp))
			continue;
		json_t *ac = result_for(s, v, t);
		if (ac)
			json_object_set_new(s->results, fp, ac);
	}
	return 0;
}

/* The prompt, schema and answer blobs the call records in the store name. */
static void collect_named(struct sync *s)
{
	const char *d;
	json_t *id;
	json_object_foreach(s->calls, d, id) {
		json_t *c = quire_call_load(s->p->qdir, d);
		const char *named[3];
		quire_call_named(c, named);
		for (int k = 0; c && k < 3; k++) {
			json_t *nd = named[k] ? json_string(named[k]) : NULL;
			add(s, nd, "what the call record of %s%s names", json_string_value(id), "");
			json_decref(nd);
		}
		json_decref(c);
		quire_error_clear();
	}
}

static void missing(struct sync *s, const char *digest, const char *what, const char *why)
{
	json_array_append_new(s->st->missing, json_pack("{s:s,s:s,s:s}", "digest", digest, "what",
							what, "why", why));
}

/* One blob to move, or an action result to put (result: its text, under digest, the
 * fingerprint), and what became of it (filled by a worker). */
struct item {
	const char *digest, *what;
	char *result;
	int err, sent;
	int done; /* moved or found missing (a transfer stopped early leaves it 0) */
	char why[512];
};

/* Transfers run on this many threads (QUIRE_CACHE_CONNECTIONS, 1 to 64), each with a
 * connection of its own: a clone pulling 10,000 outputs one request at a time waited 10,000
 * round trips. */
#define WORKERS 8
#define MOST_WORKERS 64

static size_t connections(void)
{
	const char *e = getenv("QUIRE_CACHE_CONNECTIONS");
	char *end;
	long v = e && *e ? strtol(e, &end, 10) : 0;
	return e && *e && !*end && v >= 1 && v <= MOST_WORKERS ? (size_t)v : WORKERS;
}

struct pool {
	struct sync *s;
	struct item *items;
	size_t n, next;
	pthread_mutex_t mu;
	char *dead; /* why a worker's connection was given up (the first), malloc'd */
};

/* Moves one blob with connection r. */
static void move_one(struct sync *s, struct quire_remote *r, struct item *it)
{
	it->sent = 0;
	if (it->result) {
		it->err = quire_remote_put_result_text(r, it->digest, it->result);
	} else if (s->push) {
		it->err = quire_remote_put_blob(r, s->p->qdir, it->digest, &it->sent);
	} else if (quire_blob_exists(s->p->qdir, it->digest)) {
		it->err = 0;
	} else {
		it->err = quire_remote_get_blob(r, s->p->qdir, it->digest, -1);
		it->sent = !it->err;
	}
	/* This store's trouble (a damaged blob, a full disk), or the cache's. */
	if (it->err && it->err != QUIRE_ENOTFOUND)
		snprintf(it->why, sizeof(it->why), "%s", quire_error_last());
	quire_error_clear();
}

static void *worker(void *ud)
{
	struct pool *pl = ud;
	struct quire_remote *r = quire_remote_clone(pl->s->r);
	for (;;) {
		pthread_mutex_lock(&pl->mu);
		int stop = pl->dead || (pl->s->cancel && *pl->s->cancel);
		size_t k = stop ? pl->n : pl->next++;
		pthread_mutex_unlock(&pl->mu);
		if (k >= pl->n)
			break;
		move_one(pl->s, r, &pl->items[k]);
		pl->items[k].done = 1;
		const char *why = NULL;
		pthread_mutex_lock(&pl->mu);
		if (!quire_remote_usable(r, &why) && !pl->dead)
			pl->dead = quire__xstrdup(why ? why : "the remote cache failed");
		else if (!pl->dead && pl->s->progress)
			pl->s->progress(pl->s->ud, ++pl->s->done, json_object_size(pl->s->blobs));
		pthread_mutex_unlock(&pl->mu);
	}
	quire_remote_free(r);
	return NULL;
}

/* What became of item it, into the stats (on the calling thread: jansson is not shared). */
static void settle(struct sync *s, const struct item *it)
{
	if (!it->err) {
		json_object_set_new(s->ok, it->digest, json_true());
		if (it->sent)
			s->st->moved++;
		else
			s->st->there++;
	} else if (it->err == QUIRE_ENOTFOUND) {
		missing(s, it->digest, it->what,
			s->push ? "not in this store" : "not in the remote cache");
	} else if (it->err == QUIRE_ECORRUPT && !s->push) {
		missing(s, it->digest, it->what, "damaged in the remote cache (not used)");
	} else {
		missing(s, it->digest, it->what, it->why);
	}
}

/* Runs items on up to connections() threads: 0, or QUIRE_EIO once a connection was given up
 * (the transfers stop). */
static int run_pool(struct sync *s, struct item *items, size_t n)
{
	struct pool pl = { .s = s, .items = items, .n = n };
	pthread_mutex_init(&pl.mu, NULL);
	pthread_t th[MOST_WORKERS];
	size_t nth = 0, want = connections();
	while (nth < want && nth < pl.n && !pthread_create(&th[nth], NULL, worker, &pl))
		nth++;
	if (!nth && pl.n)
		worker(&pl); /* no thread to be had: here and now */
	for (size_t k = 0; k < nth; k++)
		pthread_join(th[k], NULL);
	pthread_mutex_destroy(&pl.mu);
	int err = pl.dead ? quire_error_set(QUIRE_EIO, "%s", pl.dead) : 0;
	free(pl.dead);
	return err;
}

/* Moves every blob not tried yet. */
static int move_all(struct sync *s)
{
	const char *d;
	json_t *what;
	struct item *items = NULL;
	size_t n = 0;
	json_object_foreach(s->blobs, d, what) {
		if (json_object_get(s->tried, d))
			continue;
		json_object_set_new(s->tried, d, json_true());
		items = quire__xrealloc(items, (n + 1) * sizeof(*items));
		items[n++] = (struct item){ .digest = d, .what = json_string_value(what) };
	}
	int err = run_pool(s, items, n);
	/* What was moved before a connection failed counts, and is said. */
	for (size_t k = 0; k < n; k++)
		if (items[k].done)
			settle(s, &items[k]);
	free(items);
	return err;
}

/* Action results, each only once its output (and call record, else it is left out) is there. */
static int put_results(struct sync *s)
{
	const char *fp;
	json_t *ac;
	struct item *items = NULL;
	size_t n = 0;
	/* The texts are made here: jansson values are not shared with the workers. */
	json_object_foreach(s->results, fp, ac) {
		if (!json_object_get(s->ok, str(ac, "digest")))
			continue;
		if (!json_object_get(s->ok, str(ac, "call")))
			json_object_del(ac, "call");
		json_object_set_new(ac, "quire", json_integer(1));
		items = quire__xrealloc(items, (n + 1) * sizeof(*items));
		items[n++] =
			(struct item){ .digest = fp,
				       .what = "an action result",
				       .result = json_dumps(ac, JSON_COMPACT | JSON_SORT_KEYS) };
	}
	int err = run_pool(s, items, n);
	for (size_t k = 0; !err && k < n; k++) {
		if (items[k].err)
			err = quire_error_set(QUIRE_EIO, "the remote cache refused a result: %s",
					      items[k].why);
		else
			s->st->results++;
	}
	for (size_t k = 0; k < n; k++)
		free(items[k].result);
	free(items);
	return err;
}

int quire_sync(const struct quire_project *p, const char *const *revs, size_t nrevs, int push,
	       quire_sync_progress progress, void *ud, struct quire_sync_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->missing = json_array();
	struct sync s = { .p = p, .push = push, .st = st, .progress = progress, .ud = ud };
	int err = quire_remote_open(&s.r, p);
	if (!err && !s.r)
		err = quire_error_set(QUIRE_EINVALID,
				      "no shared cache to %s: set 'cache: { remote: URL }' in "
				      "quire.yaml or QUIRE_REMOTE_CACHE%s",
				      push ? "push to" : "pull from",
				      getenv("QUIRE_NO_REMOTE") && *getenv("QUIRE_NO_REMOTE")
					      ? " (QUIRE_NO_REMOTE is set)"
					      : "");
	if (!err && push)
		err = quire_store_open(&s.store, p->qdir, 1);
	if (err) {
		quire_remote_free(s.r);
		return err;
	}
	s.blobs = json_object();
	s.calls = json_object();
	s.results = json_object();
	s.ok = json_object();
	s.tried = json_object();
	/* What the revisions name, each node of their trees read once. */
	struct quire_manifest_visitor vis = { collect_file, collect_entry, 0, &s };
	struct quire_manifest_scan *scan = quire_manifest_scan_new(p->qdir, &vis);
	for (size_t i = 0; i < nrevs && !err; i++)
		err = quire_manifest_scan(scan, revs[i]);
	quire_manifest_scan_free(scan);
	/* A push reads the call records here; a pull has them once fetched. */
	if (!err && push)
		collect_named(&s);
	if (!err)
		err = move_all(&s);
	if (!err && !push) {
		collect_named(&s);
		err = move_all(&s);
	}
	if (!err && push)
		err = put_results(&s);
	st->blobs = json_object_size(s.blobs);
	json_decref(s.blobs);
	json_decref(s.calls);
	json_decref(s.results);
	json_decref(s.ok);
	json_decref(s.tried);
	quire_store_close(s.store);
	quire_remote_free(s.r);
	return err;
}

size_t quire_sync_fetch(const struct quire_project *p, const char *const *digests, size_t n,
			const volatile sig_atomic_t *cancel)
{
	struct quire_sync_stats st = { 0 };
	struct sync s = { .p = p, .st = &st, .cancel = cancel };
	if (!n || quire_remote_open(&s.r, p) || !s.r) {
		quire_error_clear();
		return 0;
	}
	quire_remote_set_cancel(s.r, cancel); /* each connection is a clone of it */
	st.missing = json_array();
	s.blobs = json_object();
	s.tried = json_object();
	s.ok = json_object();
	for (size_t k = 0; k < n; k++)
		if (quire_digest_valid(digests[k]))
			json_object_set_new(s.blobs, digests[k], json_string("an output"));
	if (move_all(&s))
		quire_error_clear(); /* said by the run when it asks again */
	json_decref(s.blobs);
	json_decref(s.tried);
	json_decref(s.ok);
	quire_sync_stats_release(&st);
	quire_remote_free(s.r);
	return st.moved;
}

void quire_sync_stats_release(struct quire_sync_stats *st)
{
	json_decref(st->missing);
	st->missing = NULL;
}
