/* Input values read from YAML (inputs.yaml, defaults in the blueprint, exports), typed and
 * checked against their declaration with positioned messages. */
#include <stdlib.h>
#include <string.h>

#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "util.h"
#include "yaml.h"

/* Converts a typed value node for input `in`; sets a positioned error on mismatch. */
int quire__input_value(const struct quire__yaml *y, const struct quire__ynode *n,
		       const struct quire_input_decl *in, json_t **out)
{
	json_t *v = quire__yaml_to_json(n);
	int err = 0;
	switch (in->type) {
	case QUIRE_INPUT_LIST:
		if (!quire__yaml_is_seq(n)) {
			err = quire__yaml_error(y, n, QUIRE_EINVALID,
						"input '%s' must be a list of texts, one per line "
						"starting with '- '",
						in->name);
			break;
		}
		json_decref(v);
		v = json_array();
		for (size_t k = 0; k < quire__yaml_count(n) && !err; k++) {
			const struct quire__ynode *c = quire__yaml_item(n, k);
			size_t len;
			const char *s =
				quire__yaml_is_scalar(c) ? quire__yaml_scalar(c, &len) : NULL;
			if (!s)
				err = quire__yaml_error(y, c, QUIRE_EINVALID,
							"each item of input '%s' must be text",
							in->name);
			else
				json_array_append_new(v, json_stringn(s, len));
		}
		break;
	case QUIRE_INPUT_FILE:
		if (!quire__yaml_is_scalar(n) || json_is_null(v) || !json_is_string(v) ||
		    !json_string_length(v)) {
			err = quire__yaml_error(
				y, n, QUIRE_EINVALID,
				"input '%s' must name a file in the project, such as canon.md",
				in->name);
			break;
		}
		break;
	case QUIRE_INPUT_TEXT:
		if (!quire__yaml_is_scalar(n) || json_is_null(v)) {
			err = quire__yaml_error(y, n, QUIRE_EINVALID, "input '%s' must be text",
						in->name);
			break;
		}
		{
			/* Text keeps the scalar as written: "3" and 3 are both the text "3". */
			size_t len;
			const char *s = quire__yaml_scalar(n, &len);
			json_decref(v);
			v = json_stringn(s, len);
		}
		break;
	case QUIRE_INPUT_INT:
		if (!json_is_integer(v)) {
			err = quire__yaml_error(y, n, QUIRE_EINVALID,
						"input '%s' must be an integer", in->name);
			break;
		}
		{
			long long x = json_integer_value(v);
			if (in->has_min && x < in->min)
				err = quire__yaml_error(
					y, n, QUIRE_EINVALID,
					"input '%s' is %lld, below its minimum %lld", in->name, x,
					in->min);
			else if (in->has_max && x > in->max)
				err = quire__yaml_error(
					y, n, QUIRE_EINVALID,
					"input '%s' is %lld, above its maximum %lld", in->name, x,
					in->max);
		}
		break;
	case QUIRE_INPUT_BOOL:
		if (!json_is_boolean(v))
			err = quire__yaml_error(y, n, QUIRE_EINVALID,
						"input '%s' must be true or false", in->name);
		break;
	case QUIRE_INPUT_ENUM: {
		/* Compare the scalar as written: enum values like 2 or no are text, not numbers. */
		size_t len = 0;
		const char *raw = quire__yaml_scalar(n, &len);
		json_decref(v);
		v = raw ? json_stringn(raw, len) : json_null();
		const char *s = json_is_string(v) ? json_string_value(v) : NULL;
		int ok = 0;
		for (size_t k = 0; s && k < in->nvalues; k++)
			ok |= !strcmp(s, in->values[k]);
		if (!ok) {
			struct quire_buf b = QUIRE_BUF_INIT;
			for (size_t k = 0; k < in->nvalues; k++)
				quire_buf_printf(&b, "%s'%s'", k ? ", " : "", in->values[k]);
			err = quire__yaml_error(y, n, QUIRE_EINVALID,
						"input '%s' must be one of %s", in->name, b.ptr);
			quire_buf_release(&b);
		}
		break;
	}
	}
	if (err) {
		json_decref(v);
		return err;
	}
	*out = v;
	return 0;
}
