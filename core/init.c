/* Project creation: a self-contained project from a bundled or given blueprint. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "quire-config.h"
#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/init.h"
#include "quire/project.h"
#include "git.h"
#include "util.h"

static const char gitignore_lines[] =
	"# quire: the database, blobs and scratch files are local; the revisions (revs/,\n"
	"# format) and current are committed so a clone knows every revision.\n"
	".quire/quire.db\n"
	".quire/quire.db-*\n"
	".quire/blobs/\n"
	".quire/runs/\n"
	".quire/tmp/\n"
	".quire/edits/\n"
	".quire/lock\n";

/* After a git merge of two clones that each ran, .quire/current holds both heads (git's union
 * driver keeps both lines; the next writer merges them); out/ files and revisions are checked
 * byte for byte against their digests, so git must never convert their line endings. */
static const char gitattributes_lines[] =
	"# quire: two clones that each ran keep both heads in .quire/current (the next run\n"
	"# merges them) and this clone's out/ files (quire-out, set up in .git/config by 'quire\n"
	"# init': the next run rewrites out/); stored files are compared byte for byte, so git\n"
	"# leaves them as they are.\n"
	".quire/current merge=union\n"
	".quire/** -text\n"
	"%s/** -text merge=quire-out\n";

struct file {
	char *rel;
	struct quire_buf data;
};

struct files {
	struct file *v;
	size_t n, alloc;
};

static void add_file(struct files *fs, const char *rel, const char *data, size_t len)
{
	if (fs->n == fs->alloc) {
		fs->alloc = fs->alloc ? fs->alloc * 2 : 16;
		fs->v = realloc(fs->v, fs->alloc * sizeof(*fs->v));
	}
	struct file *f = &fs->v[fs->n++];
	f->rel = strdup(rel);
	quire_buf_init(&f->data, 0);
	quire_buf_add(&f->data, data, len);
}

static int add_from(struct files *fs, const char *src, const char *rel)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_fs_read(src, &b, QUIRE_TEXT_CAP);
	if (!err)
		add_file(fs, rel, b.ptr, b.len);
	quire_buf_release(&b);
	return err;
}

/* Adds every regular file under dir/sub, recursively, as sub/... */
static int add_tree(struct files *fs, const char *dir, const char *sub)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s%s%s", dir, *sub ? "/" : "", sub);
	DIR *d = opendir(path);
	if (!d)
		return quire_error_set(QUIRE_EIO, "cannot read '%s': %s", path, strerror(errno));
	struct dirent *e;
	int err = 0;
	while (!err && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char rel[PATH_MAX], full[PATH_MAX * 2 + 2];
		snprintf(rel, sizeof(rel), "%s%s%s", sub, *sub ? "/" : "", e->d_name);
		snprintf(full, sizeof(full), "%s/%s", dir, rel);
		struct stat st;
		if (stat(full, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			err = add_tree(fs, dir, rel);
		else if (S_ISREG(st.st_mode) && strcmp(rel, "README.md"))
			err = add_from(fs, full, rel);
	}
	closedir(d);
	return err;
}

static struct file *find_file(struct files *fs, const char *rel)
{
	for (size_t i = 0; i < fs->n; i++)
		if (!strcmp(fs->v[i].rel, rel))
			return &fs->v[i];
	return NULL;
}

/* Directories searched for bundled blueprints, in order. */
static int bundled_dirs(const char **dirs, int max)
{
	int n = 0;
	static char env[PATH_MAX];
	const char *e = getenv("QUIRE_BLUEPRINTS");
	if (e && *e && n < max) {
		snprintf(env, sizeof(env), "%s", e);
		dirs[n++] = env;
	}
	dirs[n++] = QUIRE_DATADIR "/blueprints";
	dirs[n++] = QUIRE_SOURCE_BLUEPRINTS;
	return n;
}

json_t *quire_init_blueprints(void)
{
	json_t *names = json_array();
	const char *dirs[3];
	int n = bundled_dirs(dirs, 3);
	for (int i = 0; i < n; i++) {
		DIR *d = opendir(dirs[i]);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.') {
				char p[PATH_MAX];
				snprintf(p, sizeof(p), "%s/%s/blueprint.yaml", dirs[i], e->d_name);
				if (access(p, F_OK) == 0)
					json_array_append_new(names, json_string(e->d_name));
			}
		closedir(d);
		break;
	}
	return names;
}

