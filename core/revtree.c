/* Format 2's revisions: a revision object naming three trees (artefacts by producer and
 * index, the project's files by path, the inputs), each node an object, so a revision that
 * changed one scene makes a handful of new nodes and shares every other with its parent.
 * Built from and read back into format 1's manifest shape; the layout is in
 * docs/design-notes.md, "Trees and records, as built so far". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/id.h"
#include "json.h"
#include "objects.h"
#include "revtree_internal.h"
#include "util.h"

void quire__rt_items_free(struct item *it, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		free(it[k].key);
		free(it[k].val);
	}
	free(it);
}

/* Writes {"items":{<one per line>},<tail>} as an object; its name in hex and, when out is
 * given, the digest of its items' outputs. */
void quire__rt_put_node(struct quire_objs *o, const struct item *it, size_t n, const char *tail,
			char hex[65], char *out)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	struct quire_hasher *h = out ? quire_hasher_new() : NULL;
	if (h)
		quire_hasher_update(h, "quire-outputs 1\n", 16);
	quire_buf_puts(&b, "{\"items\":{");
	for (size_t k = 0; k < n; k++) {
		quire_buf_puts(&b, k ? ",\n" : "\n");
		quire_buf_put_jstr(&b, it[k].key, strlen(it[k].key));
		quire_buf_putc(&b, ':');
		quire_buf_puts(&b, it[k].val);
		if (h) {
			quire_hasher_update(h, it[k].key, strlen(it[k].key));
			quire_hasher_update(h, "\t", 1);
			quire_hasher_update(h, it[k].out, strlen(it[k].out));
			quire_hasher_update(h, "\n", 1);
		}
	}
	quire_buf_puts(&b, "\n}");
	if (h) {
		struct quire_digest d;
		quire_hasher_final(h, &d);
		quire_hasher_free(h);
		memcpy(out, d.s, QUIRE_DIGEST_STRLEN);
		quire_buf_printf(&b, ",\"outputs\":\"%s\"", d.s);
	}
	quire_buf_puts(&b, tail);
	quire_buf_putc(&b, '}');
	quire_objs_put(o, b.ptr, b.len, hex);
	quire_buf_release(&b);
}

/* Parses "Name[i][j]" (indexes spelled as quire spells them) into e. */
int quire__rt_parse_id(const char *id, struct ent *e)
{
	const char *b = strchr(id, '[');
	e->namelen = b ? (size_t)(b - id) : strlen(id);
	e->dims = 0;
	if (!e->namelen)
		return -1;
	while (b && *b) {
		char *end;
		if (*b != '[' || e->dims == MAX_DIMS || b[1] < '0' || b[1] > '9' ||
		    (b[1] == '0' && b[2] != ']'))
			return -1;
		errno = 0;
		long long v = strtoll(b + 1, &end, 10);
		if (errno || *end != ']' || v < 0)
			return -1;
		e->idx[e->dims++] = v;
		b = end + 1;
	}
	return 0;
}

int quire__rt_cmp_ent(const void *pa, const void *pb)
{
	const struct ent *a = pa, *b = pb;
	size_t n = a->namelen < b->namelen ? a->namelen : b->namelen;
	int c = memcmp(a->id, b->id, n);
	if (c || a->namelen != b->namelen)
		return c ? c : a->namelen < b->namelen ? -1 : 1;
	for (int d = 0; d < a->dims && d < b->dims; d++)
		if (a->idx[d] != b->idx[d])
			return a->idx[d] < b->idx[d] ? -1 : 1;
	return a->dims - b->dims;
}

/* Puts the record {"deps": <deps>, "v": 1 or 2}, deps given as its JSON text (a record a
 * commit keeps as text, laid out as the manifest lays it out), when it is the one fingerprint
 * fp names (its bytes hash to it): 1 when put. The text is made compact without parsing it
 * into a tree; when it is not canonical then, the record it spells does not hash to fp here
 * and 0 lets the caller try it parsed. */
