/* Secrets (API keys): looked up in the environment or a 0600 secrets file, and redacted from
 * every message quire writes. */
#ifndef QUIRE_SECRET_H
#define QUIRE_SECRET_H

#include <stddef.h>

/* Looks up secret `name`: the environment variable of that name, else the line "name=value" of
 * the secrets file ($QUIRE_SECRETS_FILE, else $XDG_CONFIG_HOME/quire/secrets, else
 * ~/.config/quire/secrets). *value is malloc'd, or NULL when not found; *source says where it
 * came from ("environment" or the file's path; static or malloc'd: free with the value via
 * quire_secret_free_source). A secrets file readable by group or others is refused
 * (QUIRE_EINVALID naming the file and its mode, never its content). Every value found is
 * registered for redaction. */
int quire_secret_lookup(const char *name, char **value, char **source);

/* Registers a value to redact (copied). Values shorter than 4 bytes are ignored. */
void quire_secret_register(const char *value);

/* Replaces every run of 8 or more characters of a registered secret (any letter case; a
 * shorter secret whole) in the NUL-terminated buf (capacity cap) with "[redacted]". What does
 * not fit after a mark is cut off, never shown. */
void quire_secret_redact(char *buf, size_t cap);

/* Stores value as secret `name` in the secrets file (made 0600, in a 0700 directory, when
 * absent), replacing any line that named it and keeping every other line; written
 * atomically. QUIRE_EINVALID for a name that is not an environment variable's, an empty
 * value or one with a line break, or a secrets file others may read (its mode is named,
 * never its content). */
int quire_secret_store(const char *name, const char *value);

/* The names the secrets file holds (values never), as a malloc'd array of malloc'd strings;
 * *n its length. A missing file holds none. */
int quire_secret_names(char ***names, size_t *n);

/* The path of the secrets file that would be read (malloc'd). */
char *quire_secret_file(void);

#endif
