/* Unit tests for the project database (quire/store.h): WAL, schema, events, runs, caches. */
#include "testutil.h"

#include <sqlite3.h>
#include <time.h>

#include "quire/error.h"
#include "quire/hash.h"
#include "core/json.h"
#include "quire/store.h"

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Runs one PRAGMA on the database file directly and returns its text value (malloc'd). */
static char *pragma_text(const char *pragma)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(".quire/quire.db", &db, SQLITE_OPEN_READWRITE, NULL),
			 SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, pragma, -1, &st, NULL), SQLITE_OK);
	char *out = NULL;
	if (sqlite3_step(st) == SQLITE_ROW)
		out = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_non_null(out);
	return out;
}

static void exec_sql(const char *sql)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(".quire/quire.db", &db, SQLITE_OPEN_READWRITE, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void digest_of(const char *text, struct quire_digest *d)
{
	quire_hash_bytes(text, strlen(text), d);
}

/* Collected events, for checking order and content. */
struct ev {
	int64_t seq, time_ns;
	char kind[64], subject[64];
	char *data; /* canonical JSON or NULL */
};

struct evlist {
	struct ev ev[16];
	int n;
	int stop_after; /* 0 = never */
};

static int collect(void *ctx, int64_t seq, int64_t time_ns, const char *kind, const char *subject,
		   const json_t *data)
{
	struct evlist *l = ctx;
	assert_true(l->n < 16);
	struct ev *e = &l->ev[l->n++];
	e->seq = seq;
	e->time_ns = time_ns;
	snprintf(e->kind, sizeof(e->kind), "%s", kind);
	snprintf(e->subject, sizeof(e->subject), "%s", subject ? subject : "(null)");
	e->data = data ? quire_json_canonical(data) : NULL;
	if (l->stop_after && l->n == l->stop_after)
		return 42;
	return 0;
}

static void evlist_free(struct evlist *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->ev[i].data);
	l->n = 0;
}

