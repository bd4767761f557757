/* Secret lookup (environment, then a private secrets file) and redaction of known secrets. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/secret.h"
#include "util.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char **known;
static size_t nknown, aknown;

void quire_secret_register(const char *value)
{
	if (!value || strlen(value) < 4)
		return;
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < nknown; i++)
		if (!strcmp(known[i], value)) {
			pthread_mutex_unlock(&mu);
			return;
		}
	QUIRE_GROW(known, aknown, nknown + 1);
	known[nknown++] = quire__xstrdup(value);
	pthread_mutex_unlock(&mu);
}

/* Redaction matches any run of REDACT_RUN or more characters of a secret, in any letter
 * case: a server that echoes a key cut short (at a snippet or message limit), or lower-cased,
 * must not leave part of it in a message, the event log or a manifest. */
#define REDACT_RUN 8

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Marks in hit[] every byte of buf[0..len) covered by a run of at least `run` characters
 * that also occurs in secret (case-insensitive). */
static void mark_runs(const char *buf, size_t len, const char *secret, size_t run,
		      unsigned char *hit)
{
	size_t sl = strlen(secret);
	if (sl < run || len < run)
		return;
	/* Every window of `run` characters of buf against every one of the secret: secrets are
	 * short (tens of bytes) and messages a few KiB. */
	for (size_t i = 0; i + run <= len; i++) {
		for (size_t j = 0; j + run <= sl; j++) {
			size_t m = 0;
			while (m < run && lower((unsigned char)buf[i + m]) ==
						  lower((unsigned char)secret[j + m]))
				m++;
			if (m == run) {
				memset(hit + i, 1, run);
				break;
			}
		}
	}
}

void quire_secret_redact(char *buf, size_t cap)
{
	static const char mark[] = "[redacted]";
	const size_t ml = sizeof(mark) - 1;
	size_t len = strlen(buf);
	if (!len || !cap)
		return;
	unsigned char *hit = calloc(len, 1);
	if (!hit)
		abort();
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < nknown; i++) {
		size_t sl = strlen(known[i]);
		/* A short secret is matched whole: a run of 8 would be all of it anyway. */
		mark_runs(buf, len, known[i], sl < REDACT_RUN ? sl : REDACT_RUN, hit);
	}
	pthread_mutex_unlock(&mu);
	/* Each marked run becomes one mark; the text is rebuilt in place, from a copy. */
	char *src = quire__xstrndup(buf, len);
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < cap;) {
		if (!hit[i]) {
			buf[o++] = src[i++];
			continue;
		}
		while (i < len && hit[i])
			i++;
		if (o + ml + 1 > cap) {
			/* No room for the mark: the rest is dropped rather than shown. */
			break;
		}
		memcpy(buf + o, mark, ml);
		o += ml;
	}
	buf[o] = '\0';
	free(src);
	free(hit);
}

char *quire_secret_file(void)
{
	const char *f = getenv("QUIRE_SECRETS_FILE");
	if (f && *f)
		return quire__xstrdup(f);
	const char *xdg = getenv("XDG_CONFIG_HOME");
	if (xdg && *xdg)
		return quire__xasprintf("%s/quire/secrets", xdg);
	const char *home = getenv("HOME");
	return quire__xasprintf("%s/.config/quire/secrets", home ? home : ".");
}

/* Reads the secrets file into b when it is there and only its owner may read it: 0 with
 * *exists set, or a QUIRE_E* code naming the problem. */
static int read_file(const char *path, struct quire_buf *b, int *exists)
{
	struct stat st;
	*exists = 0;
	if (stat(path, &st) < 0) {
		/* No file is no secret; a file that is there but cannot be used is said, not taken
		 * for a missing secret (a link to a file that was moved, a file we may not read).
		 */
		struct stat lst;
		int e = errno;
		if (e == ENOENT && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
			char target[4096];
			ssize_t n = readlink(path, target, sizeof(target) - 1);
			target[n > 0 ? n : 0] = '\0';
			return quire_error_set(
				QUIRE_EINVALID,
				"secrets file '%s' is a link to '%s', which does not "
				"exist",
				path, target);
		}
		if (e == ENOENT || e == ENOTDIR)
			return 0;
		return quire_error_set(QUIRE_EINVALID, "cannot read secrets file '%s': %s", path,
				       strerror(e));
	}
	if (!S_ISREG(st.st_mode))
		return quire_error_set(QUIRE_EINVALID, "secrets file '%s' is not a regular file",
				       path);
	if (st.st_mode & 077)
		return quire_error_set(QUIRE_EINVALID,
				       "secrets file '%s' has mode %03o: it must be readable by "
				       "you alone (chmod 600 '%s')",
				       path, (unsigned)(st.st_mode & 0777), path);
	*exists = 1;
	return quire_fs_read(path, b, 1u << 20);
}