static int put_record_text(struct quire_objs *o, const char *deps, const char *fp, const char *near)
{
	if (!fp || strlen(fp) != QUIRE_DIGEST_STRLEN - 1)
		return 0;
	struct quire_buf cb = QUIRE_BUF_INIT;
	if (quire_json_reformat(&cb, deps, strlen(deps), -1) < 0) {
		quire_buf_release(&cb);
		return 0;
	}
	struct quire_buf rec = QUIRE_BUF_INIT;
	int put = quire_record_bytes(fp, cb.ptr, cb.len, &rec);
	if (put) {
		char hex[65];
		quire_objs_put_near(o, rec.ptr, rec.len, near, hex);
	}
	quire_buf_release(&rec);
	quire_buf_release(&cb);
	return put;
}

/* put_record_text of a parsed record. */
static int put_record(struct quire_objs *o, const json_t *deps, const char *fp, const char *near)
{
	char *text = quire_json_canonical(deps);
	if (!text) {
		quire_error_clear(); /* a real in it: no record can be named by it */
		return 0;
	}
	int put = put_record_text(o, text, fp, near);
	free(text);
	return put;
}

/* The next member at *i of the object text t (n bytes; *i starts at 1, past the brace): its
 * key at t[*ks] (*kl bytes, without its quotes), its value t[*vs, *ve); *i moves past it.
 * 0 at the end, -1 when t holds no member there. */
static int next_member(const char *t, size_t n, size_t *i, size_t *ks, size_t *kl, size_t *vs,
		       size_t *ve)
{
	if (*i + 1 >= n)
		return 0;
	size_t ke = quire_json_value_end(t, n, *i),
	       e = ke == (size_t)-1 ? ke : quire_json_value_end(t, n, ke + 1);
	if (e == (size_t)-1)
		return -1;
	*ks = *i + 1;
	*kl = ke - *i - 2;
	*vs = ke + 1;
	*ve = e;
	*i = e + (t[e] == ',');
	return 1;
}

/* A record kept as its JSON text (quire_json_loads_keeping: a commit's entries, and the
 * takes it copied them into) replaced by the record it spells. */
static void parse_kept(json_t *e)
{
	const char *kept = json_string_value(json_object_get(e, "deps"));
	json_t *parsed = kept ? json_loads(kept, 0, NULL) : NULL;
	if (json_is_object(parsed))
		json_object_set(e, "deps", parsed);
	json_decref(parsed);
}

/* The leaf of an entry given as its canonical text t (QUIRE_REV2_TEXT): the text without its
 * "deps" when that record is put, as the parsed entry's would be; NULL when a take holds a
 * record (made from the parsed entry). */
static char *leaf_of_text(struct quire_objs *o, const char *t, size_t n, const char *near)
{
	size_t ds = 0, de = 0, fs = 0, fe = 0, i = 1, ks, kl, vs, ve;
	int got;
	while ((got = next_member(t, n, &i, &ks, &kl, &vs, &ve)) > 0) {
		const char *k = t + ks;
		/* A take's record is put by the parsed path ("deps" found anywhere in them,
		 * even inside a string, is taken for one). */
		if (kl == 5 && !memcmp(k, "takes", 5) && memmem(t + vs, ve - vs, "\"deps\":", 7))
			return NULL;
		if (kl == 4 && !memcmp(k, "deps", 4)) {
			/* A record given as a string is one the parsed path parses first. */
			if (t[vs] == '"')
				return NULL;
			ds = ks - 1;
			de = ve;
		} else if (kl == 11 && !memcmp(k, "fingerprint", 11) && t[vs] == '"') {
			fs = vs + 1;
			fe = ve - 1;
		}
	}
	if (got < 0)
		return NULL;
	if (de) {
		char *deps = quire__xstrndup(t + ds + 7, de - ds - 7);
		char *fp = fe > fs ? quire__xstrndup(t + fs, fe - fs) : NULL;
		int put = put_record_text(o, deps, fp, near);
		free(deps);
		free(fp);
		if (put) {
			/* The member and the comma that joins it to the next one, or the last one's
			 * comma before it. */
			size_t a = ds, b = de;
			if (t[b] == ',')
				b++;
			else if (t[a - 1] == ',')
				a--;
			struct quire_buf l = QUIRE_BUF_INIT;
			quire_buf_add(&l, t, a);
			quire_buf_add(&l, t + b, n - b);
			return quire_buf_detach(&l, NULL);
		}
	}
	return quire__xstrndup(t, n);
}