static void test_open_creates_wal_db(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	assert_non_null(s);
	assert_int_equal(quire_store_readonly(s), 0);
	struct stat st;
	assert_int_equal(stat(".quire/quire.db", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	quire_store_close(s);

	char *mode = pragma_text("PRAGMA journal_mode");
	assert_string_equal(mode, "wal");
	free(mode);
	char *ver = pragma_text("PRAGMA user_version");
	assert_int_equal(atoi(ver), QUIRE_STORE_SCHEMA);
	free(ver);
}

static void test_reopen_keeps_data(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	int64_t run = 0;
	assert_int_equal(quire_store_run_start(s, "rev-0001", NULL, "quire run", "{}", &run), 0);
	json_t *d = json_pack("{s:s}", "k", "v");
	assert_int_equal(quire_store_event(s, run, "artefact.produced", "Outline", d), 0);
	json_decref(d);
	struct quire_digest dg;
	digest_of("x", &dg);
	int64_t old = now_ns() - 60LL * 1000000000;
	assert_int_equal(quire_store_stat_put(s, "inputs.yaml", 10, old, 77, &dg), 0);
	json_t *ac = json_pack("{s:s}", "digest", dg.s);
	assert_int_equal(quire_store_ac_put(s, "sha256:fp", ac), 0);
	json_decref(ac);
	quire_store_close(s);

	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	struct evlist l = { 0 };
	assert_int_equal(quire_store_events(s, run, collect, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.ev[0].kind, "run.start");
	assert_string_equal(l.ev[1].kind, "artefact.produced");
	assert_string_equal(l.ev[1].subject, "Outline");
	assert_string_equal(l.ev[1].data, "{\"k\":\"v\"}");
	evlist_free(&l);
	struct quire_digest got = { 0 };
	assert_int_equal(quire_store_stat_get(s, "inputs.yaml", 10, old, 77, &got), 1);
	assert_string_equal(got.s, dg.s);
	json_t *back = NULL;
	assert_int_equal(quire_store_ac_get(s, "sha256:fp", &back), 0);
	assert_non_null(back);
	assert_string_equal(json_string_value(json_object_get(back, "digest")), dg.s);
	json_decref(back);
	quire_store_close(s);
}

static void test_newer_schema_refused(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	quire_store_close(s);
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", QUIRE_STORE_SCHEMA + 1);
	exec_sql(sql);

	s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), QUIRE_ENEWER);
	assert_null(s);
	assert_non_null(strstr(quire_error_last(), "upgrade"));
	/* A reader must refuse it too rather than misread a newer layout. */
	assert_int_equal(quire_store_open(&s, ".quire", 1), QUIRE_ENEWER);
	assert_null(s);
	assert_non_null(strstr(quire_error_last(), "upgrade"));
	/* And the refusal did not downgrade the database. */
	char *ver = pragma_text("PRAGMA user_version");
	assert_int_equal(atoi(ver), QUIRE_STORE_SCHEMA + 1);
	free(ver);
}

static void test_events_round_trip_in_order(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	int64_t r1 = 0, r2 = 0;
	json_t *start = json_pack("{s:s,s:n,s:{s:i}}", "revision", "rev-0001", "parent", "inputs",
				  "Chapters", 3);
	char *start_text = quire_json_canonical(start);
	int64_t before = now_ns();
	assert_int_equal(quire_store_run_start(s, "rev-0001", NULL, NULL, start_text, &r1), 0);
	free(start_text);
	assert_int_equal(quire_store_run_start(s, "rev-0002", "rev-0001", NULL, NULL, &r2), 0);
	assert_true(r1 != r2);
	json_t *prod =
		json_pack("{s:s,s:i,s:[i,i]}", "digest", "sha256:aa", "size", 12, "index", 1, 0);
	assert_int_equal(quire_store_event(s, r1, "artefact.produced", "Scene[1][0]", prod), 0);
	assert_int_equal(quire_store_event(s, r1, "artefact.removed", "Scene[2][0]", NULL), 0);
	assert_int_equal(quire_store_event(s, r1, "run.end", NULL, NULL), 0);
	int64_t after = now_ns();

	struct evlist l = { 0 };
	assert_int_equal(quire_store_events(s, r1, collect, &l), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.ev[0].kind, "run.start");
	assert_string_equal(l.ev[0].subject, "(null)");
	char *want = quire_json_canonical(start);
	assert_string_equal(l.ev[0].data, want);
	free(want);
	assert_string_equal(l.ev[1].kind, "artefact.produced");
	assert_string_equal(l.ev[1].subject, "Scene[1][0]");
	want = quire_json_canonical(prod);
	assert_string_equal(l.ev[1].data, want);
	free(want);
	assert_string_equal(l.ev[2].kind, "artefact.removed");
	assert_string_equal(l.ev[2].subject, "Scene[2][0]");
	assert_null(l.ev[2].data);
	assert_string_equal(l.ev[3].kind, "run.end");
	for (int i = 0; i < l.n; i++) {
		if (i)
			assert_true(l.ev[i].seq > l.ev[i - 1].seq);
		assert_true(l.ev[i].time_ns >= before && l.ev[i].time_ns <= after);
	}
	evlist_free(&l);

	/* The other run sees only its own event. */
	assert_int_equal(quire_store_events(s, r2, collect, &l), 0);
	assert_int_equal(l.n, 1);
	assert_null(l.ev[0].data);
	evlist_free(&l);

	/* A callback's non-zero return stops the walk and is passed back. */
	l.stop_after = 2;
	assert_int_equal(quire_store_events(s, r1, collect, &l), 42);
	assert_int_equal(l.n, 2);
	evlist_free(&l);

	/* Reals are refused: they would not hash stably. */
	json_t *real = json_pack("{s:f}", "x", 1.5);
	assert_int_equal(quire_store_event(s, r1, "artefact.produced", "X", real), QUIRE_EINVALID);
	json_decref(real);
	l.stop_after = 0;
	assert_int_equal(quire_store_events(s, r1, collect, &l), 0);
	assert_int_equal(l.n, 4);
	evlist_free(&l);

	json_decref(start);
	json_decref(prod);
	quire_store_close(s);
}

static void test_rollback_discards_events(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	int64_t run = 0;
	assert_int_equal(quire_store_run_start(s, "rev-0001", NULL, NULL, "{}", &run), 0);
	assert_int_equal(quire_store_begin(s), 0);
	assert_int_equal(quire_store_event(s, run, "artefact.produced", "A", NULL), 0);
	assert_int_equal(quire_store_rollback(s), 0);
	assert_int_equal(quire_store_begin(s), 0);
	assert_int_equal(quire_store_event(s, run, "artefact.produced", "B", NULL), 0);
	assert_int_equal(quire_store_commit(s), 0);
	quire_store_close(s);

	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	struct evlist l = { 0 };
	assert_int_equal(quire_store_events(s, run, collect, &l), 0);
	assert_int_equal(l.n, 2); /* run.start, B */
	assert_string_equal(l.ev[1].subject, "B");
	evlist_free(&l);
	quire_store_close(s);
}

static void test_runs_unfinished_and_finish(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	int64_t id = -1;
	char *rev = (char *)"x", *parent = (char *)"x";
	assert_int_equal(quire_store_unfinished_run(s, &id, &rev, &parent), 0);
	assert_int_equal(id, 0);
	assert_null(rev);
	assert_null(parent);

	int64_t r1 = 0, r2 = 0;
	assert_int_equal(quire_store_run_start(s, "rev-0001", NULL, "quire run", "{}", &r1), 0);
	assert_int_equal(quire_store_run_start(s, "rev-0002", "rev-0001", "quire run", "{}", &r2),
			 0);
	assert_true(r1 > 0 && r2 > r1);

	/* The oldest unfinished run comes first. */
	assert_int_equal(quire_store_unfinished_run(s, &id, &rev, &parent), 0);
	assert_int_equal(id, r1);
	assert_string_equal(rev, "rev-0001");
	assert_null(parent);
	free(rev);

	assert_int_equal(quire_store_run_finish(s, r1, "committed", NULL), 0);
	assert_int_equal(quire_store_unfinished_run(s, &id, &rev, &parent), 0);
	assert_int_equal(id, r2);
	assert_string_equal(rev, "rev-0002");
	assert_non_null(parent);
	assert_string_equal(parent, "rev-0001");
	free(rev);
	free(parent);

	assert_int_equal(quire_store_run_finish(s, r2, "abandoned", NULL), 0);
	quire_store_close(s);
	/* Finishing is durable. */
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	assert_int_equal(quire_store_unfinished_run(s, &id, &rev, &parent), 0);
	assert_int_equal(id, 0);
	assert_null(rev);
	quire_store_close(s);
}

static void test_run_named_at_commit(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	int64_t run;
	/* A run starts before its revision's name (its manifest's digest) is known. */
	assert_int_equal(quire_store_run_start(s, "pending", "rev-0003", NULL, "{}", &run), 0);
	assert_int_equal(quire_store_run_finish(s, run, "committed", "abc123"), 0);
	int64_t id = -1;
	char *rev = NULL, *parent = NULL;
	assert_int_equal(quire_store_run_start(s, "pending", "abc123", NULL, "{}", &run), 0);
	assert_int_equal(quire_store_unfinished_run(s, &id, &rev, &parent), 0);
	assert_int_equal(id, run);
	assert_string_equal(rev, "pending");
	assert_string_equal(parent, "abc123");
	free(rev);
	free(parent);
	/* Abandoned without a name: the row keeps the one it had. */
	assert_int_equal(quire_store_run_finish(s, run, "abandoned", NULL), 0);
	assert_int_equal(quire_store_unfinished_run(s, &id, &rev, &parent), 0);
	assert_int_equal(id, 0);
	quire_store_close(s);
}

static void test_readonly_missing_db_is_empty(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 1), 0);
	assert_non_null(s);
	assert_int_equal(quire_store_readonly(s), 1);
	struct quire_digest d = { 0 };
	int64_t old = now_ns() - 60LL * 1000000000;
	assert_int_equal(quire_store_stat_get(s, "inputs.yaml", 1, old, 1, &d), 0);
	json_t *ac = (json_t *)1;
	assert_int_equal(quire_store_ac_get(s, "sha256:fp", &ac), 0);
	assert_null(ac);
	int64_t id = -1;
	char *rev = NULL, *parent = NULL;
	assert_int_equal(quire_store_unfinished_run(s, &id, &rev, &parent), 0);
	assert_int_equal(id, 0);
	struct evlist l = { 0 };
	assert_int_equal(quire_store_events(s, 1, collect, &l), 0);
	assert_int_equal(l.n, 0);
	/* A stat cache write on a read-only store is a quiet no-op. */
	digest_of("x", &d);
	assert_int_equal(quire_store_stat_put(s, "inputs.yaml", 1, old, 1, &d), 0);
	quire_store_close(s);

	struct stat st;
	assert_int_equal(stat(".quire/quire.db", &st), -1);
	assert_int_equal(stat(".quire/quire.db-wal", &st), -1);
	/* Even when .quire itself does not exist (a fresh clone without a database). */
	assert_int_equal(quire_store_open(&s, "nowhere/.quire", 1), 0);
	quire_store_close(s);
	assert_int_equal(stat("nowhere", &st), -1);
}

