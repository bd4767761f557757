/* Project loading: quire.yaml (roles, prices, limits), the blueprint, opening a project and
 * checking its providers. Inputs are in project_inputs.c, the file table in project_files.c,
 * template checks in project_check.c (project_internal.h between them). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/fs.h"
#include "template.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "quire/project.h"
#include "quire/provider.h"
#include "quire/secret.h"
#include "quire-config.h"
#include "quire-provider.h"
#include "quire/store.h"
#include "project_internal.h"
#include "project_parse.h"
#include "util.h"
#include "yaml.h"

int quire_project_find(char **root, const char *dir)
{
	char buf[PATH_MAX];
	*root = NULL;
	if (dir) {
		if (!realpath(dir, buf))
			return quire_error_set(QUIRE_ENOTFOUND, "cannot open project '%s': %s", dir,
					       strerror(errno));
		char *f = quire__xasprintf("%s/%s", buf, QUIRE_PROJECT_FILE);
		int ok = access(f, F_OK) == 0;
		free(f);
		if (!ok)
			return quire_error_set(
				QUIRE_ENOTFOUND,
				"'%s' is not a quire project (no %s; create one with 'quire init')",
				dir, QUIRE_PROJECT_FILE);
		*root = quire__xstrdup(buf);
		return 0;
	}
	if (!getcwd(buf, sizeof(buf)))
		return quire_error_set(QUIRE_EIO, "cannot read the working directory: %s",
				       strerror(errno));
	for (;;) {
		char *f = quire__xasprintf("%s/%s", buf, QUIRE_PROJECT_FILE);
		int ok = access(f, F_OK) == 0;
		free(f);
		if (ok) {
			*root = quire__xstrdup(buf);
			return 0;
		}
		char *slash = strrchr(buf, '/');
		if (!slash || slash == buf)
			break;
		*slash = '\0';
	}
	return quire_error_set(QUIRE_ENOTFOUND,
			       "not in a quire project (no %s here or in any parent directory; "
			       "create one with 'quire init')",
			       QUIRE_PROJECT_FILE);
}

void quire_project_free(struct quire_project *p)
{
	if (!p || quire__mem_keep(p))
		return;
	for (size_t i = 0; i < p->nbindings; i++) {
		free(p->bindings[i].role);
		free(p->bindings[i].provider);
		free(p->bindings[i].model);
		free(p->bindings[i].secret);
		for (size_t k = 0; k < p->bindings[i].nreasoning; k++)
			free(p->bindings[i].reasoning[k]);
		free(p->bindings[i].reasoning);
		json_decref(p->bindings[i].params);
	}
	free(p->bindings);
	for (size_t k = 0; p->list_tpl && k < 2 * p->bp->nproducers; k++)
		quire_template_free(p->list_tpl[k]);
	free(p->list_tpl);
	free(p->list_tpl_state);
	quire_blueprint_free(p->bp);
	json_decref(p->inputs);
	json_decref(p->input_digests);
	json_decref(p->input_text);
	json_decref(p->render_inputs);
	quire__pfiles_free(p->ftab);
	free(p->files);
	free(p->root);
	free(p->qdir);
	free(p->blueprint_file);
	free(p->inputs_file);
	free(p->out_dir);
	free(p->cache_remote);
	json_decref(p->in_out);
	free(p);
}

const struct quire_binding *quire_project_binding(const struct quire_project *p, const char *role)
{
	for (size_t i = 0; i < p->nbindings; i++)
		if (!strcmp(p->bindings[i].role, role))
			return &p->bindings[i];
	return NULL;
}

static int relpath(const struct quire__yaml *y, const struct quire__ynode *n, const char *what,
		   char **out)
{
	char *raw = quire__yaml_strdup(n);
	/* Judged by what it names, not how it is spelt: "x/.." is the project itself and
	 * "./.quire" is quire's store. */
	char *s = raw ? quire__rel_normal(raw) : NULL;
	free(raw);
	if (!s || !*s || !strcmp(s, ".quire") || !strncmp(s, ".quire/", 7)) {
		free(s);
		return quire__yaml_error(y, n, QUIRE_EINVALID,
					 "%s must be a relative path inside the project (not the "
					 "project itself, not .quire)",
					 what);
	}
	free(*out);
	*out = s;
	return 0;
}