void quire__rt_entry_digest(const json_t *e, char out[QUIRE_DIGEST_STRLEN])
{
	const json_t *text = json_object_get(e, QUIRE_REV2_TEXT);
	const char *d = NULL;
	size_t dl = 0;
	if (text) {
		/* "digest" is a key of the entry itself when it comes right after an opening brace
		 * or a comma at depth 1: found by walking the members. */
		const char *t = json_string_value(text);
		size_t n = json_string_length(text), i = 1, ks, kl, vs, ve;
		while (next_member(t, n, &i, &ks, &kl, &vs, &ve) > 0) {
			if (kl != 6 || memcmp(t + ks, "digest", 6) || t[vs] != '"')
				continue;
			d = t + vs + 1;
			dl = ve - vs - 2;
			if (memchr(d, '\\', dl)) {
				/* Escaped: as parsed (never in a digest quire wrote). */
				json_t *p = json_loadb(t, n, 0, NULL);
				quire__rt_entry_digest(p, out);
				json_decref(p);
				return;
			}
			break;
		}
	} else {
		d = json_string_value(json_object_get(e, "digest"));
		dl = d ? strlen(d) : 0;
	}
	if (!d)
		snprintf(out, QUIRE_DIGEST_STRLEN, "-");
	else
		snprintf(out, QUIRE_DIGEST_STRLEN, "%.*s", (int)dl, d);
}

/* The entry as a leaf holds it: without the dependency records its fingerprints name (kept
 * as objects). */
char *quire__rt_entry_text(struct quire_objs *o, const struct ent *en, const char *near)
{
	const json_t *text = json_object_get(en->e, QUIRE_REV2_TEXT);
	char *leaf = text ? leaf_of_text(o, json_string_value(text), json_string_length(text), near)
			  : NULL;
	if (leaf)
		return leaf;
	json_t *parsed = text ? json_loads(json_string_value(text), 0, NULL) : NULL;
	if (text && !json_is_object(parsed)) {
		/* Not reached: the text is canonical and an object's (build_artefacts). */
		json_decref(parsed);
		return quire__xstrdup("{}");
	}
	json_t *c = json_copy(parsed ? parsed : (json_t *)en->e);
	json_decref(parsed);
	/* A commit's entries may hold a large record as its JSON text (quire_json_loads_keeping):
	 * the same record, so the same revision, as the parsed one. */
	const char *fp = json_string_value(json_object_get(c, "fingerprint")),
		   *kept = json_string_value(json_object_get(c, "deps"));
	if (kept && put_record_text(o, kept, fp, near)) {
		json_object_del(c, "deps");
	} else {
		parse_kept(c);
		const json_t *deps = json_object_get(c, "deps");
		if (deps && put_record(o, deps, fp, near))
			json_object_del(c, "deps");
	}
	json_t *takes = json_object_get(c, "takes");
	if (json_is_array(takes)) {
		json_t *tc = json_deep_copy(takes);
		size_t k;
		json_t *t;
		json_array_foreach(tc, k, t) {
			parse_kept(t);
			const json_t *td = json_object_get(t, "deps");
			if (td &&
			    put_record(o, td, json_string_value(json_object_get(t, "fingerprint")),
				       NULL))
				json_object_del(t, "deps");
		}
		json_object_set_new(c, "takes", tc);
	}
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_json_write(&b, c, 0);
	json_decref(c);
	return quire_buf_detach(&b, NULL);
}

const struct quire_rev2_in *quire__rt_by_number(const struct quire_rev2_in *in, const json_t *e)
{
	return in && in->entry_of && json_is_integer(json_object_get(e, QUIRE_REV2_TEXT)) ? in
											  : NULL;
}

void quire__rt_leaf(struct quire_objs *o, struct ent *en, const char *near, struct item *i)
{
	const json_t *was = en->e;
	json_t *got =
		en->in ? en->in->entry_of(en->in->entry_ud,
					  json_integer_value(json_object_get(was, QUIRE_REV2_TEXT)))
		       : NULL;
	if (en->in && !json_is_object(got)) {
		/* As a parsed entry that is not an object is refused (build_artefacts). */
		if (got)
			quire_error_set(QUIRE_ECORRUPT, "artefact '%s': not an entry", en->id);
		quire_objs_fail(o, quire_error_code() ? quire_error_code() : QUIRE_ERROR);
		json_decref(got);
		got = json_object();
	}
	if (got)
		en->e = got;
	i->val = quire__rt_entry_text(o, en, near);
	quire__rt_entry_digest(en->e, i->out);
	en->e = was;
	json_decref(got);
}