/* quire.yaml for a blueprint that ships none: every role on the mock provider. */
static void gen_config(struct files *fs, const struct quire_blueprint *bp)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_puts(&b,
		       "# quire project file: which blueprint, where inputs and outputs live, and\n"
		       "# which provider each role uses. Changing a binding re-runs exactly the\n"
		       "# producers with that role.\n"
		       "quire: 1\n"
		       "blueprint: blueprint.yaml\n"
		       "inputs: inputs.yaml\n"
		       "out: out\n"
		       "jobs: 4\n"
		       "roles:\n");
	size_t n;
	const char **roles = quire_blueprint_roles(bp, &n);
	for (size_t i = 0; i < n; i++)
		quire_buf_printf(&b, "  %s:\n    provider: mock\n", roles[i]);
	free(roles);
	add_file(fs, "quire.yaml", b.ptr, b.len);
	quire_buf_release(&b);
}

/* inputs.yaml for a blueprint that ships none: defaults filled in, required ones to fill. */
static void gen_inputs(struct files *fs, const struct quire_blueprint *bp)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_puts(
		&b, "# Input values for this story build. Edit them and run 'quire plan' to see\n"
		    "# what would be regenerated.\n");
	for (size_t i = 0; i < bp->ninputs; i++) {
		const struct quire_input_decl *in = &bp->inputs[i];
		if (in->def) {
			char *s = json_dumps(in->def, JSON_ENCODE_ANY);
			quire_buf_printf(&b, "%s: %s\n", in->name, s);
			free(s);
		} else {
			quire_buf_printf(&b, "# %s: (required: set a value and remove the '#')\n",
					 in->name);
		}
	}
	add_file(fs, "inputs.yaml", b.ptr, b.len);
	quire_buf_release(&b);
}

static int collect(struct files *fs, const char *spec)
{
	char src[PATH_MAX];
	struct stat st;
	int is_path = strchr(spec, '/') || stat(spec, &st) == 0;
	if (!is_path) {
		const char *dirs[3];
		int n = bundled_dirs(dirs, 3), found = 0;
		for (int i = 0; i < n && !found; i++) {
			snprintf(src, sizeof(src), "%s/%s", dirs[i], spec);
			char bpf[PATH_MAX + 32];
			snprintf(bpf, sizeof(bpf), "%s/blueprint.yaml", src);
			found = access(bpf, F_OK) == 0;
		}
		if (!found) {
			json_t *names = quire_init_blueprints();
			struct quire_buf b = QUIRE_BUF_INIT;
			size_t i;
			json_t *v;
			json_array_foreach(names, i, v)
				quire_buf_printf(&b, "%s%s", i ? ", " : "", json_string_value(v));
			json_decref(names);
			int err = quire_error_set(QUIRE_ENOTFOUND,
						  "no bundled blueprint '%s' (bundled: %s)", spec,
						  b.len ? b.ptr : "none found");
			quire_buf_release(&b);
			return err;
		}
	} else {
		snprintf(src, sizeof(src), "%s", spec);
		if (stat(src, &st) < 0)
			return quire_error_set(QUIRE_ENOTFOUND, "cannot read blueprint '%s': %s",
					       src, strerror(errno));
	}
	stat(src, &st);
	struct quire_blueprint *bp = NULL;
	int err;
	if (S_ISDIR(st.st_mode)) {
		char bpf[PATH_MAX + 32];
		snprintf(bpf, sizeof(bpf), "%s/blueprint.yaml", src);
		if ((err = quire_blueprint_load(&bp, bpf, "blueprint.yaml")))
			return err;
		err = add_tree(fs, src, "");
	} else {
		if ((err = quire_blueprint_load(&bp, src, src)))
			return err;
		err = add_from(fs, src, "blueprint.yaml");
		/* Bring along the prompts and schemas the blueprint names, from beside it. */
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", src);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		else
			snprintf(dir, sizeof(dir), ".");
		for (size_t i = 0; !err && i < bp->nproducers; i++) {
			const char *refs[2] = { bp->producers[i].prompt,
						bp->producers[i].output.schema };
			for (int k = 0; k < 2 && !err; k++) {
				if (!refs[k] || find_file(fs, refs[k]))
					continue;
				char full[PATH_MAX * 2];
				snprintf(full, sizeof(full), "%s/%s", dir, refs[k]);
				err = add_from(fs, full, refs[k]);
			}
		}
	}
	if (!err && !find_file(fs, "quire.yaml"))
		gen_config(fs, bp);
	if (!err && !find_file(fs, "inputs.yaml"))
		gen_inputs(fs, bp);
	quire_blueprint_free(bp);
	return err;
}

/* dir/rel as it is, with lines appended unless it already holds mark. */
/* Whether text holds line (without its newline) as a whole line. */
static int has_line(const char *text, const char *line, size_t len)
{
	for (const char *at = text; (at = strstr(at, line)); at++)
		if ((at == text || at[-1] == '\n') && (at[len] == '\n' || at[len] == '\0'))
			return 1;
	return 0;
}

