/* The fold: what each event kind does to a revision's manifest, one function per kind. */
#include <stdint.h>
#include <string.h>

#include "quire/error.h"
#include "quire/manifest.h"
#include "event.h"
#include "json.h"
#include "manifest_internal.h"
#include "util.h"

/* One event being folded into m (whose "artefacts" is arts). */
struct fold_ev {
	json_t *m, *arts;
	enum quire_ev kind;
	int64_t time_ns;
	const char *subject;
	const json_t *data;
};

/* Adds an event's cost_micro, when it has one, to the revision's. */
static void add_cost(json_t *m, const json_t *data)
{
	json_t *cost = json_object_get(data, "cost_micro");
	if (!json_is_integer(cost))
		return;
	json_t *c = json_object_get(m, "counts");
	json_object_set_new(c, "cost_micro",
			    json_integer(json_integer_value(json_object_get(c, "cost_micro")) +
					 json_integer_value(cost)));
}

static void count(json_t *m, const char *what)
{
	json_t *c = json_object_get(m, "counts");
	json_object_set_new(c, what,
			    json_integer(json_integer_value(json_object_get(c, what)) + 1));
}

/* A run, edit or rewind began: the revision's metadata, counts from zero. */
static void fold_run_start(const struct fold_ev *ev)
{
	json_t *m = ev->m;
	int64_t time_ns = ev->time_ns;
	const json_t *data = ev->data;
	char ts[40];
	quire__format_time(time_ns, ts, sizeof(ts));
	json_object_set(m, "revision", json_object_get(data, "revision"));
	json_object_set(m, "parent", json_object_get(data, "parent"));
	if (json_object_get(data, "files"))
		json_object_set(m, "files", json_object_get(data, "files"));
	if (json_object_get(data, "inputs"))
		json_object_set(m, "inputs", json_object_get(data, "inputs"));
	json_object_set(m, "git", json_object_get(data, "git"));
	json_object_set(m, "command", json_object_get(data, "command"));
	/* A message is this revision's own ('run -m'): never inherited from the parent. */
	if (json_object_get(data, "message"))
		json_object_set(m, "message", json_object_get(data, "message"));
	else
		json_object_del(m, "message");
	json_object_set_new(m, "created", json_string(ts));
	json_object_del(m, "restored_from");
	json_object_set_new(m, "counts", json_object());
	json_object_del(m, "interrupted");
	json_object_del(m, "recovered");
}

