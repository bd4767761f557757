/* Records the project's git HEAD and whether its tracked files differ from it. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <git2.h>

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
