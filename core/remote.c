/* The shared cache: bazel-remote's HTTP protocol (GET/PUT/HEAD /cas/<sha256> for blobs and
 * /ac/<sha256> for action results, here quire's own JSON keyed by fingerprint), also served
 * by an nginx WebDAV location, or a directory (file://). Every blob fetched is verified
 * against its digest; a missing or damaged one is a miss, never an error; the remote is
 * never listed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "curl-lazy.h"
#include "http.h"
#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "quire/project.h"
#include "quire/run.h"
#include "quire/secret.h"
#include "remote.h"
#include "util.h"

/* An action result is small; a blob is at most what a run stores. */
#define AC_CAP (1u << 20)
#define BLOB_CAP (1u << 30)

struct quire_remote {
	char *base; /* http(s): the URL without a trailing slash */
	char *dir;  /* file://: the directory */
	char *auth; /* QUIRE_CACHE_AUTH (user:password): never printed */
	int push;
	int dead; /* failed once: said so, and not asked again this run */
	char *warning;
	char *why; /* why it was given up (kept; the warning is taken once) */
	CURL *h;
	const volatile sig_atomic_t *cancel; /* the run's interrupt flag: transfers stop */
	json_t *damaged;		     /* digests whose copy there failed verification */
	long long head_len;		     /* the last HEAD's Content-Length, -1 if none */
};

void quire_remote_set_cancel(struct quire_remote *r, const volatile sig_atomic_t *flag)
{
	if (r)
		r->cancel = flag;
}

