/* hex.h - bytes as lowercase hex digits and back: tokens, secrets, nonces,
 * signatures and tags travel as hex. */
#ifndef ECAP_HEX_H
#define ECAP_HEX_H

#include <stddef.h>
#include <stdint.h>

/* n bytes -> 2n lowercase hex digits and a NUL at out. */
void ecap_hex_encode(const uint8_t *p, size_t n, char *out);

/* A hex digit's value, or -1. */
int ecap_hex_digit(int c);

/* Exactly 2 * n hex digits at p (len of them) -> n bytes: 0 or -EINVAL. */
int ecap_hex_decode_n(const char *p, size_t len, uint8_t *out, size_t n);

/* Hex text (whitespace around it ignored) -> bytes: the count, or -EINVAL. */
int ecap_hex_decode(const char *hex, uint8_t *ret, size_t max);

#endif