/* A new output (produced or cached): shown as the entry's take, every take kept listed. */
static void fold_produced(const struct fold_ev *ev)
{
	json_t *m = ev->m;
	json_t *arts = ev->arts;
	enum quire_ev kind = ev->kind;
	const char *subject = ev->subject;
	const json_t *data = ev->data;
	json_t *old = json_object_get(arts, subject);
	json_t *e = json_deep_copy(data);
	/* Every take stays listed (and in the store): 'edit ID --take N' can go back. */
	json_t *takes = json_is_array(json_object_get(old, "takes"))
				? json_deep_copy(json_object_get(old, "takes"))
				: json_array();
	json_int_t take = json_integer_value(json_object_get(data, "take"));
	size_t k;
	json_t *t;
	json_array_foreach(takes, k, t)
		if (json_integer_value(json_object_get(t, "take")) == take) {
			json_array_remove(takes, k);
			break;
		}
	/* The take being shown keeps its deps on the entry itself; a take that stops being
	 * shown takes them along, so it can be selected again (no copy per take otherwise). */
	json_array_foreach(takes, k, t) {
		if (!json_object_get(t, "deps") && old &&
		    json_integer_value(json_object_get(t, "take")) ==
			    json_integer_value(json_object_get(old, "take")))
			json_object_set(t, "deps", json_object_get(old, "deps"));
	}
	json_t *nt =
		json_pack("{s:I,s:O,s:O,s:O}", "take", take, "digest",
			  json_object_get(data, "digest"), "size", json_object_get(data, "size"),
			  "fingerprint", json_object_get(data, "fingerprint"));
	/* A feedback round's take says which note it answered ('inspect ID --takes'). */
	const json_t *fb = json_object_get(data, "feedback");
	if (json_array_size(fb))
		json_object_set(nt, "note", json_array_get(fb, json_array_size(fb) - 1));
	if (json_is_string(json_object_get(data, "call")))
		json_object_set(nt, "call", json_object_get(data, "call"));
	/* An output accepted for this fingerprint ('run --touch') was not made for it: said on
	 * the take too, so showing it again says so and it is never shared as made for it. */
	if (json_is_true(json_object_get(data, "accepted")))
		json_object_set_new(nt, "accepted", json_true());
	json_array_append_new(takes, nt);
	json_object_set_new(e, "takes", takes);
	const char *approved = json_string_value(json_object_get(old, "approved_digest"));
	const char *digest = json_string_value(json_object_get(data, "digest"));
	if (approved)
		json_object_set_new(e, "approved_digest", json_string(approved));
	int pending = json_is_true(json_object_get(data, "review_required")) &&
		      !(approved && digest && !strcmp(approved, digest));
	json_object_set_new(e, "status", json_string(pending ? "pending-review" : "clean"));
	json_object_set_new(arts, subject, e);
	/* run --touch's outputs are counted apart: they were neither made nor found cached. */
	count(m, kind == QUIRE_EV_PRODUCED			   ? "produced"
		 : json_is_true(json_object_get(data, "accepted")) ? "accepted"
								   : "cached");
	if (kind == QUIRE_EV_PRODUCED)
		add_cost(m, data);
}

/* A failed or blocked instance: an earlier output stays visible, never as clean. */
static void fold_failed(const struct fold_ev *ev)
{
	json_t *m = ev->m;
	json_t *arts = ev->arts;
	enum quire_ev kind = ev->kind;
	const char *subject = ev->subject;
	const json_t *data = ev->data;
	int failed = kind == QUIRE_EV_FAILED;
	json_t *old = json_object_get(arts, subject);
	json_t *e = old ? json_deep_copy(old) : json_object();
	/* A failed re-run keeps the earlier output visible, but never as clean. */
	int has_output = json_is_string(json_object_get(e, "digest"));
	json_object_set_new(e, "status",
			    json_string(has_output ? "stale"
					: failed   ? "failed"
						   : "blocked"));
	json_object_set(e, "error", json_object_get(data, "error"));
	if (!old) {
		json_object_set(e, "producer", json_object_get(data, "producer"));
		json_object_set(e, "role", json_object_get(data, "role"));
		if (json_object_get(data, "provider")) {
			json_object_set(e, "provider", json_object_get(data, "provider"));
			json_object_set(e, "model", json_object_get(data, "model"));
		}
	}
	/* The failed call's record, beside the call that made the output still shown. */
	if (json_is_string(json_object_get(data, "call")))
		json_object_set(e, "failed_call", json_object_get(data, "call"));
	else
		json_object_del(e, "failed_call");
	/* A cut-off answer that was paid for is kept beside the error (gc keeps it too). */
	if (json_is_string(json_object_get(data, "partial")))
		json_object_set(e, "partial", json_object_get(data, "partial"));
	else
		json_object_del(e, "partial");
	if (json_is_true(json_object_get(data, "truncated")))
		json_object_set(e, "truncated", json_true());
	else
		json_object_del(e, "truncated");
	/* The failed try's own count, beside the kept output's "attempts". */
	if (json_is_integer(json_object_get(data, "attempts")))
		json_object_set(e, "failed_attempts", json_object_get(data, "attempts"));
	else
		json_object_del(e, "failed_attempts");
	json_object_set_new(arts, subject, e);
	count(m, failed ? "failed" : "blocked");
	/* A failed call may be billed: the revision's cost counts it. */
	add_cost(m, data);
}

