// Typed wrappers around libcurl's variadic functions, which Swift cannot call directly.
// Every wrapper carries the CCurl_ prefix (NIO's CNIOLinux_ habit).
#ifndef CCURL_H
#define CCURL_H

#include <curl/curl.h>

/// curl_easy_setopt for options that take a long.
CURLcode CCurl_setopt_long(CURL *_Nonnull handle, CURLoption option, long value);
/// curl_easy_setopt for options that take a pointer (strings, slists, user data).
CURLcode CCurl_setopt_ptr(CURL *_Nonnull handle, CURLoption option, const void *_Nullable value);
/// curl_easy_setopt for CURLOPT_POSTFIELDSIZE_LARGE and other curl_off_t options.
CURLcode CCurl_setopt_off_t(CURL *_Nonnull handle, CURLoption option, curl_off_t value);
/// curl_easy_setopt for write/header callbacks.
CURLcode CCurl_setopt_write_callback(
    CURL *_Nonnull handle, CURLoption option,
    size_t (*_Nullable callback)(char *_Nonnull, size_t, size_t, void *_Nullable));
/// curl_easy_getinfo for long results (response code, OS errno).
CURLcode CCurl_getinfo_long(CURL *_Nonnull handle, CURLINFO info, long *_Nonnull value);
/// curl_easy_getinfo for double results (total time).
CURLcode CCurl_getinfo_double(CURL *_Nonnull handle, CURLINFO info, double *_Nonnull value);

#endif