/* A child's item in an artefacts node: its name and its outputs, so a node's own outputs are
 * computed without reading its unchanged children. */
char *quire__rt_child_val(const char *hex, const char *outputs)
{
	return quire__xasprintf("{\"node\":\"sha256:%s\",\"outputs\":\"%s\"}", hex, outputs);
}

/* The subtree of ents [lo, hi), all sharing digits [0, t): its name in hex, its outputs. */
static void build_index(struct quire_objs *o, struct ent *en, size_t lo, size_t hi, int t, int len,
			const char *tail, char hex[65], char *out)
{
	struct item *it = quire__xcalloc(hi - lo, sizeof(*it));
	size_t n = 0;
	int leaf = len == 0 || t == len - 1;
	for (size_t k = lo; k < hi;) {
		size_t e = k + 1;
		if (!leaf)
			while (e < hi && en[e].digits[t] == en[k].digits[t])
				e++;
		struct item *i = &it[n++];
		i->key = leaf ? quire__xstrdup(en[k].digits + t)
			      : quire__xstrndup(en[k].digits + t, 1);
		if (leaf) {
			quire__rt_leaf(o, &en[k], NULL, i);
		} else {
			char ch[65];
			build_index(o, en, k, e, t + 1, len, "", ch, i->out);
			i->val = quire__rt_child_val(ch, i->out);
		}
		k = e;
	}
	char *tl = quire__xasprintf(",\"type\":\"tree\"%s", tail);
	quire__rt_put_node(o, it, n, tl, hex, out);
	free(tl);
	quire__rt_items_free(it, n);
}

int quire__rt_build_producer(struct quire_objs *o, struct ent *en, size_t a, size_t b,
			     struct item *i)
{
	int dims = en[a].dims, w[MAX_DIMS] = { 0 }, len = 0;
	for (size_t j = a; j < b; j++) {
		if (en[j].dims != dims)
			return quire_error_set(QUIRE_ECORRUPT,
					       "artefact '%s': %d indexes, '%s' has %d", en[j].id,
					       en[j].dims, en[a].id, dims);
		for (int d = 0; d < dims; d++) {
			int digits = 1;
			for (long long v = en[j].idx[d]; v >= 16; v /= 16)
				digits++;
			if (digits > w[d])
				w[d] = digits;
		}
	}
	struct quire_buf tail = QUIRE_BUF_INIT;
	quire_buf_puts(&tail, ",\"widths\":[");
	for (int d = 0; d < dims; d++) {
		quire_buf_printf(&tail, "%s%d", d ? "," : "", w[d]);
		len += w[d];
	}
	quire_buf_putc(&tail, ']');
	for (size_t j = a; j < b; j++) {
		char *p = en[j].digits;
		for (int d = 0; d < dims; d++)
			p += sprintf(p, "%0*llx", w[d], en[j].idx[d]);
	}
	i->key = quire__xstrndup(en[a].id, en[a].namelen);
	char ch[65];
	build_index(o, en, a, b, 0, len, tail.ptr, ch, i->out);
	i->val = quire__rt_child_val(ch, i->out);
	quire_buf_release(&tail);
	return 0;
}

/* The artefacts tree of m: the root names each producer's subtree, which records the
 * base-16 width of each of its indexes (as many digits as its largest value needs). */
