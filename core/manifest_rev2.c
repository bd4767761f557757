/* Format-2 revisions read through the manifest module: a revision name is format 2's when
 * its pack, .quire/revs/<name>.objects, is on disk and no format-1 manifest has the name.
 * What is read is given the shape format 1's manifests have in memory ("parent", "parents"
 * only for a merge, "format" 1), so every reader of a revision reads either form. */
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/manifest.h"
#include "json.h"
#include "manifest_internal.h"
#include "objects.h"
#include "util.h"

int quire__rev2_here(const char *qdir, const char *rev)
{
	if (!quire_rev_is_digest(rev))
		return 0;
	char *path = quire__xasprintf("%s/revs/%s.objects", qdir, rev);
	int here = access(path, F_OK) == 0;
	free(path);
	return here;
}

/* m (quire_rev2_read's) in format 1's shape (its alias kept with keep_alias). */
static void shape(json_t *m, int keep_alias)
{
	const json_t *ps = json_object_get(m, "parents");
	json_object_set(m, "parent", json_array_size(ps) ? json_array_get(ps, 0) : json_null());
	if (json_array_size(ps) < 2)
		json_object_del(m, "parents");
	json_object_del(m, "generation");
	if (!keep_alias)
		json_object_del(m, "alias");
	json_object_set_new(m, "format", json_integer(MANIFEST_FORMAT));
}

int quire__rev2_objs(const char *qdir, struct quire_objs **o)
{
	return *o ? 0 : quire_objs_open(qdir, o);
}

int quire__rev2_damaged(struct quire_objs *o, const char *rev, int err)
{
	/* What is wrong, and the one way to mend it. */
	static const char mend[] = "(a damaged pack: restore the packs from git, 'git checkout "
				   "-- .quire/revs/'; 'quire fsck' lists what else is damaged)";
	if (err == QUIRE_ENOTFOUND && !quire_objs_has(o, rev))
		err = quire_error_set(QUIRE_ECORRUPT,
				      ".quire/revs/%s.objects does not hold its revision %s", rev,
				      mend);
	else if (err == QUIRE_ENOTFOUND)
		err = quire_error_set(
			QUIRE_ECORRUPT,
			"revision %.12s: an object of it is missing from .quire/revs/ %s", rev,
			mend);
	else if (err == QUIRE_ECORRUPT)
		err = quire_error_set(QUIRE_ECORRUPT, "revision %.12s: %s %s", rev,
				      quire_error_last(), mend);
	return err;
}

int quire__rev2_read(const char *qdir, struct quire_objs **o, const char *rev, int parts,
		     json_t **out, long long *entries)
{
	*out = NULL;
	int err = quire__rev2_objs(qdir, o);
	if (!err)
		err = quire__rev2_damaged(
			*o, rev, quire_rev2_read(*o, rev, parts & QUIRE_REV2_ALL, out, entries));
	if (!err)
		shape(*out, parts & QUIRE__REV2_ALIAS);
	return err;
}

int quire__rev2_load(const char *qdir, const char *rev, json_t **out)
{
	struct quire_objs *o = NULL;
	int err = quire__rev2_read(qdir, &o, rev, QUIRE_REV2_ALL, out, NULL);
	quire_objs_free(o);
	return err;
}

struct quire_manifest_scan {
	char *qdir;
	const struct quire_manifest_visitor *v;
	struct quire_objs *o;
	struct quire_rev2_walk *w;
};

struct quire_manifest_scan *quire_manifest_scan_new(const char *qdir,
						    const struct quire_manifest_visitor *v)
{
	struct quire_manifest_scan *s = quire__xcalloc(1, sizeof(*s));
	s->qdir = quire__xstrdup(qdir);
	s->v = v;
	return s;
}

void quire_manifest_scan_free(struct quire_manifest_scan *s)
{
	if (!s)
		return;
	quire_rev2_walk_free(s->w);
	quire_objs_free(s->o);
	free(s->qdir);
	free(s);
}