/* A non-negative decimal amount such as 0.15 or 3, as micro-units (exact: no float parsing).
 * At most 10^12 units, so that the micro-units fit. */
int quire_amount_parse(const char *s, long long *out)
{
	long long whole = 0, frac = 0;
	int digits = 0, fd = 0;
	const char *c = s;
	for (; *c >= '0' && *c <= '9'; c++, digits++) {
		whole = whole * 10 + (*c - '0');
		if (whole > 1000000000000LL)
			return -1;
	}
	if (*c == '.')
		for (c++; *c >= '0' && *c <= '9'; c++, digits++)
			if (fd < 6) {
				frac = frac * 10 + (*c - '0');
				fd++;
			}
	if (*c || !digits)
		return -1;
	while (fd++ < 6)
		frac *= 10;
	*out = whole * 1000000 + frac;
	return 0;
}

static int parse_price(const struct quire__yaml *y, const struct quire__ynode *n,
		       struct quire_binding *b)
{
	static const char *const keys[] = { "per_call", "input_per_mtok", "output_per_mtok",
					    "estimate_tokens_out", NULL };
	if (!quire__yaml_is_map(n))
		return quire__yaml_error(y, n, QUIRE_EINVALID,
					 "price must be a mapping such as { per_call: 0.01, "
					 "input_per_mtok: 0.15, output_per_mtok: 0.6 }");
	b->est_tokens_out = 1000;
	for (size_t pi = 0; pi < quire__yaml_count(n); pi++) {
		struct quire__ynode *key = quire__yaml_key(n, pi), *val = quire__yaml_value(n, pi);
		char *k = quire__yaml_strdup(key);
		char *v = quire__yaml_strdup(val);
		int which = -1;
		for (int i = 0; k && keys[i]; i++)
			if (!strcmp(k, keys[i]))
				which = i;
		long long amount = 0;
		int err = 0;
		if (which < 0)
			err = quire__yaml_error(
				y, key, QUIRE_EINVALID,
				"unknown key '%s' in price (expected per_call, "
				"input_per_mtok, output_per_mtok or estimate_tokens_out)",
				k ? k : "?");
		else if (!v || quire_amount_parse(v, &amount))
			err = quire__yaml_error(y, val, QUIRE_EINVALID,
						"%s must be a non-negative number (at most "
						"1000000000000)",
						k);
		free(k);
		free(v);
		if (err)
			return err;
		if (which == 0)
			b->per_call_micro = amount;
		else if (which == 1)
			b->in_per_mtok_micro = amount;
		else if (which == 2)
			b->out_per_mtok_micro = amount;
		else
			b->est_tokens_out = amount / 1000000;
	}
	b->priced = 1;
	return 0;
}

/* price * tokens / 10^6 (both at least 0) without the product, which a large price or token
 * count takes past a long long: price * q + ph * r + pl * r / 10^6, where tokens = q * 10^6 + r
 * and price = ph * 10^6 + pl. LLONG_MAX when the result is larger. */
static long long per_million(long long price, long long tokens)
{
	long long q = tokens / 1000000, r = tokens % 1000000, a, b;
	if (__builtin_mul_overflow(price, q, &a) ||
	    __builtin_mul_overflow(price / 1000000, r, &b) || __builtin_add_overflow(a, b, &a) ||
	    __builtin_add_overflow(a, price % 1000000 * r / 1000000, &a))
		return LLONG_MAX;
	return a;
}

long long quire_binding_cost(const struct quire_binding *b, long long tokens_in,
			     long long tokens_out)
{
	if (!b->priced)
		return 0;
	long long cost = b->per_call_micro;
	if (__builtin_add_overflow(cost, per_million(b->in_per_mtok_micro, tokens_in), &cost) ||
	    __builtin_add_overflow(cost, per_million(b->out_per_mtok_micro, tokens_out), &cost) ||
	    cost > QUIRE_COST_MAX)
		return QUIRE_COST_MAX;
	return cost;
}

/* The role's reasoning tags: given, a list of tag names ([] keeps everything), hashed into
 * the binding (bj) since they change what is stored; else think and reasoning, or none for
 * exec (a local tool's output is its own), not hashed: bindings hash as they always did. */
