/* The runner's records: progress reports held until their events are committed, group
 * commits (with the full-disk reserve), halts, and failed instances. */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <fcntl.h>
#include <string.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "json.h"
#include "manifest_internal.h"
#include "objects.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "quire/run.h"
#include "quire/store.h"
#include "run_commit.h"
#include "remote.h"
#include "run_internal.h"
#include "util.h"
#include "event.h"

/* A progress event with the run's counters filled in. */
static struct quire_progress progress_event(const struct runner *r, const char *kind, size_t node,
					    const char *msg)
{
	/* Jobs told started and not yet taken in: a queued job a worker took is told before the
	 * job that worker had finished is taken in, which runs no more. */
	size_t running = r->told < (size_t)r->nthreads ? r->told : (size_t)r->nthreads;
	struct quire_progress ev = {
		.kind = kind,
		.id = r->plan->nodes[node].id,
		.message = msg,
		.done = r->done,
		.total = r->total,
		.running = running,
		.produced = r->res->produced,
		.cached = r->res->cached,
		.unchanged = r->res->unchanged,
		.failed = r->res->failed,
		.blocked = r->res->blocked,
	};
	return ev;
}

/* Reports now, or, while events wait for their group's commit, once it is committed: what a
 * user sees reported as finished is in the event log, also when quire is then killed
 * outright. */
static void emit(struct runner *r, const struct quire_progress *ev)
{
	if (!r->npend) {
		r->o->progress(r->o->ud, ev);
		return;
	}
	QUIRE_GROW(r->held, r->aheld, r->nheld + 1);
	struct held_report *h = &r->held[r->nheld++];
	h->ev = *ev;
	h->msg = ev->message ? quire__xstrdup(ev->message) : NULL;
	h->ev.message = h->msg;
	if (ev->unit) {
		snprintf(h->unit, sizeof(h->unit), "%s", ev->unit);
		h->ev.unit = h->unit;
	}
}

/* Gives the held reports to the caller, in order. */
static void emit_held(struct runner *r)
{
	for (size_t k = 0; k < r->nheld; k++) {
		r->o->progress(r->o->ud, &r->held[k].ev);
		free(r->held[k].msg);
	}
	r->nheld = 0;
}

void quire_run__report(struct runner *r, const char *kind, size_t node, const char *msg)
{
	if (!r->o->progress)
		return;
	struct quire_progress ev = progress_event(r, kind, node, msg);
	emit(r, &ev);
}

/* Reports streamed progress of in-flight jobs that moved since the last report. */
void quire_run__report_progress(struct runner *r)
{
	if (!r->o->progress)
		return;
	for (size_t k = 0; k < r->nflying; k++) {
		struct job *j = r->flying[k];
		long long u = atomic_load(&j->units);
		if (u == j->units_reported || !j->told) /* no progress before its start */
			continue;
		j->units_reported = u;
		struct quire_progress ev = progress_event(r, "progress", j->node, NULL);
		ev.units = u;
		ev.unit = j->unit[0] ? j->unit : "units";
		emit(r, &ev);
	}
}

/* Records one event in its own transaction, outside a run's scheduler (edit, recovery). */
int quire__run_record(struct quire_store *store, int64_t run, const char *kind, const char *subject,
		      const json_t *data, const char *ac_fp, const json_t *ac)
{
	int err = quire_store_begin(store);
	if (err)
		return err;
	err = quire_store_event(store, run, kind, subject, data);
	if (!err && ac_fp)
		err = quire_store_ac_put(store, ac_fp, ac);
	if (err) {
		quire_store_rollback(store);
		return err;
	}
	return quire_store_commit(store);
}

/* Room kept on the project's disk for a run that fills it: released when a write finds the
 * disk full, so that the jobs already paid for can still be recorded. */
#define RESERVE_BYTES (4u << 20)

/* Makes sure .quire/runs/reserve holds RESERVE_BYTES (best effort: none on a disk without
 * the room). */
void quire_run__reserve_make(const char *qdir)
{
	char *path = quire__xasprintf("%s/runs/reserve", qdir);
	struct stat st;
	if (stat(path, &st) == 0 && st.st_size >= (off_t)RESERVE_BYTES) {
		free(path);
		return;
	}
	*strrchr(path, '/') = '\0';
	int made = quire_fs_mkdirs(path, 0755);
	path[strlen(path)] = '/';
	if (made) {
		quire_error_clear();
		free(path);
		return;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd >= 0 && posix_fallocate(fd, 0, RESERVE_BYTES) != 0)
		unlink(path);
	if (fd >= 0)
		close(fd);
	free(path);
}

/* 1 when the reserve was there and is now given back to the disk. */
static int reserve_release(const char *qdir)
{
	char *path = quire__xasprintf("%s/runs/reserve", qdir);
	int rc = unlink(path) == 0;
	free(path);
	return rc;
}

