/* quire edit: change inputs, hand-edit artefacts, approve or give feedback on reviews, pick a
 * take. Every change is recorded as events and committed as a new revision. */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"
#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/edit.h"
#include "quire/error.h"
#include "quire/manifest.h"
#include "quire/fs.h"
#include "quire/project.h"

static const char usage[] =
	"usage: quire edit NAME                    edit an input's value in $EDITOR\n"
	"       quire edit --set NAME=VALUE...     set inputs (typed and validated)\n"
	"       quire edit --from FILE             apply a file written by 'quire inspect "
	"--export'\n"
	"       quire edit ID [--file F]           replace an artefact by hand ($EDITOR, or F)\n"
	"       quire edit ID --release            let a hand-edited artefact be generated again\n"
	"       quire edit ID... --approve         approve artefacts that await review\n"
	"       quire edit ID... --feedback TEXT   ask for a revision with a note\n"
	"       quire edit ID --take N             show take N of an artefact\n\n"
	"Every edit is committed as a new revision (see 'quire inspect --log'); nothing is\n"
	"generated until the next 'quire run'. What you type in $EDITOR is kept in\n"
	".quire/edits/ until the edit is committed: an edit refused after the editor closes\n"
	"names the file.\n\n"
	"Inputs: inputs.yaml is updated in place, only the value's text changes (comments and\n"
	"layout stay). A hand-edited artefact is 'user-edited': pinned, never regenerated until\n"
	"--release; what depends on it is regenerated from your text on the next run.\n"
	"Review: producers with 'review: true' leave their outputs 'pending-review' and what\n"
	"depends on them waits; --approve releases them. --feedback appends a note (the history\n"
	"is kept) that enters the fingerprint and the prompt as {{feedback}}, with the output\n"
	"it was given on as {{draft}}, so the next run revises just that artefact from its\n"
	"draft. IDs may be patterns for --approve and --feedback:\n"
	"'Scene[2][*]'.\n"
	"Takes: 'quire run --regenerate ID' makes a new take, and so does each feedback round;\n"
	"earlier takes stay in the store\n"
	"('quire inspect ID --takes'); --take N shows take N again and dependants follow.\n";

struct edit {
	struct quire_project *p;
	struct quire_edit *s;  /* holds the writer lock while files change */
	struct quire_buf said; /* what is printed once the edit is committed */
	char *kept;	       /* the file holding what the writer typed in $EDITOR (project
				* relative), removed once the edit is committed */
	const char *kept_id;   /* the artefact it replaces, NULL for an input */
};

/* Says what the edit did, once it is committed: a refused edit prints no success line. */
static void say(struct edit *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct edit *e, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	quire_buf_puts(&e->said, line);
}

/* Runs $EDITOR (or $VISUAL, else vi) on path; 0 when it exited 0. */
static int run_editor(const char *path)
{
	const char *ed = getenv("VISUAL");
	if (!ed || !*ed)
		ed = getenv("EDITOR");
	if (!ed || !*ed)
		ed = "vi";
	pid_t pid = fork();
	if (pid == 0) {
		/* EDITOR may carry arguments ("code -w"): let the shell split it, pass the file as
		 * a separate argument so its name is never interpreted. */
		execl("/bin/sh", "sh", "-c", "exec $0 \"$1\"", ed, path, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pid < 0)
		return quire_error_set(QUIRE_EIO, "cannot start the editor '%s': %s", ed,
				       strerror(errno));
	if (WIFSIGNALED(status))
		return quire_error_set(
			QUIRE_EINVALID,
			"the editor '%s' was killed by signal %d; nothing was changed", ed,
			WTERMSIG(status));
	if (WEXITSTATUS(status) == 127)
		return quire_error_set(
			QUIRE_EINVALID,
			"the editor '%s' was not found (set VISUAL or EDITOR); nothing "
			"was changed",
			ed);
	if (WEXITSTATUS(status) != 0)
		return quire_error_set(QUIRE_EINVALID,
				       "the editor '%s' exited with status %d; nothing was changed",
				       ed, WEXITSTATUS(status));
	return 0;
}

/* Writes data to a file of the project's .quire/edits/ (with ext), lets the user edit it and
 * reads it back. The file stays (e->kept) until the edit is committed: a writer's text is
 * never lost to a refusal that comes after the editor closed (not in /tmp either, which a
 * reboot empties). */
static int edit_text(struct edit *e, const char *data, size_t len, const char *ext,
		     struct quire_buf *out)
{
	char dir[4096], path[4200];
	snprintf(dir, sizeof(dir), "%s/.quire/edits", e->p->root);
	int err = quire_fs_mkdirs(dir, 0700);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/edit-XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0)
		return quire_error_set(QUIRE_EIO, "cannot create a file in %s: %s", dir,
				       strerror(errno));
	close(fd);
	char *named = NULL;
	if (ext && *ext) {
		/* An extension lets the editor pick its mode. */
		size_t n = strlen(path) + strlen(ext) + 2;
		named = malloc(n);
		snprintf(named, n, "%s.%s", path, ext);
		if (rename(path, named) != 0) {
			free(named);
			named = NULL;
		}
	}
	const char *file = named ? named : path;
	err = quire_fs_write_atomic(file, data, len, 0600);
	if (!err)
		err = run_editor(file);
	if (!err)
		err = quire_fs_read(file, out, 0);
	if (!err) {
		free(e->kept);
		e->kept = strdup(file + strlen(e->p->root) + 1);
	} else {
		unlink(file); /* what the editor was given, unchanged: nothing of the writer's */
	}
	free(named);
	return err;
}

