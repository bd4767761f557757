/* The libcurl functions the HTTP providers use, resolved from a dlopen'd libcurl the first
 * time any is called (see curl-lazy.h). When libcurl cannot be loaded, curl_global_init fails
 * and curl_easy_strerror says why; the other functions fail as libcurl's own do when out of
 * memory (NULL, CURLE_FAILED_INIT), so a provider reports "libcurl failed to start". */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "curl-lazy.h"

#ifndef QUIRE_CURL_SONAME
#define QUIRE_CURL_SONAME "libcurl.so.4"
#endif

static struct {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	time_t (*getdate)(const char *, const time_t *);
	void (*free)(void *);
	CURLU *(*url)(void);
	CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
	CURLUcode (*url_get)(CURLU *, CURLUPart, char **, unsigned int);
	void (*url_cleanup)(CURLU *);
} fn;
static int loaded; /* 1: every function resolved */
static char load_error[512];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
	void *h = dlopen(QUIRE_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(load_error, sizeof(load_error), "cannot load %s: %s", QUIRE_CURL_SONAME,
			 dlerror());
		return;
	}
	static const char *const names[] = {
		"curl_global_init",  "curl_easy_init",
		"curl_easy_setopt",  "curl_easy_perform",
		"curl_easy_getinfo", "curl_easy_cleanup",
		"curl_easy_reset",   "curl_easy_strerror",
		"curl_slist_append", "curl_slist_free_all",
		"curl_getdate",	     "curl_free",
		"curl_url",	     "curl_url_set",
		"curl_url_get",	     "curl_url_cleanup",
	};
	void **slots = (void **)&fn;
	_Static_assert(sizeof(fn) == sizeof(names) / sizeof(names[0]) * sizeof(void *),
		       "one slot per name");
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		/* POSIX: a function's address read through void * (dlsym's own contract). */
		if (!(slots[k] = dlsym(h, names[k]))) {
			snprintf(load_error, sizeof(load_error), "%s has no %s", QUIRE_CURL_SONAME,
				 names[k]);
			dlclose(h);
			return;
		}
	}
	loaded = 1; /* libcurl stays loaded for the life of the process */
}

static int ready(void)
{
	pthread_once(&load_once, load);
	return loaded;
}

CURLcode curl_global_init(long flags)
{
	return ready() ? fn.global_init(flags) : CURLE_FAILED_INIT;
}

CURL *curl_easy_init(void)
{
	return ready() ? fn.easy_init() : NULL;
}

CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	if (!ready())
		return CURLE_FAILED_INIT;
	/* One argument, whose type the option's number range gives (as in libcurl itself). */
	va_list ap;
	va_start(ap, opt);
	CURLcode rc;
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = fn.easy_setopt(h, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = fn.easy_setopt(h, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = fn.easy_setopt(h, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = fn.easy_setopt(h, opt, va_arg(ap, curl_off_t));
	else
		rc = fn.easy_setopt(h, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_perform(CURL *h)
{
	return ready() ? fn.easy_perform(h) : CURLE_FAILED_INIT;
}

CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	if (!ready())
		return CURLE_FAILED_INIT;
	va_list ap;
	va_start(ap, info);
	CURLcode rc = fn.easy_getinfo(h, info, va_arg(ap, void *)); /* always a pointer */
	va_end(ap);
	return rc;
}

void curl_easy_cleanup(CURL *h)
{
	if (ready())
		fn.easy_cleanup(h);
}

void curl_easy_reset(CURL *h)
{
	if (ready())
		fn.easy_reset(h);
}

const char *curl_easy_strerror(CURLcode rc)
{
	return ready() ? fn.easy_strerror(rc) : load_error;
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
	return ready() ? fn.slist_append(l, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *l)
{
	if (ready())
		fn.slist_free_all(l);
}

time_t curl_getdate(const char *s, const time_t *unused)
{
	return ready() ? fn.getdate(s, unused) : -1;
}

void curl_free(void *p)
{
	if (ready())
		fn.free(p);
}

CURLU *curl_url(void)
{
	return ready() ? fn.url() : NULL;
}

CURLUcode curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
	return ready() ? fn.url_set(u, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}

CURLUcode curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
	return ready() ? fn.url_get(u, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}

void curl_url_cleanup(CURLU *u)
{
	if (ready())
		fn.url_cleanup(u);
}
