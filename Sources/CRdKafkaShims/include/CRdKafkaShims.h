// Non-variadic wrappers for librdkafka calls that Swift cannot make (rd_kafka_producev is
// variadic and rd_kafka_vu_t holds a union). Prefixed CRdKafka_ (NIO's CNIOLinux_ habit).
#ifndef CRDKAFKA_SHIMS_H
#define CRDKAFKA_SHIMS_H

#include <librdkafka/rdkafka.h>

/// Produces one message with a copied key and value. On success librdkafka owns `headers`
/// (which may be NULL); on failure the caller still owns and must destroy them.
/// `opaque` is handed to the delivery report callback as rkmessage->_private.
rd_kafka_resp_err_t CRdKafka_produce(
    rd_kafka_t *_Nonnull rk, const char *_Nonnull topic, const void *_Nullable key, size_t key_len,
    const void *_Nullable value, size_t value_len, rd_kafka_headers_t *_Nullable headers,
    void *_Nullable opaque);

#endif
