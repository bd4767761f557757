/* Fuzzes the readers of .quire/: a revision's manifest (core/manifest.c) and its compact
 * index. Input: the manifest's text (as rev-0001.json), then optionally a NUL and the
 * index's rows (rev-0001-index.tsv after its header line; the harness writes the header for
 * the manifest's in-memory file unless the rows start with one of their own).
 * The manifest is folded with one run's events and written as a commit would; the index's
 * rows are read back from the manifest's text as a plan reads them. */
#include "fuzz.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <jansson.h>

#include "core/manifest_parse.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/manifest.h"

/* A run's events, as the store gives them back: the first artefact's id stands for "*". */
static const char *const events[][3] = {
	{ "run.start", NULL,
	  "{\"revision\":\"rev-0002\",\"parent\":\"rev-0001\",\"files\":{\"quire.yaml\":"
	  "\"sha256:00\"},\"inputs\":{\"Chapters\":{\"value\":2}},\"git\":null}" },
	{ "artefact.produced", "*",
	  "{\"digest\":\"sha256:aa\",\"size\":3,\"take\":2,\"fingerprint\":\"sha256:f1\","
	  "\"deps\":{\"Premise\":\"sha256:01\"},\"review_required\":true,\"cost_micro\":5}" },
	{ "artefact.feedback", "*", "{\"text\":\"shorter\"}" },
	{ "artefact.approved", "*", "{}" },
	{ "artefact.take_selected", "*", "{\"take\":1}" },
	{ "artefact.edited", "*", "{\"digest\":\"sha256:bb\",\"size\":4,\"producer\":\"P\"}" },
	{ "artefact.released", "*", "{}" },
	{ "artefact.lost", "*", "{\"digest\":\"sha256:bb\",\"error\":\"lost\"}" },
	{ "artefact.failed", "New[0]", "{\"error\":\"boom\",\"producer\":\"New\",\"attempts\":2}" },
	{ "artefact.cached", "New[1]", "{\"digest\":\"sha256:cc\",\"take\":1}" },
	{ "artefact.removed", "New[1]", NULL },
	{ "input.set", "Chapters", "{\"digest\":\"sha256:02\",\"value\":4,\"files\":{}}" },
	{ "run.end", NULL, "{\"interrupted\":false}" },
};

/* The first artefact's id (malloc'd), or NULL. */
static char *first_id(const json_t *m, const struct quire_mbase *base)
{
	size_t n;
	const struct quire_mrow *rows = quire_mbase_rows(base, &n);
	if (n)
		return strdup(rows[0].id);
	void *it = json_object_iter(json_object_get(m, "artefacts"));
	return it ? strdup(json_object_iter_key(it)) : NULL;
}

/* Folds the run into m over base (NULL: m is full), then lists the outputs. */
static void commit(json_t *m, struct quire_mbase *base, int compact)
{
	char *first = first_id(m, base);
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		const char *subject = events[i][1];
		if (subject && !strcmp(subject, "*") && !(subject = first))
			continue;
		const char *data = events[i][2];
		if (quire_manifest_fold_text(m, base, 1700000000000000000LL, events[i][0], subject,
					     data, data ? strlen(data) : 0, compact))
			break;
	}
	struct quire_mout *outs = NULL;
	quire_manifest_outputs(m, base, &outs);
	free(outs);
	free(first);
}

static void manifest(const char *text, size_t len)
{
	json_t *m = NULL;
	if (quire__manifest_parse(text, len, "rev-0001", &m))
		return;
	struct quire_mbase *base = quire_mbase_from_manifest(m);
	size_t n;
	const struct quire_mrow *rows = quire_mbase_rows(base, &n);
	for (size_t i = 0; i < n; i++)
		quire_mbase_find(base, rows[i].id);
	quire_mbase_free(base);
	commit(m, NULL, 0);
	struct quire_buf out = QUIRE_BUF_INIT;
	quire_manifest_text(m, &out);
	quire_buf_release(&out);
	json_decref(m);
}

static void indexed(const char *text, size_t len, const char *rows, size_t rlen)
{
	int fd = memfd_create("rev-0001.json", MFD_CLOEXEC);
	struct stat st;
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fstat(fd, &st)) {
		perror("fuzz_manifest: memfd");
		abort();
	}
	struct quire_buf idx = QUIRE_BUF_INIT;
	if (rlen < 11 || memcmp(rows, "quire-index", 11))
		quire_buf_printf(&idx, "quire-index 5\t1\trev-0001\t%lld\t%lld\n",
				 (long long)st.st_size,
				 (long long)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
	quire_buf_add(&idx, rows, rlen);
	size_t tlen;
	char *t = quire_buf_detach(&idx, &tlen);
	json_t *m = NULL;
	struct quire_mbase *base = NULL;
	quire__manifest_index_parse(t, tlen, "rev-0001", fd, NULL, &m, &base);
	if (m) {
		size_t n;
		const struct quire_mrow *r = quire_mbase_rows(base, &n);
		for (size_t i = 0; i < n; i++) {
			json_t *e = NULL;
			quire_manifest_peek(m, base, r[i].id, &e);
			json_decref(e);
			quire_manifest_peek_kept(m, base, r[i].id, &e);
			json_decref(e);
		}
		commit(m, base, 1);
	}
	json_decref(m);
	quire_mbase_free(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *rows;
	size_t rlen, len = fuzz_split(data, size, &rows, &rlen);
	manifest((const char *)data, len);
	quire_error_clear();
	if (rows)
		indexed((const char *)data, len, rows, rlen);
	quire_error_clear();
	return 0;
}