static int parse_reasoning(const struct quire__yaml *y, struct quire__ynode *n,
			   struct quire_binding *b, json_t *bj)
{
	static const char *const dflt[] = { "think", "reasoning" };
	if (!n) {
		if (!strcmp(b->provider, "exec"))
			return 0;
		b->reasoning = quire__xcalloc(2, sizeof(char *));
		for (size_t k = 0; k < 2; k++)
			b->reasoning[b->nreasoning++] = quire__xstrdup(dflt[k]);
		return 0;
	}
	if (!quire__yaml_is_seq(n) && !quire__yaml_empty(n))
		return quire__yaml_error(y, n, QUIRE_EINVALID,
					 "reasoning must be a list of tag names such as [think, "
					 "reasoning] ([] keeps reasoning blocks)");
	json_t *tags = json_array();
	size_t count = quire__yaml_is_seq(n) ? quire__yaml_count(n) : 0;
	b->reasoning = quire__xcalloc(count + 1, sizeof(char *));
	for (size_t k = 0; k < count; k++) {
		struct quire__ynode *c = quire__yaml_item(n, k);
		char *t = quire__yaml_strdup(c);
		if (!t || !quire__is_ident(t, strlen(t)) || strlen(t) > 32) {
			free(t);
			json_decref(tags);
			return quire__yaml_error(y, c, QUIRE_EINVALID,
						 "a reasoning tag is a name such as think (the "
						 "block is <think>...</think>)");
		}
		b->reasoning[b->nreasoning++] = t;
		json_array_append_new(tags, json_string(t));
	}
	json_object_set_new(bj, "reasoning", tags);
	return 0;
}

/* One role of quire.yaml's roles: into b (already counted in the project, so that it is
 * freed with it whatever happens here). */
static int parse_role(const struct quire__yaml *y, struct quire__ynode *key,
		      struct quire__ynode *val, struct quire_binding *b)
{
	static const char *const role_keys[] = { "provider",	  "model",  "params",
						 "concurrency",	  "secret", "retries",
						 "retry_base_ms", "price",  "context_tokens",
						 "reasoning",	  NULL };
	struct quire__ynode *n;
	long long v;
	int err;
	b->role = quire__yaml_strdup(key);
	b->params = json_object();
	b->retries = 3;
	b->retry_base_ms = 1000;
	if (!b->role || !quire__is_ident(b->role, strlen(b->role))) {
		return quire__yaml_error(y, key, QUIRE_EINVALID, "a role must be a name");
	}
	if (!val || !quire__yaml_is_map(val)) {
		return quire__yaml_error(y, val ? val : key, QUIRE_EINVALID,
					 "role '%s' must be a mapping such as { provider: mock }",
					 b->role);
	}
	for (size_t pi = 0; pi < quire__yaml_count(val); pi++) {
		struct quire__ynode *rk = quire__yaml_key(val, pi);
		char *k = quire__yaml_strdup(rk);
		int ok = 0;
		for (size_t i = 0; k && role_keys[i]; i++)
			ok |= !strcmp(k, role_keys[i]);
		if (!ok) {
			err = quire__yaml_error(
				y, rk, QUIRE_EINVALID,
				"unknown key '%s' in role '%s' (expected provider, model, params, "
				"concurrency, secret, retries, retry_base_ms, price, "
				"context_tokens "
				"or reasoning)",
				k ? k : "?", b->role);
			free(k);
			return err;
		}
		free(k);
	}
	n = quire__yaml_get(val, "provider");
	b->provider = n ? quire__yaml_strdup(n) : NULL;
	if (!b->provider || !quire__is_ident(b->provider, strlen(b->provider))) {
		return quire__yaml_error(y, n ? n : key, QUIRE_EINVALID,
					 "role '%s' needs a provider name", b->role);
	}
	if ((n = quire__yaml_get(val, "model")))
		b->model = quire__yaml_strdup(n);
	if ((n = quire__yaml_get(val, "params"))) {
		if (!quire__yaml_is_map(n)) {
			return quire__yaml_error(y, n, QUIRE_EINVALID, "params must be a mapping");
		}
		json_decref(b->params);
		b->params = quire__yaml_to_json(n);
	}
	if ((n = quire__yaml_get(val, "secret"))) {
		b->secret = quire__yaml_strdup(n);
		if (!b->secret || !quire__is_ident(b->secret, strlen(b->secret))) {
			return quire__yaml_error(y, n, QUIRE_EINVALID,
						 "secret must name an environment variable, "
						 "e.g. OPENAI_API_KEY (never the key itself)");
		}
	}
	if ((n = quire__yaml_get(val, "retries"))) {
		if (quire__yaml_int(n, &v) || v < 0 || v > 100) {
			return quire__yaml_error(y, n, QUIRE_EINVALID,
						 "retries must be an integer from 0 to 100");
		}
		b->retries = (int)v;
	}
	if ((n = quire__yaml_get(val, "retry_base_ms"))) {
		if (quire__yaml_int(n, &v) || v < 0 || v > 600000) {
			return quire__yaml_error(
				y, n, QUIRE_EINVALID,
				"retry_base_ms must be an integer from 0 to 600000");
		}
		b->retry_base_ms = (int)v;
	}
	if ((n = quire__yaml_get(val, "price")) && (err = parse_price(y, n, b)))
		return err;
	if ((n = quire__yaml_get(val, "concurrency"))) {
		if (quire__yaml_int(n, &v) || v < 1) {
			return quire__yaml_error(y, n, QUIRE_EINVALID,
						 "concurrency must be a positive integer");
		}
		b->max_concurrency = (int)v;
	}
	if ((n = quire__yaml_get(val, "context_tokens"))) {
		if (quire__yaml_int(n, &v) || v < 1 || v > 100000000)
			return quire__yaml_error(y, n, QUIRE_EINVALID,
						 "context_tokens must be an integer from 1 to "
						 "100000000 (the model's "
						 "context window, in tokens)");
		b->context_tokens = v;
	}
	json_t *bj = json_pack("{s:s,s:o,s:O}", "provider", b->provider, "model",
			       b->model ? json_string(b->model) : json_null(), "params", b->params);
	if ((err = parse_reasoning(y, quire__yaml_get(val, "reasoning"), b, bj))) {
		json_decref(bj);
		return err;
	}
	quire_hash_json(bj, &b->digest);
	json_decref(bj);
	return 0;
}

