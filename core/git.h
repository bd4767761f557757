/* Internal: what a revision records of the project's git repository (libgit2). */
#ifndef QUIRE_GIT_H
#define QUIRE_GIT_H

#include <jansson.h>

/* {"head": "<commit id>"|null, "dirty": bool} for the repository holding root, or JSON null
 * when root is not in a git repository. New reference; never fails. */
json_t *quire__git_info(const char *root);

/* Looks in the git history of the repository holding root (commits reachable from HEAD,
 * newest first) for content the store lacks: want k is the file at paths[k] (relative to
 * root) whose content has digest digests[k]; a version of it that hashes to that is put in
 * the store under qdir and found[k] set. Returns how many were found; no repository, or none
 * of it, finds none (never an error). */
size_t quire__git_adopt(const char *root, const char *qdir, const char *const *paths,
			const char *const *digests, size_t n, unsigned char *found);

/* Commits paths (relative to root: files, or directories ending in '/') as they are in the
 * work tree, on HEAD, with message: staged with .gitignore honoured, removals too. Nothing
 * when the tree is HEAD's (id ""). QUIRE_EINVALID outside a repository, QUIRE_ECONFLICT when
 * the writer staged something else (left alone), QUIRE_EIO with libgit2's message. */
int quire_git_commit(const char *root, char *const *paths, size_t npaths, const char *message,
		     char *id, size_t idlen);

/* The git commit that brought each revision's manifest into the history of HEAD (the oldest
 * holding .quire/manifests/REV.json): {"rev-0001": "<commit id>", ...}; empty outside a
 * repository. New reference; never fails. */
json_t *quire__git_revisions(const char *root);

/* Whether the repository holding root defines quire's merge driver for out/ (1), or not
 * (0; with install, defines it in .git/config: 2), or root is in no repository (-1). */
int quire__git_out_driver(const char *root, int install);

#endif