static void test_readonly_existing_db_reads(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	struct quire_digest d;
	digest_of("hello", &d);
	int64_t old = now_ns() - 60LL * 1000000000;
	assert_int_equal(quire_store_stat_put(s, "a.txt", 5, old, 9, &d), 0);
	quire_store_close(s);

	assert_int_equal(quire_store_open(&s, ".quire", 1), 0);
	assert_int_equal(quire_store_readonly(s), 1);
	struct quire_digest got = { 0 };
	assert_int_equal(quire_store_stat_get(s, "a.txt", 5, old, 9, &got), 1);
	assert_string_equal(got.s, d.s);
	/* Writes through a read-only store change nothing. */
	struct quire_digest other;
	digest_of("other", &other);
	assert_int_equal(quire_store_stat_put(s, "a.txt", 5, old, 9, &other), 0);
	quire_store_close(s);
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	assert_int_equal(quire_store_stat_get(s, "a.txt", 5, old, 9, &got), 1);
	assert_string_equal(got.s, d.s);
	quire_store_close(s);
}

/* Thousands of entries (the table grows in memory) answer after a reopen, read-only too, and
 * each keeps its own digest. */
#define LONG_DIR "prompts/a-directory-with-a-rather-long-name/and-another-under-it/"

/* Enough entries (2.9 MB) that the file is read in several pieces: a line cut by a piece's
 * end is read whole with the next. */
