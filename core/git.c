/* Records the project's git HEAD and whether its tracked files differ from it. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <git2.h>

#include "quire/blob.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "git.h"
#include "util.h"

/* Whether root or a directory above it has a .git: libgit2's start-up alone (it parses the
 * system's certificate bundle) costs more than a small run, so a project outside any
 * repository does not pay it. */
static int maybe_in_repo(const char *root)
{
	if (getenv("GIT_DIR") || root[0] != '/')
		return 1;
	char *dir = quire__xstrdup(root);
	int found = 0;
	for (size_t len = strlen(dir); !found;) {
		dir[len] = '\0';
		char *probe = quire__xasprintf("%s/.git", dir);
		struct stat st;
		found = lstat(probe, &st) == 0;
		free(probe);
		if (len == 0)
			break;
		while (len > 0 && dir[len - 1] != '/')
			len--;
		if (len > 0)
			len--; /* drop the slash: "/a/b" -> "/a", "/a" -> "" (the root) */
	}
	free(dir);
	return found;
}

json_t *quire__git_info(const char *root)
{
	if (!maybe_in_repo(root))
		return json_null();
	git_libgit2_init();
	git_repository *repo = NULL;
	json_t *out = json_null();
	if (git_repository_open_ext(&repo, root, 0, NULL) != 0)
		goto done;
	git_oid oid;
	json_t *head = json_null();
	if (git_reference_name_to_id(&oid, repo, "HEAD") == 0) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), &oid);
		head = json_string(hex);
	}
	int dirty = 0;
	git_status_options opts;
	git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
	opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	opts.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
	git_status_list *st = NULL;
	if (git_status_list_new(&st, repo, &opts) == 0) {
		dirty = git_status_list_entrycount(st) > 0;
		git_status_list_free(st);
	}
	out = json_pack("{s:o,s:b}", "head", head, "dirty", dirty);
	git_repository_free(repo);
done:
	git_libgit2_shutdown();
	return out;
}

/* The path of root inside the work tree of repo ("" at its top, else "dir/sub/"), or NULL
 * when root is not inside it. */
static char *path_in_repo(git_repository *repo, const char *root)
{
	const char *wd = git_repository_workdir(repo);
	char *r = wd ? realpath(root, NULL) : NULL, *w = wd ? realpath(wd, NULL) : NULL;
	char *prefix = NULL;
	size_t wl = w ? strlen(w) : 0;
	if (r && w && !strncmp(r, w, wl) && (r[wl] == '/' || !r[wl]))
		prefix = r[wl] ? quire__xasprintf("%s/", r + wl + 1) : quire__xstrdup("");
	free(r);
	free(w);
	return prefix;
}

/* Calls visit for each commit from HEAD (and MERGE_HEAD, during a merge git stopped on)
 * through its parents, each once, newest first along each line, until it returns non-zero: a
 * parent that is not there (the edge of a shallow clone) ends that line, where libgit2 1.5's
 * revwalk stops at once. */
static void walk_history(git_repository *repo, size_t limit,
			 int (*visit)(git_commit *c, git_tree *tree, void *ud), void *ud)
{
	git_oid head, *queue = NULL;
	size_t qhead = 0, qn = 0, qalloc = 0;
	json_t *visited = json_object();
	static const char *const starts[] = { "HEAD", "MERGE_HEAD" };
	for (size_t k = 0; k < 2; k++)
		if (!git_reference_name_to_id(&head, repo, starts[k])) {
			QUIRE_GROW(queue, qalloc, qn + 1);
			queue[qn++] = head;
		}
	int stop = 0;
	while (!stop && qhead < qn && qhead < limit) {
		git_oid oid = queue[qhead++];
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), &oid);
		if (json_object_get(visited, hex))
			continue;
		json_object_set_new(visited, hex, json_true());
		git_commit *c = NULL;
		git_tree *tree = NULL;
		if (!git_commit_lookup(&c, repo, &oid) && !git_commit_tree(&tree, c)) {
			for (unsigned int pi = 0; pi < git_commit_parentcount(c); pi++) {
				QUIRE_GROW(queue, qalloc, qn + 1);
				queue[qn++] = *git_commit_parent_id(c, pi);
			}
			stop = visit(c, tree, ud);
		}
		git_tree_free(tree);
		git_commit_free(c);
	}
	git_error_clear();
	json_decref(visited);
	free(queue);
}

struct adopt {
	git_repository *repo;
	const char *qdir, *prefix;
	const char *const *paths, *const *digests;
	size_t n, got;
	unsigned char *found;
	json_t *seen; /* each version looked at once: blob id -> the digest of its content */
};

