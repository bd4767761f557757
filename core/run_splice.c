/* A collector's prompt kept by ranges: when its template shows every output it reads whole
 * and as it is (quire_template_shows_verbatim), its rendering is a skeleton (the template
 * rendered with a marker in place of each output) with each output's bytes put in. The last
 * rendering is kept in .quire/runs/ with the length and digest of each output's range; when
 * the skeleton is the same, a new rendering copies the ranges of the outputs that did not
 * change and reads only the ones that did. One scene changed under a Book of 10,000 read
 * 10,000 blobs again to render it; now it reads one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "run_internal.h"
#include "template.h"
#include "util.h"

#define SPLICE_MAGIC "quire-splice 2"
/* A marker: MARK_OPEN, the output's number in the order the template asks for them, and
 * MARK_CLOSE. A template or an input holding MARK_OPEN itself is rendered the usual way. */
#define MARK_OPEN '\x01'
#define MARK_CLOSE '\x02'

/* The outputs the skeleton's render asked for, in order. */
struct skel {
	struct runner *r;
	size_t *node;
	json_t **mark;
	size_t n, cap;
};

static const json_t *marker(void *ud, const char *id)
{
	struct skel *k = ud;
	long i = quire_plan_find(k->r->plan, id);
	if (i < 0 || k->r->mark[i] != k->r->gen) {
		quire_error_set(QUIRE_EINVALID, "'%s' is not read here", id);
		return NULL; /* rendered the usual way, which says why */
	}
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 1024;
		k->node = quire__xrealloc(k->node, k->cap * sizeof(*k->node));
		k->mark = quire__xrealloc(k->mark, k->cap * sizeof(*k->mark));
	}
	char m[32];
	int len = snprintf(m, sizeof(m), "%c%zu%c", MARK_OPEN, k->n, MARK_CLOSE);
	k->node[k->n] = (size_t)i;
	k->mark[k->n] = json_stringn(m, (size_t)len);
	return k->mark[k->n++];
}

/* The last rendering: its skeleton's digest, its text, and per output its range's length and
 * digest, in the skeleton's order. */
struct kept {
	char skel[QUIRE_DIGEST_STRLEN];
	const char *text;
	size_t len, n;
	size_t *rlen;
	char (*rdig)[QUIRE_DIGEST_STRLEN];
	struct quire_buf file;
};

/* Per instance and template file (a prompt and a schema are two renderings). */
static char *kept_path(struct runner *r, const char *id, const char *rel)
{
	struct quire_buf key = QUIRE_BUF_INIT;
	quire_buf_printf(&key, "%s\n%s", id, rel);
	struct quire_digest d;
	quire_hash_bytes(key.ptr, key.len, &d);
	quire_buf_release(&key);
	return quire__xasprintf("%s/runs/splice-%.16s", r->p->qdir, d.s + 7);
}

/* Reads the kept rendering of id; 0 when there is none usable (damaged, another format). Its
 * text is not hashed here: each range used is (fill), and nothing else of it is. */
static int kept_load(struct runner *r, const char *id, const char *rel, struct kept *k)
{
	char *path = kept_path(r, id, rel);
	int err = quire_fs_read(path, &k->file, RENDER_CAP + (64u << 20));
	free(path);
	quire_error_clear();
	if (err)
		return 0;
	char *p = k->file.ptr, *end = p + k->file.len, *nl = memchr(p, '\n', k->file.len);
	char magic[32];
	if (!nl ||
	    sscanf(p, "%31[^\t]\t%71[^\t]\t%zu\t%zu\n", magic, k->skel, &k->len, &k->n) != 4 ||
	    strcmp(magic, SPLICE_MAGIC) || k->n > k->file.len)
		return 0;
	k->rlen = quire__xcalloc(k->n + 1, sizeof(*k->rlen));
	k->rdig = quire__xcalloc(k->n + 1, sizeof(*k->rdig));
	p = nl + 1;
	/* "<length>\t<digest>\n" each (not sscanf: it measures the rest of the buffer each time).
	 */
	for (size_t x = 0; x < k->n; x++) {
		char *tab;
		errno = 0;
		unsigned long long len =
			p < end && *p >= '0' && *p <= '9' ? strtoull(p, &tab, 10) : 0;
		if (p >= end || *p < '0' || *p > '9' || errno || tab >= end || *tab != '\t' ||
		    (size_t)(end - tab) < QUIRE_DIGEST_STRLEN + 1 ||
		    tab[QUIRE_DIGEST_STRLEN] != '\n')
			return 0;
		k->rlen[x] = (size_t)len;
		memcpy(k->rdig[x], tab + 1, QUIRE_DIGEST_STRLEN - 1);
		k->rdig[x][QUIRE_DIGEST_STRLEN - 1] = '\0';
		if (!quire_digest_valid(k->rdig[x]))
			return 0;
		p = tab + QUIRE_DIGEST_STRLEN + 1;
	}
	if ((size_t)(end - p) != k->len)
		return 0;
	k->text = p;
	return 1;
}