/* Recovery found this output missing or damaged (never synced before a crash): the
 * artefact has no output any more, and the take that named it is gone. */
static void fold_lost(const struct fold_ev *ev)
{
	json_t *m = ev->m;
	json_t *arts = ev->arts;
	const char *subject = ev->subject;
	const json_t *data = ev->data;
	json_t *e = json_object_get(arts, subject);
	const char *lost = json_string_value(json_object_get(data, "digest"));
	const char *have = json_string_value(json_object_get(e, "digest"));
	if (e && lost && have && !strcmp(lost, have)) {
		json_object_del(e, "digest");
		json_object_del(e, "size");
		json_object_set_new(e, "status", json_string("failed"));
		json_object_set(e, "error", json_object_get(data, "error"));
		json_t *takes = json_object_get(e, "takes");
		for (size_t k = json_array_size(takes); k-- > 0;) {
			const char *td = json_string_value(
				json_object_get(json_array_get(takes, k), "digest"));
			if (td && !strcmp(td, lost))
				json_array_remove(takes, k);
		}
		count(m, "failed");
	}
}

/* A hand edit: pinned until released; dependants see its digest. */
static void fold_edited(const struct fold_ev *ev)
{
	json_t *m = ev->m;
	json_t *arts = ev->arts;
	const char *subject = ev->subject;
	const json_t *data = ev->data;
	json_t *e = json_object_get(arts, subject);
	if (!e) {
		e = json_object();
		json_object_set_new(arts, subject, e);
	}
	json_object_set(e, "digest", json_object_get(data, "digest"));
	json_object_set(e, "size", json_object_get(data, "size"));
	json_object_set_new(e, "status", json_string("user-edited"));
	json_object_set_new(e, "user_edited", json_true());
	json_object_del(e, "error");
	json_object_del(e, "released");
	json_object_del(e, "accepted"); /* the writer's text now, not an accepted output */
	if (!json_object_get(e, "producer"))
		json_object_set(e, "producer", json_object_get(data, "producer"));
	if (!json_object_get(e, "type")) {
		json_object_set(e, "type", json_object_get(data, "type"));
		json_object_set(e, "ext", json_object_get(data, "ext"));
	}
	count(m, "edited");
}

/* A hand edit released: stale, so that it is generated again. */
static void fold_released(const struct fold_ev *ev)
{
	json_t *m = ev->m;
	json_t *arts = ev->arts;
	const char *subject = ev->subject;
	json_t *e = json_object_get(arts, subject);
	if (e) {
		json_object_del(e, "user_edited");
		json_object_set_new(e, "status", json_string("stale"));
		json_object_set_new(e, "released", json_true());
		json_object_set_new(e, "error", json_string("released from a hand edit"));
	}
	count(m, "edited");
}

/* Review approved the output shown. */
static void fold_approved(const struct fold_ev *ev)
{
	json_t *m = ev->m;
	json_t *arts = ev->arts;
	const char *subject = ev->subject;
	json_t *e = json_object_get(arts, subject);
	if (e) {
		json_object_set(e, "approved_digest", json_object_get(e, "digest"));
		const char *st = json_string_value(json_object_get(e, "status"));
		if (st && !strcmp(st, "pending-review"))
			json_object_set_new(e, "status", json_string("clean"));
	}
	count(m, "approved");
}

/* A review note, kept until the next take, and the output it was given on: the draft the
 * revision revises. */
static void fold_feedback(const struct fold_ev *ev)
{
	json_t *m = ev->m;
	json_t *arts = ev->arts;
	const char *subject = ev->subject;
	const json_t *data = ev->data;
	json_t *e = json_object_get(arts, subject);
	if (e) {
		json_t *fb = json_object_get(e, "feedback");
		if (!json_is_array(fb)) {
			fb = json_array();
			json_object_set_new(e, "feedback", fb);
		}
		json_array_append(fb, json_object_get(data, "text"));
		if (json_is_string(json_object_get(data, "draft")))
			json_object_set(e, "draft", json_object_get(data, "draft"));
	}
	count(m, "feedback");
}

