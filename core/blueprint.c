/* Blueprint loader: YAML to typed inputs and producers, with positioned validation errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "util.h"
#include "yaml.h"

static const char *type_names[] = { "text", "json", "image", "audio", "file" };
static const char *default_ext[] = { "md", "json", "png", "wav", "bin" };

const char *quire_output_type_name(enum quire_output_type t)
{
	return type_names[t];
}

int quire_blueprint_input(const struct quire_blueprint *bp, const char *name)
{
	for (size_t i = 0; i < bp->ninputs; i++)
		if (!strcmp(bp->inputs[i].name, name))
			return (int)i;
	return -1;
}

int quire_blueprint_producer(const struct quire_blueprint *bp, const char *name)
{
	for (size_t i = 0; i < bp->nproducers; i++)
		if (!strcmp(bp->producers[i].name, name))
			return (int)i;
	return -1;
}

void quire_blueprint_free(struct quire_blueprint *bp)
{
	if (!bp)
		return;
	for (size_t i = 0; i < bp->ninputs; i++) {
		struct quire_input_decl *in = &bp->inputs[i];
		free(in->name);
		json_decref(in->def);
		for (size_t k = 0; k < in->nvalues; k++)
			free(in->values[k]);
		free(in->values);
	}
	for (size_t i = 0; i < bp->nproducers; i++) {
		struct quire_producer *p = &bp->producers[i];
		free(p->name);
		free(p->role);
		free(p->prompt);
		for (size_t k = 0; k < p->nuses; k++)
			free(p->uses[k].text);
		free(p->uses);
		free(p->output.ext);
		free(p->output.schema);
		for (int d = 0; d < p->ndims; d++)
			free(p->dims[d].var);
		json_decref(p->def);
	}
	free(bp->inputs);
	free(bp->producers);
	free(bp->order);
	free(bp->file);
	free(bp->name);
	free(bp);
}

/* Appends " (did you mean 'X'?)" when a known name is close to `name`. */
static void suggest(const struct quire_blueprint *bp, const char *name, char *out, size_t outlen,
		    int inputs_only)
{
	const char *best = NULL;
	size_t bestd = (size_t)-1;
	size_t limit = strlen(name) / 3 + 1;
	for (size_t i = 0; i < bp->ninputs + (inputs_only ? 0 : bp->nproducers); i++) {
		const char *c =
			i < bp->ninputs ? bp->inputs[i].name : bp->producers[i - bp->ninputs].name;
		size_t d = quire__edit_distance(name, c);
		if (d < bestd) {
			bestd = d;
			best = c;
		}
	}
	if (best && bestd <= limit)
		snprintf(out, outlen, " (did you mean '%s'?)", best);
	else
		out[0] = '\0';
}

static void suggest_key(const char *key, const char *const *known, char *out, size_t outlen)
{
	const char *best = NULL;
	size_t bestd = (size_t)-1;
	for (size_t i = 0; known[i]; i++) {
		size_t d = quire__edit_distance(key, known[i]);
		if (d < bestd) {
			bestd = d;
			best = known[i];
		}
	}
	if (best && bestd <= strlen(key) / 3 + 1)
		snprintf(out, outlen, " (did you mean '%s'?)", best);
	else
		out[0] = '\0';
}

/* Rejects keys of mapping n that are not in known[] (NULL-terminated). */
static int check_keys(const struct quire__yaml *y, const struct quire__ynode *n, const char *what,
		      const char *const *known)
{
	for (size_t pi = 0; pi < quire__yaml_count(n); pi++) {
		struct quire__ynode *k = quire__yaml_key(n, pi);
		size_t len;
		const char *s = quire__yaml_scalar(k, &len);
		if (!s)
			return quire__yaml_error(y, k, QUIRE_EINVALID,
						 "%s keys must be plain names", what);
		int ok = 0;
		for (size_t i = 0; known[i]; i++)
			if (strlen(known[i]) == len && !memcmp(known[i], s, len))
				ok = 1;
		if (!ok) {
			char key[128], hint[160];
			snprintf(key, sizeof(key), "%.*s", (int)(len > 100 ? 100 : len), s);
			suggest_key(key, known, hint, sizeof(hint));
			return quire__yaml_error(y, k, QUIRE_EINVALID, "unknown key '%s' in %s%s",
						 key, what, hint);
		}
	}
	return 0;
}