static void kept_free(struct kept *k)
{
	free(k->rlen);
	free(k->rdig);
	quire_buf_release(&k->file);
}

/* Keeps the rendering just made (best effort: without it the next one reads every output). */
static void kept_save(struct runner *r, const char *id, const char *rel, const char *skel_d,
		      const char *text, size_t len, const struct skel *sk, const size_t *rlen)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_printf(&b, "%s\t%s\t%zu\t%zu\n", SPLICE_MAGIC, skel_d, len, sk->n);
	for (size_t x = 0; x < sk->n; x++)
		quire_buf_printf(&b, "%zu\t%s\n", rlen[x], r->plan->nodes[sk->node[x]].digest);
	/* The text (a Book's prompt: 2.5 MB at 10k) is not copied after its header. */
	char *path = kept_path(r, id, rel);
	if (quire_fs_replace2(path, b.ptr, b.len, text, len, 0644))
		quire_error_clear();
	free(path);
	quire_buf_release(&b);
}

/* Outputs read ahead a window at a time: all of a Book's 10,000 scenes held at once, beside
 * the prompt they make, were 6 MB of a first build's peak. */
#define WINDOW 256

/* Reads ahead, into win, the outputs of markers x0 to x1 that the kept rendering k cannot
 * give and the run does not hold. */
static void read_window(struct runner *r, const struct skel *sk, const struct kept *k, size_t x0,
			size_t x1, json_t **win)
{
	size_t nodes[WINDOW], at[WINDOW], n = 0;
	json_t *got[WINDOW];
	for (size_t x = x0; x < x1; x++) {
		const struct quire_node *u = &r->plan->nodes[sk->node[x]];
		if (r->values[sk->node[x]] || (k && !strcmp(k->rdig[x], u->digest)))
			continue;
		at[n] = x - x0;
		got[n] = NULL;
		nodes[n++] = sk->node[x];
	}
	quire_run__prefetch_nodes(r, nodes, n, got);
	for (size_t m = 0; m < n; m++)
		win[at[m]] = got[m];
}

/* Puts output x's bytes in place of its marker, the next in skeleton bytes *p to end (see
 * fill); ahead is its value when read ahead. */
static int fill_one(struct runner *r, const struct skel *sk, const struct kept *k, size_t x,
		    const json_t *ahead, const char **p, const char *end, const char **kp,
		    size_t *koff, struct quire_buf *out, size_t *rlen)
{
	const char *m = memchr(*p, MARK_OPEN, (size_t)(end - *p));
	char want[32];
	int wl = snprintf(want, sizeof(want), "%c%zu%c", MARK_OPEN, x, MARK_CLOSE);
	if (!m || (size_t)(end - m) < (size_t)wl || memcmp(m, want, (size_t)wl))
		return -1;
	if (quire_buf_add(out, *p, (size_t)(m - *p)))
		return QUIRE_EIO;
	if (k) {
		*koff += (size_t)(m - *kp);
		*kp = m + wl;
	}
	const struct quire_node *n = &r->plan->nodes[sk->node[x]];
	size_t at = out->len;
	/* A kept range is used only when it still hashes to the output's digest: the
	 * range is exactly that output's bytes, so nothing unverified reaches the
	 * prompt (a damaged length in the kept file makes it read again). */
	int copied = 0;
	if (k && *koff <= k->len && k->rlen[x] <= k->len - *koff &&
	    !strcmp(k->rdig[x], n->digest)) {
		struct quire_digest rd;
		quire_hash_bytes(k->text + *koff, k->rlen[x], &rd);
		copied = !strcmp(rd.s, n->digest);
		if (copied && quire_buf_add(out, k->text + *koff, k->rlen[x]))
			return QUIRE_EIO;
	}
	if (!copied) {
		const json_t *v = r->values[sk->node[x]] ? r->values[sk->node[x]] : ahead;
		json_t *own = v ? NULL : quire_run__load_value(r, sk->node[x]);
		if (!v && !own)
			return quire_error_code() ? quire_error_code() : QUIRE_EIO;
		const json_t *use = v ? v : own;
		int aerr = quire_buf_add(out, json_string_value(use), json_string_length(use));
		json_decref(own);
		if (aerr)
			return aerr;
	}
	if (k)
		*koff += k->rlen[x];
	rlen[x] = out->len - at;
	*p = m + wl;
	return 0;
}

/* Puts each output's bytes in place of its marker in skeleton s, into out: copied from the
 * kept rendering k when its range there hashes to the output's digest (k may be NULL), else
 * read and verified (with ahead, read ahead by windows). rlen gets each range's length. -1
 * when s is not the skeleton it seems (a marker out of order), else 0 or the error of an
 * output that could not be read. */
