#ifndef KAFKA_LOKI_JSON_BLOCK_SHUFFLE_H
#define KAFKA_LOKI_JSON_BLOCK_SHUFFLE_H

#include <stdint.h>

/// Whether this CPU has SSSE3 (CPUID leaf 1, ECX bit 9); 0 on other architectures.
int kafka_loki_cpu_has_ssse3(void);

/// The first half of kafka_loki_json_shuffle_takes, from the two masks the Swift block loop has
/// anyway: every byte that needs attention is a backslash or the byte right after one. Most
/// blocks the shuffle cannot take (non-ASCII text, the closing quote) fail it, and then the
/// mask of quotes and slashes need not be built.
static inline int kafka_loki_json_shuffle_may_take(uint32_t attention, uint32_t backslashes) {
    return (attention & ~(backslashes | (backslashes & 0x7FFF) << 1)) == 0;
}

/// Whether the shuffle takes a 16-byte block whole, from the block's masks (bit i for byte i):
/// `attention` for `"`, `\`, below 0x20 and 0x80 and up; `backslashes`; `quote_or_slash` for
/// `"` and `/`. It does when every byte that needs attention is a backslash or the byte right
/// after one, and every such escaped byte is `"` or `/` (so never a backslash: an escaped
/// backslash would make the next one plain, which the shuffle does not model). A backslash in
/// the last byte escapes a byte of the next block.
///
/// The one statement of the rule: the Swift block loop asks it before calling
/// kafka_loki_json_shuffle_blocks (so that blocks it would not take never pay for the call),
/// and that function asks it for every block.
static inline int kafka_loki_json_shuffle_takes(uint32_t attention, uint32_t backslashes, uint32_t quote_or_slash) {
    const uint32_t escaped = (backslashes & 0x7FFF) << 1;
    return kafka_loki_json_shuffle_may_take(attention, backslashes) && (escaped & ~quote_or_slash) == 0;
}

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