static int adopt_from_commit(git_commit *c, git_tree *tree, void *ud)
{
	(void)c;
	struct adopt *a = ud;
	for (size_t k = 0; k < a->n; k++) {
		if (a->found[k])
			continue;
		char *full = quire__xasprintf("%s%s", a->prefix, a->paths[k]);
		git_tree_entry *te = NULL;
		if (git_tree_entry_bypath(&te, tree, full) == 0 &&
		    git_tree_entry_type(te) == GIT_OBJECT_BLOB) {
			char hex[GIT_OID_HEXSZ + 1];
			git_oid_tostr(hex, sizeof(hex), git_tree_entry_id(te));
			const char *d = json_string_value(json_object_get(a->seen, hex));
			git_blob *b = NULL;
			if ((!d || !strcmp(d, a->digests[k])) &&
			    git_blob_lookup(&b, a->repo, git_tree_entry_id(te)) == 0) {
				const void *bytes = git_blob_rawcontent(b);
				size_t len = (size_t)git_blob_rawsize(b);
				struct quire_digest h;
				if (!d) {
					quire_hash_bytes(bytes, len, &h);
					json_object_set_new(a->seen, hex, json_string(h.s));
				}
				/* Hashed, never trusted by name: only the recorded bytes. */
				if ((d || !strcmp(h.s, a->digests[k])) &&
				    !quire_blob_put(a->qdir, bytes, len, &h) &&
				    !strcmp(h.s, a->digests[k])) {
					a->found[k] = 1;
					a->got++;
				}
			}
			git_blob_free(b);
		}
		git_tree_entry_free(te);
		free(full);
	}
	return a->got == a->n;
}

size_t quire__git_adopt(const char *root, const char *qdir, const char *const *paths,
			const char *const *digests, size_t n, unsigned char *found)
{
	if (!n || !maybe_in_repo(root))
		return 0;
	git_libgit2_init();
	git_repository *repo = NULL;
	struct adopt a = { NULL, qdir, NULL, paths, digests, n, 0, found, json_object() };
	char *prefix = NULL;
	if (!git_repository_open_ext(&repo, root, 0, NULL) && (prefix = path_in_repo(repo, root))) {
		a.repo = repo;
		a.prefix = prefix;
		walk_history(repo, 1000000, adopt_from_commit, &a);
	}
	quire_error_clear();
	git_error_clear();
	json_decref(a.seen);
	free(prefix);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return a.got;
}

/* Whether path (relative to the work tree) is one of the project's parts a run commit takes:
 * each of prefixes[] is a directory ("dir/") or a file. */
static int ours(const char *path, char *const *prefixes, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		size_t l = strlen(prefixes[k]);
		if (l && prefixes[k][l - 1] == '/' ? !strncmp(path, prefixes[k], l)
						   : !strcmp(path, prefixes[k]))
			return 1;
	}
	return 0;
}

static int git_fail(const char *what)
{
	const git_error *e = git_error_last();
	return quire_error_set(QUIRE_EIO, "git: %s: %s", what,
			       e && e->message ? e->message : "failed");
}

int quire_git_commit(const char *root, char *const *paths, size_t npaths, const char *message,
		     char *id, size_t idlen)
{
	if (idlen)
		id[0] = '\0';
	git_libgit2_init();
	git_repository *repo = NULL;
	git_index *index = NULL;
	git_tree *tree = NULL, *head_tree = NULL;
	git_commit *parent = NULL;
	git_signature *sig = NULL;
	git_diff *staged = NULL;
	char *prefix = NULL, **specs = NULL;
	int err = 0;
	if (git_repository_open_ext(&repo, root, 0, NULL) || !(prefix = path_in_repo(repo, root))) {
		err = quire_error_set(QUIRE_EINVALID,
				      "run --commit: %s is not in a git repository ('git init' "
				      "first)",
				      root);
		goto out;
	}
	if (git_repository_head_unborn(repo) == 0) {
		git_oid h;
		if (git_reference_name_to_id(&h, repo, "HEAD") ||
		    git_commit_lookup(&parent, repo, &h) || git_commit_tree(&head_tree, parent)) {
			err = git_fail("reading HEAD");
			goto out;
		}
	}
	specs = quire__xcalloc(npaths + 1, sizeof(char *));
	for (size_t k = 0; k < npaths; k++)
		specs[k] = quire__xasprintf("%s%s", prefix, paths[k]);
	if (git_repository_index(&index, repo)) {
		err = git_fail("opening the index");
		goto out;
	}
	/* What the writer staged themselves is theirs to commit: not folded into quire's. */
	if (git_diff_tree_to_index(&staged, repo, head_tree, index, NULL)) {
		err = git_fail("reading the index");
		goto out;
	}
	for (size_t k = 0; k < git_diff_num_deltas(staged); k++) {
		const git_diff_delta *d = git_diff_get_delta(staged, k);
		if (!ours(d->new_file.path, specs, npaths) ||
		    !ours(d->old_file.path, specs, npaths)) {
			err = quire_error_set(
				QUIRE_ECONFLICT,
				"run --commit: '%s' is staged in git and is not the "
				"project's: commit or unstage it first, then run "
				"'git add' and 'git commit' for this revision yourself "
				"(nothing was committed)",
				d->new_file.path);
			goto out;
		}
	}
	git_strarray sa = { specs, npaths };
	git_oid tree_id, commit_id;
	if (git_index_add_all(index, &sa, GIT_INDEX_ADD_DEFAULT, NULL, NULL) ||
	    git_index_update_all(index, &sa, NULL, NULL) || git_index_write(index) ||
	    git_index_write_tree(&tree_id, index) || git_tree_lookup(&tree, repo, &tree_id)) {
		err = git_fail("staging the revision");
		goto out;
	}
	/* Nothing changed (a run that only recorded what it had): no empty commit. */
	if (head_tree && git_oid_equal(git_tree_id(head_tree), &tree_id))
		goto out;
	if (git_signature_default(&sig, repo) &&
	    git_signature_now(&sig, "quire", "quire@localhost")) {
		err = git_fail("making a signature");
		goto out;
	}
	const git_commit *parents[1] = { parent };
	if (git_commit_create(&commit_id, repo, "HEAD", sig, sig, NULL, message, tree,
			      parent ? 1 : 0, parents)) {
		err = git_fail("committing");
		goto out;
	}
	git_oid_tostr(id, idlen, &commit_id);
out:
	for (size_t k = 0; specs && k < npaths; k++)
		free(specs[k]);
	free(specs);
	free(prefix);
	git_diff_free(staged);
	git_signature_free(sig);
	git_tree_free(tree);
	git_tree_free(head_tree);
	git_commit_free(parent);
	git_index_free(index);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return err;
}