/* The name a line of the secrets file sets (len bytes at *name), or 0 for none. */
static size_t line_name(const char *line, const char **name)
{
	while (*line == ' ' || *line == '\t')
		line++;
	/* Within this line only: a line without '=' must not borrow the next one's. */
	const char *eq = memchr(line, '=', strcspn(line, "\n"));
	if (*line == '#' || !eq || eq == line || !quire__is_ident(line, (size_t)(eq - line)))
		return 0;
	*name = line;
	return (size_t)(eq - line);
}

int quire_secret_lookup(const char *name, char **value, char **source)
{
	*value = NULL;
	*source = NULL;
	const char *env = getenv(name);
	if (env && *env) {
		*value = quire__xstrdup(env);
		*source = quire__xstrdup("environment");
		quire_secret_register(env);
		return 0;
	}
	char *path = quire_secret_file();
	struct quire_buf b = QUIRE_BUF_INIT;
	int exists, err = read_file(path, &b, &exists);
	if (err || !exists) {
		quire_buf_release(&b);
		free(path);
		return err;
	}
	size_t nl = strlen(name);
	for (char *line = b.ptr; line && *line;) {
		char *end = strchr(line, '\n');
		if (end)
			*end = '\0';
		const char *n;
		if (line_name(line, &n) == nl && !strncmp(n, name, nl)) {
			char *v = (char *)n + nl + 1;
			size_t vl = strlen(v);
			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
				v[--vl] = '\0';
			if (vl) {
				/* The last line naming it wins; wipe an earlier one. */
				if (*value) {
					memset(*value, 0, strlen(*value));
					free(*value);
				}
				*value = quire__xstrdup(v);
				quire_secret_register(v);
			}
		}
		line = end ? end + 1 : NULL;
	}
	/* The file's bytes held the secret: wipe them before freeing. */
	memset(b.ptr, 0, b.len);
	quire_buf_release(&b);
	if (*value)
		*source = path;
	else
		free(path);
	return 0;
}

int quire_secret_store(const char *name, const char *value)
{
	if (!quire__is_ident(name, strlen(name)))
		return quire_error_set(
			QUIRE_EINVALID,
			"'%s' is not a secret's name (letters, digits and '_', as an "
			"environment variable: OPENAI_API_KEY)",
			name);
	if (!*value || strpbrk(value, "\r\n"))
		return quire_error_set(QUIRE_EINVALID,
				       "the value of %s must be one line, not empty", name);
	char *path = quire_secret_file();
	struct quire_buf old = QUIRE_BUF_INIT, out = QUIRE_BUF_INIT;
	int exists, err = read_file(path, &old, &exists);
	if (!err && !exists) {
		char *dir = quire__xstrdup(path), *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			err = quire_fs_mkdirs(dir, 0700);
		}
		free(dir);
	}
	size_t nl = strlen(name);
	for (char *line = old.ptr; !err && line && *line;) {
		char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *n;
		size_t l = line_name(line, &n);
		if (!(l == nl && !strncmp(n, name, nl)))
			err = quire_buf_add(&out, line, len) || quire_buf_putc(&out, '\n');
		line = end ? end + 1 : NULL;
	}
	if (!err)
		err = quire_buf_printf(&out, "%s=%s\n", name, value);
	if (!err)
		err = exists ? quire_fs_rewrite(path, out.ptr, out.len)
			     : quire_fs_write_atomic(path, out.ptr, out.len, 0600);
	/* Both buffers held secrets: wipe them before freeing. */
	if (old.ptr)
		memset(old.ptr, 0, old.len);
	if (out.ptr)
		memset(out.ptr, 0, out.len);
	quire_buf_release(&old);
	quire_buf_release(&out);
	free(path);
	return err;
}

int quire_secret_names(char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	char *path = quire_secret_file();
	struct quire_buf b = QUIRE_BUF_INIT;
	int exists, err = read_file(path, &b, &exists);
	size_t alloc = 0;
	for (char *line = b.ptr; !err && line && *line;) {
		char *end = strchr(line, '\n');
		const char *nm;
		size_t l = line_name(line, &nm);
		int dup = 0;
		for (size_t k = 0; l && k < *n; k++)
			dup |= strlen((*names)[k]) == l && !strncmp((*names)[k], nm, l);
		if (l && !dup) {
			QUIRE_GROW(*names, alloc, *n + 1);
			(*names)[(*n)++] = quire__xstrndup(nm, l);
		}
		line = end ? end + 1 : NULL;
	}
	if (b.ptr)
		memset(b.ptr, 0, b.len);
	quire_buf_release(&b);
	free(path);
	return err;
}
