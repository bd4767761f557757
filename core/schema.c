/* JSON Schema subset validator for json outputs. */
#include <string.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "schema.h"

static int type_ok(const char *t, const json_t *v)
{
	if (!strcmp(t, "object"))
		return json_is_object(v);
	if (!strcmp(t, "array"))
		return json_is_array(v);
	if (!strcmp(t, "string"))
		return json_is_string(v);
	if (!strcmp(t, "integer"))
		return json_is_integer(v);
	if (!strcmp(t, "number"))
		return json_is_number(v);
	if (!strcmp(t, "boolean"))
		return json_is_boolean(v);
	if (!strcmp(t, "null"))
		return json_is_null(v);
	return 1;
}

static int fail(struct quire_buf *path, const char *msg)
{
	return quire_error_set(QUIRE_EINVALID, "%s: %s", path->ptr, msg);
}

static int check(const json_t *s, const json_t *v, struct quire_buf *path)
{
	if (!json_is_object(s))
		return 0;
	const json_t *t = json_object_get(s, "type");
	if (json_is_string(t) && !type_ok(json_string_value(t), v)) {
		char msg[96];
		snprintf(msg, sizeof(msg), "expected %s", json_string_value(t));
		return fail(path, msg);
	}
	if (json_is_array(t)) {
		size_t i;
		const json_t *x;
		int ok = 0;
		json_array_foreach(t, i, x)
			ok |= json_is_string(x) && type_ok(json_string_value(x), v);
		if (!ok)
			return fail(path, "has none of the allowed types");
	}
	const json_t *en = json_object_get(s, "enum");
	if (json_is_array(en)) {
		size_t i;
		const json_t *x;
		int ok = 0;
		json_array_foreach(en, i, x)
			ok |= json_equal((json_t *)x, (json_t *)v);
		if (!ok)
			return fail(path, "is not one of the allowed values");
	}
	const json_t *c = json_object_get(s, "const");
	if (c && !json_equal((json_t *)c, (json_t *)v))
		return fail(path, "does not equal the required constant");
	if (json_is_number(v)) {
		/* Comparing (never hashing) floats is fine: outputs may carry real numbers. */
		const json_t *mn = json_object_get(s, "minimum"),
			     *mx = json_object_get(s, "maximum");
		if (json_is_number(mn) && json_number_value(v) < json_number_value(mn))
			return fail(path, "is below the minimum");
		if (json_is_number(mx) && json_number_value(v) > json_number_value(mx))
			return fail(path, "is above the maximum");
	}
	size_t mark = path->len;
	if (json_is_object(v)) {
		const json_t *req = json_object_get(s, "required");
		size_t i;
		const json_t *x;
		json_array_foreach(req, i, x) {
			if (json_is_string(x) && !json_object_get(v, json_string_value(x))) {
				char msg[160];
				snprintf(msg, sizeof(msg), "missing required property '%.100s'",
					 json_string_value(x));
				return fail(path, msg);
			}
		}
		const json_t *props = json_object_get(s, "properties");
		int closed = json_is_false(json_object_get(s, "additionalProperties"));
		const char *k;
		json_t *pv;
		json_object_foreach((json_t *)v, k, pv) {
			const json_t *ps = json_object_get(props, k);
			quire_buf_printf(path, ".%s", k);
			if (!ps && closed) {
				int err = fail(path, "is not an allowed property");
				path->len = mark;
				path->ptr[mark] = '\0';
				return err;
			}
			int err = ps ? check(ps, pv, path) : 0;
			path->len = mark;
			path->ptr[mark] = '\0';
			if (err)
				return err;
		}
	}
	if (json_is_array(v)) {
		const json_t *mn = json_object_get(s, "minItems"),
			     *mx = json_object_get(s, "maxItems");
		if (json_is_integer(mn) &&
		    (json_int_t)json_array_size(v) < json_integer_value(mn)) {
			char msg[96];
			snprintf(msg, sizeof(msg), "has %zu items, fewer than %lld",
				 json_array_size(v), (long long)json_integer_value(mn));
			return fail(path, msg);
		}
		if (json_is_integer(mx) &&
		    (json_int_t)json_array_size(v) > json_integer_value(mx)) {
			char msg[96];
			snprintf(msg, sizeof(msg), "has %zu items, more than %lld",
				 json_array_size(v), (long long)json_integer_value(mx));
			return fail(path, msg);
		}
		const json_t *items = json_object_get(s, "items");
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) {
			quire_buf_printf(path, "[%zu]", i);
			int err = check(items, x, path);
			path->len = mark;
			path->ptr[mark] = '\0';
			if (err)
				return err;
		}
	}
	return 0;
}

int quire_schema_validate(const json_t *schema, const json_t *doc)
{
	struct quire_buf path = QUIRE_BUF_INIT;
	quire_buf_putc(&path, '$');
	int err = check(schema, doc, &path);
	quire_buf_release(&path);
	return err;
}