/* An earlier take shown again. */
/* The notes (and draft) of the take now shown are the entry's: notes given on a later take
 * are not pending on an earlier one, which would otherwise be revised (and billed) again. */
static void shown_feedback(json_t *e)
{
	const json_t *deps = json_object_get(e, "deps");
	json_t *parsed = json_is_string(deps) ? json_loadb(json_string_value(deps),
							   json_string_length(deps), 0, NULL)
					      : NULL;
	if (parsed)
		deps = parsed;
	if (!json_is_object(deps)) {
		json_decref(parsed);
		return;
	}
	const json_t *fb = json_object_get(deps, "feedback");
	if (json_array_size(fb))
		json_object_set_new(e, "feedback", json_deep_copy(fb));
	else
		json_object_del(e, "feedback");
	if (json_is_string(json_object_get(deps, "draft")))
		json_object_set(e, "draft", json_object_get(deps, "draft"));
	else
		json_object_del(e, "draft");
	json_decref(parsed);
}

static void fold_take_selected(const struct fold_ev *ev)
{
	json_t *m = ev->m;
	json_t *arts = ev->arts;
	const char *subject = ev->subject;
	const json_t *data = ev->data;
	json_t *e = json_object_get(arts, subject);
	json_int_t want = json_integer_value(json_object_get(data, "take"));
	size_t k;
	json_t *t;
	/* The take shown until now keeps its deps in its own record. */
	json_array_foreach(json_object_get(e, "takes"), k, t) {
		if (json_integer_value(json_object_get(t, "take")) ==
			    json_integer_value(json_object_get(e, "take")) &&
		    !json_object_get(t, "deps") && json_object_get(e, "deps"))
			json_object_set(t, "deps", json_object_get(e, "deps"));
	}
	json_array_foreach(json_object_get(e, "takes"), k, t) {
		if (json_integer_value(json_object_get(t, "take")) != want)
			continue;
		json_object_set(e, "digest", json_object_get(t, "digest"));
		json_object_set(e, "size", json_object_get(t, "size"));
		json_object_set(e, "fingerprint", json_object_get(t, "fingerprint"));
		json_object_set_new(e, "take", json_integer(want));
		/* A take shown again was made for its fingerprint, unless it was accepted. */
		if (json_is_true(json_object_get(t, "accepted")))
			json_object_set_new(e, "accepted", json_true());
		else
			json_object_del(e, "accepted");
		/* Its own call; a failure's leftovers were about another take. */
		if (json_is_string(json_object_get(t, "call")))
			json_object_set(e, "call", json_object_get(t, "call"));
		else
			json_object_del(e, "call");
		static const char *const stale[] = { "failed_call", "partial", "truncated" };
		for (size_t x = 0; x < 3; x++)
			json_object_del(e, stale[x]);
		const char *ap = json_string_value(json_object_get(e, "approved_digest"));
		int pending = json_is_true(json_object_get(e, "review_required")) &&
			      !(ap && !strcmp(ap, json_string_value(json_object_get(t, "digest"))));
		json_object_set_new(e, "status", json_string(pending ? "pending-review" : "clean"));
		/* The deps recorded are those of the take now shown, which keeps them here. */
		if (json_object_get(t, "deps")) {
			json_object_set(e, "deps", json_object_get(t, "deps"));
			json_object_del(t, "deps");
		}
		shown_feedback(e);
	}
	count(m, "edited");
}