static int get_bool(const struct quire__yaml *y, const struct quire__ynode *n, const char *what,
		    int *out)
{
	json_t *v = quire__yaml_to_json(n);
	int err = 0;
	if (json_is_boolean(v))
		*out = json_is_true(v);
	else
		err = quire__yaml_error(y, n, QUIRE_EINVALID, "%s must be true or false", what);
	json_decref(v);
	return err;
}

static int get_name(const struct quire__yaml *y, const struct quire__ynode *n, const char *what,
		    char **out)
{
	size_t len;
	const char *s = quire__yaml_scalar(n, &len);
	if (!s || !quire__is_ident(s, len))
		return quire__yaml_error(
			y, n, QUIRE_EINVALID,
			"%s must be a name (letters, digits, '_', not starting with a digit)",
			what);
	*out = quire__xstrndup(s, len);
	return 0;
}

/* A project-relative path that cannot leave the project. */
static int get_relpath(const struct quire__yaml *y, const struct quire__ynode *n, const char *what,
		       char **out)
{
	size_t len;
	const char *s = quire__yaml_scalar(n, &len);
	if (!s || !len)
		return quire__yaml_error(y, n, QUIRE_EINVALID, "%s must be a file path", what);
	char *raw = quire__xstrndup(s, len), *p = quire__rel_normal(raw);
	free(raw);
	if (!p || !*p) {
		free(p);
		return quire__yaml_error(y, n, QUIRE_EINVALID,
					 "%s must be a relative path inside the project", what);
	}
	*out = p;
	return 0;
}

static int parse_input(const struct quire__yaml *y, struct quire__ynode *key,
		       struct quire__ynode *val, struct quire_input_decl *in)
{
	static const char *const keys[] = { "type", "required", "default",     "min",
					    "max",  "values",	"description", NULL };
	int err = get_name(y, key, "an input name", &in->name);
	if (err)
		return err;
	quire__yaml_pos(key, &in->line, &in->col);
	if (!val || !quire__yaml_is_map(val))
		return quire__yaml_error(y, val ? val : key, QUIRE_EINVALID,
					 "input '%s' must be a mapping such as { type: text }",
					 in->name);
	if ((err = check_keys(y, val, "an input", keys)))
		return err;
	struct quire__ynode *t = quire__yaml_get(val, "type");
	size_t len;
	const char *ts = t ? quire__yaml_scalar(t, &len) : "text";
	if (!t)
		len = 4;
	if (!ts)
		return quire__yaml_error(y, t, QUIRE_EINVALID, "input type must be a name");
	if (len == 4 && !memcmp(ts, "text", 4))
		in->type = QUIRE_INPUT_TEXT;
	else if (len == 3 && !memcmp(ts, "int", 3))
		in->type = QUIRE_INPUT_INT;
	else if (len == 4 && !memcmp(ts, "bool", 4))
		in->type = QUIRE_INPUT_BOOL;
	else if (len == 4 && !memcmp(ts, "enum", 4))
		in->type = QUIRE_INPUT_ENUM;
	else if (len == 4 && !memcmp(ts, "file", 4))
		in->type = QUIRE_INPUT_FILE;
	else if (len == 4 && !memcmp(ts, "list", 4))
		in->type = QUIRE_INPUT_LIST;
	else
		return quire__yaml_error(
			y, t, QUIRE_EINVALID,
			"unknown input type '%.*s' (expected text, int, bool, enum, file or list)",
			(int)len, ts);
	struct quire__ynode *n;
	if ((n = quire__yaml_get(val, "required")) &&
	    (err = get_bool(y, n, "required", &in->required)))
		return err;
	struct quire__ynode *mn = quire__yaml_get(val, "min"), *mx = quire__yaml_get(val, "max");
	if ((mn || mx) && in->type != QUIRE_INPUT_INT)
		return quire__yaml_error(y, mn ? mn : mx, QUIRE_EINVALID,
					 "min and max apply to int inputs only");
	if (mn) {
		if (quire__yaml_int(mn, &in->min))
			return quire__yaml_error(y, mn, QUIRE_EINVALID, "min must be an integer");
		in->has_min = 1;
	}
	if (mx) {
		if (quire__yaml_int(mx, &in->max))
			return quire__yaml_error(y, mx, QUIRE_EINVALID, "max must be an integer");
		in->has_max = 1;
	}
	if (in->has_min && in->has_max && in->min > in->max)
		return quire__yaml_error(y, mn, QUIRE_EINVALID, "min is greater than max");
	struct quire__ynode *vs = quire__yaml_get(val, "values");
	if (in->type == QUIRE_INPUT_ENUM) {
		if (!vs || !quire__yaml_is_seq(vs) || quire__yaml_count(vs) == 0)
			return quire__yaml_error(y, vs ? vs : t, QUIRE_EINVALID,
						 "enum input '%s' needs a non-empty list of values",
						 in->name);
		for (size_t i = 0; i < quire__yaml_count(vs); i++) {
			struct quire__ynode *c = quire__yaml_item(vs, i);
			char *s = quire__yaml_strdup(c);
			if (!s)
				return quire__yaml_error(y, c, QUIRE_EINVALID,
							 "enum values must be scalars");
			in->values =
				quire__xrealloc(in->values, (in->nvalues + 1) * sizeof(char *));
			in->values[in->nvalues++] = s;
		}
	} else if (vs) {
		return quire__yaml_error(y, vs, QUIRE_EINVALID, "values apply to enum inputs only");
	}
	if ((n = quire__yaml_get(val, "default")) && (err = quire__input_value(y, n, in, &in->def)))
		return err;
	return 0;
}