/* After the edit: the writer's text is removed once committed, else named with how to use
 * it. */
static void settle_kept(struct edit *e, int committed)
{
	if (!e->kept)
		return;
	if (committed) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/%s", e->p->root, e->kept);
		unlink(path);
	} else if (e->kept_id) {
		fprintf(stderr,
			"quire: your text is kept in %s; 'quire edit %s --file %s' takes it once "
			"mended\n",
			e->kept, e->kept_id, e->kept);
	} else {
		fprintf(stderr, "quire: your text is kept in %s\n", e->kept);
	}
	free(e->kept);
	e->kept = NULL;
}

static void say_input(struct edit *e, const char *name, const json_t *v)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY);
	size_t l = strlen(s);
	say(e, "edit: %s = %.*s%s\n", name, l > 70 ? 67 : (int)l, s, l > 70 ? "..." : "");
	free(s);
}

static int do_set(struct edit *e, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg)
		return quire_error_set(QUIRE_EINVALID, "--set needs NAME=VALUE, not '%s'", arg);
	char *name = strndup(arg, (size_t)(eq - arg));
	json_t *v = NULL;
	int err;
	if (strchr(name, '[')) {
		/* One item of a list input: the whole list is written back. */
		char *target = name;
		err = quire_project_parse_list_item(e->p, target, eq + 1, &name, &v);
		free(target);
	} else {
		err = quire_project_parse_input(e->p, name, eq + 1, &v);
	}
	if (!err && !(err = quire_edit_set_input(e->s, name, v)))
		say_input(e, name, v);
	json_decref(v);
	free(name);
	return err;
}

static int do_input_editor(struct edit *e, const char *name)
{
	int fi = quire_blueprint_input(e->p->bp, name);
	/* Refused before the editor opens: what was typed there could not be taken. */
	if (e->p->bp->inputs[fi].type == QUIRE_INPUT_LIST) {
		json_t *v = NULL;
		int err = quire_project_parse_input(e->p, name, "", &v);
		json_decref(v);
		return err;
	}
	if (e->p->bp->inputs[fi].type == QUIRE_INPUT_FILE) {
		/* The file itself: the next run reads what was saved (as for a prompt). */
		const char *rel = json_string_value(json_object_get(e->p->inputs, name));
		char *path = NULL;
		if (asprintf(&path, "%s/%s", e->p->root, rel) < 0)
			return quire_error_set(QUIRE_ENOMEM, "out of memory");
		int err = run_editor(path);
		free(path);
		if (!err)
			say(e, "edit: %s is the file %s; the next run reads what you saved\n", name,
			    rel);
		return err;
	}
	json_t *cur = json_object_get(e->p->inputs, name);
	char *text = json_is_string(cur) ? strdup(json_string_value(cur))
					 : json_dumps(cur, JSON_ENCODE_ANY);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = edit_text(e, text, strlen(text), "txt", &b);
	/* Editors add a final newline; a one-line value does not keep it. */
	if (!err && b.len && b.ptr[b.len - 1] == '\n' && !memchr(b.ptr, '\n', b.len - 1))
		b.ptr[--b.len] = '\0';
	if (!err && !strcmp(b.ptr, text)) {
		say(e, "edit: %s unchanged\n", name);
	} else if (!err) {
		json_t *v = NULL;
		err = quire_project_parse_input(e->p, name, b.ptr, &v);
		if (!err && !(err = quire_edit_set_input(e->s, name, v)))
			say_input(e, name, v);
		json_decref(v);
	}
	quire_buf_release(&b);
	free(text);
	return err;
}