/* Decodes %XX in a file:// URL's path. */
static char *url_path(const char *s)
{
	char *out = quire__xmalloc(strlen(s) + 1), *o = out;
	for (; *s; s++) {
		unsigned v;
		if (*s == '%' && s[1] && s[2] && sscanf(s + 1, "%2x", &v) == 1 && v) {
			*o++ = (char)v;
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

int quire_remote_open(struct quire_remote **out, const struct quire_project *p)
{
	*out = NULL;
	const char *off = getenv("QUIRE_NO_REMOTE");
	if (off && *off && strcmp(off, "0"))
		return 0;
	const char *env = getenv("QUIRE_REMOTE_CACHE");
	const char *url = env ? env : p->cache_remote;
	if (!url || !*url)
		return 0;
	struct quire_remote *r = quire__xcalloc(1, sizeof(*r));
	if (!strncmp(url, "file://", 7)) {
		/* file:///abs/path or file://localhost/abs/path: nothing relative to where quire
		 * happens to run. */
		const char *path = !strncmp(url + 7, "localhost/", 10) ? url + 16 : url + 7;
		if (*path != '/') {
			free(r);
			return quire_error_set(QUIRE_EINVALID,
					       "a file:// cache needs an absolute path "
					       "(file:///srv/quire-cache), not '%s'",
					       url);
		}
		r->dir = url_path(path);
	} else if (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8)) {
		r->base = quire__xstrdup(url);
		size_t n = strlen(r->base);
		while (n > 8 && r->base[n - 1] == '/')
			r->base[--n] = '\0';
	} else {
		free(r);
		return quire_error_set(QUIRE_EINVALID,
				       "QUIRE_REMOTE_CACHE must be an http://, https:// or file:// "
				       "URL");
	}
	/* From the environment or the secrets file, as a provider's key (and redacted from
	 * every message as one); credentials in an environment URL are redacted too. */
	char *auth = NULL, *source = NULL;
	int err = quire_secret_lookup("QUIRE_CACHE_AUTH", &auth, &source);
	free(source);
	if (err) {
		quire_remote_free(r);
		return err;
	}
	r->auth = auth && *auth ? auth : NULL;
	if (!r->auth)
		free(auth);
	const char *at = r->base ? strchr(r->base, '@') : NULL;
	if (at && at - r->base > 8 && !memchr(r->base + 8, '/', (size_t)(at - r->base - 8))) {
		char *userinfo = quire__xstrndup(strstr(r->base, "://") + 3,
						 (size_t)(at - strstr(r->base, "://") - 3));
		quire_secret_register(userinfo);
		memset(userinfo, 0, strlen(userinfo));
		free(userinfo);
	}
	const char *push = getenv("QUIRE_CACHE_PUSH");
	r->push = push && *push
			  ? strcmp(push, "0") && strcasecmp(push, "false") && strcasecmp(push, "no")
			  : !p->cache_no_push;
	r->damaged = json_object();
	*out = r;
	return 0;
}

struct quire_remote *quire_remote_clone(const struct quire_remote *r)
{
	struct quire_remote *c = quire__xcalloc(1, sizeof(*c));
	c->base = r->base ? quire__xstrdup(r->base) : NULL;
	c->dir = r->dir ? quire__xstrdup(r->dir) : NULL;
	c->auth = r->auth ? quire__xstrdup(r->auth) : NULL;
	c->push = r->push;
	c->cancel = r->cancel;
	c->damaged = json_object();
	return c;
}

void quire_remote_free(struct quire_remote *r)
{
	if (!r)
		return;
	if (r->h)
		curl_easy_cleanup(r->h);
	free(r->base);
	free(r->dir);
	if (r->auth)
		memset(r->auth, 0, strlen(r->auth));
	free(r->auth);
	free(r->warning);
	free(r->why);
	json_decref(r->damaged);
	free(r);
}

const char *quire_remote_take_warning(struct quire_remote *r)
{
	static char last[640];
	if (!r || !r->warning)
		return NULL;
	snprintf(last, sizeof(last), "%s", r->warning);
	free(r->warning);
	r->warning = NULL;
	return last;
}

/* Says once that the remote failed, and stops asking it. */
static void give_up(struct quire_remote *r, const char *why)
{
	if (r->dead)
		return;
	r->dead = 1;
	r->why = quire__xstrdup(why);
	free(r->warning);
	r->warning =
		quire__xasprintf("the remote cache %s: %s; going on without it",
				 r->base ? "did not answer as expected" : "cannot be used", why);
}

/* The hex of a digest ("sha256:<hex>"): the name bazel-remote uses. */
static const char *hex_of(const char *digest)
{
	return strncmp(digest, "sha256:", 7) ? digest : digest + 7;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	const struct quire_remote *r = ud;
	return r->cancel && *r->cancel;
}

struct sink {
	struct quire_buf *b;
	size_t cap;
	int over;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct sink *s = ud;
	if (s->b->len + size * n > s->cap) {
		s->over = 1;
		return 0;
	}
	quire_buf_add(s->b, p, size * n);
	return size * n;
}

/* One request to base/kind/hex: GET (out), PUT (body) or HEAD (neither). Returns the HTTP
 * status, or -1 when the server could not be reached (the remote is then given up). */
static long request(struct quire_remote *r, const char *method, const char *kind, const char *hex,
		    const void *body, size_t len, struct quire_buf *out, size_t cap)
{
	if (!r->h) {
		/* Once for the process, as the HTTP providers do (their threads may be in it). */
		char msg[256];
		if (quire_http_init(msg, sizeof(msg))) {
			give_up(r, msg);
			return -1;
		}
		r->h = curl_easy_init();
	} else {
		curl_easy_reset(r->h);
	}
	if (!r->h) {
		give_up(r, "libcurl could not be started");
		return -1;
	}
	char *url = quire__xasprintf("%s/%s/%s", r->base, kind, hex);
	struct sink s = { out, cap, 0 };
	curl_easy_setopt(r->h, CURLOPT_URL, url);
	curl_easy_setopt(r->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	/* A server that stops answering is given up after 15 s without a byte, and Ctrl-C
	 * stops a transfer at once. */
	curl_easy_setopt(r->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(r->h, CURLOPT_LOW_SPEED_TIME, 15L);
	curl_easy_setopt(r->h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(r->h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(r->h, CURLOPT_XFERINFODATA, r);
	curl_easy_setopt(r->h, CURLOPT_USERAGENT, "quire");
	if (r->auth)
		curl_easy_setopt(r->h, CURLOPT_USERPWD, r->auth);
	struct curl_slist *hd = NULL;
	if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(r->h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(method, "PUT")) {
		hd = curl_slist_append(hd, "Content-Type: application/octet-stream");
		hd = curl_slist_append(hd, "Expect:");
		curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, hd);
		curl_easy_setopt(r->h, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(r->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	struct quire_buf scratch = QUIRE_BUF_INIT;
	if (!out)
		s.b = &scratch, s.cap = 1u << 16;
	curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(r->h, CURLOPT_WRITEDATA, &s);
	CURLcode rc;
	long status = -1;
	/* A busy or restarting server (429, 502, 503, 504, a dropped connection) is asked
	 * again twice, 0.1 s then 0.4 s later, before the remote is given up: one such answer
	 * among thousands of transfers ended them all. */
	for (int attempt = 0;; attempt++) {
		quire_buf_reset(s.b); /* what a refused attempt sent is not the answer */
		s.over = 0;
		rc = curl_easy_perform(r->h);
		status = -1;
		if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && s.over))
			curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
		int again =
			rc == CURLE_OK
				? status == 429 || status == 502 || status == 503 || status == 504
				: rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR ||
					  rc == CURLE_SEND_ERROR || rc == CURLE_PARTIAL_FILE;
		if (!again || attempt == 2 || (r->cancel && *r->cancel))
			break;
		usleep(attempt ? 400000 : 100000);
	}
	if (!(rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && s.over)))
		give_up(r, curl_easy_strerror(rc));
	if (s.over)
		status = -2; /* larger than it can be: not what was asked for */
	curl_off_t cl = -1;
	if (status > 0 && !strcmp(method, "HEAD"))
		curl_easy_getinfo(r->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	r->head_len = (long long)cl;
	curl_slist_free_all(hd);
	quire_buf_release(&scratch);
	free(url);
	return status;
}

/* file://: dir/kind/hex. */
static char *file_path(const struct quire_remote *r, const char *kind, const char *hex)
{
	return quire__xasprintf("%s/%s/%s", r->dir, kind, hex);
}

/* Reads what the remote holds under kind/hex into out: 0, QUIRE_ENOTFOUND for a miss, else
 * an error (the remote is given up). */
static int fetch(struct quire_remote *r, const char *kind, const char *hex, struct quire_buf *out,
		 size_t cap)
{
	if (r->dead)
		return QUIRE_ENOTFOUND;
	if (r->dir) {
		char *path = file_path(r, kind, hex);
		int err = quire_fs_read(path, out, cap);
		free(path);
		if (err == QUIRE_ENOTFOUND) {
			quire_error_clear();
			return QUIRE_ENOTFOUND;
		}
		if (err) {
			give_up(r, quire_error_last());
			quire_error_clear();
		}
		return err;
	}
	long st = request(r, "GET", kind, hex, NULL, 0, out, cap);
	if (st == 200)
		return 0;
	if (st == 404 || st == -2)
		return QUIRE_ENOTFOUND;
	if (st > 0) {
		char why[64];
		snprintf(why, sizeof(why), "GET answered %ld", st);
		give_up(r, why);
	}
	return QUIRE_EIO;
}

/* Stores body under kind/hex: 0, or an error (the remote is given up). */
static int store(struct quire_remote *r, const char *kind, const char *hex, const void *body,
		 size_t len)
{
	if (r->dead)
		return QUIRE_EIO;
	if (r->dir) {
		char *dir = quire__xasprintf("%s/%s", r->dir, kind);
		char *path = file_path(r, kind, hex);
		int err = quire_fs_mkdirs(dir, 0755);
		if (!err)
			err = quire_fs_write_atomic(path, body, len, 0644);
		if (err) {
			give_up(r, quire_error_last());
			quire_error_clear();
		}
		free(dir);
		free(path);
		return err;
	}
	long st = request(r, "PUT", kind, hex, body, len, NULL, 0);
	if (st >= 200 && st < 300)
		return 0;
	if (st > 0) {
		char why[64];
		snprintf(why, sizeof(why), "PUT answered %ld", st);
		give_up(r, why);
	}
	return QUIRE_EIO;
}

/* Whether the remote holds kind/hex (an upload is checked this way before the action result
 * that names it is written). */
static int holds(struct quire_remote *r, const char *kind, const char *hex, long long size)
{
	if (r->dead)
		return 0;
	if (r->dir) {
		char *path = file_path(r, kind, hex);
		struct stat st;
		int ok = stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == size;
		free(path);
		return ok;
	}
	/* Of the size it must have: a server answering 200 to everything holds nothing. */
	return request(r, "HEAD", kind, hex, NULL, 0, NULL, 0) == 200 && r->head_len == size;
}

int quire_remote_get_ac(struct quire_remote *r, const char *fp, json_t **ac)
{
	*ac = NULL;
	if (!r || !quire_digest_valid(fp))
		return QUIRE_ENOTFOUND;
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = fetch(r, "ac", hex_of(fp), &b, AC_CAP);
	if (!err) {
		json_t *j = json_loadb(b.ptr ? b.ptr : "", b.len, 0, NULL);
		const char *d = json_string_value(json_object_get(j, "digest"));
		/* Not quire's (another tool's entry, bazel's ActionResult) or damaged: a miss. */
		if (j && json_integer_value(json_object_get(j, "quire")) == 1 && d &&
		    quire_digest_valid(d))
			*ac = j;
		else
			json_decref(j);
		err = *ac ? 0 : QUIRE_ENOTFOUND;
	}
	quire_buf_release(&b);
	return err;
}

int quire_remote_has_output(struct quire_remote *r, const char *fp, char *digest)
{
	json_t *ac = NULL;
	if (quire_remote_get_ac(r, fp, &ac))
		return 0;
	const char *d = json_string_value(json_object_get(ac, "digest"));
	const json_t *sz = json_object_get(ac, "size");
	int has = json_is_integer(sz) && holds(r, "cas", hex_of(d), json_integer_value(sz));
	if (has)
		snprintf(digest, QUIRE_DIGEST_STRLEN, "%s", d);
	json_decref(ac);
	return has;
}

int quire_remote_pushes(const struct quire_remote *r)
{
	return r && r->push;
}

int quire_remote_has_blob(struct quire_remote *r, const char *digest, long long size)
{
	return r && quire_digest_valid(digest) && holds(r, "cas", hex_of(digest), size);
}

int quire_remote_gave_up(const struct quire_remote *r)
{
	return !r || r->dead;
}

int quire_remote_get_blob(struct quire_remote *r, const char *qdir, const char *digest,
			  long long size)
{
	if (!r || !quire_digest_valid(digest))
		return QUIRE_ENOTFOUND;
	if (quire_blob_exists(qdir, digest))
		return 0;
	struct quire_buf b = QUIRE_BUF_INIT;
	/* No more than the entry says it holds (a server sending more is not read whole). */
	size_t cap = size >= 0 && (unsigned long long)size < BLOB_CAP ? (size_t)size : BLOB_CAP;
	int err = fetch(r, "cas", hex_of(digest), &b, cap);
	if (!err) {
		struct quire_digest d;
		quire_hash_bytes(b.ptr ? b.ptr : "", b.len, &d);
		/* Verified before use: a poisoned or damaged copy is a miss, and said to be. */
		if (strcmp(d.s, digest)) {
			err = QUIRE_ECORRUPT;
			/* Uploaded again when this run makes it: a damaged copy is mended. */
			json_object_set_new(r->damaged, digest, json_true());
			free(r->warning);
			r->warning = quire__xasprintf("the remote cache's copy of %.19s... is "
						      "damaged (its content hashes "
						      "to %.19s...): not used",
						      digest, d.s);
		} else {
			err = quire_blob_put(qdir, b.ptr ? b.ptr : "", b.len, &d);
		}
	}
	quire_buf_release(&b);
	return err;
}

/* Uploads blob digest from the store, unless the remote has it already (*sent says which,
 * when not NULL). The store's error is kept (quire_error_last), and an upload the remote
 * does not confirm says so. */
static int push_blob_ex(struct quire_remote *r, const char *qdir, const char *digest, int *sent)
{
	if (sent)
		*sent = 0;
	if (!digest || !quire_digest_valid(digest))
		return 0;
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_blob_read(qdir, digest, &b, BLOB_CAP, 1);
	if (err) {
		quire_buf_release(&b);
		return err;
	}
	long long size = (long long)b.len;
	if (!json_object_get(r->damaged, digest) && holds(r, "cas", hex_of(digest), size)) {
		quire_buf_release(&b);
		return 0;
	}
	err = store(r, "cas", hex_of(digest), b.ptr ? b.ptr : "", b.len);
	quire_buf_release(&b);
	if (!err && !holds(r, "cas", hex_of(digest), size) && !r->dead)
		err = quire_error_set(QUIRE_EIO, "the cache did not keep it (a HEAD after the "
						 "upload found no copy of its size)");
	else if (!err && r->dead)
		err = QUIRE_EIO;
	if (!err)
		json_object_del(r->damaged, digest);
	if (!err && sent)
		*sent = 1;
	return err;
}

static int push_blob(struct quire_remote *r, const char *qdir, const char *digest)
{
	return push_blob_ex(r, qdir, digest, NULL);
}

int quire_remote_put_blob(struct quire_remote *r, const char *qdir, const char *digest, int *sent)
{
	*sent = 0;
	if (!r || r->dead)
		return QUIRE_EIO;
	return push_blob_ex(r, qdir, digest, sent);
}

/* Where a shard says the output of fp failed: beside the results, under a key of its own. */
static void failed_key(const char *fp, char *hex)
{
	struct quire_digest d;
	char *s = quire__xasprintf("quire-failed:%s", fp);
	quire_hash_bytes(s, strlen(s), &d);
	free(s);
	memcpy(hex, d.s + 7, 64); /* the hex after "sha256:" */
	hex[64] = '\0';
}

int quire_remote_put_failed(struct quire_remote *r, const char *fp, const char *msg)
{
	if (!r || r->dead || !quire_digest_valid(fp))
		return QUIRE_EIO;
	char hex[65];
	failed_key(fp, hex);
	json_t *j = json_pack("{s:i,s:s}", "quire", 1, "failed", msg);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int err = text ? store(r, "ac", hex, text, strlen(text)) : QUIRE_EINVALID;
	free(text);
	json_decref(j);
	return err;
}

int quire_remote_get_failed(struct quire_remote *r, const char *fp, char *msg, size_t cap)
{
	if (!r || r->dead || !quire_digest_valid(fp))
		return 0;
	char hex[65];
	failed_key(fp, hex);
	struct quire_buf b = QUIRE_BUF_INIT;
	int found = 0;
	if (!fetch(r, "ac", hex, &b, AC_CAP)) {
		json_t *j = json_loadb(b.ptr ? b.ptr : "", b.len, 0, NULL);
		const char *m = json_string_value(json_object_get(j, "failed"));
		if (m && json_integer_value(json_object_get(j, "quire")) == 1) {
			snprintf(msg, cap, "%s", m);
			found = 1;
		}
		json_decref(j);
	}
	quire_buf_release(&b);
	quire_error_clear();
	return found;
}

int quire_remote_put_result_text(struct quire_remote *r, const char *fp, const char *text)
{
	if (!r || r->dead || !quire_digest_valid(fp) || !text)
		return quire_error_set(QUIRE_EIO, "the remote cache is not there to take it");
	return store(r, "ac", hex_of(fp), text, strlen(text));
}

int quire_remote_usable(const struct quire_remote *r, const char **why)
{
	*why = r && r->dead ? r->why : NULL;
	return r && !r->dead;
}

int quire_remote_push(struct quire_remote *r, const char *qdir, const char *fp, const char *ac)
{
	if (!r || !r->push || r->dead || !quire_digest_valid(fp))
		return 0;
	json_t *j = json_loads(ac, 0, NULL);
	const char *d = json_string_value(json_object_get(j, "digest"));
	int err = d ? push_blob(r, qdir, d) : QUIRE_EINVALID;
	/* The call's record and what it names travel with it (inspect in another clone). */
	const char *cd = json_string_value(json_object_get(j, "call"));
	json_t *c = !err && cd ? quire_call_load(qdir, cd) : NULL;
	if (!c)
		json_object_del(j, "call"); /* not named unless it is there */
	if (c) {
		const char *named[3];
		quire_call_named(c, named);
		err = push_blob(r, qdir, cd);
		for (int k = 0; k < 3 && !err; k++)
			err = push_blob(r, qdir, named[k]);
	}
	json_decref(c);
	/* Only once what it names is there: an entry never points at a missing blob. */
	if (!err) {
		json_object_set_new(j, "quire", json_integer(1));
		char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		err = store(r, "ac", hex_of(fp), text, strlen(text));
		free(text);
	}
	json_decref(j);
	quire_error_clear();
	return err;
}