static void test_stat_cache_many_entries(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	int64_t mtime = now_ns() - 10LL * 1000000000;
	char path[256], text[64];
	struct quire_digest d, got;
	assert_int_equal(quire_store_begin(s), 0);
	for (int k = 0; k < 12000; k++) {
		snprintf(path, sizeof(path), LONG_DIR "scene-%d.md", k);
		snprintf(text, sizeof(text), "scene %d", k);
		digest_of(text, &d);
		assert_int_equal(quire_store_stat_put(s, path, k, mtime, 1000 + k, &d), 0);
	}
	assert_int_equal(quire_store_commit(s), 0);
	quire_store_close(s);
	for (int ro = 0; ro < 2; ro++) {
		assert_int_equal(quire_store_open(&s, ".quire", ro), 0);
		for (int k = 0; k < 12000; k++) {
			snprintf(path, sizeof(path), LONG_DIR "scene-%d.md", k);
			snprintf(text, sizeof(text), "scene %d", k);
			digest_of(text, &d);
			assert_int_equal(quire_store_stat_get(s, path, k, mtime, 1000 + k, &got),
					 1);
			assert_string_equal(got.s, d.s);
			assert_int_equal(
				quire_store_stat_get(s, path, k + 1, mtime, 1000 + k, &got), 0);
		}
		assert_int_equal(quire_store_stat_get(s, LONG_DIR "scene-12000.md", 12000, mtime,
						      13000, &got),
				 0);
		quire_store_close(s);
	}
	struct stat st;
	assert_int_equal(stat(".quire/runs/stat-cache", &st), 0);
	assert_true(st.st_size > (2 << 20));
}

static void test_stat_cache_hit_needs_all_fields(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	struct quire_digest d, got;
	digest_of("content", &d);
	int64_t mtime = now_ns() - 10LL * 1000000000; /* well before the entry is recorded */
	assert_int_equal(quire_store_stat_put(s, "prompts/scene.md", 120, mtime, 4242, &d), 0);

	memset(&got, 0, sizeof(got));
	assert_int_equal(quire_store_stat_get(s, "prompts/scene.md", 120, mtime, 4242, &got), 1);
	assert_string_equal(got.s, d.s);

	memset(&got, 0, sizeof(got));
	assert_int_equal(quire_store_stat_get(s, "prompts/scene.md", 121, mtime, 4242, &got), 0);
	assert_int_equal(quire_store_stat_get(s, "prompts/scene.md", 120, mtime + 1, 4242, &got),
			 0);
	assert_int_equal(quire_store_stat_get(s, "prompts/scene.md", 120, mtime, 4243, &got), 0);
	assert_int_equal(quire_store_stat_get(s, "prompts/book.md", 120, mtime, 4242, &got), 0);
	assert_string_equal(got.s, "");

	/* A newer entry for the same path replaces the old one. */
	struct quire_digest d2;
	digest_of("content2", &d2);
	assert_int_equal(quire_store_stat_put(s, "prompts/scene.md", 121, mtime + 5, 4242, &d2), 0);
	assert_int_equal(quire_store_stat_get(s, "prompts/scene.md", 120, mtime, 4242, &got), 0);
	assert_int_equal(quire_store_stat_get(s, "prompts/scene.md", 121, mtime + 5, 4242, &got),
			 1);
	assert_string_equal(got.s, d2.s);
	quire_store_close(s);
}