void quire_run__pend_clear(struct runner *r)
{
	for (size_t k = 0; k < r->npend; k++) {
		free(r->pend[k].subject);
		free(r->pend[k].js);
		free(r->pend[k].ac_fp);
		free(r->pend[k].ac_js);
	}
	r->npend = 0;
}

/* Writes the group in one transaction; on failure nothing of it is kept in the database. */
static int flush_once(struct runner *r)
{
	int err = quire_store_begin(r->store);
	if (err)
		return err;
	for (size_t k = 0; !err && k < r->npend; k++) {
		const struct pend *e = &r->pend[k];
		err = quire_store_event_text(r->store, r->run_id, e->kind, e->subject, e->js);
		if (!err && e->ac_fp)
			err = quire_store_ac_put_text(r->store, e->ac_fp, e->ac_js);
	}
	if (!err)
		err = quire_store_commit(r->store);
	if (err) {
		/* The rollback must not replace the message that says why. */
		char *msg = quire__xstrdup(quire_error_last());
		quire_store_rollback(r->store);
		quire_error_set(err, "%s", msg);
		free(msg);
	}
	return err;
}

/* Starts nothing new: the jobs in flight finish and are recorded (they may be paid for),
 * the revision is committed, and the run ends with this error (the first one given). */
void quire_run__halt(struct runner *r, int code, const char *fmt, ...)
{
	quire_run__stop_starting(r);
	if (r->halt_err)
		return;
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->halt_err = code;
	r->halt_msg = quire__xstrdup(msg);
}

static void halt_disk_full(struct runner *r, const char *why)
{
	quire_run__halt(
		r, QUIRE_ENOSPC,
		"the disk is full (%s): quire started nothing new and recorded every job that "
		"finished; free some space and run again",
		why);
}

/* Commits the waiting group, if any, then gives out the reports it held. A report is given
 * only once its event is committed: when the commit fails, the reports are dropped (the jobs
 * are not recorded, so they were never reported). A full disk gives back the reserve and
 * tries once more; that working, the run starts nothing new (see execute) and ends with the
 * error, having recorded every job already paid for. */
int quire_run__record_flush(struct runner *r)
{
	if (!r->npend)
		return 0;
	int err = flush_once(r);
	if (err == QUIRE_ENOSPC && reserve_release(r->p->qdir)) {
		char *why = quire__xstrdup(quire_error_last());
		if (!(err = flush_once(r)))
			halt_disk_full(r, why);
		free(why);
	}
	r->last_commit = quire_run__mono_ns();
	if (!err)
		quire_run__fold_poke(r->early);
	if (err) {
		for (size_t k = 0; k < r->nheld; k++)
			free(r->held[k].msg);
		r->nheld = 0;
		quire_run__pend_clear(r);
		return err;
	}
	/* Shared once recorded here: what is uploaded is what this store keeps. */
	for (size_t k = 0; r->remote && k < r->npend; k++) {
		const struct pend *e = &r->pend[k];
		if (e->ac_fp && e->ac_js && !strcmp(e->kind, quire_ev_name(QUIRE_EV_PRODUCED))) {
			int perr = quire_remote_push(r->remote, r->p->qdir, e->ac_fp, e->ac_js);
			const char *w = quire_remote_take_warning(r->remote);
			if (w)
				quire_run__report(r, "warning",
						  quire_plan_find(r->plan, e->subject), w);
			/* A shard's work reaches the others only through the cache: without it,
			 * what it makes is paid for again by the final run. */
			if ((perr || quire_remote_gave_up(r->remote)) && r->o->shard_n)
				quire_run__halt(r, QUIRE_EIO,
						"the shared cache did not take %s, so the other "
						"shards cannot have it: this shard stops",
						e->subject);
		}
	}
	quire_run__pend_clear(r);
	emit_held(r);
	return 0;
}

/* Free space under which a failed job is taken for a full disk (its output could not be
 * written), not for the provider's failure. */
#define DISK_LOW_BYTES (64u << 10)

/* After a failed job: when the project's disk is (nearly) full, every further job would fail
 * the same way, and a paid one would be paid for nothing. The run starts nothing new and
 * gives back the reserve so what finishes can be recorded. */
void quire_run__check_disk(struct runner *r)
{
	struct statvfs sv;
	if (r->halt_err == QUIRE_ENOSPC || statvfs(r->p->qdir, &sv) != 0 ||
	    (unsigned long long)sv.f_bavail * sv.f_frsize >= DISK_LOW_BYTES)
		return;
	reserve_release(r->p->qdir);
	char why[96];
	snprintf(why, sizeof(why), "%llu KiB left after a job failed",
		 (unsigned long long)sv.f_bavail * sv.f_frsize / 1024);
	halt_disk_full(r, why);
}

/* After an output could not be stored: every further job would be paid for and lost the
 * same way, so the run starts nothing new and records what finishes. */
void quire_run__halt_store(struct runner *r, int code, const char *why)
{
	if (code == QUIRE_ENOSPC) {
		reserve_release(r->p->qdir);
		halt_disk_full(r, "an output could not be stored");
		return;
	}
	quire_run__halt(
		r, code,
		"an output could not be stored (%s): quire started nothing new and recorded "
		"every job that finished",
		why);
}