/* Whether t[0..n) is a loop-variable index: "i", "i - 1" (N back, N from 1) or "<i"; sets
 * ix's kind and offset (the caller finds the variable). */
static int var_index(const char *t, size_t n, struct quire_idx *ix)
{
	size_t k = 0;
	ix->kind = QUIRE_IDX_VAR;
	ix->off = 0;
	if (n && t[0] == '<') {
		ix->kind = QUIRE_IDX_BEFORE;
		for (k = 1; k < n && t[k] == ' ';)
			k++;
		return k < n && quire__is_ident(t + k, n - k);
	}
	while (k < n && quire__is_ident(t, k + 1))
		k++;
	if (!k)
		return 0;
	if (k == n)
		return 1;
	while (k < n && t[k] == ' ')
		k++;
	if (k == n || t[k++] != '-')
		return 0;
	while (k < n && t[k] == ' ')
		k++;
	long long v = 0;
	if (k == n)
		return 0;
	for (; k < n; k++) {
		if (t[k] < '0' || t[k] > '9' || v > 100000000)
			return 0;
		v = v * 10 + (t[k] - '0');
	}
	ix->off = -v;
	return v > 0;
}

/* Parses "Name", "Name[i]", "Name[*][2]", "Name[i-1]", "Name[<i]". */
static int parse_use(const struct quire__yaml *y, const struct quire__ynode *n,
		     struct quire_producer *p, struct quire_use *u, char **name)
{
	size_t len;
	const char *s = quire__yaml_scalar(n, &len);
	if (!s)
		return quire__yaml_error(y, n, QUIRE_EINVALID,
					 "each entry of 'uses' must be a name");
	quire__yaml_pos(n, &u->line, &u->col);
	size_t i = 0;
	while (i < len && s[i] != '[' && s[i] != ' ')
		i++;
	if (!quire__is_ident(s, i))
		return quire__yaml_error(y, n, QUIRE_EINVALID, "'%.*s' is not a valid reference",
					 (int)len, s);
	*name = quire__xstrndup(s, i);
	struct quire_buf canon = QUIRE_BUF_INIT;
	quire_buf_puts(&canon, *name);
	while (i < len) {
		while (i < len && s[i] == ' ')
			i++;
		if (i == len)
			break;
		if (s[i] != '[' || u->nidx == QUIRE_MAX_DIMS)
			goto bad;
		size_t st = ++i;
		while (i < len && s[i] != ']')
			i++;
		if (i == len)
			goto bad;
		size_t a = st, b = i;
		while (a < b && s[a] == ' ')
			a++;
		while (b > a && s[b - 1] == ' ')
			b--;
		struct quire_idx *ix = &u->idx[u->nidx++];
		if (b - a == 1 && s[a] == '*') {
			ix->kind = QUIRE_IDX_ALL;
			quire_buf_puts(&canon, "[*]");
		} else if (b > a && s[a] >= '0' && s[a] <= '9') {
			ix->kind = QUIRE_IDX_LIT;
			ix->lit = 0;
			for (size_t k = a; k < b; k++) {
				if (s[k] < '0' || s[k] > '9' || ix->lit > 100000000)
					goto bad;
				ix->lit = ix->lit * 10 + (s[k] - '0');
			}
			quire_buf_printf(&canon, "[%lld]", ix->lit);
		} else if (var_index(s + a, b - a, ix)) {
			/* "i", "i-1" (an earlier instance) or "<i" (every earlier one). */
			size_t va = a + (ix->kind == QUIRE_IDX_BEFORE), vb;
			while (s[va] == ' ')
				va++;
			vb = va;
			while (vb < b && quire__is_ident(s + va, vb - va + 1))
				vb++;
			ix->var = -1;
			for (int d = 0; d < p->ndims; d++)
				if (strlen(p->dims[d].var) == vb - va &&
				    !memcmp(p->dims[d].var, s + va, vb - va))
					ix->var = d;
			if (ix->var < 0) {
				quire_buf_release(&canon);
				return quire__yaml_error(
					y, n, QUIRE_EINVALID,
					"'%.*s' in '%.*s' is not a loop variable of producer '%s'",
					(int)(vb - va), s + va, (int)len, s, p->name);
			}
			u->earlier |= ix->kind == QUIRE_IDX_BEFORE || ix->off < 0;
			if (ix->kind == QUIRE_IDX_BEFORE)
				quire_buf_printf(&canon, "[<%s]", p->dims[ix->var].var);
			else if (ix->off)
				quire_buf_printf(&canon, "[%s%lld]", p->dims[ix->var].var, ix->off);
			else
				quire_buf_printf(&canon, "[%s]", p->dims[ix->var].var);
		} else {
			goto bad;
		}
		i++;
	}
	u->text = quire_buf_detach(&canon, NULL);
	return 0;
bad:
	quire_buf_release(&canon);
	return quire__yaml_error(
		y, n, QUIRE_EINVALID,
		"'%.*s' is not a valid reference (expected Name, Name[i], Name[i-1], Name[<i] or "
		"Name[*])",
		(int)len, s);
}

