// Blocks of escaped quotes in one SSSE3 shuffle: see include/CJSONBlockShuffle.h and
// docs/performance.md ("Blocks of escaped quotes in one SSSE3 shuffle").
//
// Why C: `pshufb` is SSSE3, outside the x86-64 baseline. Clang compiles it into one function
// marked `target("ssse3")` and leaves the rest of the program at the baseline; Swift 6.3 does
// not honour that attribute and cannot compile the intrinsic without the whole module built
// with SSSE3, a build flag that would also have to follow the target architecture.

#include "CJSONBlockShuffle.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <tmmintrin.h>

int kafka_loki_cpu_has_ssse3(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & bit_SSSE3) != 0;
}

// For each 8-bit mask of bytes to drop, the `pshufb` control that packs the bytes kept (their
// indices, in order) to the front of an 8-byte half; the rest is 0x80, which yields zero.
// Filled once before `main` (a constructor) from the rule itself, rather than kept as a
// 256-entry literal whose generator would have to be kept too; the unit test checks every
// reachable entry through the shuffle.
static uint64_t pack_controls[256];

__attribute__((constructor))
static void fill_pack_controls(void) {
    for (unsigned mask = 0; mask < 256; mask++) {
        uint64_t control = 0x8080808080808080ull;
        unsigned kept = 0;
        for (unsigned index = 0; index < 8; index++) {
            if (mask & (1u << index)) continue;  // a backslash: dropped
            control &= ~(0xFFull << (8 * kept));
            control |= (uint64_t)index << (8 * kept);
            kept++;
        }
        pack_controls[mask] = control;
    }
}

__attribute__((target("ssse3")))
intptr_t kafka_loki_json_shuffle_blocks(
    const uint8_t *base, intptr_t position, intptr_t end, uint8_t *out, intptr_t *count_io) {
    intptr_t count = *count_io;
    while (position + 32 <= end) {
        const __m128i bytes = _mm_loadu_si128((const __m128i *)(base + position));
        const __m128i quotes = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(0x22));
        const __m128i backslash_bytes = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(0x5C));
        const __m128i below_space = _mm_cmplt_epi8(bytes, _mm_set1_epi8(0x20));  // and 0x80 and up
        const uint32_t attention =
            (uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quotes, backslash_bytes), below_space));
        if (attention == 0) {
            _mm_storeu_si128((__m128i *)(out + count), bytes);
            count += 16;
            position += 16;
            continue;
        }
        const uint32_t backslashes = (uint32_t)_mm_movemask_epi8(backslash_bytes);
        const uint32_t quote_or_slash =
            (uint32_t)_mm_movemask_epi8(_mm_or_si128(quotes, _mm_cmpeq_epi8(bytes, _mm_set1_epi8(0x2F))));
        if (!kafka_loki_json_shuffle_takes(attention, backslashes, quote_or_slash)) break;
        const uint32_t low = backslashes & 0xFF;
        const uint32_t high = backslashes >> 8;
        const __m128i control =
            _mm_set_epi64x((long long)(pack_controls[high] | 0x0808080808080808ull), (long long)pack_controls[low]);
        const __m128i packed = _mm_shuffle_epi8(bytes, control);
        _mm_storel_epi64((__m128i *)(out + count), packed);
        count += 8 - __builtin_popcount(low);
        _mm_storel_epi64((__m128i *)(out + count), _mm_unpackhi_epi64(packed, packed));
        count += 8 - __builtin_popcount(high);
        position += 16 - (intptr_t)(backslashes >> 15);
    }
    *count_io = count;
    return position;
}

#else

int kafka_loki_cpu_has_ssse3(void) { return 0; }

intptr_t kafka_loki_json_shuffle_blocks(
    const uint8_t *base, intptr_t position, intptr_t end, uint8_t *out, intptr_t *count) {
    (void)base; (void)end; (void)out; (void)count;
    return position;
}

#endif