/* A format-1 manifest, read whole: everything in it is visited. */
static int scan_whole(struct quire_manifest_scan *s, const char *rev)
{
	json_t *m = NULL, *x;
	int err = quire_manifest_load(s->qdir, rev, &m);
	const char *k;
	json_object_foreach(err || !s->v->file ? NULL : json_object_get(m, "files"), k, x) {
		if ((err = s->v->file(s->v->ud, rev, k, x)))
			break;
	}
	json_object_foreach(err || !s->v->entry ? NULL : json_object_get(m, "artefacts"), k, x) {
		if ((err = s->v->entry(s->v->ud, rev, k, x, 0)))
			break;
	}
	json_decref(m);
	return err;
}

int quire_manifest_scan(struct quire_manifest_scan *s, const char *rev)
{
	char *path = quire__xasprintf("%s/manifests/%s.json", s->qdir, rev);
	int v1 = access(path, F_OK) == 0;
	free(path);
	if (v1 || !quire__rev2_here(s->qdir, rev))
		return scan_whole(s, rev);
	int err = quire__rev2_objs(s->qdir, &s->o);
	if (err)
		return err;
	if (!s->w)
		s->w = quire_rev2_walk_new(s->o, s->v);
	err = quire_rev2_walk_rev(s->w, rev);
	/* What the visitor said is its own, not damage. */
	return err && quire_rev2_walk_by_visitor(s->w) ? err : quire__rev2_damaged(s->o, rev, err);
}

int quire__rev2_head(const char *qdir, const char *rev, json_t **out, long long *n)
{
	struct quire_objs *o = NULL;
	int err = quire__rev2_read(qdir, &o, rev, QUIRE_REV2_INPUTS | QUIRE_REV2_FILES, out, n);
	quire_objs_free(o);
	return err;
}

int quire_manifest_load_entry(const char *qdir, const char *rev, const char *id, json_t **out)
{
	*out = NULL;
	if (!quire__rev2_here(qdir, rev))
		return 0;
	struct quire_objs *o = NULL;
	json_t *m = NULL, *e = NULL;
	int err = quire__rev2_read(qdir, &o, rev, QUIRE_REV2_INPUTS, &m, NULL);
	if (!err)
		err = quire_rev2_entry(o, rev, id, &e);
	if (!err && e) {
		json_object_set_new(m, "artefacts", json_pack("{s:o}", id, e));
		*out = m;
		m = NULL;
	}
	json_decref(m);
	quire_objs_free(o);
	return err;
}

int quire__rev2_verify(const char *qdir, const char *rev)
{
	struct quire_objs *o = NULL;
	json_t *m = NULL;
	/* Reading an object verifies its bytes against its name. */
	int err = quire__rev2_read(qdir, &o, rev, 0, &m, NULL);
	json_decref(m);
	quire_objs_free(o);
	return err;
}

void quire__rev2_list(const char *qdir, char ***names, size_t *n, size_t *alloc)
{
	char *dir = quire__xasprintf("%s/revs", qdir);
	DIR *d = opendir(dir);
	free(dir);
	if (!d)
		return;
	struct dirent *e;
	/* A pack's first part is <name>.objects; the later ones <name>.N.objects. */
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len != 64 + strlen(".objects") || strcmp(e->d_name + 64, ".objects"))
			continue;
		char *name = quire__xstrndup(e->d_name, 64);
		if (!quire_rev_is_digest(name)) {
			free(name);
			continue;
		}
		QUIRE_GROW(*names, *alloc, *n + 1);
		(*names)[(*n)++] = name;
	}
	closedir(d);
}

struct alias_find {
	const char *spec;
	size_t len;
	char *hit;
	size_t hits;
};

static int alias_visit(void *ud, const struct quire_rev2_info *r)
{
	struct alias_find *f = ud;
	if (r->alias && !strncmp(r->alias, f->spec, f->len) &&
	    (quire_rev_is_digest(r->alias) || !r->alias[f->len]) && f->hits++ == 0)
		f->hit = quire__xstrdup(r->name);
	return 0;
}