static int parse_output(const struct quire__yaml *y, const struct quire__ynode *n,
			struct quire_output *o)
{
	static const char *const keys[] = { "type", "ext", "schema", NULL };
	o->type = QUIRE_OUT_TEXT;
	if (n) {
		if (!quire__yaml_is_map(n))
			return quire__yaml_error(
				y, n, QUIRE_EINVALID,
				"output must be a mapping such as { type: text, ext: md }");
		int err = check_keys(y, n, "an output", keys);
		if (err)
			return err;
		struct quire__ynode *t = quire__yaml_get(n, "type");
		if (t) {
			size_t len;
			const char *s = quire__yaml_scalar(t, &len);
			int found = -1;
			for (int k = 0; s && k < 5; k++)
				if (strlen(type_names[k]) == len && !memcmp(type_names[k], s, len))
					found = k;
			if (found < 0)
				return quire__yaml_error(y, t, QUIRE_EINVALID,
							 "unknown output type '%.*s' (expected "
							 "text, json, image, audio or file)",
							 s ? (int)len : 0, s ? s : "");
			o->type = (enum quire_output_type)found;
		}
		struct quire__ynode *e = quire__yaml_get(n, "ext");
		if (e) {
			size_t len;
			const char *s = quire__yaml_scalar(e, &len);
			int ok = s && len > 0 && len <= 16;
			for (size_t k = 0; ok && k < len; k++)
				ok = (s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') ||
				     (s[k] >= '0' && s[k] <= '9');
			if (!ok)
				return quire__yaml_error(
					y, e, QUIRE_EINVALID,
					"ext must be 1 to 16 letters or digits, without a dot");
			o->ext = quire__xstrndup(s, len);
		}
		struct quire__ynode *sc = quire__yaml_get(n, "schema");
		if (sc) {
			if (o->type != QUIRE_OUT_JSON)
				return quire__yaml_error(y, sc, QUIRE_EINVALID,
							 "a schema applies to json outputs only");
			if ((err = get_relpath(y, sc, "schema", &o->schema)))
				return err;
		}
	}
	if (!o->ext)
		o->ext = quire__xstrdup(default_ext[o->type]);
	return 0;
}

static int parse_producer(const struct quire__yaml *y, struct quire_blueprint *bp,
			  struct quire__ynode *key, struct quire__ynode *val,
			  struct quire_producer *p, struct quire__ynode **uses_nodes)
{
	static const char *const keys[] = { "role",    "prompt", "uses",	"output",
					    "foreach", "review", "description", NULL };
	int err = get_name(y, key, "a producer name", &p->name);
	if (err)
		return err;
	quire__yaml_pos(key, &p->line, &p->col);
	if (!val || !quire__yaml_is_map(val))
		return quire__yaml_error(y, val ? val : key, QUIRE_EINVALID,
					 "producer '%s' must be a mapping", p->name);
	if ((err = check_keys(y, val, "a producer", keys)))
		return err;
	struct quire__ynode *n = quire__yaml_get(val, "role");
	if (!n)
		return quire__yaml_error(y, key, QUIRE_EINVALID, "producer '%s' has no role",
					 p->name);
	if ((err = get_name(y, n, "role", &p->role)))
		return err;
	if ((n = quire__yaml_get(val, "prompt")) && (err = get_relpath(y, n, "prompt", &p->prompt)))
		return err;
	if ((n = quire__yaml_get(val, "review")) && (err = get_bool(y, n, "review", &p->review)))
		return err;
	if ((err = parse_output(y, quire__yaml_get(val, "output"), &p->output)))
		return err;
	if ((n = quire__yaml_get(val, "foreach"))) {
		if (!quire__yaml_is_map(n) || quire__yaml_count(n) == 0)
			return quire__yaml_error(
				y, n, QUIRE_EINVALID,
				"foreach must be a mapping such as { i: Chapters }");
		for (size_t i = 0; i < quire__yaml_count(n); i++) {
			struct quire__ynode *var = quire__yaml_key(n, i);
			if (p->ndims == QUIRE_MAX_DIMS)
				return quire__yaml_error(y, var, QUIRE_EINVALID,
							 "at most %d foreach dimensions",
							 QUIRE_MAX_DIMS);
			struct quire_dim *d = &p->dims[p->ndims++];
			if ((err = get_name(y, var, "a loop variable", &d->var)))
				return err;
			char *in = NULL;
			struct quire__ynode *iv = quire__yaml_value(n, i);
			if ((err = get_name(y, iv, "a foreach count", &in)))
				return err;
			d->input = quire_blueprint_input(bp, in);
			if (d->input < 0) {
				char hint[160];
				suggest(bp, in, hint, sizeof(hint), 1);
				err = quire__yaml_error(
					y, iv, QUIRE_EINVALID,
					"producer '%s' fans out over unknown input '%s'%s", p->name,
					in, hint);
				free(in);
				return err;
			}
			free(in);
			if (bp->inputs[d->input].type != QUIRE_INPUT_INT)
				return quire__yaml_error(y, iv, QUIRE_EINVALID,
							 "producer '%s' fans out over '%s', which "
							 "is not an int input",
							 p->name, bp->inputs[d->input].name);
			for (int k = 0; k < p->ndims - 1; k++)
				if (!strcmp(p->dims[k].var, d->var))
					return quire__yaml_error(y, var, QUIRE_EINVALID,
								 "loop variable '%s' repeated",
								 d->var);
		}
	}
	if (p->prompt && strstr(p->prompt, "{{")) {
		/* A per-instance prompt path may only name the producer's loop variables. */
		p->prompt_per_instance = 1;
		const char *c = p->prompt;
		while ((c = strstr(c, "{{"))) {
			const char *e = strstr(c + 2, "}}");
			const char *v = c + 2;
			while (v < (e ? e : v) && *v == ' ')
				v++;
			size_t vl = 0;
			while (e && v + vl < e && (quire__is_ident(v, vl + 1)))
				vl++;
			int ok = e && vl > 0;
			if (ok) {
				int found = 0;
				for (int d = 0; d < p->ndims; d++)
					found |= strlen(p->dims[d].var) == vl &&
						 !memcmp(p->dims[d].var, v, vl);
				const char *rest = v + vl;
				while (rest < e && *rest == ' ')
					rest++;
				if (rest < e && (*rest == '+' || *rest == '-')) {
					rest++;
					while (rest < e &&
					       (*rest == ' ' || (*rest >= '0' && *rest <= '9')))
						rest++;
				}
				ok = found && rest == e;
			}
			if (!ok)
				return quire__yaml_error(
					y, quire__yaml_get(val, "prompt"), QUIRE_EINVALID,
					"a prompt path may use only the loop variables of "
					"producer '%s' ({{i}}, {{i+1}})",
					p->name);
			c = e + 2;
		}
	}
	n = quire__yaml_get(val, "uses");
	*uses_nodes = n;
	if (n && !quire__yaml_is_seq(n))
		return quire__yaml_error(y, n, QUIRE_EINVALID,
					 "uses must be a list such as [Outline, Chapter[i]]");
	return 0;
}

/* Resolves the uses of producer p now that every name is known. */
static int resolve_uses(const struct quire__yaml *y, struct quire_blueprint *bp,
			struct quire_producer *p, struct quire__ynode *uses)
{
	if (!uses)
		return 0;
	size_t alloc = 0;
	for (size_t i = 0; i < quire__yaml_count(uses); i++) {
		struct quire__ynode *c = quire__yaml_item(uses, i);
		QUIRE_GROW(p->uses, alloc, p->nuses + 1);
		struct quire_use *u = &p->uses[p->nuses];
		memset(u, 0, sizeof(*u));
		char *name = NULL;
		int err = parse_use(y, c, p, u, &name);
		if (err) {
			free(name);
			return err;
		}
		p->nuses++;
		int ti = quire_blueprint_input(bp, name), tp = quire_blueprint_producer(bp, name);
		if (ti < 0 && tp < 0) {
			char hint[160];
			suggest(bp, name, hint, sizeof(hint), 0);
			err = quire__yaml_error(y, c, QUIRE_EINVALID,
						"producer '%s' uses unknown id '%s'%s", p->name,
						name, hint);
			free(name);
			return err;
		}
		free(name);
		u->is_input = ti >= 0;
		u->target = ti >= 0 ? ti : tp;
		int want = u->is_input ? 0 : bp->producers[tp].ndims;
		if (u->nidx != want)
			return quire__yaml_error(
				y, c, QUIRE_EINVALID,
				"'%s' needs %d index%s (it fans out over %d dimension%s), got %d",
				u->text, want, want == 1 ? "" : "es", want, want == 1 ? "" : "s",
				u->nidx);
		for (size_t k = 0; k + 1 < p->nuses; k++)
			if (!strcmp(p->uses[k].text, u->text))
				return quire__yaml_error(y, c, QUIRE_EINVALID, "'%s' is used twice",
							 u->text);
	}
	return 0;
}

/* Depth-first search for a cycle among producers; fills the path on finding one. */
static int find_cycle(const struct quire_blueprint *bp, size_t v, int *state, size_t *stack,
		      size_t depth, struct quire_buf *path, size_t **order, size_t *norder,
		      size_t *start)
{
	state[v] = 1;
	stack[depth] = v;
	const struct quire_producer *p = &bp->producers[v];
	for (size_t k = 0; k < p->nuses; k++) {
		/* A use of earlier instances (Chapter[i-1]) may close a loop among producers
		 * without one among instances: the planner orders and checks instances. */
		if (p->uses[k].is_input || p->uses[k].earlier)
			continue;
		size_t w = (size_t)p->uses[k].target;
		if (state[w] == 1) {
			size_t s = 0;
			while (stack[s] != w)
				s++;
			for (size_t i = s; i <= depth; i++)
				quire_buf_printf(path, "%s -> ", bp->producers[stack[i]].name);
			quire_buf_puts(path, bp->producers[w].name);
			*start = w;
			return 1;
		}
		if (state[w] == 0 &&
		    find_cycle(bp, w, state, stack, depth + 1, path, order, norder, start))
			return 1;
	}
	state[v] = 2;
	(*order)[(*norder)++] = v;
	return 0;
}

static json_t *normalise(const struct quire_producer *p)
{
	json_t *uses = json_array();
	for (size_t k = 0; k < p->nuses; k++)
		json_array_append_new(uses, json_string(p->uses[k].text));
	json_t *dims = json_array();
	for (int d = 0; d < p->ndims; d++)
		json_array_append_new(dims, json_string(p->dims[d].var));
	json_t *out =
		json_pack("{s:s,s:s}", "type", type_names[p->output.type], "ext", p->output.ext);
	if (p->output.schema)
		json_object_set_new(out, "schema", json_string(p->output.schema));
	return json_pack("{s:s,s:s,s:o,s:o,s:o,s:b,s:o}", "name", p->name, "role", p->role, "uses",
			 uses, "foreach", dims, "output", out, "review", p->review, "prompt",
			 p->prompt ? json_string(p->prompt) : json_null());
}

static int build(struct quire_blueprint *bp, const struct quire__yaml *y)
{
	static const char *const keys[] = { "blueprint", "version",   "description",
					    "inputs",	 "producers", NULL };
	struct quire__ynode *root = y->root;
	struct quire__ynode **uses_nodes = NULL;
	int err;
	if (!root || !quire__yaml_is_map(root))
		return quire__yaml_error(
			y, root, QUIRE_EINVALID,
			"a blueprint must be a mapping with 'inputs' and 'producers'");
	if ((err = check_keys(y, root, "the blueprint", keys)))
		return err;
	struct quire__ynode *n = quire__yaml_get(root, "blueprint");
	bp->name = n ? quire__yaml_strdup(n) : quire__xstrdup("unnamed");
	if (!bp->name)
		return quire__yaml_error(y, n, QUIRE_EINVALID, "blueprint must be a name");
	if ((n = quire__yaml_get(root, "version")) && quire__yaml_int(n, &bp->version))
		return quire__yaml_error(y, n, QUIRE_EINVALID, "version must be an integer");

	struct quire__ynode *ins = quire__yaml_get(root, "inputs");
	if (ins && !quire__yaml_is_map(ins) && !quire__yaml_empty(ins))
		return quire__yaml_error(y, ins, QUIRE_EINVALID, "inputs must be a mapping");
	if (ins && quire__yaml_is_map(ins)) {
		bp->inputs = quire__xcalloc(quire__yaml_count(ins) + 1, sizeof(*bp->inputs));
		for (size_t i = 0; i < quire__yaml_count(ins); i++) {
			struct quire_input_decl *in = &bp->inputs[bp->ninputs++];
			struct quire__ynode *key = quire__yaml_key(ins, i);
			if ((err = parse_input(y, key, quire__yaml_value(ins, i), in)))
				return err;
		}
	}
	struct quire__ynode *prs = quire__yaml_get(root, "producers");
	if (!prs || !quire__yaml_is_map(prs) || quire__yaml_count(prs) == 0)
		return quire__yaml_error(
			y, prs ? prs : root, QUIRE_EINVALID,
			"the blueprint needs a 'producers' mapping with at least one producer");
	size_t np = quire__yaml_count(prs);
	bp->producers = quire__xcalloc(np, sizeof(*bp->producers));
	uses_nodes = quire__xcalloc(np, sizeof(*uses_nodes));
	for (size_t i = 0; i < np; i++) {
		struct quire_producer *p = &bp->producers[bp->nproducers++];
		struct quire__ynode *key = quire__yaml_key(prs, i);
		if ((err = parse_producer(y, bp, key, quire__yaml_value(prs, i), p,
					  &uses_nodes[bp->nproducers - 1])))
			goto out;
		if (quire_blueprint_input(bp, p->name) >= 0 ||
		    quire_blueprint_producer(bp, p->name) != (int)bp->nproducers - 1) {
			err = quire__yaml_error(y, key, QUIRE_EINVALID, "'%s' is defined twice",
						p->name);
			goto out;
		}
	}
	for (size_t i = 0; i < bp->nproducers; i++)
		if ((err = resolve_uses(y, bp, &bp->producers[i], uses_nodes[i])))
			goto out;

	int *state = quire__xcalloc(np, sizeof(int));
	size_t *stack = quire__xcalloc(np, sizeof(size_t)), norder = 0;
	bp->order = quire__xcalloc(np, sizeof(size_t));
	struct quire_buf path = QUIRE_BUF_INIT;
	for (size_t i = 0; i < np && !err; i++) {
		size_t start = 0;
		if (state[i] == 0 &&
		    find_cycle(bp, i, state, stack, 0, &path, &bp->order, &norder, &start)) {
			const struct quire_producer *p = &bp->producers[start];
			err = quire_error_set(QUIRE_EINVALID, "%s:%d:%d: dependency cycle: %s",
					      y->name, p->line, p->col, path.ptr);
		}
	}
	quire_buf_release(&path);
	free(state);
	free(stack);
	for (size_t i = 0; i < bp->nproducers && !err; i++) {
		bp->producers[i].def = normalise(&bp->producers[i]);
		struct quire_digest d;
		quire_hash_json(bp->producers[i].def, &d);
		memcpy(bp->producers[i].def_digest, d.s, sizeof(d.s));
	}
out:
	free(uses_nodes);
	return err;
}

int quire_blueprint_parse(struct quire_blueprint **out, const char *text, size_t len,
			  const char *name)
{
	*out = NULL;
	struct quire__yaml *y = NULL;
	int err = quire__yaml_parse(text, len, name, &y);
	if (err)
		return err;
	struct quire_blueprint *bp = quire__xcalloc(1, sizeof(*bp));
	bp->file = quire__xstrdup(name);
	err = build(bp, y);
	quire__yaml_free(y);
	if (err) {
		quire_blueprint_free(bp);
		return err;
	}
	*out = bp;
	return 0;
}

int quire_blueprint_load(struct quire_blueprint **out, const char *path, const char *name)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	*out = NULL;
	int err = quire_fs_read(path, &b, QUIRE_TEXT_CAP);
	if (!err)
		err = quire_blueprint_parse(out, b.ptr, b.len, name);
	quire_buf_release(&b);
	return err;
}