/* An input given a value by 'quire edit --set'. */
static void fold_input_set(const struct fold_ev *ev)
{
	json_t *m = ev->m;
	const char *subject = ev->subject;
	const json_t *data = ev->data;
	json_t *in = json_object_get(m, "inputs");
	json_object_set_new(in, subject,
			    json_pack("{s:O,s:O}", "digest", json_object_get(data, "digest"),
				      "value", json_object_get(data, "value")));
	json_t *files = json_object_get(data, "files");
	if (json_is_object(files))
		json_object_update(json_object_get(m, "files"), files);
	count(m, "edited");
}

/* A rewind: the content of an earlier revision, committed anew. */
static void fold_restored(const struct fold_ev *ev)
{
	json_t *m = ev->m;
	const json_t *data = ev->data;
	/* An older quire's rewind: every artefact and file of the revision restored. */
	if (json_object_get(data, "artefacts"))
		json_object_set(m, "artefacts", json_object_get(data, "artefacts"));
	json_object_set(m, "inputs", json_object_get(data, "inputs"));
	const json_t *changed = json_object_get(data, "files_changed");
	if (!changed) {
		json_object_set(m, "files", json_object_get(data, "files"));
	} else {
		/* The files that differ from the parent's (path -> digest, null: gone). */
		json_t *files = json_object_get(m, "files");
		if (json_is_string(files)) /* kept as its text by a run's fold */
			files = json_loads(json_string_value(files), 0, NULL);
		else
			files = json_is_object(files) ? json_incref(files) : json_object();
		if (!files)
			files = json_object();
		const char *rel;
		json_t *v;
		json_object_foreach((json_t *)changed, rel, v) {
			if (json_is_string(v))
				json_object_set(files, rel, v);
			else
				json_object_del(files, rel);
		}
		json_object_set_new(m, "files", files);
	}
	json_object_set(m, "restored_from", json_object_get(data, "from"));
}

/* One artefact of a rewind: its entry as the restored revision had it, or gone (null). */
static void fold_art_restored(const struct fold_ev *ev)
{
	if (json_is_object(ev->data))
		json_object_set_new(ev->arts, ev->subject, json_deep_copy(ev->data));
	else
		json_object_del(ev->arts, ev->subject);
}

/* The blueprint no longer has the instance. */
static void fold_removed(const struct fold_ev *ev)
{
	json_t *m = ev->m;
	json_t *arts = ev->arts;
	const char *subject = ev->subject;
	json_object_del(arts, subject);
	count(m, "removed");
}

/* The run ended; an interrupted one says so. */
static void fold_run_end(const struct fold_ev *ev)
{
	json_t *m = ev->m;
	const json_t *data = ev->data;
	if (json_is_true(json_object_get(data, "interrupted")))
		json_object_set_new(m, "interrupted", json_true());
}

/* A killed run committed by the next command. */
static void fold_recovered(const struct fold_ev *ev)
{
	json_t *m = ev->m;
	json_object_set_new(m, "recovered", json_true());
}

/* Indexed by enum quire_ev: a kind added to event.h without a fold here reads as NULL and
 * changes nothing (a unit test checks that every kind has one). */
static void (*const folds[QUIRE_EV_COUNT])(const struct fold_ev *) = {
	[QUIRE_EV_RUN_START] = fold_run_start,
	[QUIRE_EV_PRODUCED] = fold_produced,
	[QUIRE_EV_CACHED] = fold_produced,
	[QUIRE_EV_FAILED] = fold_failed,
	[QUIRE_EV_BLOCKED] = fold_failed,
	[QUIRE_EV_LOST] = fold_lost,
	[QUIRE_EV_EDITED] = fold_edited,
	[QUIRE_EV_RELEASED] = fold_released,
	[QUIRE_EV_APPROVED] = fold_approved,
	[QUIRE_EV_FEEDBACK] = fold_feedback,
	[QUIRE_EV_TAKE_SELECTED] = fold_take_selected,
	[QUIRE_EV_INPUT_SET] = fold_input_set,
	[QUIRE_EV_RESTORED] = fold_restored,
	[QUIRE_EV_ART_RESTORED] = fold_art_restored,
	[QUIRE_EV_REMOVED] = fold_removed,
	[QUIRE_EV_RUN_END] = fold_run_end,
	[QUIRE_EV_RUN_RECOVERED] = fold_recovered,
};