static int build_artefacts(struct quire_objs *o, const struct quire_rev2_in *in, const json_t *arts,
			   char hex[65], long long *count)
{
	size_t n = json_object_size(arts), k = 0;
	struct ent *en = quire__xcalloc(n ? n : 1, sizeof(*en));
	const char *id;
	json_t *e;
	json_object_foreach((json_t *)arts, id, e) {
		en[k].id = id;
		en[k].e = e;
		en[k].in = quire__rt_by_number(in, e);
		/* An entry given as its text is an object's. */
		const char *tx = json_string_value(json_object_get(e, QUIRE_REV2_TEXT));
		int entry = json_is_object(e) && (!tx || tx[0] == '{');
		if (quire__rt_parse_id(id, &en[k]) || !entry) {
			free(en);
			return quire_error_set(QUIRE_ECORRUPT, "artefact '%s': %s", id,
					       entry ? "not an id" : "not an entry");
		}
		k++;
	}
	qsort(en, n, sizeof(*en), quire__rt_cmp_ent);
	struct item *it = quire__xcalloc(n ? n : 1, sizeof(*it));
	size_t ni = 0;
	int err = 0;
	for (size_t a = 0; a < n && !err;) {
		size_t b = a + 1;
		while (b < n && en[b].namelen == en[a].namelen &&
		       !memcmp(en[b].id, en[a].id, en[a].namelen))
			b++;
		err = quire__rt_build_producer(o, en, a, b, &it[ni]);
		if (!err)
			ni++;
		a = b;
	}
	char out[QUIRE_DIGEST_STRLEN];
	if (!err)
		quire__rt_put_node(o, it, ni, ",\"type\":\"tree\"", hex, out);
	quire__rt_items_free(it, ni);
	free(en);
	*count = (long long)n;
	return err;
}

/* Files: one item per name; a directory "name/" names its own node. A file's value is its
 * JSON text. */
struct fent {
	const char *path;
	const char *val;
	size_t vlen;
};

static int cmp_fent(const void *a, const void *b)
{
	return strcmp(((const struct fent *)a)->path, ((const struct fent *)b)->path);
}

/* A directory's node: its items as they are, or, past DIR_MAX, split 16 ways by the hex digit
 * `level` of each name's digest (dg[k], it[k]'s name's, hashed once for every level). */
static void put_dir(struct quire_objs *o, struct item *it, const struct quire_digest *dg, size_t n,
		    int level, char hex[65])
{
	if (n <= DIR_MAX || level >= QUIRE_DIGEST_HEX) {
		quire__rt_put_node(o, it, n, ",\"type\":\"files\"", hex, NULL);
		return;
	}
	struct item split[16];
	size_t ns = 0;
	struct item *sub = quire__xcalloc(n, sizeof(*sub));
	struct quire_digest *sdg = quire__xcalloc(n, sizeof(*sdg));
	for (int g = 0; g < 16; g++) {
		char digit = "0123456789abcdef"[g];
		size_t m = 0;
		for (size_t k = 0; k < n; k++)
			if (dg[k].s[7 + level] == digit) {
				sdg[m] = dg[k];
				sub[m++] = it[k];
			}
		if (!m)
			continue;
		char ch[65];
		put_dir(o, sub, sdg, m, level + 1, ch);
		split[ns].key = quire__xstrndup(&digit, 1);
		split[ns].val = quire__xasprintf("\"sha256:%s\"", ch);
		ns++;
	}
	free(sub);
	free(sdg);
	quire__rt_put_node(o, split, ns, ",\"split\":true,\"type\":\"files\"", hex, NULL);
	for (size_t k = 0; k < ns; k++) {
		free(split[k].key);
		free(split[k].val);
	}
}

/* The directory of fe[lo, hi), whose paths share their first pl bytes. */
static void build_dir(struct quire_objs *o, const struct fent *fe, size_t lo, size_t hi, size_t pl,
		      char hex[65])
{
	struct item *it = quire__xcalloc(hi - lo + 1, sizeof(*it));
	size_t n = 0;
	for (size_t k = lo; k < hi;) {
		const char *name = fe[k].path + pl, *slash = strchr(name, '/');
		struct item *i = &it[n++];
		if (!slash) {
			i->key = quire__xstrdup(name);
			i->val = quire__xstrndup(fe[k].val, fe[k].vlen);
			k++;
			continue;
		}
		size_t cl = (size_t)(slash - name) + 1, e = k + 1;
		while (e < hi && !strncmp(fe[e].path + pl, name, cl))
			e++;
		char ch[65];
		build_dir(o, fe, k, e, pl + cl, ch);
		i->key = quire__xstrndup(name, cl);
		i->val = quire__xasprintf("\"sha256:%s\"", ch);
		k = e;
	}
	struct quire_digest *dg = NULL;
	if (n > DIR_MAX) {
		dg = quire__xcalloc(n, sizeof(*dg));
		for (size_t k = 0; k < n; k++)
			quire_hash_bytes(it[k].key, strlen(it[k].key), &dg[k]);
	}
	put_dir(o, it, dg, n, 0, hex);
	free(dg);
	quire__rt_items_free(it, n);
}

