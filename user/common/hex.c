/* hex.c - hex digits, see hex.h. */
#include "common/hex.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

void ecap_hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = 0;
}

int ecap_hex_digit(int c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

int ecap_hex_decode_n(const char *p, size_t len, uint8_t *out, size_t n)
{
	if (len != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = ecap_hex_digit(p[2 * i]), lo = ecap_hex_digit(p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int ecap_hex_decode(const char *text, uint8_t *ret, size_t max)
{
	size_t len;

	while (isspace((unsigned char)*text))
		text++;
	len = strlen(text);
	while (len && isspace((unsigned char)text[len - 1]))
		len--;
	if (!len || len % 2 || len / 2 > max || ecap_hex_decode_n(text, len, ret, len / 2))
		return -EINVAL;
	return (int)(len / 2);
}