/* dir/rel as it is with our lines: all of them when it lacks mark, else those of our
 * (non-comment) lines it lacks, which a newer quire added (a project made before them). */
static void add_lines(struct files *fs, const char *dir, const char *rel, const char *mark,
		      const char *lines)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	struct quire_buf b = QUIRE_BUF_INIT;
	int fresh = quire_fs_read(path, &b, QUIRE_TEXT_CAP) != 0 || !strstr(b.ptr, mark);
	struct quire_buf add = QUIRE_BUF_INIT;
	for (const char *l = lines; *l;) {
		size_t len = strcspn(l, "\n");
		char *line = quire__xstrndup(l, len);
		if (fresh || (line[0] != '#' && !has_line(b.ptr ? b.ptr : "", line, len)))
			quire_buf_printf(&add, "%s\n", line);
		free(line);
		l += len + (l[len] == '\n');
	}
	if (add.len && b.len && b.ptr[b.len - 1] != '\n')
		quire_buf_putc(&b, '\n');
	quire_buf_add(&b, add.ptr ? add.ptr : "", add.len);
	add_file(fs, rel, b.ptr ? b.ptr : "", b.len);
	quire_buf_release(&add);
	quire_buf_release(&b);
	quire_error_clear();
}

int quire_init(const char *dir, const char *spec, struct quire_init_result *res)
{
	memset(res, 0, sizeof(*res));
	struct files fs = { 0 };
	char path[PATH_MAX];
	/* Without a blueprint named, in a project already made (a clone, edited prompts): only
	 * the git parts, which a clone may lack. */
	snprintf(path, sizeof(path), "%s/quire.yaml", dir);
	res->existing = !spec && access(path, F_OK) == 0;
	int err = res->existing ? 0 : collect(&fs, spec ? spec : "story");
	if (err)
		goto out;
	/* .gitignore and .gitattributes: our lines added to whatever the user has. */
	add_lines(&fs, dir, ".gitignore", ".quire/blobs/", gitignore_lines);
	/* A project already made may write its outputs elsewhere ('out:' in quire.yaml). */
	struct quire_project *p = NULL;
	char *attrs = quire__xasprintf(gitattributes_lines,
				       res->existing && !quire_project_open(&p, dir) ? p->out_dir
										     : "out");
	quire_project_free(p);
	quire_error_clear();
	add_lines(&fs, dir, ".gitattributes", ".quire/current merge=union", attrs);
	free(attrs);

	/* Refuse before writing anything if an existing file differs. */
	struct quire_buf differ = QUIRE_BUF_INIT;
	size_t conflicts = 0;
	for (size_t i = 0; i < fs.n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, fs.v[i].rel);
		struct quire_buf cur = QUIRE_BUF_INIT;
		int r = quire_fs_read(path, &cur, 0);
		if (r == 0 &&
		    (cur.len != fs.v[i].data.len || memcmp(cur.ptr, fs.v[i].data.ptr, cur.len)) &&
		    strcmp(fs.v[i].rel, ".gitignore") && strcmp(fs.v[i].rel, ".gitattributes")) {
			quire_buf_printf(&differ, "%s%s", conflicts ? ", " : "", path);
			conflicts++;
		}
		quire_buf_release(&cur);
	}
	quire_error_clear();
	if (conflicts) {
		err = quire_error_set(
			QUIRE_EEXISTS,
			"%s already exist%s with other content; refusing to overwrite "
			"%s: nothing was written",
			differ.ptr, conflicts == 1 ? "s" : "", conflicts == 1 ? "it" : "them");
		quire_buf_release(&differ);
		goto out;
	}
	quire_buf_release(&differ);
	for (size_t i = 0; i < fs.n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, fs.v[i].rel);
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", path);
		*strrchr(parent, '/') = '\0';
		struct quire_buf cur = QUIRE_BUF_INIT;
		int exists = quire_fs_read(path, &cur, 0) == 0 && cur.len == fs.v[i].data.len &&
			     !memcmp(cur.ptr, fs.v[i].data.ptr, cur.len);
		quire_buf_release(&cur);
		if (exists)
			continue;
		if ((err = quire_fs_mkdirs(parent, 0755)) ||
		    (err = quire_fs_write_atomic(path, fs.v[i].data.ptr, fs.v[i].data.len, 0644)))
			goto out;
		res->written++;
	}
	/* The driver lives in .git/config, which a clone does not copy: init in a clone sets
	 * it up there too. */
	res->driver = quire__git_out_driver(dir, 1) == 2;
	quire_error_clear();
out:
	for (size_t i = 0; i < fs.n; i++) {
		free(fs.v[i].rel);
		quire_buf_release(&fs.v[i].data);
	}
	free(fs.v);
	return err;
}