int quire__manifest_has_fold(int kind)
{
	return kind >= 0 && kind < QUIRE_EV_COUNT && folds[kind];
}

void quire_manifest_apply(json_t *m, int64_t time_ns, const char *kind, const char *subject,
			  const json_t *data)
{
	int k = quire_ev_parse(kind);
	/* An unknown kind (an event from a newer quire) changes nothing. */
	if (k < 0 || !folds[k])
		return;
	struct fold_ev ev = {
		m, json_object_get(m, "artefacts"), (enum quire_ev)k, time_ns, subject, data
	};
	folds[k](&ev);
}

static int fold(json_t *m, struct quire_mbase *base, int64_t time_ns, const char *kind,
		const char *subject, const json_t *data, int compact)
{
	json_t *arts = json_object_get(m, "artefacts");
	int k = quire_ev_parse(kind);
	if (base && k == QUIRE_EV_RESTORED && json_object_get(data, "artefacts"))
		return quire_error_set(QUIRE_ERROR,
				       "internal: a whole rewind folded onto a revision's index");
	if (subject && json_is_null(json_object_get(arts, subject))) {
		/* Removed earlier in this fold: absent (its base row stays hidden). */
		json_object_del(arts, subject);
	} else if (subject && k != QUIRE_EV_ART_RESTORED) {
		/* The full entry is what an event changes. */
		json_t *e;
		int err = quire__mb_materialise(m, base, subject, &e, compact);
		if (err)
			return err;
	}
	quire_manifest_apply(m, time_ns, kind, subject, data);
	if (!subject)
		return 0;
	if (!json_object_get(arts, subject) && quire_mbase_find(base, subject))
		json_object_set_new(arts, subject, json_null()); /* hides the base's row */
	else if (compact)
		quire__mb_compact(m, base, subject);
	return 0;
}

int quire_manifest_fold(json_t *m, struct quire_mbase *base, int64_t time_ns, const char *kind,
			const char *subject, const json_t *data, int compact)
{
	return fold(m, base, time_ns, kind, subject, data, compact);
}

int quire_manifest_fold_text(json_t *m, struct quire_mbase *base, int64_t time_ns, const char *kind,
			     const char *subject, const char *text, size_t len, int compact)
{
	/* What a commit keeps as text: a record's "deps", a run's "files". */
	int k = compact ? quire_ev_parse(kind) : -1;
	const char *key = k == QUIRE_EV_PRODUCED || k == QUIRE_EV_CACHED ? "deps"
			  : k == QUIRE_EV_RUN_START			 ? "files"
									 : NULL;
	json_t *data = NULL;
	if (text && (data = quire__mb_parse_keeping(text, len, key))) {
		/* What was kept as text is checked once as a parser would: written as it is, a
		 * damaged record would make the manifest unreadable. */
		const json_t *kept = key ? json_object_get(data, key) : NULL;
		struct quire_buf scratch = QUIRE_BUF_INIT;
		if (json_is_string(kept) && quire_json_reformat(&scratch, json_string_value(kept),
								json_string_length(kept), -1)) {
			json_decref(data);
			data = NULL;
		}
		quire_buf_release(&scratch);
	}
	if (text && !data) {
		json_error_t je;
		if (!(data = json_loadb(text, len, JSON_DECODE_ANY, &je)))
			return quire_error_set(QUIRE_ECORRUPT,
					       "an event of '%s' has invalid data: %s",
					       subject ? subject : kind, je.text);
	}
	int err = fold(m, base, time_ns, kind, subject, data, compact);
	json_decref(data);
	return err;
}