int quire__rev2_alias(const char *qdir, const char *spec, char **rev, size_t *hits)
{
	*rev = NULL;
	*hits = 0;
	char *dir = quire__xasprintf("%s/revs", qdir);
	int none = access(dir, F_OK) != 0;
	free(dir);
	if (none)
		return 0;
	struct quire_objs *o = NULL;
	struct alias_find f = { spec, strlen(spec), NULL, 0 };
	int err = quire_objs_open(qdir, &o);
	if (!err)
		err = quire_objs_revisions(o, alias_visit, &f);
	quire_objs_free(o);
	if (err || f.hits != 1) {
		free(f.hit);
		f.hit = NULL;
	}
	*rev = f.hit;
	*hits = f.hits;
	return err;
}

/* What .quire/format says, without the white space around it: "" when it cannot be read (no
 * file: a store quire 0.1 made, or a new one). */
static void format_text(const char *qdir, char *out, size_t outlen)
{
	char *path = quire__xasprintf("%s/format", qdir);
	struct quire_buf b = QUIRE_BUF_INIT;
	size_t n = 0;
	if (quire_fs_read(path, &b, 4096) == 0) {
		const char *s = b.ptr, *e = b.ptr + b.len;
		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		for (; s < e && n + 1 < outlen; s++)
			out[n++] = isprint((unsigned char)*s) ? *s : '?';
	}
	out[n] = '\0';
	quire_error_clear();
	quire_buf_release(&b);
	free(path);
}

int quire__store_format2(const char *qdir)
{
	char f[8];
	format_text(qdir, f, sizeof(f));
	return !strcmp(f, "2");
}

int quire_store_format_check(const char *qdir)
{
	char f[33]; /* what it says, cut to 32 characters */
	format_text(qdir, f, sizeof(f));
	if (!*f || !strcmp(f, "2"))
		return 0;
	/* A newer quire's store read or written by this one could lose what it keeps: nothing
	 * is touched. */
	return quire_error_set(QUIRE_ENEWER,
			       "this project's store is in format '%s' (.quire/format), which this "
			       "quire does not know (it reads formats 1 and 2): upgrade quire",
			       f);
}

char *quire__manifest_text_path(const char *qdir, const char *rev)
{
	/* A format-2 revision's text was rendered by an older quire (a cache, in runs/): an
	 * index of that quire points into it. */
	if (quire__rev2_here(qdir, rev))
		return quire__xasprintf("%s/runs/%s.json", qdir, rev);
	return quire__xasprintf("%s/manifests/%s.json", qdir, rev);
}

void quire__rev2_drop_index(const char *qdir, const char *rev)
{
	if (!quire__rev2_here(qdir, rev))
		return;
	char *text = quire__xasprintf("%s/runs/%s.json", qdir, rev),
	     *index = quire__index_path(qdir, rev);
	unlink(index);
	unlink(text);
	free(text);
	free(index);
}

/* The generation of a revision with parents ps: one more than theirs. */
static int generation_of(struct quire_objs *o, const char *const *ps, size_t n, long long *gen)
{
	*gen = 1;
	for (size_t k = 0; k < n; k++) {
		json_t *r = NULL;
		int err = quire_rev2_read(o, ps[k], 0, &r, NULL);
		if (err)
			return err;
		long long g = json_integer_value(json_object_get(r, "generation"));
		json_decref(r);
		if (g + 1 > *gen)
			*gen = g + 1;
	}
	return 0;
}

/* Entry id as its canonical text (QUIRE_REV2_TEXT) when the fold holds it as text that is
 * canonical once compact, for a build that needs only its leaf: NULL (nothing read) when it
 * holds it parsed or the text is not; *err set when the text cannot be read. */
static json_t *entry_as_text(const json_t *m, struct quire_mbase *base, const char *id,
			     struct quire_buf *t, struct quire_buf *c, int *err)
{
	quire_buf_reset(t);
	quire_buf_reset(c);
	int got = 0;
	*err = quire__mb_entry_text(m, base, id, t, &got);
	if (!got || quire_json_reformat(c, t->ptr, t->len, -1) || c->ptr[0] != '{' ||
	    !quire_json_is_canonical(c->ptr, c->len))
		return NULL;
	json_t *e = json_object();
	json_object_set_new_nocheck(e, QUIRE_REV2_TEXT, json_stringn_nocheck(c->ptr, c->len));
	return e;
}

