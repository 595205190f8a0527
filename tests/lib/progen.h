/* progen.h - turns arbitrary bytes into classic BPF programs that are mostly
 * valid: opcodes drawn from libpcap's instruction set, short forward jumps,
 * load offsets near real header fields, occasional raw garbage. Used by the
 * fuzzer (bytes from libFuzzer) and by test_xlate (bytes from a PRNG). */
#ifndef ECAP_TEST_PROGEN_H
#define ECAP_TEST_PROGEN_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes 8 bytes per instruction, at most max instructions, and ends the
 * program with RET A. Returns the instruction count. */
uint32_t progen_decode(const uint8_t *data, size_t len, struct sock_filter *out, uint32_t max);

#endif
