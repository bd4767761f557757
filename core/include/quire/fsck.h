/* Store checks: every blob re-hashed against its name, every revision parsed, the database's
 * integrity; with repair, damaged blobs dropped and the database rebuilt from the revisions. */
#ifndef QUIRE_FSCK_H
#define QUIRE_FSCK_H

#include <stddef.h>

/* What fsck found; each kind is one line of its report. */
enum quire_fsck_kind {
	QUIRE_FSCK_BLOB_CORRUPT, /* a blob's content does not hash to its name */
	QUIRE_FSCK_BLOB_MISSING, /* a revision names a blob the store lacks (normal in a clone) */
	QUIRE_FSCK_REVISION,	 /* a revision file that cannot be read */
	QUIRE_FSCK_CURRENT,	 /* .quire/current is malformed or names a missing revision */
	QUIRE_FSCK_DATABASE,	 /* quire.db cannot be opened or fails its integrity check */
	QUIRE_FSCK_STORE_DIR,	 /* a directory of the blob store is a link or not a directory */
	QUIRE_FSCK_DATABASE_UNREADABLE, /* quire.db could not be read now (another program holds
					 * it locked, an I/O error): not damage, never rebuilt */
};

struct quire_fsck_problem {
	enum quire_fsck_kind kind;
	char *subject; /* the digest, revision or file concerned */
	char *detail;  /* what is wrong, and who uses it ("Scene[0][1] in rev-0003, ...") */
	int repaired;  /* --repair mended it */
};

struct quire_fsck_result {
	size_t revisions;	      /* revision files read */
	size_t blobs;		      /* blob files hashed */
	struct quire_fsck_problem *v; /* in the order found */
	size_t n;
	size_t damaged;	   /* problems that are damage (all but missing blobs) */
	size_t unrepaired; /* damage still there after this call */
	char *db_moved_to; /* repair: where the damaged database was kept, or NULL */
	int db_rebuilt;	   /* repair: quire.db was made again from the revisions */
};

/* Checks the store of the project at root. With repair (under the writer lock: QUIRE_ELOCKED):
 * corrupt blobs are removed (the next run makes again what used them, or restores it from the
 * action cache when an intact copy exists elsewhere), and a damaged or missing quire.db is
 * rebuilt from the committed revisions (runs and the action cache; the damaged file is kept
 * beside it). Damaged revision files are reported, never changed: they are the truth, and
 * git has them. Returns 0 (problems are in *res), or an error that stopped the check. */
int quire_fsck(const char *root, int repair, struct quire_fsck_result *res);

void quire_fsck_result_release(struct quire_fsck_result *res);

#endif