struct revisions {
	git_repository *repo;
	const char *dirs[2]; /* .quire/manifests and .quire/revs inside the repository */
	json_t *found;
};

/* The revision a file of dir k names: format 1's <name>.json, format 2's <name>.objects (a
 * pack's first part; its later parts are <name>.N.objects). */
static char *revision_file(int k, const char *name)
{
	size_t l = strlen(name);
	if (k == 0)
		return l > 5 && !strcmp(name + l - 5, ".json") ? quire__xstrndup(name, l - 5)
							       : NULL;
	return l == 64 + 8 && !strcmp(name + 64, ".objects") ? quire__xstrndup(name, 64) : NULL;
}

/* Newest first: the last commit seen holding a revision's manifest is the oldest, the one
 * that brought it in. */
static int revisions_of_commit(git_commit *c, git_tree *tree, void *ud)
{
	struct revisions *rv = ud;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), git_commit_id(c));
	for (int d = 0; d < 2; d++) {
		git_tree_entry *te = NULL;
		git_tree *sub = NULL;
		if (!git_tree_entry_bypath(&te, tree, rv->dirs[d]) &&
		    git_tree_entry_type(te) == GIT_OBJECT_TREE &&
		    !git_tree_lookup(&sub, rv->repo, git_tree_entry_id(te))) {
			for (size_t k = 0; k < git_tree_entrycount(sub); k++) {
				char *r = revision_file(
					d, git_tree_entry_name(git_tree_entry_byindex(sub, k)));
				if (r)
					json_object_set_new(rv->found, r, json_string(hex));
				free(r);
			}
		}
		git_tree_free(sub);
		git_tree_entry_free(te);
	}
	return 0;
}

json_t *quire__git_revisions(const char *root)
{
	json_t *found = json_object();
	if (!maybe_in_repo(root))
		return found;
	git_libgit2_init();
	git_repository *repo = NULL;
	char *prefix = NULL;
	if (!git_repository_open_ext(&repo, root, 0, NULL) && (prefix = path_in_repo(repo, root))) {
		char *dir = quire__xasprintf("%s.quire/manifests", prefix),
		     *revs = quire__xasprintf("%s.quire/revs", prefix);
		struct revisions rv = { repo, { dir, revs }, found };
		walk_history(repo, 100000, revisions_of_commit, &rv);
		free(dir);
		free(revs);
	}
	git_error_clear();
	free(prefix);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return found;
}

int quire__git_out_driver(const char *root, int install)
{
	if (!maybe_in_repo(root))
		return -1;
	git_libgit2_init();
	git_repository *repo = NULL;
	git_config *cfg = NULL, *local = NULL;
	int have = -1;
	if (!git_repository_open_ext(&repo, root, 0, NULL) && !git_repository_config(&cfg, repo) &&
	    !git_config_open_level(&local, cfg, GIT_CONFIG_LEVEL_LOCAL)) {
		git_buf v = { 0 };
		have = !git_config_get_string_buf(&v, cfg, "merge.quire-out.driver");
		git_buf_dispose(&v);
		/* "true" leaves this clone's file as it is: the next run writes out/ from the
		 * merged revision anyway. */
		if (!have && install &&
		    !git_config_set_string(local, "merge.quire-out.name",
					   "quire: keep this clone's out/ file (the next run "
					   "rewrites out/)") &&
		    !git_config_set_string(local, "merge.quire-out.driver", "true"))
			have = 2;
	}
	git_error_clear();
	git_config_free(local);
	git_config_free(cfg);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return have;
}
