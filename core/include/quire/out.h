/* out/: the current revision materialised as ordinary, make-friendly files. */
#ifndef QUIRE_OUT_H
#define QUIRE_OUT_H

#include <stddef.h>

#include <jansson.h>

struct quire_project;

/* Makes out/ match manifest m: writes each artefact with an output (clean or stale) as
 * out/<path-safe id>.<ext>, rewriting only files whose content differs (stable mtimes), and
 * removes files of artefacts the previous manifest prev had and m has not. Names never leave
 * out/; a symlink in out/ is replaced, never followed. Counts in *written and *removed. */
int quire_out_sync(const struct quire_project *p, const json_t *m, const json_t *prev,
		   size_t *written, size_t *removed);

/* The same for manifests over bases (quire_manifest_load_index; a NULL manifest or base is
 * none; prev and prevbase both NULL: remove nothing), trusting the store's stat cache (may be
 * NULL) for files unchanged since they were last hashed, and recording what it hashes. */
struct quire_store;
struct quire_mbase;
int quire_out_sync_cached(const struct quire_project *p, struct quire_store *store,
			  const json_t *m, const struct quire_mbase *base, const json_t *prev,
			  const struct quire_mbase *prevbase, size_t *written, size_t *removed);

/* The out/ file name of an artefact entry (malloc'd), e.g. "Scene-1-0.md". */
char *quire_out_name(const char *id, const json_t *entry);

#endif
