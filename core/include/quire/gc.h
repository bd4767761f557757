/* Garbage collection of the blob store: blobs that no revision, take or action-cache entry
 * keeps are removed. */
#ifndef QUIRE_GC_H
#define QUIRE_GC_H

#include <stddef.h>
#include <stdint.h>

struct quire_gc_stats {
	size_t kept, removed; /* blobs */
	uint64_t kept_bytes, removed_bytes;
	size_t manifests; /* revisions read */
	size_t packed;	  /* small blob files moved into the pack */
};

/* Removes (or with dry_run only counts) blobs of the project at root that no manifest
 * (artefacts, their takes, recorded files) and no action-cache entry references, and moves
 * the small blob files it keeps into the pack (a store made before packs). Takes the
 * writer lock. A manifest that cannot be read stops the collection (QUIRE_ECORRUPT): nothing
 * is removed on the strength of an incomplete picture. */
int quire_gc(const char *root, int dry_run, struct quire_gc_stats *stats);

#endif