/* Whether a scalar's text (len bytes, not NUL-terminated) is word. */
static int yaml_is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && !memcmp(s, word, len);
}

/* cache: { remote: URL, push: true|false }: the shared cache (docs/sharing.md). */
static int parse_cache(const struct quire__yaml *y, const struct quire__ynode *n,
		       struct quire_project *p)
{
	if (!quire__yaml_is_map(n))
		return quire__yaml_error(y, n, QUIRE_EINVALID,
					 "cache must be a mapping: { remote: URL, push: true }");
	for (size_t i = 0; i < quire__yaml_count(n); i++) {
		char *k = quire__yaml_strdup(quire__yaml_key(n, i));
		int ok = k && (!strcmp(k, "remote") || !strcmp(k, "push"));
		free(k);
		if (!ok)
			return quire__yaml_error(y, quire__yaml_key(n, i), QUIRE_EINVALID,
						 "unknown key in cache (expected remote or push)");
	}
	const struct quire__ynode *r = quire__yaml_get(n, "remote"),
				  *push = quire__yaml_get(n, "push");
	if (r) {
		char *url = quire__yaml_strdup(r);
		const char *auth = url ? strstr(url, "://") : NULL;
		size_t alen = auth ? strcspn(auth + 3, "/") : 0;
		int err = 0;
		if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8) &&
			     strncmp(url, "file://", 7)))
			err = quire__yaml_error(
				y, r, QUIRE_EINVALID,
				"cache.remote must be an http://, https:// or file:// "
				"URL");
		else if (auth && memchr(auth + 3, '@', alen))
			/* Never echoed: the URL holds a password. */
			err = quire__yaml_error(y, r, QUIRE_EINVALID,
						"cache.remote holds credentials, and quire.yaml is "
						"committed: give the URL without them, and the "
						"credentials (user:password) as QUIRE_CACHE_AUTH "
						"in the secrets file ('quire secret set "
						"QUIRE_CACHE_AUTH') or the environment");
		if (err) {
			free(url);
			return err;
		}
		p->cache_remote = url;
	}
	if (push) {
		size_t plen = 0;
		const char *v =
			quire__yaml_is_scalar(push) ? quire__yaml_scalar(push, &plen) : NULL;
		if (!v || (!yaml_is(v, plen, "true") && !yaml_is(v, plen, "false")))
			return quire__yaml_error(y, push, QUIRE_EINVALID,
						 "cache.push must be true or false");
		p->cache_no_push = yaml_is(v, plen, "false");
	}
	return 0;
}

