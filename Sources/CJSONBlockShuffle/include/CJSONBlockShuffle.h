#ifndef KAFKA_LOKI_JSON_BLOCK_SHUFFLE_H
#define KAFKA_LOKI_JSON_BLOCK_SHUFFLE_H

#include <stdint.h>

/// Whether this CPU has SSSE3 (CPUID leaf 1, ECX bit 9); 0 on other architectures.
int kafka_loki_cpu_has_ssse3(void);

/// Copies JSON string bytes from `base + position` to `out + *count` in 16-byte blocks,
/// dropping the backslash of each `\"` and `\/`, while every byte of a block is plain or part
/// of such an escape. Stops with fewer than 32 bytes left before `end`, or at the first block it
/// cannot take whole (a closing quote, another escape, a control character, non-ASCII), and
/// leaves that block to the caller. A backslash in a block's last byte is left for the next
/// block. Returns the new position; `*count` moves by the bytes written.
///
/// Loads end 16 bytes before `end`; stores are 8 bytes at `out + *count`, and `*count` never
/// passes the input consumed since the string began, so they stay within an output buffer as
/// long as the input. Call only where kafka_loki_cpu_has_ssse3() is true.
intptr_t kafka_loki_json_shuffle_blocks(
    const uint8_t *base, intptr_t position, intptr_t end, uint8_t *out, intptr_t *count);

#endif
