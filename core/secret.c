/* Secret lookup (environment, then a private secrets file) and redaction of known secrets. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

void quire_secret_redact(char *buf, size_t cap)
{
	static const char mark[] = "[redacted]";
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < nknown; i++) {
		size_t sl = strlen(known[i]);
		char *hit, *from = buf;
		/* Search on after each replacement, so a secret that occurs in the mark itself
		 * cannot make this loop forever. */
		while ((hit = strstr(from, known[i]))) {
			size_t len = strlen(buf), ml = sizeof(mark) - 1;
			size_t tail = len - (size_t)(hit - buf) - sl;
			if (ml > sl && len + (ml - sl) + 1 > cap) {
				/* No room to expand: blank the secret out in place. */
				memset(hit, '*', sl);
				from = hit + sl;
				continue;
			}
			memmove(hit + ml, hit + sl, tail + 1);
			memcpy(hit, mark, ml);
			from = hit + ml;
		}
	}
	pthread_mutex_unlock(&mu);
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
	struct stat st;
	int err = 0;
	if (stat(path, &st) < 0) {
		free(path);
		return 0;
	}
	if (st.st_mode & 077) {
		err = quire_error_set(QUIRE_EINVALID,
				      "secrets file '%s' has mode %03o: it must be readable by you alone "
				      "(chmod 600 '%s')",
				      path, (unsigned)(st.st_mode & 0777), path);
		free(path);
		return err;
	}
	struct quire_buf b = QUIRE_BUF_INIT;
	if ((err = quire_fs_read(path, &b, 1u << 20))) {
		quire_buf_release(&b);
		free(path);
		return err;
	}
	size_t nl = strlen(name);
	for (char *line = b.ptr; line && *line;) {
		char *end = strchr(line, '\n');
		if (end)
			*end = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line != '#' && !strncmp(line, name, nl) && line[nl] == '=') {
			char *v = line + nl + 1;
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
