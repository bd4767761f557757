/* Project loading: quire.yaml, blueprint, inputs.yaml; file digests through the stat cache. */
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
			return quire_error_set(QUIRE_ENOTFOUND,
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

static void pfiles_free(struct quire__pfiles *ft);

void quire_project_free(struct quire_project *p)
{
	if (!p || quire__mem_keep(p))
		return;
	for (size_t i = 0; i < p->nbindings; i++) {
		free(p->bindings[i].role);
		free(p->bindings[i].provider);
		free(p->bindings[i].model);
		free(p->bindings[i].secret);
		json_decref(p->bindings[i].params);
	}
	free(p->bindings);
	quire_blueprint_free(p->bp);
	json_decref(p->inputs);
	json_decref(p->input_digests);
	pfiles_free(p->ftab);
	free(p->files);
	free(p->root);
	free(p->qdir);
	free(p->blueprint_file);
	free(p->inputs_file);
	free(p->out_dir);
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
static int parse_amount(const char *s, long long *out)
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
			err = quire__yaml_error(y, key, QUIRE_EINVALID,
						"unknown key '%s' in price (expected per_call, "
						"input_per_mtok, output_per_mtok or estimate_tokens_out)",
						k ? k : "?");
		else if (!v || parse_amount(v, &amount))
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

int quire__project_parse_config(struct quire_project *p, const char *text, size_t len)
{
	static const char *const keys[] = { "quire", "blueprint", "inputs", "out", "jobs", "roles",
					    NULL };
	static const char *const role_keys[] = { "provider", "model", "params", "concurrency",
						 "secret", "retries", "retry_base_ms", "price", NULL };
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
						"unknown key '%s' (expected quire, blueprint, inputs, out, jobs or roles)",
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
	if ((n = quire__yaml_get(root, "inputs")) && (err = relpath(y, n, "inputs", &p->inputs_file)))
		goto out;
	if ((n = quire__yaml_get(root, "out")) && (err = relpath(y, n, "out", &p->out_dir)))
		goto out;
	if ((n = quire__yaml_get(root, "jobs"))) {
		if (quire__yaml_int(n, &v) || v < 1 || v > 1024) {
			err = quire__yaml_error(y, n, QUIRE_EINVALID, "jobs must be an integer from 1 to 1024");
			goto out;
		}
		p->jobs = (int)v;
	}
	struct quire__ynode *roles = quire__yaml_get(root, "roles");
	if (roles && !quire__yaml_is_map(roles)) {
		err = quire__yaml_error(y, roles, QUIRE_EINVALID, "roles must be a mapping of role: { provider: ... }");
		goto out;
	}
	if (roles) {
		p->bindings = quire__xcalloc(quire__yaml_count(roles) + 1, sizeof(*p->bindings));
		for (size_t ri = 0; ri < quire__yaml_count(roles); ri++) {
			struct quire_binding *b = &p->bindings[p->nbindings++];
			struct quire__ynode *key = quire__yaml_key(roles, ri);
			struct quire__ynode *val = quire__yaml_value(roles, ri);
			b->role = quire__yaml_strdup(key);
			b->params = json_object();
			b->retries = 3;
			b->retry_base_ms = 1000;
			if (!b->role || !quire__is_ident(b->role, strlen(b->role))) {
				err = quire__yaml_error(y, key, QUIRE_EINVALID, "a role must be a name");
				goto out;
			}
			if (!val || !quire__yaml_is_map(val)) {
				err = quire__yaml_error(y, val ? val : key, QUIRE_EINVALID,
							"role '%s' must be a mapping such as { provider: mock }",
							b->role);
				goto out;
			}
			for (size_t pi = 0; pi < quire__yaml_count(val); pi++) {
				struct quire__ynode *rk = quire__yaml_key(val, pi);
				char *k = quire__yaml_strdup(rk);
				int ok = 0;
				for (size_t i = 0; k && role_keys[i]; i++)
					ok |= !strcmp(k, role_keys[i]);
				if (!ok) {
					err = quire__yaml_error(y, rk, QUIRE_EINVALID,
								"unknown key '%s' in role '%s' (expected provider, model, params, "
								"concurrency, secret, retries, retry_base_ms or price)",
								k ? k : "?", b->role);
					free(k);
					goto out;
				}
				free(k);
			}
			n = quire__yaml_get(val, "provider");
			b->provider = n ? quire__yaml_strdup(n) : NULL;
			if (!b->provider || !quire__is_ident(b->provider, strlen(b->provider))) {
				err = quire__yaml_error(y, n ? n : key, QUIRE_EINVALID,
							"role '%s' needs a provider name", b->role);
				goto out;
			}
			if ((n = quire__yaml_get(val, "model")))
				b->model = quire__yaml_strdup(n);
			if ((n = quire__yaml_get(val, "params"))) {
				if (!quire__yaml_is_map(n)) {
					err = quire__yaml_error(y, n, QUIRE_EINVALID, "params must be a mapping");
					goto out;
				}
				json_decref(b->params);
				b->params = quire__yaml_to_json(n);
			}
			if ((n = quire__yaml_get(val, "secret"))) {
				b->secret = quire__yaml_strdup(n);
				if (!b->secret || !quire__is_ident(b->secret, strlen(b->secret))) {
					err = quire__yaml_error(y, n, QUIRE_EINVALID,
								"secret must name an environment variable, "
								"e.g. OPENAI_API_KEY (never the key itself)");
					goto out;
				}
			}
			if ((n = quire__yaml_get(val, "retries"))) {
				if (quire__yaml_int(n, &v) || v < 0 || v > 100) {
					err = quire__yaml_error(y, n, QUIRE_EINVALID,
								"retries must be an integer from 0 to 100");
					goto out;
				}
				b->retries = (int)v;
			}
			if ((n = quire__yaml_get(val, "retry_base_ms"))) {
				if (quire__yaml_int(n, &v) || v < 0 || v > 600000) {
					err = quire__yaml_error(y, n, QUIRE_EINVALID,
								"retry_base_ms must be an integer from 0 to 600000");
					goto out;
				}
				b->retry_base_ms = (int)v;
			}
			if ((n = quire__yaml_get(val, "price")) && (err = parse_price(y, n, b)))
				goto out;
			if ((n = quire__yaml_get(val, "concurrency"))) {
				if (quire__yaml_int(n, &v) || v < 1) {
					err = quire__yaml_error(y, n, QUIRE_EINVALID,
								"concurrency must be a positive integer");
					goto out;
				}
				b->max_concurrency = (int)v;
			}
			json_t *bj = json_pack("{s:s,s:o,s:O}", "provider", b->provider, "model",
					       b->model ? json_string(b->model) : json_null(), "params",
					       b->params);
			quire_hash_json(bj, &b->digest);
			json_decref(bj);
		}
	}
out:
	quire__yaml_free(y);
	return err;
}

int quire__project_parse_inputs(struct quire_project *p, const char *text, size_t len)
{
	const struct quire_blueprint *bp = p->bp;
	struct quire__yaml *y = NULL;
	int err = quire__yaml_parse(text, len, p->inputs_file, &y);
	if (err)
		return err;
	p->inputs = json_object();
	struct quire__ynode *root = y->root;
	if (root && !quire__yaml_is_map(root) && !quire__yaml_empty(root)) {
		err = quire__yaml_error(y, root, QUIRE_EINVALID,
					"%s must be a mapping of input names to values", p->inputs_file);
		goto out;
	}
	for (size_t pi = 0; pi < quire__yaml_count(root); pi++) {
		struct quire__ynode *key = quire__yaml_key(root, pi);
		char *k = quire__yaml_strdup(key);
		int idx = k ? quire_blueprint_input(bp, k) : -1;
		if (idx < 0) {
			const char *best = NULL;
			size_t bestd = (size_t)-1;
			for (size_t i = 0; k && i < bp->ninputs; i++) {
				size_t d = quire__edit_distance(k, bp->inputs[i].name);
				if (d < bestd)
					bestd = d, best = bp->inputs[i].name;
			}
			if (best && bestd <= strlen(k) / 3 + 1)
				err = quire__yaml_error(y, key, QUIRE_EINVALID,
							"unknown input '%s' (did you mean '%s'?)", k, best);
			else
				err = quire__yaml_error(y, key, QUIRE_EINVALID,
							"unknown input '%s' (the blueprint declares no such input)",
							k ? k : "?");
			free(k);
			goto out;
		}
		json_t *v = NULL;
		struct quire__ynode *val = quire__yaml_value(root, pi);
		if (!val || quire__yaml_empty(val)) {
			free(k);
			continue; /* "Name:" with no value means: use the default */
		}
		err = quire__input_value(y, val, &bp->inputs[idx], &v);
		if (err) {
			free(k);
			goto out;
		}
		json_object_set_new(p->inputs, k, v);
		free(k);
	}
	for (size_t i = 0; i < bp->ninputs; i++) {
		const struct quire_input_decl *in = &bp->inputs[i];
		if (json_object_get(p->inputs, in->name))
			continue;
		if (in->def) {
			json_object_set(p->inputs, in->name, in->def);
		} else if (in->required) {
			err = quire_error_set(QUIRE_EINVALID,
					      "%s: required input '%s' has no value (set it in %s)",
					      p->inputs_file, in->name, p->inputs_file);
			goto out;
		} else if (in->type == QUIRE_INPUT_INT) {
			json_object_set_new(p->inputs, in->name,
					    json_integer(in->has_min && in->min > 0 ? in->min : 0));
		} else if (in->type == QUIRE_INPUT_BOOL) {
			json_object_set_new(p->inputs, in->name, json_false());
		} else if (in->type == QUIRE_INPUT_ENUM) {
			json_object_set_new(p->inputs, in->name, json_string(in->values[0]));
		} else {
			json_object_set_new(p->inputs, in->name, json_string(""));
		}
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
			err = quire_error_set(QUIRE_EINVALID,
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

/* The files a build reads (quire_project_hash_files), each once with its digest, found by path
 * or, for a per-instance prompt, by the instance's index: a plan asks for 100,000 prompts'
 * digests, and formatting each path again to look it up in a JSON object cost more than
 * planning. */
struct quire__pfiles {
	struct quire__arena paths;
	uint32_t *slots; /* open addressing on the path: file index + 1, 0 when empty */
	size_t cap;
	uint32_t *named; /* per file named (in the order named, repeats included): its index */
	size_t nnamed;
	/* per producer with per-instance prompts: where its instances' prompts start in named,
	 * and the dimension counts they were listed with (SIZE_MAX: none listed) */
	size_t *first;
	long long (*counts)[QUIRE_MAX_DIMS];
	json_t *json; /* the same as a JSON object, made when asked for */
};

static void pfiles_free(struct quire__pfiles *ft)
{
	if (!ft)
		return;
	quire__arena_release(&ft->paths);
	free(ft->slots);
	free(ft->named);
	free(ft->first);
	free(ft->counts);
	json_decref(ft->json);
	free(ft);
}

/* The slot of rel in the table, or the empty slot where it belongs. */
static uint32_t *pfiles_slot(const struct quire_project *p, const char *rel)
{
	const struct quire__pfiles *ft = p->ftab;
	size_t mask = ft->cap - 1;
	for (size_t i = (size_t)quire__hash_str(rel) & mask;; i = (i + 1) & mask)
		if (!ft->slots[i] || !strcmp(p->files[ft->slots[i] - 1].rel, rel))
			return &ft->slots[i];
}

const char *quire_project_file_digest(const struct quire_project *p, const char *rel)
{
	if (!rel || !p->ftab || !p->ftab->cap)
		return NULL;
	uint32_t k = *pfiles_slot(p, rel);
	return k ? p->files[k - 1].d.s : NULL;
}

const char *quire_project_prompt_digest(const struct quire_project *p, size_t pi,
					const long long *idx)
{
	const struct quire_producer *pr = &p->bp->producers[pi];
	if (!pr->prompt || !p->ftab)
		return NULL;
	if (!pr->prompt_per_instance)
		return quire_project_file_digest(p, pr->prompt);
	const struct quire__pfiles *ft = p->ftab;
	if (ft->first[pi] != SIZE_MAX) {
		/* Its place among the producer's prompts, listed in index order. */
		size_t ord = 0;
		int d = 0;
		for (; d < pr->ndims; d++) {
			if (idx[d] < 0 || idx[d] >= ft->counts[pi][d])
				break;
			ord = ord * (size_t)ft->counts[pi][d] + (size_t)idx[d];
		}
		if (d == pr->ndims)
			return p->files[ft->named[ft->first[pi] + ord]].d.s;
	}
	/* Not listed when the files were hashed (the inputs changed since): by its path. */
	char *rel = quire_producer_prompt_path(pr, idx);
	const char *dg = quire_project_file_digest(p, rel);
	free(rel);
	return dg;
}

const json_t *quire_project_files_json(const struct quire_project *p)
{
	if (!p->ftab)
		return NULL;
	if (!p->ftab->json) {
		json_t *o = json_object();
		for (size_t k = 0; k < p->nfiles; k++)
			json_object_set_new(o, p->files[k].rel, json_string(p->files[k].d.s));
		p->ftab->json = o;
	}
	return p->ftab->json;
}

static int cmp_files(const void *x, const void *y)
{
	return strcmp((*(const struct quire_pfile *const *)x)->rel,
		      (*(const struct quire_pfile *const *)y)->rel);
}

void quire_project_files_text(const struct quire_project *p, struct quire_buf *out)
{
	const struct quire_pfile **v = quire__xcalloc(p->nfiles + 1, sizeof(*v));
	for (size_t k = 0; k < p->nfiles; k++)
		v[k] = &p->files[k];
	qsort(v, p->nfiles, sizeof(*v), cmp_files);
	quire_buf_grow(out, p->nfiles * (QUIRE_DIGEST_STRLEN + 48) + 2);
	quire_buf_putc(out, '{');
	for (size_t k = 0; k < p->nfiles; k++) {
		if (k)
			quire_buf_putc(out, ',');
		quire_buf_put_jstr(out, v[k]->rel, strlen(v[k]->rel));
		quire_buf_putc(out, ':');
		quire_buf_put_jstr(out, v[k]->d.s, strlen(v[k]->d.s));
	}
	quire_buf_putc(out, '}');
	free(v);
}

/* One file the project reads: checked (stat, stat cache, else hashed) on one of two threads,
 * then recorded in order (hfile_record_all). */
struct hfile {
	const char *rel; /* in the file table's blocks */
	const char *who; /* for messages: "project" or the producer naming it */
	int serr; /* errno of a failed stat, or 0 (EXDEV: a link out of the project) */
	int herr; /* quire error code of a failed hash, or 0 */
	char *hmsg; /* its message */
	int hashed; /* d computed now: it goes into the stat cache */
	int64_t size, mtime, ino;
	int64_t stat_ns; /* just before the stat: when the stat cache records it */
	struct quire_digest d;
};

struct hlist {
	const struct quire_project *p;
	struct quire_store *store;
	int rootfd; /* the project directory open, or -1 */
	struct hfile *v;
	size_t n, alloc;
	_Atomic size_t next;
};

static void hlist_add(struct hlist *l, const char *rel, const char *who)
{
	QUIRE_GROW(l->v, l->alloc, l->n + 1);
	l->v[l->n++] = (struct hfile){ .rel = rel, .who = who };
}

/* Whether path, links resolved, is the project's root or below it. */
static int inside_project(const struct quire_project *p, const char *path)
{
	char root[PATH_MAX], real[PATH_MAX];
	if (!realpath(p->root, root) || !realpath(path, real))
		return 1; /* not resolvable: the stat that follows says why */
	size_t n = strlen(root);
	return !strncmp(real, root, n) && (real[n] == '/' || real[n] == '\0');
}

/* Refuses a file whose directory is a link out of the project (prompts/ -> /etc): each
 * directory named is resolved once. */
static int check_dirs(const struct quire_project *p, const struct hlist *l)
{
	char last[PATH_MAX] = "";
	for (size_t k = 0; k < l->n; k++) {
		const char *rel = l->v[k].rel, *slash = strrchr(rel, '/');
		if (!slash || (size_t)(slash - rel) >= sizeof(last))
			continue;
		size_t dl = (size_t)(slash - rel);
		if (strlen(last) == dl && !strncmp(last, rel, dl))
			continue;
		memcpy(last, rel, dl);
		last[dl] = '\0';
		char *path = quire__path_join(p->root, last);
		int ok = inside_project(p, path);
		free(path);
		if (!ok)
			return quire_error_set(QUIRE_EINVALID,
					       "%s names '%s', whose directory '%s' is a link out of the "
					       "project: a project reads only its own files",
					       l->v[k].who, rel, last);
	}
	return 0;
}

/* Thread-safe: writes only its own item (the stat cache is loaded before, read only here). */
static void hfile_check(const struct hlist *l, struct hfile *f)
{
	struct stat st;
	char *path = NULL;
	/* Relative to the open project directory: the kernel walks prompts/x.md, not every
	 * directory from the root (a fifth of a no-op plan's time went to path walks). */
	f->stat_ns = quire__now_ns();
	int rc = l->rootfd >= 0 && f->rel[0] != '/'
			 ? fstatat(l->rootfd, f->rel, &st, AT_SYMLINK_NOFOLLOW)
			 : lstat(path = quire__path_join(l->p->root, f->rel), &st);
	if (rc == 0 && S_ISLNK(st.st_mode)) {
		/* A link is followed only to a file inside the project: the file's content ends
		 * up in the store, and a prompt may not read what the project does not hold. */
		if (!path)
			path = quire__path_join(l->p->root, f->rel);
		if (!inside_project(l->p, path)) {
			f->serr = EXDEV;
			goto out;
		}
		rc = stat(path, &st);
	}
	if (rc < 0) {
		f->serr = errno ? errno : EIO;
		goto out;
	}
	f->size = (int64_t)st.st_size;
	f->mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	f->ino = (int64_t)st.st_ino;
	if (l->store && quire_store_stat_get(l->store, f->rel, f->size, f->mtime, f->ino, &f->d))
		goto out;
	if (!path)
		path = quire__path_join(l->p->root, f->rel);
	if ((f->herr = quire_hash_file(path, &f->d, NULL))) {
		f->hmsg = quire__xstrdup(quire_error_last());
		quire_error_clear();
	} else {
		f->hashed = 1;
	}
out:
	free(path);
}

static void *hfile_worker(void *arg)
{
	struct hlist *l = arg;
	for (size_t k; (k = atomic_fetch_add(&l->next, 64)) < l->n;)
		for (size_t e = k + 64 < l->n ? k + 64 : l->n; k < e; k++)
			hfile_check(l, &l->v[k]);
	return NULL;
}

/* Checks every file (on two threads when there are many: a stat and a stat-cache lookup
 * each), then, in order, reports the first that is missing or unreadable, records what was
 * hashed in the stat cache and each file in the project's table (a file named twice once). */
static int hfile_record_all(struct quire_project *p, struct hlist *l)
{
	struct quire__pfiles *ft = p->ftab;
	int derr = check_dirs(p, l);
	if (derr)
		return derr;
	if (l->store)
		quire_store_stat_load(l->store);
	quire__run_parallel(hfile_worker, l, l->n >= 256 ? 2 : 1);
	ft->cap = 16;
	while (ft->cap < l->n * 2)
		ft->cap *= 2;
	ft->slots = quire__xcalloc_big(ft->cap, sizeof(*ft->slots));
	ft->named = quire__xcalloc_big(l->n + 1, sizeof(*ft->named));
	p->files = quire__xcalloc_big(l->n + 1, sizeof(*p->files));
	int err = 0;
	for (size_t k = 0; k < l->n && !err; k++) {
		struct hfile *f = &l->v[k];
		uint32_t *slot = pfiles_slot(p, f->rel);
		if (*slot) {
			ft->named[ft->nnamed++] = *slot - 1;
			continue;
		}
		if (f->serr == EXDEV)
			err = quire_error_set(QUIRE_EINVALID,
					      "%s names '%s', a link to a file outside the project: a "
					      "project reads only its own files (copy it in instead)",
					      f->who, f->rel);
		else if (f->serr == ENOENT && strcmp(f->who, "project"))
			err = quire_error_set(QUIRE_ENOTFOUND, "%s names '%s', which does not exist",
					      f->who, f->rel);
		else if (f->serr)
			err = quire_error_set(f->serr == ENOENT ? QUIRE_ENOTFOUND : QUIRE_EIO,
					      "%s: cannot read '%s': %s", f->who, f->rel,
					      strerror(f->serr));
		else if (f->herr)
			err = quire_error_set(f->herr, "%s", f->hmsg);
		else if (f->hashed && l->store)
			err = quire_store_stat_put_at(l->store, f->rel, f->size, f->mtime, f->ino,
						      &f->d, f->stat_ns);
		if (err)
			break;
		p->files[p->nfiles] = (struct quire_pfile){ f->rel, f->d };
		*slot = (uint32_t)++p->nfiles;
		ft->named[ft->nnamed++] = *slot - 1;
	}
	return err;
}

static void dim_counts(const struct quire_project *p, const struct quire_producer *pr, long long *counts)
{
	for (int d = 0; d < pr->ndims; d++)
		counts[d] = json_integer_value(
			json_object_get(p->inputs, p->bp->inputs[pr->dims[d].input].name));
}

int quire_project_instance_count(const struct quire_project *p, size_t pi, size_t *out)
{
	const struct quire_producer *pr = &p->bp->producers[pi];
	long long counts[QUIRE_MAX_DIMS];
	dim_counts(p, pr, counts);
	size_t n = 1;
	for (int d = 0; d < pr->ndims; d++) {
		if (counts[d] <= 0) {
			n = 0;
			break;
		}
		if ((unsigned long long)counts[d] > QUIRE_MAX_INSTANCES / n)
			return quire_error_set(QUIRE_EINVALID,
					       "%s: producer '%s' would have more than %llu instances "
					       "with these inputs (%s is %lld)",
					       p->inputs_file, pr->name,
					       (unsigned long long)QUIRE_MAX_INSTANCES,
					       p->bp->inputs[pr->dims[d].input].name, counts[d]);
		n *= (size_t)counts[d];
	}
	*out = n;
	return 0;
}

struct hash_each {
	struct hlist *l;
	const struct quire_producer *pr;
	const char *who;
	struct quire_buf path;
};

static int hash_instance(void *ud, const long long *idx)
{
	struct hash_each *he = ud;
	quire_buf_reset(&he->path);
	quire_producer_prompt_path_add(he->pr, idx, &he->path);
	hlist_add(he->l, quire__arena_copy(&he->l->p->ftab->paths, he->path.ptr, he->path.len), he->who);
	return 0;
}

/* Adds a file named once (a project file, a shared prompt, a schema). */
static void hash_named(struct hlist *l, const char *rel, const char *who)
{
	hlist_add(l, quire__arena_copy(&l->p->ftab->paths, rel, strlen(rel)), who);
}

int quire_project_hash_files(struct quire_project *p, struct quire_store *store)
{
	pfiles_free(p->ftab);
	free(p->files);
	p->files = NULL;
	p->nfiles = 0;
	struct quire__pfiles *ft = p->ftab = quire__xcalloc(1, sizeof(*p->ftab));
	ft->first = quire__xcalloc(p->bp->nproducers + 1, sizeof(*ft->first));
	ft->counts = quire__xcalloc(p->bp->nproducers + 1, sizeof(*ft->counts));
	struct hlist l = { .p = p, .store = store };
	/* Sized once: the three project files, then each producer's prompts and schema. */
	l.alloc = 3;
	for (size_t i = 0; i < p->bp->nproducers; i++) {
		const struct quire_producer *pr = &p->bp->producers[i];
		size_t n = 1;
		if (pr->prompt && pr->prompt_per_instance) {
			int cerr = quire_project_instance_count(p, i, &n);
			if (cerr) {
				pfiles_free(p->ftab);
				p->ftab = NULL;
				return cerr;
			}
		}
		l.alloc += n + 1;
	}
	l.v = quire__xcalloc_big(l.alloc, sizeof(*l.v));
	l.rootfd = open(p->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char **whos = quire__xcalloc(p->bp->nproducers + 1, sizeof(char *));
	hash_named(&l, QUIRE_PROJECT_FILE, "project");
	hash_named(&l, p->blueprint_file, "project");
	hash_named(&l, p->inputs_file, "project");
	int err = 0;
	for (size_t i = 0; !err && i < p->bp->nproducers; i++) {
		const struct quire_producer *pr = &p->bp->producers[i];
		whos[i] = quire__xasprintf("%s:%d:%d: producer '%s'", p->bp->file, pr->line, pr->col,
					   pr->name);
		ft->first[i] = SIZE_MAX;
		if (pr->prompt && pr->prompt_per_instance) {
			struct hash_each he = { &l, pr, whos[i], QUIRE_BUF_INIT };
			ft->first[i] = l.n;
			dim_counts(p, pr, ft->counts[i]);
			err = quire_producer_each_index(pr, ft->counts[i], hash_instance, &he);
			quire_buf_release(&he.path);
		} else if (pr->prompt) {
			hash_named(&l, pr->prompt, whos[i]);
		}
		if (pr->output.schema)
			hash_named(&l, pr->output.schema, whos[i]);
	}
	if (!err)
		err = hfile_record_all(p, &l);
	for (size_t k = 0; k < l.n; k++)
		free(l.v[k].hmsg);
	free(l.v);
	for (size_t i = 0; i < p->bp->nproducers; i++)
		free(whos[i]);
	free(whos);
	if (l.rootfd >= 0)
		close(l.rootfd);
	if (err) {
		/* No half-made table: lookups find nothing, as before hashing. */
		pfiles_free(p->ftab);
		p->ftab = NULL;
		free(p->files);
		p->files = NULL;
		p->nfiles = 0;
	}
	return err;
}

void quire_project_input_digest(const struct quire_project *p, const char *name,
				struct quire_digest *out)
{
	/* Memoised: planning asks for the same few inputs for every instance. The memo is
	 * dropped for an input whose value quire_project_set_input changes. */
	struct quire_project *mp = (struct quire_project *)p;
	const char *known = json_string_value(json_object_get(mp->input_digests, name));
	if (known) {
		memcpy(out->s, known, QUIRE_DIGEST_STRLEN);
		return;
	}
	json_t *v = json_object_get(p->inputs, name);
	quire_hash_json(v ? v : json_null(), out);
	if (!mp->input_digests)
		mp->input_digests = json_object();
	json_object_set_new(mp->input_digests, name, json_string(out->s));
}

/* Parses one template file and checks its names against producer pr. */
static int check_file(const struct quire_project *p, const struct quire_producer *pr,
		      const char *rel)
{
	char *path = quire__path_join(p->root, rel);
	struct quire_buf b = QUIRE_BUF_INIT;
	struct quire_template *t = NULL;
	int err = quire_fs_read(path, &b, QUIRE_TEXT_CAP);
	if (err == QUIRE_ENOTFOUND)
		err = quire_error_set(QUIRE_ENOTFOUND,
				      "%s:%d:%d: producer '%s' names '%s', which does not exist",
				      p->bp->file, pr->line, pr->col, pr->name, rel);
	if (!err)
		err = quire_fs_check_utf8(rel, b.ptr, b.len);
	if (!err)
		err = quire_template_parse(&t, b.ptr, b.len, rel);
	if (!err)
		err = quire_template_check(t, p->bp, pr);
	quire_template_free(t);
	quire_buf_release(&b);
	free(path);
	return err;
}

/* Which template files passed their check, remembered in .quire/runs/template-checks so that
 * a change to one prompt re-checks that one: a header naming quire's version and the
 * blueprint's digest (a check depends on both), then one fixed-width line per (file content,
 * producer) that passed: the content digest's hex and the producer's index. New lines are
 * appended; the file is written whole when its header differs or it holds more than twice
 * the lines in use (it was a sorted value of the store's meta table, rewritten whole: 7 MB
 * at 100,000 prompts for a one-line change). */
#define TC_HEADER "quire-template-checks 1"
enum { TC_LINE = QUIRE_DIGEST_HEX + 4 + 1 };

struct tentry {
	const char *line; /* TC_LINE bytes */
	int used;	  /* named by this check */
};

struct tcache {
	struct tentry *v; /* lines known to have passed: the file's, then this check's */
	size_t n, alloc;
	uint32_t *slots;  /* open addressing on the line: entry + 1, 0 when empty */
	size_t cap;
	size_t nfile;	  /* lines read from the file (usable: header matched), repeats included */
	size_t nknown;	  /* entries after the file was read (those after it passed now) */
	size_t nused;	  /* distinct lines this check named */
	struct quire__arena fresh; /* lines that passed now */
	char *text;	  /* the file's text */
	size_t len;
};

static uint32_t *tc_slot(const struct tcache *tc, const char *line)
{
	size_t mask = tc->cap - 1;
	for (size_t i = (size_t)quire__hash(line, TC_LINE) & mask;; i = (i + 1) & mask)
		if (!tc->slots[i] || !memcmp(tc->v[tc->slots[i] - 1].line, line, TC_LINE))
			return &tc->slots[i];
}

/* Adds a line known to pass (its bytes must outlive the cache); its entry. */
static struct tentry *tc_add(struct tcache *tc, const char *line)
{
	if (2 * (tc->n + 1) > tc->cap) {
		size_t cap = tc->cap ? 2 * tc->cap : 1024;
		while (2 * (tc->n + 1) > cap)
			cap *= 2;
		free(tc->slots);
		tc->cap = cap;
		tc->slots = quire__xcalloc_big(cap, sizeof(*tc->slots));
		for (size_t k = 0; k < tc->n; k++)
			*tc_slot(tc, tc->v[k].line) = (uint32_t)(k + 1);
	}
	uint32_t *slot = tc_slot(tc, line);
	if (!*slot) {
		QUIRE_GROW(tc->v, tc->alloc, tc->n + 1);
		tc->v[tc->n] = (struct tentry){ line, 0 };
		*slot = (uint32_t)++tc->n;
	}
	return &tc->v[*slot - 1];
}

static void tc_release(struct tcache *tc)
{
	free(tc->v);
	free(tc->slots);
	quire__arena_release(&tc->fresh);
	free(tc->text);
}

/* Reads the lines of the file whose header is header; a damaged line ends the read. */
static void tc_load(struct tcache *tc, const char *path, const char *header)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	if (quire_fs_read(path, &b, 1u << 30)) {
		quire_error_clear();
		quire_buf_release(&b);
		return;
	}
	size_t hl = strlen(header);
	tc->len = b.len;
	tc->text = quire_buf_detach(&b, NULL);
	if (tc->len < hl || memcmp(tc->text, header, hl))
		return;
	/* The table sized once for the file's lines and as many new ones. */
	size_t lines = (tc->len - hl) / TC_LINE, cap = 1024;
	while (cap < 4 * (lines + 1))
		cap *= 2;
	tc->cap = cap;
	tc->slots = quire__xcalloc_big(cap, sizeof(*tc->slots));
	tc->alloc = 2 * lines + 16;
	tc->v = quire__xcalloc_big(tc->alloc, sizeof(*tc->v));
	size_t at = hl;
	for (; at + TC_LINE <= tc->len && tc->text[at + TC_LINE - 1] == '\n'; at += TC_LINE) {
		tc_add(tc, tc->text + at);
		tc->nfile++;
	}
	if (at != tc->len)
		tc->nfile = 0; /* damaged: what is appended after it would not be read */
	tc->nknown = tc->n;
}

/* Checks one template file (its content's digest d, when known) unless that content passed
 * before for the same producer. */
static int tc_check(const struct quire_project *p, struct tcache *tc, size_t pi, const char *d,
		    const char *rel, const long long *idx)
{
	const struct quire_producer *pr = &p->bp->producers[pi];
	int err = 0;
	char *made = NULL;
	if (!rel)
		rel = made = quire_producer_prompt_path(pr, idx);
	if (!tc || !d || pi > 0xffff) {
		err = check_file(p, pr, rel);
		free(made);
		return err;
	}
	/* The digest's hex, the producer in four hex digits, a newline (without printf: one line
	 * per instance). */
	char line[TC_LINE + 1];
	static const char hexd[] = "0123456789abcdef";
	memcpy(line, d + 7, QUIRE_DIGEST_HEX);
	for (int k = 0; k < 4; k++)
		line[QUIRE_DIGEST_HEX + k] = hexd[(pi >> (4 * (3 - k))) & 15];
	line[TC_LINE - 1] = '\n';
	line[TC_LINE] = '\0';
	uint32_t k = tc->cap ? *tc_slot(tc, line) : 0;
	struct tentry *e = k ? &tc->v[k - 1] : NULL;
	if (!e && !(err = check_file(p, pr, rel)))
		e = tc_add(tc, quire__arena_copy(&tc->fresh, line, TC_LINE));
	if (e && !e->used) {
		e->used = 1;
		tc->nused++;
	}
	free(made);
	return err;
}

struct check_each {
	const struct quire_project *p;
	size_t pi;
	struct tcache *tc;
};

static int check_instance(void *ud, const long long *idx)
{
	struct check_each *ce = ud;
	/* The digest by the instance's index: its path is made only for a file to check. */
	return tc_check(ce->p, ce->tc, ce->pi, quire_project_prompt_digest(ce->p, ce->pi, idx),
			NULL, idx);
}

static int check_templates(const struct quire_project *p, struct tcache *tc)
{
	int err = 0;
	for (size_t i = 0; !err && i < p->bp->nproducers; i++) {
		const struct quire_producer *pr = &p->bp->producers[i];
		if (pr->prompt_per_instance) {
			struct check_each ce = { p, i, tc };
			long long counts[QUIRE_MAX_DIMS];
			dim_counts(p, pr, counts);
			err = quire_producer_each_index(pr, counts, check_instance, &ce);
		}
		const char *files[2] = { pr->prompt_per_instance ? NULL : pr->prompt,
					 pr->output.schema };
		for (int k = 0; k < 2 && !err; k++) {
			if (!files[k])
				continue;
			err = tc_check(p, tc, i, quire_project_file_digest(p, files[k]), files[k], NULL);
		}
	}
	return err;
}

int quire_project_check_templates(const struct quire_project *p)
{
	return check_templates(p, NULL);
}

/* The digest of what a template check depends on: this quire's version (checks may change),
 * the blueprint and every template file, in the (deterministic) order they were hashed. */
static void checked_key(const struct quire_project *p, struct quire_digest *out)
{
	/* Hashed as it goes, in 64 KiB pieces: at 100,000 prompts the whole text is 10 MB. */
	struct quire_hasher *h = quire_hasher_new();
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_add(&b, QUIRE_VERSION, sizeof(QUIRE_VERSION));
	for (size_t k = 0; k < p->nfiles; k++) {
		const char *rel = p->files[k].rel;
		if (!strcmp(rel, QUIRE_PROJECT_FILE) || !strcmp(rel, p->inputs_file))
			continue;
		quire_buf_add(&b, rel, strlen(rel) + 1);
		quire_buf_add(&b, p->files[k].d.s, QUIRE_DIGEST_STRLEN);
		if (b.len >= 65536) {
			quire_hasher_update(h, b.ptr, b.len);
			quire_buf_reset(&b);
		}
	}
	quire_hasher_update(h, b.ptr, b.len);
	quire_hasher_final(h, out);
	quire_hasher_free(h);
	quire_buf_release(&b);
}

/* Records the lines that passed: appended to the file read, or the file written whole (only
 * the lines this check named) when it had another header, could not be read, or would hold
 * more than twice as many lines as are in use. A cache: failing to write it is no error. */
static void tc_save(struct tcache *tc, const char *dir, const char *path, const char *header)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	int done = 0;
	size_t nnew = tc->n - tc->nknown;
	if (tc->nfile && tc->nfile + nnew <= 2 * tc->nused + 64) {
		if (!nnew)
			return;
		for (size_t k = tc->nknown; k < tc->n; k++)
			quire_buf_add(&b, tc->v[k].line, TC_LINE);
		done = quire_fs_append_if_size(path, tc->len, b.ptr, b.len);
	}
	if (!done) {
		quire_buf_reset(&b);
		quire_buf_puts(&b, header);
		for (size_t k = 0; k < tc->n; k++)
			if (tc->v[k].used)
				quire_buf_add(&b, tc->v[k].line, TC_LINE);
		if (quire_fs_mkdirs(dir, 0755) || quire_fs_replace(path, b.ptr, b.len, 0644))
			quire_error_clear();
	}
	quire_buf_release(&b);
}

int quire_project_check_templates_cached(const struct quire_project *p,
					 struct quire_store *store)
{
	if (!store || !p->ftab)
		return quire_project_check_templates(p);
	struct quire_digest key;
	checked_key(p, &key);
	char *last = NULL;
	quire_store_meta_get(store, "templates_checked", &last);
	int same = last && !strcmp(last, key.s);
	free(last);
	if (same)
		return 0;
	/* Something changed: only the files not checked before with this content are parsed. */
	const char *bpd = quire_project_file_digest(p, p->blueprint_file);
	char *header = quire__xasprintf(TC_HEADER " %s %s\n", QUIRE_VERSION, bpd ? bpd : "-");
	char *dir = quire__xasprintf("%s/runs", p->qdir);
	char *path = quire__xasprintf("%s/template-checks", dir);
	struct tcache tc = { 0 };
	tc_load(&tc, path, header);
	int err = check_templates(p, &tc);
	if (!err && !quire_store_readonly(store)) {
		tc_save(&tc, dir, path, header);
		/* The lines were a value of meta before quire kept them in a file (megabytes in a
		 * large project): gone once the file has them. */
		if (quire_store_meta_put(store, "templates_checked", key.s) ||
		    quire_store_meta_put(store, "templates_checked_files", NULL))
			quire_error_clear(); /* only a cache: the next command checks again */
	}
	tc_release(&tc);
	free(path);
	free(dir);
	free(header);
	return err;
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
			return quire_error_prefix(err, "%s: role '%s'", QUIRE_PROJECT_FILE, b->role);
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
			err = quire_error_set(QUIRE_EINVALID,
					      "role '%s' (provider '%s') needs the secret %s: set the "
					      "environment variable %s or add '%s=...' to %s (mode 0600)",
					      b->role, b->provider, sn, sn, sn, file);
			free(file);
			return err;
		}
	}
	return 0;
}

int quire_project_parse_input(const struct quire_project *p, const char *name, const char *text,
			      json_t **out)
{
	*out = NULL;
	int idx = quire_blueprint_input(p->bp, name);
	if (idx < 0) {
		const char *best = NULL;
		size_t bestd = (size_t)-1;
		for (size_t i = 0; i < p->bp->ninputs; i++) {
			size_t d = quire__edit_distance(name, p->bp->inputs[i].name);
			if (d < bestd)
				bestd = d, best = p->bp->inputs[i].name;
		}
		if (best && bestd <= strlen(name) / 3 + 1)
			return quire_error_set(QUIRE_ENOTFOUND, "unknown input '%s' (did you mean '%s'?)",
					       name, best);
		return quire_error_set(QUIRE_ENOTFOUND, "unknown input '%s'", name);
	}
	const struct quire_input_decl *in = &p->bp->inputs[idx];
	switch (in->type) {
	case QUIRE_INPUT_TEXT:
		if (quire_fs_check_utf8(name, text, strlen(text)))
			return QUIRE_EINVALID;
		*out = json_string(text);
		return 0;
	case QUIRE_INPUT_INT: {
		char *end;
		errno = 0;
		long long v = strtoll(text, &end, 10);
		if (!*text || *end || errno)
			return quire_error_set(QUIRE_EINVALID, "input '%s' must be an integer, not '%s'",
					       name, text);
		if (in->has_min && v < in->min)
			return quire_error_set(QUIRE_EINVALID, "input '%s' is %lld, below its minimum %lld",
					       name, v, in->min);
		if (in->has_max && v > in->max)
			return quire_error_set(QUIRE_EINVALID, "input '%s' is %lld, above its maximum %lld",
					       name, v, in->max);
		*out = json_integer(v);
		return 0;
	}
	case QUIRE_INPUT_BOOL:
		if (!strcmp(text, "true") || !strcmp(text, "yes"))
			*out = json_true();
		else if (!strcmp(text, "false") || !strcmp(text, "no"))
			*out = json_false();
		else
			return quire_error_set(QUIRE_EINVALID, "input '%s' must be true or false, not '%s'",
					       name, text);
		return 0;
	case QUIRE_INPUT_ENUM:
		for (size_t k = 0; k < in->nvalues; k++)
			if (!strcmp(in->values[k], text)) {
				*out = json_string(text);
				return 0;
			}
		{
			struct quire_buf b = QUIRE_BUF_INIT;
			for (size_t k = 0; k < in->nvalues; k++)
				quire_buf_printf(&b, "%s'%s'", k ? ", " : "", in->values[k]);
			int err = quire_error_set(QUIRE_EINVALID, "input '%s' must be one of %s, not '%s'",
						  name, b.ptr, text);
			quire_buf_release(&b);
			return err;
		}
	}
	return QUIRE_EINVALID;
}

/* true when text can be written as a plain YAML scalar and read back as the same text. */
static int plain_safe(const char *s, size_t len)
{
	static const char *const words[] = { "true", "false", "yes", "no", "on", "off", "null",
					     "y", "n", "~", NULL };
	if (!len || len > 200 || s[0] == ' ' || s[len - 1] == ' ')
		return 0;
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			 c == ' ' || c == '_' || c == '-' || c == '.' || c == ',' || c == '\'' ||
			 c == '!' || c == '?' || c == '(' || c == ')';
		if (!ok)
			return 0;
	}
	for (int i = 0; words[i]; i++)
		if (strlen(words[i]) == len && !strncasecmp(words[i], s, len))
			return 0;
	return 1;
}

/* The code point of the UTF-8 character at s (valid UTF-8: a JSON string); its length in *n. */
static unsigned utf8_at(const unsigned char *s, size_t *n)
{
	if (s[0] < 0x80) {
		*n = 1;
		return s[0];
	}
	*n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	unsigned cp = s[0] & (0x7f >> *n);
	for (size_t k = 1; k < *n; k++)
		cp = (cp << 6) | (s[k] & 0x3f);
	return cp;
}

/* 1 for what libyaml refuses unescaped (DEL, C1 controls, U+FFFE, U+FFFF) or reads as a line
 * break (U+0085, U+2028, U+2029): written as an escape in double quotes. */
static int needs_escape(unsigned cp)
{
	return cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0xfffe || cp == 0xffff;
}

/* js (a JSON string, whose C0 controls are escaped already) with needs_escape() escaped. */
static void put_json_escaped(struct quire_buf *out, const char *js)
{
	const unsigned char *s = (const unsigned char *)js;
	while (*s) {
		size_t n;
		unsigned cp = utf8_at(s, &n);
		if (needs_escape(cp))
			quire_buf_printf(out, "\\u%04X", cp);
		else
			quire_buf_add(out, s, n);
		s += n;
	}
}

void quire_yaml_emit_scalar(struct quire_buf *out, const json_t *value, int indent)
{
	if (!json_is_string(value)) {
		char *s = json_dumps(value, JSON_ENCODE_ANY);
		quire_buf_puts(out, s);
		free(s);
		return;
	}
	const char *s = json_string_value(value);
	size_t len = json_string_length(value);
	if (plain_safe(s, len)) {
		quire_buf_add(out, s, len);
		return;
	}
	int multiline = memchr(s, '\n', len) != NULL;
	int ok_block = multiline && len && memchr(s, '\0', len) == NULL && s[0] != ' ' &&
		       s[0] != '\n' && !(len >= 2 && s[len - 1] == '\n' && s[len - 2] == '\n');
	for (size_t i = 0; ok_block && i < len; i++)
		ok_block = !(s[i] == ' ' && (i + 1 == len || s[i + 1] == '\n')) && s[i] != '\r' &&
			   ((unsigned char)s[i] >= 0x20 || s[i] == '\n' || s[i] == '\t');
	for (size_t i = 0, n; ok_block && i < len; i += n)
		ok_block = !needs_escape(utf8_at((const unsigned char *)s + i, &n));
	if (!ok_block) {
		/* A JSON string is a valid YAML double-quoted scalar. */
		char *js = json_dumps(value, JSON_ENCODE_ANY);
		put_json_escaped(out, js);
		free(js);
		return;
	}
	quire_buf_puts(out, s[len - 1] == '\n' ? "|" : "|-");
	for (const char *line = s; line < s + len;) {
		const char *nl = memchr(line, '\n', (size_t)(s + len - line));
		size_t l = nl ? (size_t)(nl - line) : (size_t)(s + len - line);
		quire_buf_putc(out, '\n');
		if (l)
			quire_buf_printf(out, "%*s%.*s", indent, "", (int)l, line);
		line += l + 1;
	}
}

/* Where a block scalar that starts at `start` (its '|' or '>') ends: after the last line more
 * indented than the line holding its key (blank lines inside count), before that line break. */
static size_t block_end(const char *t, size_t len, size_t start)
{
	size_t pos = start;
	while (pos < len && t[pos] != '\n')
		pos++;
	size_t end = pos; /* end of the header line */
	if (end > start && t[end - 1] == '\r')
		end--;
	/* The block's lines are indented at least as much as its first non-blank line; the
	 * first non-blank line indented less (a key, or a comment) ends it. */
	size_t content_indent = 0;
	/* An explicit indentation indicator ("|2") fixes it relative to the key's line. */
	for (size_t c = start + 1; c < end && c < start + 3; c++)
		if (t[c] >= '1' && t[c] <= '9') {
			size_t ls = start, key = 0;
			while (ls > 0 && t[ls - 1] != '\n')
				ls--;
			while (t[ls + key] == ' ')
				key++;
			content_indent = key + (size_t)(t[c] - '0');
		}
	while (pos < len) {
		size_t line = pos + 1, ind = 0;
		while (line + ind < len && t[line + ind] == ' ')
			ind++;
		size_t eol = line;
		while (eol < len && t[eol] != '\n')
			eol++;
		int blank = line + ind >= eol || (line + ind + 1 == eol && t[line + ind] == '\r');
		if (!blank) {
			if (!content_indent)
				content_indent = ind ? ind : 1;
			if (ind < content_indent)
				break;
			end = eol > line && t[eol - 1] == '\r' ? eol - 1 : eol;
		}
		pos = eol;
	}
	return end;
}

int quire_project_set_input(struct quire_project *p, const char *name, const json_t *value)
{
	char *path = quire__xasprintf("%s/%s", p->root, p->inputs_file);
	struct quire__yaml *y = NULL, *check = NULL;
	struct quire_buf text = QUIRE_BUF_INIT, emitted = QUIRE_BUF_INIT;
	int err = quire__yaml_load(path, p->inputs_file, &y);
	if (err)
		goto out;
	struct quire__ynode *val = quire__yaml_get(y->root, name);
	const struct quire__ynode *key = quire__yaml_key_of(val);
	quire_yaml_emit_scalar(&emitted, value, 2);
	size_t tl = y->len;
	if (val && (val->parent != y->root || !key || strcmp(key->text, name))) {
		/* Written as an alias or merged in: its characters hold another value too. */
		err = quire_error_set(QUIRE_EINVALID,
				      "%s: the value of '%s' is an alias of another value; "
				      "edit it by hand",
				      p->inputs_file, name);
		goto out;
	}
	if (quire__yaml_is_scalar(val) && !quire__yaml_empty(val) && val->start <= val->end &&
	    val->end <= tl) {
		/* Replace exactly the old value's characters (its quotes too); everything else
		 * stays as written. */
		size_t start = val->start, end = val->end;
		char comment[256] = "";
		if (val->style == QUIRE_YLITERAL || val->style == QUIRE_YFOLDED) {
			if (start >= tl || (y->text[start] != '|' && y->text[start] != '>')) {
				err = quire_error_set(QUIRE_EINVALID,
						      "%s: cannot find where the value of '%s' starts; "
						      "edit it by hand",
						      p->inputs_file, name);
				goto out;
			}
			/* libyaml's block takes the blank lines after it: they stay in the file. */
			end = block_end(y->text, tl, start);
			/* Keep a comment on the header line ("|-  # note"). */
			const char *hash = NULL;
			for (size_t c = start + 1; c < tl && y->text[c] != '\n'; c++)
				if (y->text[c] == '#' && y->text[c - 1] == ' ') {
					hash = y->text + c;
					break;
				}
			if (hash) {
				size_t cl = 0;
				while (hash[cl] && hash[cl] != '\n' && hash[cl] != '\r')
					cl++;
				snprintf(comment, sizeof(comment), "  %.*s", (int)cl, hash);
			}
		}
		quire_buf_add(&text, y->text, start);
		if (comment[0]) {
			/* After the value's first line: its block header, or the whole value. */
			const char *nl = memchr(emitted.ptr, '\n', emitted.len);
			size_t first = nl ? (size_t)(nl - emitted.ptr) : emitted.len;
			quire_buf_add(&text, emitted.ptr, first);
			quire_buf_puts(&text, comment);
			quire_buf_add(&text, emitted.ptr + first, emitted.len - first);
		} else {
			quire_buf_add(&text, emitted.ptr, emitted.len);
		}
		quire_buf_add(&text, y->text + end, tl - end);
	} else if (!val || quire__yaml_empty(val)) {
		const char *eol = strstr(y->text, "\r\n") ? "\r\n" : "\n";
		quire_buf_add(&text, y->text, tl);
		if (tl && y->text[tl - 1] != '\n')
			quire_buf_puts(&text, eol);
		if (val) {
			/* "Name:" with no value: drop that line's key by appending after it is not
			 * possible without a second key; refuse rather than guess. */
			err = quire_error_set(QUIRE_EINVALID,
					      "%s: '%s:' has no value; give it one by hand first",
					      p->inputs_file, name);
			goto out;
		}
		quire_buf_printf(&text, "%s: %s%s", name, emitted.ptr, eol);
	} else {
		err = quire_error_set(QUIRE_EINVALID, "%s: the value of '%s' is not a scalar",
				      p->inputs_file, name);
		goto out;
	}
	/* Read it back: the file must parse and hold exactly the new value. */
	if ((err = quire__yaml_parse(text.ptr, text.len, p->inputs_file, &check)))
		goto out;
	json_t *got = NULL;
	int idx = quire_blueprint_input(p->bp, name);
	struct quire__ynode *nv = quire__yaml_get(check->root, name);
	if (idx < 0 || !nv || quire__input_value(check, nv, &p->bp->inputs[idx], &got) ||
	    !json_equal(got, (json_t *)value)) {
		json_decref(got);
		err = quire_error_set(QUIRE_ERROR,
				      "internal: rewriting %s would not hold the new value of '%s'; "
				      "the file was left unchanged",
				      p->inputs_file, name);
		goto out;
	}
	json_decref(got);
	if ((err = quire_fs_rewrite(path, text.ptr, text.len)))
		goto out;
	json_object_set(p->inputs, name, (json_t *)value);
	json_object_del(p->input_digests, name);
out:
	quire__yaml_free(y);
	quire__yaml_free(check);
	quire_buf_release(&text);
	quire_buf_release(&emitted);
	free(path);
	return err;
}