/* The changes of a first build or of a slim commit, whose entries the fold keeps as text
 * given to the build or the update by number: each read when its leaf is made
 * (quire_rev2_in's entry_of). */
struct lazy {
	const json_t *m;
	struct quire_mbase *base;
	const struct quire_rev2_change *ch;
};

static json_t *lazy_entry(void *ud, long long n)
{
	const struct lazy *lz = ud;
	struct quire_buf t = QUIRE_BUF_INIT, c = QUIRE_BUF_INIT;
	const char *id = lz->ch[n].id;
	int err = 0;
	json_t *e = entry_as_text(lz->m, lz->base, id, &t, &c, &err);
	if (!err && !e)
		err = quire_manifest_peek_kept(lz->m, lz->base, id, &e);
	if (!err && !e)
		err = quire_error_set(QUIRE_ERROR, "internal: '%s' has no entry", id);
	quire_buf_release(&t);
	quire_buf_release(&c);
	if (err) {
		json_decref(e);
		return NULL;
	}
	return e;
}

/* The entries of m's artefacts (an overlay on base when m is slim: null for a removed one),
 * each as a commit holds it (a large record kept as its text), in *ch; held keeps them. With
 * by_number, those the fold keeps as text are given by number (struct lazy). */
static int changes_of(const json_t *m, struct quire_mbase *base, json_t *held, int by_number,
		      struct quire_rev2_change **ch, size_t *n)
{
	const json_t *arts = json_object_get(m, "artefacts");
	*n = 0;
	*ch = quire__xcalloc(json_object_size(arts) + 1, sizeof(**ch));
	const char *id;
	json_t *v;
	int err = 0;
	json_object_foreach((json_t *)arts, id, v) {
		json_t *e = NULL;
		if (!json_is_null(v) && by_number && quire__mb_kept_as_text(m, id)) {
			e = json_object();
			json_object_set_new_nocheck(e, QUIRE_REV2_TEXT,
						    json_integer((json_int_t)*n));
		} else if (!json_is_null(v)) {
			err = quire_manifest_peek_kept(m, base, id, &e);
		}
		if (err)
			break;
		if (e)
			json_array_append_new(held, e);
		(*ch)[(*n)++] = (struct quire_rev2_change){ id, e };
	}
	return err;
}

/* Whether manifest m (may be NULL) is revision rev's. */
static int same_rev(const json_t *m, const char *rev)
{
	const char *r = json_string_value(json_object_get(m, "revision"));
	return r && !strcmp(r, rev);
}

/* Narrows ch (every entry of a whole manifest m) to the entries that differ from revision
 * parent's (whole, when the caller holds it, else read back), and adds those m lacks as
 * removed. held keeps what ch points at. */
static int parent_changes(struct quire_objs *o, const char *parent, const json_t *whole,
			  const json_t *m, json_t *held, struct quire_rev2_change **ch, size_t *n)
{
	json_t *pm = NULL;
	int err = whole ? 0 : quire_rev2_read(o, parent, QUIRE_REV2_ARTEFACTS, &pm, NULL);
	if (err)
		return err;
	if (whole)
		pm = json_incref((json_t *)whole);
	const json_t *pa = json_object_get(pm, "artefacts"),
		     *arts = json_object_get(m, "artefacts");
	struct quire_rev2_change *out = quire__xcalloc(*n + json_object_size(pa) + 1, sizeof(*out));
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		const json_t *was = json_object_get(pa, (*ch)[i].id);
		/* A record kept as text compares unequal to the one read back: only a wasted
		 * rewrite of an entry the update finds unchanged. */
		if (!was || !(*ch)[i].entry || !json_equal(was, (json_t *)(*ch)[i].entry))
			out[k++] = (*ch)[i];
	}
	const char *id;
	json_t *v;
	json_object_foreach((json_t *)pa, id, v) {
		if (!json_object_get(arts, id)) {
			json_t *key = json_string(id);
			json_array_append_new(held, key);
			out[k++] = (struct quire_rev2_change){ json_string_value(key), NULL };
		}
	}
	json_array_append_new(held, pm);
	free(*ch);
	*ch = out;
	*n = k;
	return 0;
}