/* The stat cache is a file (.quire/runs/stat-cache) written when the store closes: a damaged or
 * cut file keeps the rows before the damage and loses the rest (they are hashed again), and
 * a path it cannot hold (a tab or newline in it) is simply never cached. */
static void test_stat_cache_file_damage(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	struct quire_digest d[3], got;
	digest_of("one", &d[0]);
	digest_of("two", &d[1]);
	digest_of("three", &d[2]);
	int64_t mtime = now_ns() - 10LL * 1000000000;
	assert_int_equal(quire_store_stat_put(s, "a.md", 1, mtime, 11, &d[0]), 0);
	assert_int_equal(quire_store_stat_put(s, "b.md", 2, mtime, 12, &d[1]), 0);
	assert_int_equal(quire_store_stat_put(s, "tab\tname.md", 3, mtime, 13, &d[2]), 0);
	assert_int_equal(quire_store_stat_get(s, "tab\tname.md", 3, mtime, 13, &got), 1);
	quire_store_close(s);
	char *text = tu_slurp(".quire/runs/stat-cache");
	assert_non_null(strstr(text, "\ta.md\n"));
	assert_null(strstr(text, "name.md"));

	assert_int_equal(quire_store_open(&s, ".quire", 1), 0);
	assert_int_equal(quire_store_stat_get(s, "a.md", 1, mtime, 11, &got), 1);
	assert_string_equal(got.s, d[0].s);
	assert_int_equal(quire_store_stat_get(s, "b.md", 2, mtime, 12, &got), 1);
	assert_int_equal(quire_store_stat_get(s, "tab\tname.md", 3, mtime, 13, &got), 0);
	quire_store_close(s);

	/* Cut in the middle of b.md's row: a.md still answers, b.md is a miss. */
	char *cut = strstr(text, "\tb.md\n");
	assert_non_null(cut);
	*cut = '\0';
	const char *b_row = strrchr(text, '\n');
	assert_non_null(b_row);
	tu_write(".", ".quire/runs/stat-cache", text);
	FILE *f = fopen(".quire/runs/stat-cache", "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, (long)(b_row - text) + 10, SEEK_SET), 0);
	fputs("\n", f); /* a row ending inside its digest */
	fclose(f);
	assert_int_equal(quire_store_open(&s, ".quire", 1), 0);
	assert_int_equal(quire_store_stat_get(s, "a.md", 1, mtime, 11, &got), 1);
	assert_int_equal(quire_store_stat_get(s, "b.md", 2, mtime, 12, &got), 0);
	quire_store_close(s);

	/* Not a stat cache at all: every lookup misses, and the next write replaces it. */
	tu_write(".", ".quire/runs/stat-cache", "something else\n1\t2\t3\n");
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	assert_int_equal(quire_store_stat_get(s, "a.md", 1, mtime, 11, &got), 0);
	assert_int_equal(quire_store_stat_put(s, "c.md", 4, mtime, 14, &d[2]), 0);
	quire_store_close(s);
	assert_int_equal(quire_store_open(&s, ".quire", 1), 0);
	assert_int_equal(quire_store_stat_get(s, "c.md", 4, mtime, 14, &got), 1);
	assert_string_equal(got.s, d[2].s);
	quire_store_close(s);
	free(text);
}

/* Closing a store appends only the rows that changed (later lines win when read back), while
 * the file holds at most a quarter more lines than live rows; past that, and after a line was
 * cut short, the whole file is written again. */
static void test_stat_cache_appends(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	struct quire_digest d[4], got;
	digest_of("one", &d[0]);
	digest_of("two", &d[1]);
	digest_of("three", &d[2]);
	digest_of("four", &d[3]);
	int64_t mtime = now_ns() - 10LL * 1000000000;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	assert_int_equal(quire_store_stat_put(s, "a.md", 1, mtime, 11, &d[0]), 0);
	assert_int_equal(quire_store_stat_put(s, "b.md", 2, mtime, 12, &d[1]), 0);
	assert_int_equal(quire_store_stat_put(s, "c.md", 3, mtime, 13, &d[2]), 0);
	quire_store_close(s);
	char *first = tu_slurp(".quire/runs/stat-cache");

	/* b.md again, same stat, other content: one line more, after the rest unchanged. */
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	assert_int_equal(quire_store_stat_get(s, "a.md", 1, mtime, 11, &got), 1);
	assert_int_equal(quire_store_stat_put(s, "b.md", 2, mtime, 12, &d[3]), 0);
	quire_store_close(s);
	char *second = tu_slurp(".quire/runs/stat-cache");
	assert_int_equal(strncmp(second, first, strlen(first)), 0);
	const char *added = second + strlen(first);
	assert_non_null(strstr(added, "\tb.md\n"));
	assert_null(strchr(strchr(added, '\n') + 1, '\n')); /* exactly one line */
	assert_int_equal(quire_store_open(&s, ".quire", 1), 0);
	assert_int_equal(quire_store_stat_get(s, "b.md", 2, mtime, 12, &got), 1);
	assert_string_equal(got.s, d[3].s);
	assert_int_equal(quire_store_stat_get(s, "c.md", 3, mtime, 13, &got), 1);
	quire_store_close(s);

	/* Three rows, four lines at most: the next changes make the file whole again. */
	for (int k = 0; k < 4; k++) {
		assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
		assert_int_equal(quire_store_stat_put(s, "c.md", 3, mtime + k + 1, 13, &d[2]), 0);
		quire_store_close(s);
	}
	char *whole = tu_slurp(".quire/runs/stat-cache");
	size_t lines = 0;
	for (const char *c = whole; (c = strchr(c, '\n')); c++)
		lines++;
	assert_true(lines <= 1 + 4);
	assert_int_equal(strncmp(whole, "quire-stat-cache 1\n", 19), 0);

	/* A crash in the middle of an append: the cut line is ignored, and the next close writes
	 * the whole file with every row. */
	size_t len = strlen(whole);
	whole[len - 20] = '\0';
	tu_write(".", ".quire/runs/stat-cache", whole);
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	assert_int_equal(quire_store_stat_get(s, "a.md", 1, mtime, 11, &got), 1);
	assert_int_equal(quire_store_stat_put(s, "d.md", 4, mtime, 14, &d[0]), 0);
	quire_store_close(s);
	char *healed = tu_slurp(".quire/runs/stat-cache");
	assert_int_equal(strncmp(healed, "quire-stat-cache 1\n", 19), 0);
	assert_int_equal(quire_store_open(&s, ".quire", 1), 0);
	assert_int_equal(quire_store_stat_get(s, "a.md", 1, mtime, 11, &got), 1);
	assert_int_equal(quire_store_stat_get(s, "b.md", 2, mtime, 12, &got), 1);
	assert_string_equal(got.s, d[3].s);
	assert_int_equal(quire_store_stat_get(s, "d.md", 4, mtime, 14, &got), 1);
	quire_store_close(s);
	free(first);
	free(second);
	free(whole);
	free(healed);
}

static void test_stat_cache_racy_entry_misses(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	struct quire_digest d, got;
	digest_of("content", &d);
	/* The file changed just now: the same (size, mtime, ino) could hide a second write. */
	int64_t fresh = now_ns();
	assert_int_equal(quire_store_stat_put(s, "inputs.yaml", 50, fresh, 7, &d), 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(quire_store_stat_get(s, "inputs.yaml", 50, fresh, 7, &got), 0);
	assert_string_equal(got.s, "");
	/* Within the 2 s window is still racy. */
	int64_t recent = now_ns() - 1500000000LL;
	assert_int_equal(quire_store_stat_put(s, "inputs.yaml", 50, recent, 7, &d), 0);
	assert_int_equal(quire_store_stat_get(s, "inputs.yaml", 50, recent, 7, &got), 0);
	/* Outside it the entry is trusted. */
	int64_t old = now_ns() - 3000000000LL;
	assert_int_equal(quire_store_stat_put(s, "inputs.yaml", 50, old, 7, &d), 0);
	assert_int_equal(quire_store_stat_get(s, "inputs.yaml", 50, old, 7, &got), 1);
	assert_string_equal(got.s, d.s);
	/* What counts is when the file was stat'ed, not when the entry is put: a file stat'ed
	 * within its tick, hashed and put 3 s later (other files took the time), stays racy. */
	int64_t m2 = now_ns() - 3000000000LL;
	assert_int_equal(quire_store_stat_put_at(s, "slow.md", 50, m2, 8, &d, m2 + 500000000LL), 0);
	assert_int_equal(quire_store_stat_get(s, "slow.md", 50, m2, 8, &got), 0);
	assert_int_equal(quire_store_stat_put_at(s, "slow.md", 50, m2, 8, &d, m2 + 2500000000LL),
			 0);
	assert_int_equal(quire_store_stat_get(s, "slow.md", 50, m2, 8, &got), 1);
	quire_store_close(s);
	/* Racy entries are not even kept: a store that recorded only those leaves no file. */
	assert_int_equal(unlink(".quire/runs/stat-cache"), 0);
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	assert_int_equal(quire_store_stat_put(s, "prompts/x.md", 5, now_ns(), 9, &d), 0);
	quire_store_close(s);
	struct stat st;
	assert_int_equal(stat(".quire/runs/stat-cache", &st), -1);
}

static void test_action_cache_put_get(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	json_t *out = (json_t *)1;
	assert_int_equal(quire_store_ac_get(s, "sha256:missing", &out), 0);
	assert_null(out);

	json_t *r1 =
		json_pack("{s:s,s:i,s:{s:i,s:i}}", "digest",
			  "sha256:0000000000000000000000000000000000000000000000000000000000000001",
			  "size", 42, "usage", "tokens_in", 10, "tokens_out", 200);
	assert_int_equal(quire_store_ac_put(s, "sha256:fp1", r1), 0);
	assert_int_equal(quire_store_ac_get(s, "sha256:fp1", &out), 0);
	assert_non_null(out);
	assert_true(json_equal(out, r1));
	json_decref(out);

	/* A second result for the same fingerprint replaces the first. */
	json_t *r2 =
		json_pack("{s:s,s:i}", "digest",
			  "sha256:0000000000000000000000000000000000000000000000000000000000000002",
			  "size", 7);
	assert_int_equal(quire_store_ac_put(s, "sha256:fp1", r2), 0);
	assert_int_equal(quire_store_ac_get(s, "sha256:fp1", &out), 0);
	assert_true(json_equal(out, r2));
	json_decref(out);
	assert_int_equal(quire_store_ac_get(s, "sha256:fp2", &out), 0);
	assert_null(out);
	json_decref(r1);
	json_decref(r2);
	quire_store_close(s);
}

/* Named values: set, replaced, and removed by a NULL value. */
static void test_meta_put_get_remove(void **state)
{
	(void)state;
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 0), 0);
	char *v = NULL;
	assert_int_equal(quire_store_meta_get(s, "k", &v), 0);
	assert_null(v);
	assert_int_equal(quire_store_meta_put(s, "k", "one"), 0);
	assert_int_equal(quire_store_meta_put(s, "k", "two"), 0);
	assert_int_equal(quire_store_meta_get(s, "k", &v), 0);
	assert_string_equal(v, "two");
	free(v);
	assert_int_equal(quire_store_meta_put(s, "k", NULL), 0);
	assert_int_equal(quire_store_meta_put(s, "never set", NULL), 0);
	assert_int_equal(quire_store_meta_get(s, "k", &v), 0);
	assert_null(v);
	quire_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_wal_db, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_events_round_trip_in_order, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_rollback_discards_events, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_runs_unfinished_and_finish, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_run_named_at_commit, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_readonly_missing_db_is_empty, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_readonly_existing_db_reads, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_stat_cache_many_entries, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_stat_cache_hit_needs_all_fields, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_stat_cache_file_damage, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_stat_cache_appends, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_meta_put_get_remove, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_stat_cache_racy_entry_misses, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_action_cache_put_get, tu_setup_qdir,
						tu_teardown_tmpdir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