/* The files of text (an object, as quire_project_files_text writes it) into fe, unsorted,
 * their paths in *keys (a copy of the text): -1 unless every key and value is a string
 * written without escapes, so that it is the same as the object parsed and written again
 * (a digest, and a path without a quote, backslash or control character). */
static int fents_of_text(const char *text, size_t len, struct fent **fe, size_t *n, char **keys)
{
	char *t = *keys = quire__xstrndup(text, len);
	size_t i = 0, alloc = 0;
	*fe = NULL;
	*n = 0;
#define WS(c) ((c) == ' ' || (c) == '\n' || (c) == '\t' || (c) == '\r')
	while (i < len && WS(t[i]))
		i++;
	if (i >= len || t[i++] != '{')
		return -1;
	for (int first = 1;; first = 0) {
		while (i < len && WS(t[i]))
			i++;
		if (i < len && t[i] == '}' && first)
			return 0;
		const char *str[2];
		size_t slen[2];
		for (int s = 0; s < 2; s++) {
			if (i >= len || t[i] != '"')
				return -1;
			size_t e = i + 1;
			while (e < len && t[e] != '"' && t[e] != '\\' &&
			       (unsigned char)t[e] >= 0x20)
				e++;
			if (e >= len || t[e] != '"')
				return -1;
			/* Bytes past ASCII: UTF-8, as a parser wants them. */
			for (size_t b = i + 1; b < e; b++)
				if ((unsigned char)t[b] >= 0x80) {
					int bad = quire_fs_check_utf8("", t + i + 1, e - i - 1);
					quire_error_clear();
					if (bad)
						return -1;
					break;
				}
			str[s] = t + i;
			slen[s] = e + 1 - i;
			i = e + 1;
			while (i < len && WS(t[i]))
				i++;
			if (!s && (i >= len || t[i++] != ':'))
				return -1;
			while (!s && i < len && WS(t[i]))
				i++;
		}
		QUIRE_GROW(*fe, alloc, *n + 1);
		/* The key's closing quote becomes its end: paths are C strings. */
		((char *)str[0])[slen[0] - 1] = '\0';
		(*fe)[(*n)++] = (struct fent){ str[0] + 1, str[1], slen[1] };
		if (i < len && t[i] == ',') {
			i++;
			continue;
		}
		if (i >= len || t[i++] != '}')
			return -1;
		while (i < len && WS(t[i]))
			i++;
		return i == len ? 0 : -1;
	}
#undef WS
}

int quire__rt_build_files(struct quire_objs *o, const json_t *files, char hex[65])
{
	struct fent *fe = NULL;
	size_t n = 0;
	char *keys = NULL;
	struct quire_buf vals = QUIRE_BUF_INIT;
	json_t *parsed = NULL;
	int err = 0;
	/* The run's list as its text: its tree made without parsing 10,000 names into a map. */
	if (json_is_string(files)) {
		int ok = !fents_of_text(json_string_value(files), json_string_length(files), &fe,
					&n, &keys);
		if (n) /* fe is NULL for an empty or cut-short list */
			qsort(fe, n, sizeof(*fe), cmp_fent);
		for (size_t k = 1; ok && k < n; k++)
			ok = strcmp(fe[k - 1].path, fe[k].path) != 0;
		if (!ok) {
			free(fe);
			free(keys);
			fe = NULL;
			keys = NULL;
			n = 0;
			parsed = json_loads(json_string_value(files), 0, NULL);
			if (!json_is_object(parsed))
				err = quire_error_set(QUIRE_ECORRUPT,
						      "a new revision's files are not a map");
			files = parsed;
		}
	}
	if (!err && !fe) {
		size_t k = 0, *at = quire__xcalloc(json_object_size(files) + 1, sizeof(*at));
		fe = quire__xcalloc(json_object_size(files) + 1, sizeof(*fe));
		const char *path;
		json_t *v;
		json_object_foreach((json_t *)files, path, v) {
			fe[k].path = path;
			at[k] = vals.len;
			quire_json_write(&vals, v, 0);
			fe[k].vlen = vals.len - at[k];
			k++;
		}
		/* Pointed at once the buffer has stopped moving. */
		for (n = 0; n < k; n++)
			fe[n].val = vals.ptr + at[n];
		free(at);
		qsort(fe, n, sizeof(*fe), cmp_fent);
	}
	if (!err)
		build_dir(o, fe, 0, n, 0, hex);
	free(fe);
	free(keys);
	quire_buf_release(&vals);
	json_decref(parsed);
	return err;
}

