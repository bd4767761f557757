/* Thread-local error message storage: set once where an error starts, read by the caller. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "quire/error.h"

static _Thread_local char last_msg[2048];
static _Thread_local int last_code;

int quire_error_set(int code, const char *fmt, ...)
{
	/* Formatted aside first: a caller may pass the last message itself as an argument to
	 * wrap it ("...: %s", quire_error_last()). */
	char msg[sizeof(last_msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(last_msg, msg, sizeof(msg));
	last_code = code;
	return code;
}

int quire_error_prefix(int code, const char *fmt, ...)
{
	char prefix[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	size_t plen = strlen(prefix), old = strlen(last_msg);
	if (plen + 2 + old >= sizeof(last_msg))
		old = sizeof(last_msg) - plen - 3;
	memmove(last_msg + plen + 2, last_msg, old);
	memcpy(last_msg, prefix, plen);
	memcpy(last_msg + plen, ": ", 2);
	last_msg[plen + 2 + old] = '\0';
	last_code = code;
	return code;
}

const char *quire_error_last(void)
{
	return last_msg;
}

int quire_error_code(void)
{
	return last_code;
}

void quire_error_clear(void)
{
	last_msg[0] = '\0';
	last_code = 0;
}