int quire__project_parse_config(struct quire_project *p, const char *text, size_t len)
{
	static const char *const keys[] = { "quire", "blueprint", "inputs", "out", "jobs",
					    "roles", "cache",	  "git",    NULL };
	struct quire__yaml *y = NULL;
	int err = quire__yaml_parse(text, len, QUIRE_PROJECT_FILE, &y);
	if (err)
		return err;
	p->blueprint_file = quire__xstrdup("blueprint.yaml");
	p->inputs_file = quire__xstrdup("inputs.yaml");
	p->out_dir = quire__xstrdup("out");
	p->jobs = 4;
	struct quire__ynode *root = y->root, *n;
	if (!root || !quire__yaml_is_map(root)) {
		err = quire__yaml_error(y, root, QUIRE_EINVALID, "quire.yaml must be a mapping");
		goto out;
	}
	for (size_t pi = 0; pi < quire__yaml_count(root); pi++) {
		char *k = quire__yaml_strdup(quire__yaml_key(root, pi));
		int ok = 0;
		for (size_t i = 0; k && keys[i]; i++)
			ok |= !strcmp(k, keys[i]);
		if (!ok) {
			err = quire__yaml_error(y, quire__yaml_key(root, pi), QUIRE_EINVALID,
						"unknown key '%s' (expected quire, blueprint, "
						"inputs, out, jobs, roles, cache or git)",
						k ? k : "?");
			free(k);
			goto out;
		}
		free(k);
	}
	long long v;
	if ((n = quire__yaml_get(root, "quire")) && (quire__yaml_int(n, &v) || v != 1)) {
		err = quire__yaml_error(y, n, QUIRE_EINVALID,
					"unsupported project format (this quire reads 'quire: 1')");
		goto out;
	}
	if ((n = quire__yaml_get(root, "blueprint")) &&
	    (err = relpath(y, n, "blueprint", &p->blueprint_file)))
		goto out;
	if ((n = quire__yaml_get(root, "inputs")) &&
	    (err = relpath(y, n, "inputs", &p->inputs_file)))
		goto out;
	if ((n = quire__yaml_get(root, "out")) && (err = relpath(y, n, "out", &p->out_dir)))
		goto out;
	if ((n = quire__yaml_get(root, "jobs"))) {
		if (quire__yaml_int(n, &v) || v < 1 || v > 1024) {
			err = quire__yaml_error(y, n, QUIRE_EINVALID,
						"jobs must be an integer from 1 to 1024");
			goto out;
		}
		p->jobs = (int)v;
	}
	if ((n = quire__yaml_get(root, "cache")) && (err = parse_cache(y, n, p)))
		goto out;
	if ((n = quire__yaml_get(root, "git"))) {
		const struct quire__ynode *a =
			quire__yaml_is_map(n) ? quire__yaml_get(n, "autocommit") : NULL;
		size_t alen = 0;
		const char *ac =
			a && quire__yaml_is_scalar(a) ? quire__yaml_scalar(a, &alen) : NULL;
		if (!quire__yaml_is_map(n) || quire__yaml_count(n) != 1 || !ac ||
		    (!yaml_is(ac, alen, "true") && !yaml_is(ac, alen, "false"))) {
			err = quire__yaml_error(y, n, QUIRE_EINVALID,
						"git must be { autocommit: true } or { autocommit: "
						"false }");
			goto out;
		}
		p->git_autocommit = yaml_is(ac, alen, "true");
	}
	struct quire__ynode *roles = quire__yaml_get(root, "roles");
	if (roles && !quire__yaml_is_map(roles)) {
		err = quire__yaml_error(y, roles, QUIRE_EINVALID,
					"roles must be a mapping of role: { provider: ... }");
		goto out;
	}
	if (roles) {
		p->bindings = quire__xcalloc(quire__yaml_count(roles) + 1, sizeof(*p->bindings));
		for (size_t ri = 0; ri < quire__yaml_count(roles) && !err; ri++)
			err = parse_role(y, quire__yaml_key(roles, ri),
					 quire__yaml_value(roles, ri),
					 &p->bindings[p->nbindings++]);
	}
out:
	quire__yaml_free(y);
	return err;
}
/* Reads root/rel (capped like every YAML file) and hands its text to parse. */
static int load_file(struct quire_project *p, const char *rel,
		     int (*parse)(struct quire_project *, const char *, size_t))
{
	char *path = quire__xasprintf("%s/%s", p->root, rel);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_fs_read(path, &b, QUIRE_TEXT_CAP);
	free(path);
	if (!err)
		err = parse(p, b.ptr, b.len);
	quire_buf_release(&b);
	return err;
}