const char **quire_blueprint_roles(const struct quire_blueprint *bp, size_t *n)
{
	const char **r = quire__xcalloc(bp->nproducers + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < bp->nproducers; i++)
		r[k++] = bp->producers[i].role;
	qsort(r, k, sizeof(char *), quire__cmp_strp);
	size_t m = 0;
	for (size_t i = 0; i < k; i++)
		if (!m || strcmp(r[m - 1], r[i]))
			r[m++] = r[i];
	*n = m;
	return r;
}

char *quire_producer_prompt_path(const struct quire_producer *p, const long long *idx)
{
	if (!p->prompt)
		return NULL;
	if (!p->prompt_per_instance)
		return quire__xstrdup(p->prompt);
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_producer_prompt_path_add(p, idx, &b);
	return quire_buf_detach(&b, NULL);
}

void quire_producer_prompt_path_add(const struct quire_producer *p, const long long *idx,
				    struct quire_buf *out)
{
	if (!p->prompt)
		return;
	if (!p->prompt_per_instance) {
		quire_buf_puts(out, p->prompt);
		return;
	}
	const char *c = p->prompt;
	for (;;) {
		const char *o = strstr(c, "{{");
		if (!o) {
			quire_buf_puts(out, c);
			break;
		}
		quire_buf_add(out, c, (size_t)(o - c));
		const char *e = strstr(o, "}}"), *v = o + 2;
		while (*v == ' ')
			v++;
		size_t vl = 0;
		while (quire__is_ident(v, vl + 1))
			vl++;
		long long value = 0;
		for (int d = 0; d < p->ndims; d++)
			if (strlen(p->dims[d].var) == vl && !memcmp(p->dims[d].var, v, vl))
				value = idx[d];
		const char *r = v + vl;
		while (*r == ' ')
			r++;
		if (*r == '+' || *r == '-')
			value += (*r == '-' ? -1 : 1) * strtoll(r + 1, NULL, 10);
		quire_buf_put_int(out, value);
		c = e + 2;
	}
}

static int each_index(const struct quire_producer *p, const long long *counts, int d,
		      long long *idx, int (*fn)(void *ud, const long long *idx), void *ud)
{
	/* ndims never exceeds QUIRE_MAX_DIMS (the parser refuses more); saying so lets -O3 see
	 * that idx[d] stays in bounds. */
	if (d == p->ndims || d >= QUIRE_MAX_DIMS)
		return fn(ud, idx);
	for (long long k = 0; k < counts[d]; k++) {
		idx[d] = k;
		int r = each_index(p, counts, d + 1, idx, fn, ud);
		if (r)
			return r;
	}
	return 0;
}

int quire_producer_each_index(const struct quire_producer *p, const long long *counts,
			      int (*fn)(void *ud, const long long *idx), void *ud)
{
	long long idx[QUIRE_MAX_DIMS] = { 0 };
	return each_index(p, counts, 0, idx, fn, ud);
}
