/* The one id scheme: Name, Name[i][j]; globs over ids; path-safe file names for out/. */
#ifndef QUIRE_ID_H
#define QUIRE_ID_H

#include <stddef.h>

struct quire_buf;

/* Appends "Name[i0][i1]..." to out. */
void quire_id_format(struct quire_buf *out, const char *name, const long long *idx, int n);

/* 1 when id matches pattern. A pattern is a name (fnmatch wildcards allowed) followed by
 * indexes, each a number or '*'; indexes the pattern leaves out match anything:
 * "Scene" and "Scene[*]" match every Scene[i][j], "Scene[2]" matches Scene[2][*]. */
int quire_id_match(const char *pattern, const char *id);

/* Orders ids as a revision lists them: by name, then each index as a number ("Draft[2]"
 * before "Draft[10]"; strcmp puts it after). */
int quire_id_cmp(const char *a, const char *b);

/* 1 when s is a well-formed id or id pattern. */
int quire_id_valid_pattern(const char *s);

/* The file name an artefact gets under out/: "Scene[2][7]" + "md" -> "Scene-2-7.md". Only
 * [A-Za-z0-9_.-] survive, it never starts with '.', and never contains '/'. malloc'd. */
char *quire_id_filename(const char *id, const char *ext);

/* The same name appended to out. */
void quire_id_filename_add(struct quire_buf *out, const char *id, const char *ext);

#endif
