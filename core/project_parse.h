/* Internal: a project's YAML files parsed from text. quire_project_open reads each file and
 * hands its text to these; the fuzzers (tests/fuzz) call them without files. */
#ifndef QUIRE_PROJECT_PARSE_H
#define QUIRE_PROJECT_PARSE_H

#include <stddef.h>

struct quire_project;

/* Reads quire.yaml's text into p: blueprint_file, inputs_file, out_dir, jobs and the bindings
 * (p zeroed but for root). QUIRE_EINVALID with "quire.yaml:line:col: ...". Whatever was set
 * before an error is freed with p (quire_project_free). */
int quire__project_parse_config(struct quire_project *p, const char *text, size_t len);

/* Reads the inputs file's text against p->bp into p->inputs (defaults applied); messages name
 * p->inputs_file. QUIRE_EINVALID. p->inputs may be set after an error too. */
int quire__project_parse_inputs(struct quire_project *p, const char *text, size_t len);

#endif
