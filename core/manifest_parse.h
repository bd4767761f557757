/* Internal: a manifest and its compact index parsed from text. quire_manifest_load and
 * quire_manifest_load_index read the files and hand them to these; the fuzzers (tests/fuzz)
 * call them without a project. */
#ifndef QUIRE_MANIFEST_PARSE_H
#define QUIRE_MANIFEST_PARSE_H

#include <stddef.h>

#include <jansson.h>

struct quire_mbase;

/* Parses and checks the text of revision `name` ("rev-NNNN": its "revision" must say so).
 * QUIRE_ECORRUPT naming .quire/manifests/NAME.json. New reference in *out. */
int quire__manifest_parse(const char *text, size_t len, const char *name, json_t **out);

/* quire_manifest_load_index from the index's text (tlen bytes, NUL-terminated, malloc'd:
 * taken, split in place and freed with the base or here) and fd, the manifest file it
 * describes (taken; -1 when it could not be opened): the header must name rev and fd's size
 * and mtime. spilldir (may be NULL: texts stay in memory) is where a commit's changed entries
 * are spilled. *out = *base = NULL when the index is not to be trusted. */
void quire__manifest_index_parse(char *text, size_t tlen, const char *rev, int fd,
				 const char *spilldir, json_t **out, struct quire_mbase **base);

#endif
