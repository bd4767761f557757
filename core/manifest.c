/* Revision names, the current pointer, and loading a manifest (manifest_internal.h says
 * where the rest of the module is). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "json.h"
#include "quire/manifest.h"
#include "manifest_internal.h"
#include "manifest_parse.h"
#include "util.h"

void quire_rev_format(long n, char *out, size_t outlen)
{
	snprintf(out, outlen, "rev-%04ld", n);
}

long quire_rev_parse(const char *s)
{
	if (!strncmp(s, "rev-", 4))
		s += 4;
	if (!*s || strlen(s) > 9)
		return -1;
	long n = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (*s - '0');
	}
	return n;
}

int quire_manifest_current(const char *qdir, char **rev)
{
	*rev = NULL;
	char *path = quire__xasprintf("%s/current", qdir);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_fs_read(path, &b, 64);
	free(path);
	if (err == QUIRE_ENOTFOUND) {
		quire_buf_release(&b);
		quire_error_clear();
		return 0;
	}
	if (err) {
		quire_buf_release(&b);
		return err;
	}
	while (b.len && (b.ptr[b.len - 1] == '\n' || b.ptr[b.len - 1] == '\r'))
		b.ptr[--b.len] = '\0';
	if (quire_rev_parse(b.ptr) < 0 || strncmp(b.ptr, "rev-", 4)) {
		quire_buf_release(&b);
		return quire_error_set(
			QUIRE_ECORRUPT,
			".quire/current does not name a revision (expected rev-NNNN; "
			"restore it from git, 'git checkout -- .quire/current', or write "
			"the newest revision's name into it)");
	}
	*rev = quire_buf_detach(&b, NULL);
	return 0;
}

json_t *quire_manifest_empty(void)
{
	return json_pack("{s:i,s:n,s:n,s:{},s:{},s:{},s:{}}", "format", MANIFEST_FORMAT, "revision",
			 "parent", "files", "inputs", "artefacts", "counts");
}

int quire_manifest_load(const char *qdir, const char *rev, json_t **out)
{
	*out = NULL;
	if (quire_rev_parse(rev) < 0)
		return quire_error_set(QUIRE_EINVALID, "'%s' is not a revision (expected rev-NNNN)",
				       rev);
	char name[32];
	quire_rev_format(quire_rev_parse(rev), name, sizeof(name));
	char *path = quire__xasprintf("%s/manifests/%s.json", qdir, name);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_fs_read(path, &b, 1u << 30);
	if (err == QUIRE_ENOTFOUND)
		err = quire_error_set(QUIRE_ENOTFOUND, "revision %s does not exist", name);
	if (!err)
		err = quire__manifest_parse(b.ptr, b.len, name, out);
	free(path);
	quire_buf_release(&b);
	return err;
}

int quire__manifest_parse(const char *text, size_t len, const char *name, json_t **out)
{
	*out = NULL;
	json_error_t je;
	json_t *m = json_loadb(text, len, 0, &je);
	if (!m)
		return quire_error_set(
			QUIRE_ECORRUPT,
			".quire/manifests/%s.json:%d:%d: %s (a damaged revision: restore "
			"it from git, 'git checkout -- .quire/manifests/%s.json'; 'quire "
			"fsck' lists what else is damaged)",
			name, je.line, je.column, je.text, name);
	if (!json_is_object(m) ||
	    json_integer_value(json_object_get(m, "format")) != MANIFEST_FORMAT ||
	    !json_is_object(json_object_get(m, "artefacts")) ||
	    !json_is_object(json_object_get(m, "inputs")) ||
	    !json_is_string(json_object_get(m, "revision")) ||
	    strcmp(json_string_value(json_object_get(m, "revision")), name)) {
		json_decref(m);
		return quire_error_set(
			QUIRE_ECORRUPT,
			".quire/manifests/%s.json is not a valid manifest (a damaged "
			"revision: restore it from git, 'git checkout -- "
			".quire/manifests/%s.json'; 'quire fsck' lists what else is "
			"damaged)",
			name, name);
	}
	*out = m;
	return 0;
}

int quire_manifest_set_current(const char *qdir, const char *rev)
{
	char *path = quire__xasprintf("%s/current", qdir);
	char line[32];
	snprintf(line, sizeof(line), "%s\n", rev);
	int err = quire_fs_write_atomic(path, line, strlen(line), 0644);
	free(path);
	return err;
}

long quire_manifest_max_rev(const char *qdir)
{
	char *dir = quire__xasprintf("%s/manifests", qdir);
	DIR *d = opendir(dir);
	free(dir);
	long max = 0;
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".json"))
			continue;
		char name[64];
		if (len - 5 >= sizeof(name))
			continue;
		memcpy(name, e->d_name, len - 5);
		name[len - 5] = '\0';
		long n = quire_rev_parse(name);
		if (n > max)
			max = n;
	}
	closedir(d);
	return max;
}