/* Records an event, with its action-cache entry when ac_fp is given, in the current group
 * (see RECORD_BATCH_NS). deps, when given, is the entry's dependency record as canonical JSON
 * text, added to data as "deps" without being parsed (a collector's names every upstream). */
int quire_run__record(struct runner *r, const char *kind, const char *subject, const json_t *data,
		      const char *deps, const char *ac_fp, const json_t *ac)
{
	char *js = NULL, *acjs = NULL;
	if (data && !json_is_null(data) &&
	    !(js = deps ? quire_json_canonical_with(data, "deps", deps)
			: quire_json_canonical(data)))
		return QUIRE_EINVALID;
	if (ac_fp && !(acjs = quire_json_canonical(ac))) {
		free(js);
		return QUIRE_EINVALID;
	}
	QUIRE_GROW(r->pend, r->apend, r->npend + 1);
	r->pend[r->npend++] = (struct pend){ kind, subject ? quire__xstrdup(subject) : NULL, js,
					     ac_fp ? quire__xstrdup(ac_fp) : NULL, acjs };
	if (r->npend >= RECORD_BATCH_MAX ||
	    quire_run__mono_ns() - r->last_commit >= RECORD_BATCH_NS)
		return quire_run__record_flush(r);
	return 0;
}

int quire_run__record_entry(struct runner *r, const char *kind, size_t i, const json_t *data,
			    const char *deps, const char *ac_fp, const json_t *ac)
{
	const struct quire_node *n = &r->plan->nodes[i];
	size_t dlen = deps ? strlen(deps) : 0;
	const char *fp = json_string_value(json_object_get(data, "fingerprint"));
	const char *near = n->entry ? n->entry->fingerprint : NULL;
	if (dlen < QUIRE_RECORD_DELTA_MIN || !fp || !near)
		return quire_run__record(r, kind, n->id, data, deps, ac_fp, ac);
	if (!r->objs_tried) {
		/* None (a store in format 1, an index that cannot be opened): records whole. The
		 * plan's, when it has them (its rows' entries were read through them). */
		r->objs_tried = 1;
		r->objs = quire__mbase_objs_or_open(r->plan->base, r->p->qdir, &r->objs_own);
		quire_error_clear();
	}
	json_t *d = NULL, *dd = quire_record_delta_ref(r->objs, near, fp, deps, dlen);
	if (dd) {
		d = json_copy((json_t *)data);
		json_object_set_new(d, "deps_delta", dd);
	}
	int err = d ? quire_run__record(r, kind, n->id, d, NULL, ac_fp, ac)
		    : quire_run__record(r, kind, n->id, data, deps, ac_fp, ac);
	json_decref(d);
	return err;
}

/* Records node i as failed or blocked with msg; extra (may be NULL) adds to the event. */
int quire_run__fail_node_with(struct runner *r, size_t i, const char *msg, enum nstate st,
			      const json_t *extra)
{
	const struct quire_node *n = &r->plan->nodes[i];
	const struct quire_producer *pr = &r->p->bp->producers[n->producer];
	/* A provider's message may hold anything (a Latin-1 error page, a UTF-8 character cut by
	 * the end of its buffer); as it was, json_pack refused it and the event lost the error,
	 * the producer and the role. */
	char *clean = quire__xstrdup(msg);
	quire__utf8_scrub(clean);
	json_t *d =
		json_pack("{s:s,s:s,s:s}", "error", clean, "producer", pr->name, "role", pr->role);
	if (extra)
		json_object_update(d, (json_t *)extra);
	int err = quire_run__record(r,
				    st == N_FAILED ? quire_ev_name(QUIRE_EV_FAILED)
						   : quire_ev_name(QUIRE_EV_BLOCKED),
				    n->id, d, NULL, NULL, NULL);
	json_decref(d);
	if (st == N_FAILED)
		r->res->failed++;
	else
		r->res->blocked++;
	quire_run__finish(r, i, st);
	/* A line printed is a line recorded: when the record failed the run stops with that
	 * error, and the instance runs again next time. */
	if (!err)
		quire_run__report(r, st == N_FAILED ? "failed" : "blocked", i, clean);
	free(clean);
	if (st == N_FAILED && r->o->fail_fast)
		quire_run__stop_starting(r);
	return err;
}

int quire_run__fail_node(struct runner *r, size_t i, const char *msg, enum nstate st)
{
	return quire_run__fail_node_with(r, i, msg, st, NULL);
}

/* What a job's attempts used, as recorded: {tokens_in, tokens_out}, or null when an answer
 * did not say (never a zero that would look like a free call). New reference. */
json_t *quire_run__job_usage(const struct job *j)
{
	if (j->usage_unknown)
		return json_null();
	return json_pack("{s:I,s:I}", "tokens_in", (json_int_t)j->spent_in, "tokens_out",
			 (json_int_t)j->spent_out);
}
