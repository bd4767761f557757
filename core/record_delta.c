/* A collector's dependency record in a run's events as a delta against the record it
 * replaces (docs/design-notes.md, "Events that name records"): at 10k a Book's record is
 * 918 KB, and one changed scene changes one digest of it. */
#include <stdlib.h>
#include <string.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "objects.h"
#include "util.h"

/* A record's bytes around its deps: the canonical form of {"deps": ..., "v": N}. */
static const char head[] = "{\"deps\":";

int quire_record_bytes(const char *fp, const char *deps, size_t dlen, struct quire_buf *out)
{
	/* The version its fields say first (a record reading fields by path is version 2): a
	 * collector's record is hashed once, not twice. */
	int first = memmem(deps, dlen, "\"fields\":", 9) ? 2 : 1;
	for (int k = 0; k < 2; k++) {
		out->len = 0;
		quire_buf_add(out, head, sizeof(head) - 1);
		quire_buf_add(out, deps, dlen);
		quire_buf_printf(out, ",\"v\":%d}", k ? 3 - first : first);
		struct quire_digest d;
		quire_hash_bytes(out->ptr, out->len, &d);
		if (fp && !strcmp(d.s, fp))
			return 1;
	}
	return 0;
}

/* The object name of a fingerprint ("sha256:<hex>"), or NULL. */
static const char *hex_of(const char *fp)
{
	return fp && strlen(fp) == QUIRE_DIGEST_STRLEN - 1 && !strncmp(fp, "sha256:", 7) ? fp + 7
											 : NULL;
}

int quire_record_delta(struct quire_objs *o, const char *near, const char *fp, const char *deps,
		       size_t dlen, struct quire_buf *out)
{
	const char *nhex = hex_of(near);
	struct quire_buf rec = QUIRE_BUF_INIT, base = QUIRE_BUF_INIT;
	/* near may be fp itself (a hand edit or a new take kept the record): a delta of a few
	 * bytes, where the record whole is a collector's every name again. */
	int made = o && nhex && hex_of(fp) && quire_objs_has(o, nhex) &&
		   quire_record_bytes(fp, deps, dlen, &rec) && !quire_objs_read(o, nhex, &base) &&
		   quire_objs_delta(base.ptr, base.len, rec.ptr, rec.len, out);
	quire_error_clear();
	quire_buf_release(&rec);
	quire_buf_release(&base);
	return made;
}

json_t *quire_record_delta_ref(struct quire_objs *o, const char *near, const char *fp,
			       const char *deps, size_t dlen)
{
	struct quire_buf delta = QUIRE_BUF_INIT;
	json_t *dd = near && fp && quire_record_delta(o, near, fp, deps, dlen, &delta)
			     ? json_pack("{s:s,s:s%}", "base", near, "delta", delta.ptr, delta.len)
			     : NULL;
	quire_buf_release(&delta);
	return dd;
}

int quire_record_undelta(struct quire_objs *o, const char *base, const char *fp, const char *delta,
			 size_t dlen, char **deps)
{
	*deps = NULL;
	const char *bhex = hex_of(base);
	if (!bhex || !hex_of(fp))
		return quire_error_set(QUIRE_ECORRUPT, "a record's delta names no record");
	struct quire_buf b = QUIRE_BUF_INIT, rec = QUIRE_BUF_INIT;
	int err = o ? quire_objs_read(o, bhex, &b)
		    : quire_error_set(QUIRE_ENOTFOUND, "no object %.12s", bhex);
	if (!err && quire_objs_apply_delta(b.ptr, b.len, delta, dlen, &rec))
		err = quire_error_set(QUIRE_ECORRUPT, "record %.19s: not a delta of %.19s", fp,
				      base);
	struct quire_digest d;
	if (!err) {
		quire_hash_bytes(rec.ptr, rec.len, &d);
		if (strcmp(d.s, fp))
			err = quire_error_set(
				QUIRE_ECORRUPT,
				"record %.19s made from %.19s does not match its name", fp, base);
	}
	/* What follows {"deps": up to the ,"v":N} at its end. */
	const char *tail = NULL;
	if (!err && rec.len > sizeof(head) - 1 && !memcmp(rec.ptr, head, sizeof(head) - 1)) {
		for (const char *t = rec.ptr + rec.len; t-- > rec.ptr + sizeof(head) - 1;)
			if (!strncmp(t, ",\"v\":", 5)) {
				tail = t;
				break;
			}
	}
	if (!err && !tail)
		err = quire_error_set(QUIRE_ECORRUPT, "record %.19s is not a dependency record",
				      fp);
	if (!err)
		*deps = quire__xstrndup(rec.ptr + sizeof(head) - 1,
					(size_t)(tail - rec.ptr) - (sizeof(head) - 1));
	quire_buf_release(&b);
	quire_buf_release(&rec);
	return err;
}
