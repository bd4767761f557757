/* libcurl, loaded when first used: the HTTP providers call these names, which curl-lazy.c
 * forwards to a libcurl opened with dlopen the first time one is called. Linking libcurl
 * made every quire command load it and the ~30 libraries it needs (gnutls, kerberos, LDAP,
 * ...): 4 ms of start-up, half of `quire --version`, for commands that never speak HTTP.
 * Include this instead of <curl/curl.h>. */
#ifndef QUIRE_CURL_LAZY_H
#define QUIRE_CURL_LAZY_H

/* curl.h's type-checking macros would clash with the renames below. */
#define CURL_DISABLE_TYPECHECK 1

#define curl_global_init quire__curl_global_init
#define curl_easy_init quire__curl_easy_init
#define curl_easy_setopt quire__curl_easy_setopt
#define curl_easy_perform quire__curl_easy_perform
#define curl_easy_getinfo quire__curl_easy_getinfo
#define curl_easy_cleanup quire__curl_easy_cleanup
#define curl_easy_reset quire__curl_easy_reset
#define curl_easy_strerror quire__curl_easy_strerror
#define curl_slist_append quire__curl_slist_append
#define curl_slist_free_all quire__curl_slist_free_all
#define curl_getdate quire__curl_getdate
#define curl_free quire__curl_free
#define curl_url quire__curl_url
#define curl_url_set quire__curl_url_set
#define curl_url_get quire__curl_url_get
#define curl_url_cleanup quire__curl_url_cleanup

#include <curl/curl.h>

/* Without its type checks curl.h defines these two again, as function-like macros of their
 * own names (to count arguments), undoing the renames: calls went to an undeclared
 * curl_easy_setopt, defined by curl-lazy.c under libcurl's own name (gcc says nothing about
 * a call spelled in a system header's macro; clang refuses it). */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_setopt quire__curl_easy_setopt
#define curl_easy_getinfo quire__curl_easy_getinfo

#endif
