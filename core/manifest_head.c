/* A revision's head without its artefacts: what `log` shows of each revision, read from the
 * end of its manifest (its top-level keys after "artefacts", written two spaces in) and a
 * count of its artefacts, without parsing them: a revision of 100,000 artefacts is 20 MB of
 * JSON, and the log parsed every one whole for one line each. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/manifest.h"
#include "manifest_internal.h"
#include "util.h"

/* The tail read for the head: inputs and files are written there too. */
#define HEAD_TAIL (1u << 20)
#define CHUNK (1u << 20)

/* Counts the artefacts in text[0, end): their keys are the lines four spaces in ("    \"id\":
 * {") between "artefacts" and the first top-level key after it, read in chunks. */
static int count_entries(int fd, off_t end, long long *n)
{
	static const char pat[] = "\n    \"";
	const size_t keep = sizeof(pat) - 2;
	char *buf = quire__xmalloc(CHUNK + sizeof(pat));
	size_t have = 0;
	off_t at = 0;
	*n = 0;
	while (at < end) {
		size_t want = (size_t)(end - at) < CHUNK ? (size_t)(end - at) : CHUNK;
		ssize_t got = pread(fd, buf + have, want, at);
		if (got <= 0) {
			free(buf);
			return -1;
		}
		at += got;
		size_t len = have + (size_t)got;
		for (const char *p = buf;
		     (p = memmem(p, len - (size_t)(p - buf), pat, sizeof(pat) - 1));
		     p += sizeof(pat) - 1)
			++*n;
		/* A match may span the chunks: keep the last few bytes. */
		have = len < keep ? len : keep;
		memmove(buf, buf + len - have, have);
	}
	free(buf);
	return 0;
}

/* The artefact count the revision's index holds in its first line, when the index was
 * written for exactly this manifest file (st): 0 with *n, else -1 (the manifest is counted). */
static int index_count(const char *qdir, const char *rev, const struct stat *st, long long *n)
{
	char *path = quire__index_path(qdir, rev);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return -1;
	char line[512];
	ssize_t got = pread(fd, line, sizeof(line) - 1, 0);
	close(fd);
	if (got <= 0)
		return -1;
	line[got] = '\0';
	char *nl = strchr(line, '\n');
	if (!nl)
		return -1;
	*nl = '\0';
	char magic[32], name[256];
	int format;
	long long size, mtime, count;
	char end;
	if (sscanf(line, "%31[^\t]\t%d\t%255[^\t]\t%lld\t%lld\t%lld%c", magic, &format, name, &size,
		   &mtime, &count, &end) != 6 ||
	    strcmp(magic, INDEX_MAGIC) || format != MANIFEST_FORMAT || strcmp(name, rev) ||
	    size != (long long)st->st_size ||
	    mtime != (long long)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec || count < 0)
		return -1;
	*n = count;
	return 0;
}

int quire_manifest_head(const char *qdir, const char *rev, json_t **out, long long *nartefacts)
{
	*out = NULL;
	*nartefacts = 0;
	char *path = quire__xasprintf("%s/manifests/%s.json", qdir, rev);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		if (quire__rev2_here(qdir, rev))
			return quire__rev2_head(qdir, rev, out, nartefacts);
		return quire_manifest_load_whole(qdir, rev, out, nartefacts);
	}
	off_t from = st.st_size > (off_t)HEAD_TAIL ? st.st_size - (off_t)HEAD_TAIL : 0;
	size_t len = (size_t)(st.st_size - from);
	char *tail = quire__xmalloc(len + 2);
	ssize_t got = pread(fd, tail + 1, len, from);
	int err = got != (ssize_t)len;
	tail[len + 1] = '\0';
	/* The first top-level key after the artefacts (everything in them is deeper). */
	char *key = err ? NULL : memmem(tail + 1, len, "\n  \"", 4);
	while (key && !strncmp(key + 4, "artefacts\"", 10))
		key = memmem(key + 4, len - (size_t)(key + 4 - (tail + 1)), "\n  \"", 4);
	json_t *h = NULL;
	long long n = 0;
	const char *arts = from > 0 ? NULL : strstr(tail + 1, "\n  \"artefacts\": {");
	if (key && (from > 0 || (arts && arts < key))) {
		/* "{" then the keys from there to the end: one JSON object. */
		key[0] = '{';
		h = json_loadb(key, len - (size_t)(key - (tail + 1)), 0, NULL);
		/* Every key quire writes after the artefacts ("command" is the first of them):
		 * a tail that starts inside a large value (1 MiB of inputs) is not the head. */
		if (!json_is_object(h) || !json_object_get(h, "command") ||
		    !json_object_get(h, "created") || !json_object_get(h, "files") ||
		    !json_object_get(h, "inputs") ||
		    json_integer_value(json_object_get(h, "format")) != MANIFEST_FORMAT ||
		    !json_is_string(json_object_get(h, "revision")) ||
		    strcmp(json_string_value(json_object_get(h, "revision")), rev) ||
		    (index_count(qdir, rev, &st, &n) &&
		     count_entries(fd, from + (off_t)(key - (tail + 1)), &n))) {
			json_decref(h);
			h = NULL;
		}
	}
	free(tail);
	close(fd);
	if (!h)
		/* Not laid out as quire writes it (or short): parsed whole. */
		return quire_manifest_load_whole(qdir, rev, out, nartefacts);
	*out = h;
	*nartefacts = n;
	return 0;
}

int quire_manifest_load_whole(const char *qdir, const char *rev, json_t **out,
			      long long *nartefacts)
{
	json_t *m = NULL;
	int err = quire_manifest_load(qdir, rev, &m);
	if (err)
		return err;
	*nartefacts = (long long)json_object_size(json_object_get(m, "artefacts"));
	json_object_del(m, "artefacts");
	*out = m;
	return 0;
}