static void build_inputs(struct quire_objs *o, const json_t *inputs, char hex[65])
{
	size_t n = 0;
	const char **keys = quire_json_sorted_keys(inputs, &n);
	struct item *it = quire__xcalloc(n + 1, sizeof(*it));
	for (size_t k = 0; k < n; k++) {
		struct quire_buf b = QUIRE_BUF_INIT;
		quire_json_write(&b, json_object_get(inputs, keys[k]), 0);
		it[k].key = quire__xstrdup(keys[k]);
		it[k].val = quire_buf_detach(&b, NULL);
	}
	quire__rt_put_node(o, it, n, ",\"type\":\"inputs\"", hex, NULL);
	quire__rt_items_free(it, n);
	free(keys);
}

/* The revision's own keys, and format 1's that a revision does not keep as they were ("slim"
 * marks a commit's manifest that holds only what changed). */
static const char *const own_keys[] = { "alias",      "artefacts", "entries", "files",	 "format",
					"generation", "inputs",	   "parent",  "parents", "revision",
					"slim",	      "type",	   NULL };

int quire__rt_own_key(const char *k)
{
	for (size_t i = 0; own_keys[i]; i++)
		if (!strcmp(own_keys[i], k))
			return 1;
	return 0;
}

int quire__rt_put_revision(struct quire_objs *o, const struct quire_rev2_in *in, const char *ah,
			   long long count, char rev[65])
{
	const json_t *m = in->manifest, *files = json_object_get(m, "files"),
		     *inputs = json_object_get(m, "inputs");
	json_t *empty = json_object();
	char fh[65], ih[65];
	int err = quire__rt_build_files(
		o, json_is_object(files) || json_is_string(files) ? files : empty, fh);
	if (err) {
		json_decref(empty);
		return err;
	}
	build_inputs(o, json_is_object(inputs) ? inputs : empty, ih);
	json_decref(empty);
	json_t *r = json_object();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)m, k, v) {
		if (!quire__rt_own_key(k))
			json_object_set(r, k, v);
	}
	json_t *ps = json_array();
	for (size_t p = 0; p < in->nparents; p++)
		json_array_append_new(ps, json_sprintf("sha256:%s", in->parents[p]));
	json_object_set_new(r, "parents", ps);
	json_object_set_new(r, "type", json_string("revision"));
	json_object_set_new(r, "format", json_integer(2));
	json_object_set_new(r, "generation", json_integer(in->generation));
	json_object_set_new(r, "entries", json_integer(count));
	json_object_set_new(r, "artefacts", json_sprintf("sha256:%s", ah));
	json_object_set_new(r, "files", json_sprintf("sha256:%s", fh));
	json_object_set_new(r, "inputs", json_sprintf("sha256:%s", ih));
	if (in->alias)
		json_object_set_new(r, "alias", json_string(in->alias));
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_json_write(&b, r, 0);
	json_decref(r);
	quire_objs_put(o, b.ptr, b.len, rev);
	quire_buf_release(&b);
	return 0;
}

int quire_rev2_build(struct quire_objs *o, const struct quire_rev2_in *in, char rev[65])
{
	const json_t *arts = json_object_get(in->manifest, "artefacts");
	json_t *empty = json_object();
	char ah[65];
	long long count = 0;
	size_t mark = quire_objs_mark(o);
	int err = build_artefacts(o, in, json_is_object(arts) ? arts : empty, ah, &count);
	json_decref(empty);
	if (!err)
		err = quire__rt_put_revision(o, in, ah, count, rev);
	if (!err)
		err = quire_objs_error(o);
	if (err)
		quire_objs_rollback(o, mark);
	return err;
}