int quire__rev2_commit(const char *qdir, const json_t *m, struct quire_mbase *base,
		       const json_t *parent, char name[65], int (*hook)(void *ud, const char *name),
		       void *ud)
{
	const char *ps[2];
	size_t np = 0;
	const json_t *list = json_object_get(m, "parents");
	const char *first = json_string_value(json_object_get(m, "parent"));
	if (first)
		ps[np++] = first;
	for (size_t k = 0; k < json_array_size(list) && np < 2; k++) {
		const char *p = json_string_value(json_array_get(list, k));
		if (p && (!first || strcmp(p, first)))
			ps[np++] = p;
	}
	for (size_t k = 0; k < np; k++)
		if (!quire__rev2_here(qdir, ps[k]))
			return quire_error_set(QUIRE_EINVALID,
					       "revision %.12s is not in format 2 (a parent of a "
					       "format-2 commit)",
					       ps[k]);
	/* The files list kept as its text (a run's) is made the revision's files tree as it is
	 * (quire__rt_build_files). */
	json_t *mm = json_copy((json_t *)m), *held = json_array();
	/* The objects the run read through base, when it did: what it read is not read again. */
	struct quire_objs *own = NULL;
	int err = json_is_object(json_object_get(mm, "files")) ||
				  json_is_string(json_object_get(mm, "files"))
			  ? 0
			  : quire_error_set(QUIRE_ECORRUPT, "a new revision's files are not a map");
	struct quire_objs *o = err ? NULL : quire__mbase_objs_or_open(base, qdir, &own);
	if (!err && !o)
		err = quire_error_code() ? quire_error_code() : QUIRE_EIO;
	/* What this commit puts is taken back from the borrowed objects when it fails. */
	size_t mark = o ? quire_objs_mark(o) : 0;
	struct quire_rev2_change *ch = NULL;
	size_t n = 0;
	struct quire_rev2_in in = { .manifest = mm, .nparents = np };
	for (size_t k = 0; k < np; k++)
		in.parents[k] = ps[k];
	if (!err)
		err = generation_of(o, ps, np, &in.generation);
	/* By number when ch stays as changes_of makes it (parent_changes narrows it). */
	int slim = json_is_true(json_object_get(m, "slim"));
	struct lazy lz = { m, base, NULL };
	if (!err)
		err = changes_of(m, base, held, !np || slim, &ch, &n);
	in.entry_of = lazy_entry;
	in.entry_ud = &lz;
	if (!err && np && !slim)
		/* Every entry is in m (an edit, a rewind, a commit without the parent's index):
		 * what differs from the first parent, so that a collector's record is stored
		 * as a delta of the one it replaces rather than whole. */
		err = parent_changes(o, ps[0], same_rev(parent, ps[0]) ? parent : NULL, m, held,
				     &ch, &n);
	lz.ch = ch;
	if (!err && np) {
		/* What the fold changed, onto the first parent's tree. */
		err = quire_rev2_update(o, &in, ps[0], ch, n, name);
	} else if (!err) {
		/* A first build: every entry is in m, built whole. */
		json_t *arts = json_object();
		for (size_t k = 0; k < n; k++)
			if (ch[k].entry)
				json_object_set(arts, ch[k].id, (json_t *)ch[k].entry);
		json_object_set_new(mm, "artefacts", arts);
		err = quire_rev2_build(o, &in, name);
	}
	/* Told before the pack takes its name: a kill after this finds the name and either the
	 * pack (committed) or none (made again from the run's events). */
	if (!err && hook)
		err = hook(ud, name);
	if (!err)
		err = quire_objs_write_pack(o, name);
	if (err && o && !own)
		quire_objs_rollback(o, mark);
	quire_objs_free(own);
	free(ch);
	json_decref(held);
	json_decref(mm);
	return err;
}