int quire_project_open(struct quire_project **out, const char *root)
{
	*out = NULL;
	struct quire_project *p = quire__xcalloc(1, sizeof(*p));
	p->root = quire__xstrdup(root);
	p->qdir = quire__xasprintf("%s/.quire", root);
	int err = load_file(p, QUIRE_PROJECT_FILE, quire__project_parse_config);
	if (err)
		goto out;
	char *bpath = quire__xasprintf("%s/%s", root, p->blueprint_file);
	err = quire_blueprint_load(&p->bp, bpath, p->blueprint_file);
	free(bpath);
	if (err)
		goto out;
	size_t nroles;
	const char **roles = quire_blueprint_roles(p->bp, &nroles);
	for (size_t i = 0; i < nroles && !err; i++)
		if (!quire_project_binding(p, roles[i])) {
			const struct quire_producer *pr = NULL;
			for (size_t k = 0; k < p->bp->nproducers; k++)
				if (!strcmp(p->bp->producers[k].role, roles[i])) {
					pr = &p->bp->producers[k];
					break;
				}
			err = quire_error_set(
				QUIRE_EINVALID,
				"%s:%d:%d: producer '%s' has role '%s', which %s does not bind "
				"(add it under 'roles:', e.g. '%s: { provider: mock }')",
				p->bp->file, pr->line, pr->col, pr->name, roles[i],
				QUIRE_PROJECT_FILE, roles[i]);
		}
	free(roles);
	if (err)
		goto out;
	err = load_file(p, p->inputs_file, quire__project_parse_inputs);
out:
	if (err) {
		quire_project_free(p);
		return err;
	}
	*out = p;
	return 0;
}

const char *quire_binding_secret_name(const struct quire_binding *b,
				      const struct quire_provider *vt)
{
	if (b->secret)
		return b->secret;
	return vt ? vt->secret_env : NULL;
}

int quire_project_check_providers(const struct quire_project *p, int need_secrets)
{
	for (size_t i = 0; i < p->bp->nproducers; i++) {
		const struct quire_binding *b = quire_project_binding(p, p->bp->producers[i].role);
		const struct quire_provider *vt;
		char *program = NULL;
		int err = quire_provider_resolve(b->provider, &vt, &program, NULL);
		free(program);
		if (err)
			return quire_error_prefix(err, "%s: role '%s'", QUIRE_PROJECT_FILE,
						  b->role);
		const char *sn = quire_binding_secret_name(b, vt);
		if (!need_secrets || !sn || !(vt->flags & QUIRE_PROVIDER_NEEDS_SECRET))
			continue;
		char *value = NULL, *source = NULL;
		err = quire_secret_lookup(sn, &value, &source);
		int missing = !err && !value;
		free(value);
		free(source);
		if (err)
			return err;
		if (missing) {
			char *file = quire_secret_file();
			err = quire_error_set(
				QUIRE_EINVALID,
				"role '%s' (provider '%s') needs the secret %s: set the "
				"environment variable %s or add '%s=...' to %s (mode 0600)",
				b->role, b->provider, sn, sn, sn, file);
			free(file);
			return err;
		}
	}
	return 0;
}
