/* A small JSON Schema subset for checking structured outputs: type, properties, required,
 * additionalProperties (false), items, minItems, maxItems, enum, const, minimum, maximum. */
#ifndef QUIRE_SCHEMA_H
#define QUIRE_SCHEMA_H

#include <stddef.h>

#include <jansson.h>

/* 0 when doc satisfies schema; otherwise QUIRE_EINVALID with the JSON path of the first
 * mismatch ("$.chapters[2].title: expected string"). */
int quire_schema_validate(const json_t *schema, const json_t *doc);

#endif