/* Applies an export file: inputs (typed, positioned errors) and prompt files. */
static int do_from(struct edit *e, const char *file)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	json_t *changed = NULL;
	int err = quire_fs_read(file, &b, QUIRE_TEXT_CAP);
	if (!err)
		err = quire_edit_apply_export(e->s, file, b.ptr, b.len, &changed);
	size_t i;
	json_t *c;
	json_array_foreach(changed, i, c) {
		if (json_object_get(c, "input"))
			say_input(e, json_string_value(json_object_get(c, "input")),
				  json_object_get(c, "value"));
		else
			say(e, "edit: %s rewritten\n",
			    json_string_value(json_object_get(c, "file")));
	}
	json_decref(changed);
	quire_buf_release(&b);
	return err;
}

static int do_content(struct edit *e, const char *id, const char *file)
{
	struct quire_buf cur = QUIRE_BUF_INIT, next = QUIRE_BUF_INIT;
	const json_t *en = NULL;
	int err = quire_edit_content(e->s, id, &cur, &en);
	const char *type = json_string_value(json_object_get(en, "type"));
	if (!err && file) {
		err = quire_fs_read(file, &next, 0);
	} else if (!err) {
		if (type && strcmp(type, "text") && strcmp(type, "json") && strcmp(type, "file"))
			err = quire_error_set(
				QUIRE_EINVALID,
				"%s is a %s artefact: give the replacement with --file F", id,
				type);
		else
			err = edit_text(e, cur.ptr, cur.len,
					json_string_value(json_object_get(en, "ext")), &next);
		e->kept_id = id;
	}
	int same = 0;
	if (!err)
		err = quire_edit_replace(e->s, id, next.ptr, next.len, file, &same);
	if (!err && same)
		say(e, "edit: %s unchanged\n", id);
	else if (!err)
		say(e, "edit: %s replaced by hand (pinned until 'quire edit %s --release')\n", id,
		    id);
	quire_buf_release(&cur);
	quire_buf_release(&next);
	return err;
}

enum action { A_NONE, A_APPROVE, A_FEEDBACK, A_RELEASE, A_TAKE };

static int do_action(struct edit *e, enum action a, const char *pat, const char *text, long take)
{
	if (a == A_TAKE) {
		int err = quire_edit_take(e->s, pat, take);
		if (!err)
			say(e,
			    "edit: %s shows take %ld; what depends on it follows on the next run\n",
			    pat, take);
		return err;
	}
	enum quire_edit_review r = a == A_APPROVE    ? QUIRE_EDIT_APPROVE
				   : a == A_FEEDBACK ? QUIRE_EDIT_FEEDBACK
						     : QUIRE_EDIT_RELEASE;
	json_t *ids = NULL;
	int err = quire_edit_review(e->s, r, pat, text, &ids);
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		const char *id = json_string_value(v);
		if (a == A_APPROVE)
			say(e, "edit: %s approved\n", id);
		else if (a == A_FEEDBACK)
			say(e, "edit: %s will be revised with your feedback on the next run\n", id);
		else
			say(e, "edit: %s released: the next run generates it again\n", id);
	}
	json_decref(ids);
	return err;
}