static int fill(struct runner *r, const struct quire_buf *s, const struct skel *sk,
		const struct kept *k, int ahead, struct quire_buf *out, size_t *rlen)
{
	const char *p = s->ptr, *end = s->ptr + s->len;
	size_t koff = 0;		    /* where the kept text's next range starts */
	const char *kp = k ? s->ptr : NULL; /* the skeleton's bytes the kept text mirrors */
	json_t *win[WINDOW] = { 0 };
	int err = 0;
	for (size_t x = 0; x < sk->n && !err; x++) {
		if (x % WINDOW == 0) {
			for (size_t w = 0; w < WINDOW; w++) {
				json_decref(win[w]);
				win[w] = NULL;
			}
			if (ahead)
				read_window(r, sk, k, x, x + WINDOW < sk->n ? x + WINDOW : sk->n,
					    win);
		}
		err = fill_one(r, sk, k, x, win[x % WINDOW], &p, end, &kp, &koff, out, rlen);
	}
	for (size_t w = 0; w < WINDOW; w++)
		json_decref(win[w]);
	if (err)
		return err;
	if (memchr(p, MARK_OPEN, (size_t)(end - p)))
		return -1;
	return quire_buf_add(out, p, (size_t)(end - p)) ? QUIRE_EIO : 0;
}

int quire_run__render_spliced(struct runner *r, size_t i, const char *rel,
			      const struct quire_template *t, const struct quire_render_ctx *c,
			      struct quire_buf *out)
{
	const struct quire_node *n = &r->plan->nodes[i];
	if (n->ndeps < SPLICE_MIN_DEPS || !quire_template_shows_verbatim(t, r->p->bp))
		return 1;
	struct skel sk = { .r = r };
	struct quire_render_ctx sc = *c;
	sc.artefact = marker;
	sc.ud = &sk;
	struct quire_buf s = QUIRE_BUF_INIT;
	size_t start = out->len;
	int err = quire_template_render(t, &sc, &s), rc = 1;
	quire_error_clear();
	if (!err && sk.n >= SPLICE_MIN_DEPS) {
		struct quire_digest sd;
		quire_hash_bytes(s.ptr ? s.ptr : "", s.len, &sd);
		struct kept k = { 0 };
		int have = kept_load(r, n->id, rel, &k) && !strcmp(k.skel, sd.s) && k.n == sk.n;
		/* Many to read (no kept copy, or most outputs changed: an outline's change):
		 * read ahead, a window at a time, on two threads in groups. */
		size_t changed = 0;
		for (size_t x = 0; have && x < sk.n; x++)
			changed += strcmp(k.rdig[x], r->plan->nodes[sk.node[x]].digest) != 0;
		int many = !have || changed >= SPLICE_MIN_DEPS;
		/* Room for the whole prompt at once, from the sizes known (the skeleton's
		 * markers make it a little more): doubling, a 6 MB prompt held 8 MB. Recorded
		 * sizes are a hint, not trusted (a damaged index row said a terabyte): none past
		 * what an upstream may be read at, and no more than RENDER_CAP in all; past it,
		 * the buffer grows as it fills. */
		size_t need = s.len < RENDER_CAP ? s.len : RENDER_CAP;
		for (size_t x = 0; x < sk.n && need < RENDER_CAP; x++) {
			const struct quire_node *u = &r->plan->nodes[sk.node[x]];
			size_t z = 0;
			if (u->size >= 0 && (unsigned long long)u->size <= RENDER_CAP)
				z = (size_t)u->size;
			else if (have && !strcmp(k.rdig[x], u->digest) && k.rlen[x] <= RENDER_CAP)
				z = k.rlen[x];
			need = z < RENDER_CAP - need ? need + z : RENDER_CAP;
		}
		if (quire_buf_reserve(out, need))
			quire_error_clear(); /* over the cap: fill says so */
		size_t *rlen = quire__xcalloc(sk.n + 1, sizeof(*rlen));
		rc = fill(r, &s, &sk, have ? &k : NULL, many, out, rlen);
		if (rc == 0)
			kept_save(r, n->id, rel, sd.s, out->ptr + start, out->len - start, &sk,
				  rlen);
		else
			out->len = start; /* rendered the usual way, which says why */
		if (rc < 0)
			rc = 1;
		free(rlen);
		kept_free(&k);
	}
	for (size_t x = 0; x < sk.n; x++)
		json_decref(sk.mark[x]);
	free(sk.mark);
	free(sk.node);
	quire_buf_release(&s);
	if (out->ptr)
		out->ptr[out->len] = '\0';
	return rc ? 1 : 0;
}