static int cmd_edit(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option opts[] = {
		{ "set", required_argument, NULL, 's' },
		{ "from", required_argument, NULL, 'F' },
		{ "file", required_argument, NULL, 'f' },
		{ "approve", no_argument, NULL, 'a' },
		{ "feedback", required_argument, NULL, 'b' },
		{ "release", no_argument, NULL, 'r' },
		{ "take", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	/* The revision's message is the command as typed (before getopt reorders argv). */
	struct quire_buf command = QUIRE_BUF_INIT;
	quire_buf_puts(&command, "quire");
	for (int i = 0; i < argc; i++)
		quire_buf_printf(&command, strpbrk(argv[i], " \t'\"$") ? " '%s'" : " %s", argv[i]);
	const char *from = NULL, *file = NULL, *feedback = NULL;
	char **sets = calloc((size_t)argc + 1, sizeof(char *));
	size_t nsets = 0;
	enum action a = A_NONE;
	long take = -1;
	int c, nactions = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sets[nsets++] = optarg;
			break;
		case 'F':
			from = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'a':
			a = A_APPROVE, nactions++;
			break;
		case 'b':
			a = A_FEEDBACK, nactions++, feedback = optarg;
			break;
		case 'r':
			a = A_RELEASE, nactions++;
			break;
		case 't': {
			char *end;
			take = strtol(optarg, &end, 10);
			if (*end || take < 0) {
				free(sets);
				quire_buf_release(&command);
				return usage_error("edit", "--take needs a take number, not '%s'",
						   optarg);
			}
			a = A_TAKE, nactions++;
			break;
		}
		default:
			free(sets);
			quire_buf_release(&command);
			return bad_option("edit", opts, argv[optind - 1]);
		}
	}
	int nargs = argc - optind;
	const char *bad = NULL;
	if (nactions > 1)
		bad = "give one of --approve, --feedback, --release, --take";
	else if ((nsets || from) && (nactions || file || nargs))
		bad = "--set and --from change inputs only; edit artefacts in a separate command";
	else if (!nsets && !from && !nargs)
		bad = "say what to edit: an input NAME, an artefact ID, --set or --from";
	else if ((a == A_TAKE || a == A_RELEASE || file || a == A_NONE) && nargs > 1)
		bad = "give one ID";
	else if (feedback && !*feedback)
		bad = "--feedback needs some text";
	if (bad) {
		free(sets);
		quire_buf_release(&command);
		return usage_error("edit", "%s", bad);
	}
	struct edit e = { .p = env->p, .said = QUIRE_BUF_INIT };
	int rc = 0;
	/* The lock first: nothing (inputs.yaml included) changes while another quire writes. */
	int err = quire_edit_begin(&e.s, e.p, command.ptr);
	if (!err)
		print_notes(quire_edit_notes(e.s));
	for (size_t i = 0; !err && i < nsets; i++)
		err = do_set(&e, sets[i]);
	if (!err && from)
		err = do_from(&e, from);
	if (!err && nargs && a == A_NONE) {
		const char *what = argv[optind];
		if (quire_blueprint_input(e.p->bp, what) >= 0 && !file)
			err = do_input_editor(&e, what);
		else
			err = do_content(&e, what, file);
	} else if (!err && nargs) {
		for (int i = optind; !err && i < argc; i++)
			err = do_action(&e, a, argv[i], feedback, take);
	}
	char rev[QUIRE_REV_MAX] = "";
	if (!err) {
		err = quire_edit_finish(e.s, rev, sizeof(rev));
	} else {
		quire_edit_abort(e.s); /* puts back what it changed */
	}
	settle_kept(&e, !err || rev[0]);
	if (err && rev[0]) {
		/* Committed, but out/ could not be brought up to date. */
		fputs(e.said.ptr, stdout);
		printf("edit: committed %.12s\n", rev);
		rc = die_core(err);
	} else if (err) {
		rc = die_core(err);
	} else {
		fputs(e.said.ptr, stdout);
		if (rev[0])
			printf("edit: committed %.12s\n", rev);
		else if (!from)
			printf("edit: nothing changed\n");
	}
	free(sets);
	quire_buf_release(&e.said);
	quire_buf_release(&command);
	return rc;
}

const struct cmd cmd_edit_desc = {
	.name = "edit",
	.summary = "change inputs, hand-edit, review, pick takes",
	.usage = usage,
	.flags = CMD_PROJECT | CMD_WRITES,
	.exec = cmd_edit,
};
