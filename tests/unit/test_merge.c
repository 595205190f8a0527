/* test_merge.c - the stream reader (pcapng in both byte orders, classic
 * pcap, pieces of any size, malformed input) and the merger (order, marks,
 * late packets, duplicates across devices, each packet exactly once under
 * stress, memory bound). */
#include <byteswap.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/merge.h"
#include "common/pcapng.h"
#include "common/slab.h"
#include "core/mux.h"
#include "core/pcapng_reader.h"

/* --- reader -------------------------------------------------------------- */

struct seen {
	int sections, ifaces, packets, stats;
	char names[4][SRV_IFNAME_MAX];
	int64_t ts[8];
	uint32_t caplen[8], wirelen[8], flags[8], if_id[8];
	uint8_t first[8];
	uint64_t ifdrop, osdrop;
};

static int on(void *ctx, enum srv_pcapng_event ev, const void *arg)
{
	struct seen *s = ctx;

	switch (ev) {
	case SRV_PCAPNG_SECTION:
		s->sections++;
		break;
	case SRV_PCAPNG_IFACE:
		strcpy(s->names[s->ifaces++ & 3], ((const struct srv_pcapng_iface *)arg)->name);
		break;
	case SRV_PCAPNG_PACKET: {
		const struct srv_pcapng_packet *k = arg;
		int i = s->packets++ & 7;

		s->ts[i] = k->ts;
		s->caplen[i] = k->caplen;
		s->wirelen[i] = k->wirelen;
		s->flags[i] = k->flags;
		s->if_id[i] = k->if_id;
		s->first[i] = k->caplen ? k->data[0] : 0;
		break;
	}
	case SRV_PCAPNG_STATS:
		s->stats++;
		s->ifdrop = ((const struct srv_pcapng_stats *)arg)->ifdrop;
		s->osdrop = ((const struct srv_pcapng_stats *)arg)->osdrop;
		break;
	case SRV_PCAPNG_MARK:
		break;
	}
	return 0;
}

/* A stream like the agent's: SHB, two IDBs, three EPBs, an ISB. */
static void sample(struct ecap_buf *b)
{
	uint8_t pkt[61];

	for (unsigned i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)i;
	ecap_pcapng_shb(b, NULL, NULL, "test");
	ecap_pcapng_idb(b, 1, 262144, "eth0", NULL, 9);
	ecap_pcapng_idb(b, 1, 262144, "eth1", NULL, 9);
	ecap_pcapng_epb(b, 0, 1795000000123456789ull, pkt, 61, 61, 1);
	ecap_pcapng_epb(b, 1, 1795000000223456789ull, pkt + 1, 3, 1500, 2);
	ecap_pcapng_epb_comment(b, 0, 1795000000323456789ull, pkt, 0, 60, 0, "empty");
	ecap_pcapng_isb(b, 1, 1795000001000000000ull,
			&(struct ecap_isb_counts){.ifdrop = 7, .osdrop = 9}, NULL);
}

static void check_sample(const struct seen *s)
{
	assert_int_equal(s->sections, 1);
	assert_int_equal(s->ifaces, 2);
	assert_string_equal(s->names[1], "eth1");
	assert_int_equal(s->packets, 3);
	assert_true(s->ts[0] == 1795000000123456789ll);
	assert_int_equal(s->caplen[1], 3);
	assert_int_equal(s->wirelen[1], 1500);
	assert_int_equal(s->flags[1], 2);
	assert_int_equal(s->if_id[1], 1);
	assert_int_equal(s->first[1], 1);
	assert_int_equal(s->caplen[2], 0);
	assert_int_equal(s->stats, 1);
	assert_int_equal(s->ifdrop, 7);
	assert_int_equal(s->osdrop, 9);
}

static void reads_whole_and_byte_by_byte(void **st)
{
	struct ecap_buf b = {0};
	struct srv_pcapng_reader r;
	struct seen s = {0}, s1 = {0};

	sample(&b);
	srv_pcapng_init(&r, on, &s);
	assert_int_equal(srv_pcapng_feed(&r, b.data, b.len), 0);
	assert_int_equal(srv_pcapng_end(&r), 0);
	srv_pcapng_free(&r);
	check_sample(&s);

	srv_pcapng_init(&r, on, &s1);
	for (size_t i = 0; i < b.len; i++)
		assert_int_equal(srv_pcapng_feed(&r, b.data + i, 1), 0);
	assert_int_equal(srv_pcapng_end(&r), 0);
	srv_pcapng_free(&r);
	check_sample(&s1);
	ecap_buf_free(&b);
}

/* In place, as the server reads a device: the caller's buffer takes each
 * arrival, the reader takes the whole blocks at its start, and the rest waits
 * in the buffer for the next arrival. Arrivals of 1 to 37 bytes. */
static void reads_in_place(void **st)
{
	struct ecap_buf b = {0};
	struct srv_pcapng_reader r;
	struct seen s = {0};
	uint8_t hold[4096];
	size_t have = 0, used, off = 0, step = 1;

	sample(&b);
	srv_pcapng_init(&r, on, &s);
	while (off < b.len) {
		size_t n = b.len - off < step ? b.len - off : step;

		memcpy(hold + have, b.data + off, n);
		have += n;
		off += n;
		step = step % 37 + 1;
		assert_int_equal(srv_pcapng_parse(&r, hold, have, &used), 0);
		assert_true(used <= have);
		memmove(hold, hold + used, have - used);
		have -= used;
	}
	assert_int_equal(have, 0);
	assert_int_equal(srv_pcapng_end(&r), 0);
	srv_pcapng_free(&r);
	check_sample(&s);

	/* a stream that ends inside a block: the caller still holds it */
	memset(&s, 0, sizeof(s));
	srv_pcapng_init(&r, on, &s);
	assert_int_equal(srv_pcapng_parse(&r, b.data, b.len - 5, &used), 0);
	assert_true(used < b.len - 5);
	assert_int_equal(srv_pcapng_end(&r), -EINVAL);
	assert_non_null(strstr(r.err, "inside a block"));
	srv_pcapng_free(&r);
	ecap_buf_free(&b);
}

/* Every 32-bit field of a block swapped (and 16/64-bit ones where known):
 * the big-endian writer's view of the same stream. */
static void swap_block(uint8_t *p)
{
	uint32_t type, len, v;

	memcpy(&type, p, 4);
	memcpy(&len, p + 4, 4);
	for (uint32_t off = 0; off < 8; off += 4) {
		memcpy(&v, p + off, 4);
		v = bswap_32(v);
		memcpy(p + off, &v, 4);
	}
	memcpy(&v, p + len - 4, 4);
	v = bswap_32(v);
	memcpy(p + len - 4, &v, 4);
	if (type == 0x0A0D0D0A) { /* BOM, versions; section length */
		uint16_t h;

		memcpy(&v, p + 8, 4);
		v = bswap_32(v);
		memcpy(p + 8, &v, 4);
		for (int off = 12; off < 16; off += 2) {
			memcpy(&h, p + off, 2);
			h = bswap_16(h);
			memcpy(p + off, &h, 2);
		}
	} else if (type == 1) { /* linktype, reserved, snaplen; options stay: names */
		uint16_t h;

		memcpy(&h, p + 8, 2);
		h = bswap_16(h);
		memcpy(p + 8, &h, 2);
		memcpy(&v, p + 12, 4);
		v = bswap_32(v);
		memcpy(p + 12, &v, 4);
		for (uint32_t o = 16; o + 4 <= len - 4;) { /* option headers */
			uint16_t code, olen;

			memcpy(&code, p + o, 2);
			memcpy(&olen, p + o + 2, 2);
			code = bswap_16(code);
			olen = bswap_16(olen);
			memcpy(p + o, &code, 2);
			memcpy(p + o + 2, &olen, 2);
			if (!code)
				break;
			o += 4 + ((bswap_16(olen) + 3u) & ~3u);
		}
	} else if (type == 6) { /* if, ts, caplen, wirelen; no options in this one */
		for (uint32_t off = 8; off < 28; off += 4) {
			memcpy(&v, p + off, 4);
			v = bswap_32(v);
			memcpy(p + off, &v, 4);
		}
	}
}

static void reads_the_other_byte_order(void **st)
{
	struct ecap_buf b = {0};
	struct srv_pcapng_reader r;
	struct seen s = {0};
	uint8_t pkt[4] = {9, 8, 7, 6};

	ecap_pcapng_shb(&b, NULL, NULL, NULL);
	ecap_pcapng_idb(&b, 1, 65535, "wan", NULL, 6); /* microseconds */
	ecap_pcapng_epb(&b, 0, 1795000000123456ull, pkt, 4, 4, 0);
	for (size_t off = 0; off < b.len;) {
		uint32_t len;

		memcpy(&len, b.data + off + 4, 4);
		swap_block(b.data + off);
		off += len;
	}
	srv_pcapng_init(&r, on, &s);
	assert_int_equal(srv_pcapng_feed(&r, b.data, b.len), 0);
	srv_pcapng_free(&r);
	assert_int_equal(s.packets, 1);
	assert_string_equal(s.names[0], "wan");
	assert_true(s.ts[0] == 1795000000123456000ll);
	assert_int_equal(s.first[0], 9);
	ecap_buf_free(&b);
}

static void reads_classic_pcap(void **st)
{
	struct ecap_buf b = {0};
	struct srv_pcapng_reader r;
	struct seen s = {0};
	uint8_t pkt[5] = {1, 2, 3, 4, 5};

	ecap_pcap_header(&b, 1, 96);
	ecap_pcap_record(&b, 1795000000987654321ull, pkt, 5, 70);
	srv_pcapng_init(&r, on, &s);
	assert_int_equal(srv_pcapng_feed(&r, b.data, 7), 0); /* split inside the header */
	assert_int_equal(srv_pcapng_feed(&r, b.data + 7, b.len - 7), 0);
	assert_int_equal(srv_pcapng_end(&r), 0);
	srv_pcapng_free(&r);
	assert_int_equal(s.ifaces, 1);
	assert_int_equal(s.packets, 1);
	assert_true(s.ts[0] == 1795000000987654321ll);
	assert_int_equal(s.wirelen[0], 70);
	ecap_buf_free(&b);
}

/* A stream fed in chunks that cut its blocks anywhere: every packet once,
 * in order, and the reader keeps no more than a block or so (it reads the
 * rest of a chunk in place, not through its carry buffer). */
static void chunked_stream_is_read_in_place(void **st)
{
	static const size_t chunks[] = {1, 7, 100, 1499, 1500, 1531, 4096, 65536};
	struct ecap_buf b = {0};
	uint8_t pkt[1514];

	ecap_pcapng_shb(&b, NULL, NULL, NULL);
	ecap_pcapng_idb(&b, 1, 65535, "wan", NULL, 9);
	for (int i = 0; i < 200; i++) {
		uint32_t len = 60 + (uint32_t)(i * 37) % 1455;

		memset(pkt, i, len);
		ecap_pcapng_epb(&b, 0, 1795000000000000000ull + (uint64_t)i, pkt, len, len, 0);
	}
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct srv_pcapng_reader r;
		struct seen s = {0};

		srv_pcapng_init(&r, on, &s);
		for (size_t off = 0; off < b.len; off += chunks[c]) {
			size_t n = b.len - off < chunks[c] ? b.len - off : chunks[c];

			assert_int_equal(srv_pcapng_feed(&r, b.data + off, n), 0);
			assert_true(r.carry.cap <= 4096);
		}
		assert_int_equal(srv_pcapng_end(&r), 0);
		assert_int_equal(s.packets, 200);
		assert_true(s.ts[199 & 7] == 1795000000000000199ll);
		assert_int_equal(s.first[199 & 7], 199);
		assert_int_equal(s.caplen[199 & 7], 60 + (199 * 37) % 1455);
		srv_pcapng_free(&r);
	}
	ecap_buf_free(&b);
}

static int corrupt(size_t at, uint32_t value, const char *want)
{
	struct ecap_buf b = {0};
	struct srv_pcapng_reader r;
	struct seen s = {0};
	int e;

	sample(&b);
	memcpy(b.data + at, &value, 4);
	srv_pcapng_init(&r, on, &s);
	e = srv_pcapng_feed(&r, b.data, b.len);
	if (e == -EINVAL && !strstr(r.err, want))
		e = -1;
	srv_pcapng_free(&r);
	ecap_buf_free(&b);
	return e;
}

static void refuses_malformed_streams(void **st)
{
	/* offsets in sample(): SHB 0..39 (userappl "test"), IDB 1 at 40 */
	assert_int_equal(corrupt(0, 0x12345678, "neither pcapng nor pcap"), -EINVAL);
	assert_int_equal(corrupt(8, 0x11111111, "byte-order magic"), -EINVAL);
	assert_int_equal(corrupt(4, 13, "bad block length"), -EINVAL);
	assert_int_equal(corrupt(4, 64u << 20, "bad block length"), -EINVAL);
	assert_int_equal(corrupt(44, 36, "trailing length"), -EINVAL);
}

static void refuses_packet_overrun_and_unknown_iface(void **st)
{
	struct ecap_buf b = {0};
	struct srv_pcapng_reader r;
	struct seen s = {0};
	uint8_t pkt[8] = {0};
	size_t epb;

	ecap_pcapng_shb(&b, NULL, NULL, NULL);
	ecap_pcapng_idb(&b, 1, 65535, NULL, NULL, 9);
	epb = b.len;
	ecap_pcapng_epb(&b, 0, 1, pkt, 8, 8, 0);
	memcpy(b.data + epb + 20, &(uint32_t){1000}, 4); /* caplen past the block */
	srv_pcapng_init(&r, on, &s);
	assert_int_equal(srv_pcapng_feed(&r, b.data, b.len), -EINVAL);
	assert_non_null(strstr(r.err, "overruns"));
	assert_int_equal(srv_pcapng_feed(&r, b.data, 1), -EINVAL); /* done after an error */
	srv_pcapng_free(&r);

	memcpy(b.data + epb + 20, &(uint32_t){8}, 4);
	memcpy(b.data + epb + 8, &(uint32_t){3}, 4); /* interface 3 of 1 */
	srv_pcapng_init(&r, on, &s);
	assert_int_equal(srv_pcapng_feed(&r, b.data, b.len), -EINVAL);
	assert_non_null(strstr(r.err, "undescribed interface"));
	srv_pcapng_free(&r);

	srv_pcapng_init(&r, on, &s); /* cut short */
	assert_int_equal(srv_pcapng_feed(&r, b.data, b.len - 3), 0);
	assert_int_equal(srv_pcapng_end(&r), -EINVAL);
	srv_pcapng_free(&r);
	ecap_buf_free(&b);
}

/* A device's stream past its bounds fails the device, with the reason;
 * a block is refused as soon as its header says it is too large. */
static void bounded_streams(void **st)
{
	struct srv_mux *x = srv_mux_new(NULL, "test");
	struct ecap_buf b = {0};
	char name[16];
	int in;

	assert_non_null(x);
	in = srv_mux_add(x, "two-sections");
	srv_mux_bound(x, (unsigned)in, 0, 0, 1);
	ecap_pcapng_shb(&b, NULL, NULL, NULL);
	ecap_pcapng_idb(&b, 1, 65535, "eth0", NULL, 9);
	ecap_pcapng_shb(&b, NULL, NULL, NULL);
	assert_int_equal(srv_mux_feed(x, (unsigned)in, b.data, b.len), -EINVAL);
	assert_non_null(strstr(srv_mux_error(x, (unsigned)in), "more than 1 sections"));

	ecap_buf_reset(&b);
	in = srv_mux_add(x, "many-interfaces");
	srv_mux_bound(x, (unsigned)in, 0, 32, 0);
	ecap_pcapng_shb(&b, NULL, NULL, NULL);
	for (int i = 0; i < 32; i++) {
		snprintf(name, sizeof(name), "if%d", i);
		ecap_pcapng_idb(&b, 1, 65535, name, NULL, 9);
	}
	assert_int_equal(srv_mux_feed(x, (unsigned)in, b.data, b.len), 0); /* 32: fine */
	ecap_buf_reset(&b);
	ecap_pcapng_idb(&b, 1, 65535, "if32", NULL, 9);
	assert_int_equal(srv_mux_feed(x, (unsigned)in, b.data, b.len), -EINVAL);
	assert_non_null(strstr(srv_mux_error(x, (unsigned)in), "more than 32 interfaces"));

	ecap_buf_reset(&b);
	in = srv_mux_add(x, "huge-block");
	srv_mux_bound(x, (unsigned)in, 65536, 0, 0);
	ecap_pcapng_shb(&b, NULL, NULL, NULL);
	ecap_pcapng_idb(&b, 1, 65535, "eth0", NULL, 9);
	/* an EPB's header claiming 1 MiB: refused before the rest comes */
	ecap_buf_put(&b, (const uint8_t *)&(uint32_t){6}, 4);
	ecap_buf_put(&b, (const uint8_t *)&(uint32_t){1u << 20}, 4);
	ecap_buf_put(&b, (const uint8_t *)&(uint32_t){0}, 4);
	assert_int_equal(srv_mux_feed(x, (unsigned)in, b.data, b.len), -EINVAL);
	assert_non_null(
	    strstr(srv_mux_error(x, (unsigned)in),
		   "a block of 1048576 bytes, more than the 65536 this stream may send"));

	ecap_buf_reset(&b); /* within its bounds, a stream goes on */
	in = srv_mux_add(x, "fine");
	srv_mux_bound(x, (unsigned)in, 65536, 2, 1);
	ecap_pcapng_shb(&b, NULL, NULL, NULL);
	ecap_pcapng_idb(&b, 1, 65535, "eth0", NULL, 9);
	ecap_pcapng_idb(&b, 1, 65535, "eth0", NULL, 9);
	ecap_pcapng_epb(&b, 1, 1, name, 8, 8, 0);
	assert_int_equal(srv_mux_feed(x, (unsigned)in, b.data, b.len), 0);
	assert_null(srv_mux_error(x, (unsigned)in));
	ecap_buf_free(&b);
	srv_mux_free(x);
}

/* --- merger -------------------------------------------------------------- */

struct out {
	int n;
	int64_t ts[64];
	uint32_t input[64];
	uint8_t late[64];
};

static void emit(void *ctx, const struct srv_merge_pkt *p)
{
	struct out *o = ctx;

	if (o->n < 64) {
		o->ts[o->n] = p->ts;
		o->input[o->n] = p->input;
		o->late[o->n] = p->late;
	}
	o->n++;
}

/* An Ethernet + IPv4 + UDP frame with the given TTL, optional VLAN tag and
 * payload byte. */
static uint32_t frame(uint8_t *f, uint8_t ttl, int vlan, uint8_t payload)
{
	uint32_t off = 12;

	memset(f, 0, 64);
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	if (vlan) {
		memcpy(f + off, "\x81\x00\x00\x07", 4);
		off += 4;
	}
	memcpy(f + off, "\x08\x00", 2);
	off += 2;
	f[off] = 0x45;
	f[off + 3] = 29;
	f[off + 8] = ttl;
	f[off + 9] = 17;
	f[off + 10] = ttl; /* a checksum that differs with the TTL */
	f[off + 28] = payload;
	return off + 29;
}

static void push(struct srv_merge *m, unsigned in, int64_t ts, uint8_t ttl, int vlan, uint8_t pl)
{
	uint8_t f[64];
	uint32_t n = frame(f, ttl, vlan, pl);

	assert_int_equal(srv_merge_push(m, in, ts, 0, 1, 0, f, n, n), 0);
}

/* f with another payload byte, for a packet of its own. */
static const uint8_t *frame_with(uint8_t *f, uint8_t payload)
{
	frame(f, 64, 0, payload);
	return f;
}

/* With de-duplication on, packets pass a short FIFO (prefetching their keys'
 * slots) first: a run still sends everything it may before it returns. */
static void in_order_by_marks(int64_t dedup_ns)
{
	struct out o = {0};
	struct srv_merge *m =
	    srv_merge_new(&(struct srv_merge_opts){.slack_ns = 1, .dedup_ns = dedup_ns}, emit, &o);
	int a = srv_merge_add_input(m), b = srv_merge_add_input(m);
	struct srv_merge_stats s;

	push(m, a, 10, 64, 0, 1);
	push(m, a, 30, 64, 0, 2);
	push(m, a, 20, 64, 0, 3); /* a's own disorder: sorted in */
	srv_merge_run(m, INT64_MIN);
	assert_int_equal(o.n, 0); /* b has shown nothing: everything waits */
	push(m, b, 15, 64, 0, 4);
	srv_merge_run(m, INT64_MIN);
	assert_int_equal(o.n, 1); /* up to 15 - slack: only 10 */
	push(m, b, 40, 64, 0, 5);
	srv_merge_run(m, INT64_MIN);
	assert_int_equal(o.n, 3); /* up to 30 - slack: 15 20 */
	srv_merge_close_input(m, a);
	srv_merge_run(m, INT64_MIN);
	assert_int_equal(o.n, 4); /* a holds nothing back: up to 39 */
	push(m, b, 25, 64, 0, 6); /* older than 30, already sent */
	srv_merge_flush(m);
	assert_int_equal(o.n, 6);
	assert_true(o.ts[0] == 10 && o.ts[1] == 15 && o.ts[2] == 20 && o.ts[3] == 30 &&
		    o.ts[4] == 25 && o.ts[5] == 40);
	assert_true(o.late[4] && !o.late[5]);
	srv_merge_stats(m, &s);
	assert_int_equal(s.merged, 6);
	assert_int_equal(s.late, 1);
	srv_merge_free(m);
}

static void merges_in_order_by_marks(void **st)
{
	in_order_by_marks(-1);
	in_order_by_marks(1000);
}

static void silent_input_holds_back_only_the_window(void **st)
{
	struct out o = {0};
	struct srv_merge *m = srv_merge_new(
	    &(struct srv_merge_opts){.window_ns = 100, .slack_ns = 1, .dedup_ns = -1}, emit, &o);
	int a = srv_merge_add_input(m);

	srv_merge_add_input(m); /* never sends */
	push(m, a, 1000, 64, 0, 1);
	srv_merge_run(m, 1050);
	assert_int_equal(o.n, 0);
	srv_merge_run(m, 1101 + 1);
	assert_int_equal(o.n, 1);
	srv_merge_free(m);
}

/* An input whose packets are older than the window is not silent while it
 * is heard from (its data waited in socket buffers): the others wait for
 * it, and none of its packets is late. Once not heard from for the window,
 * it holds them back for the window only. */
static void heard_input_is_not_silent(void **st)
{
	struct out o = {0};
	struct srv_merge *m = srv_merge_new(
	    &(struct srv_merge_opts){.window_ns = 100, .slack_ns = 1, .dedup_ns = -1}, emit, &o);
	int a = srv_merge_add_input(m), b = srv_merge_add_input(m);
	struct srv_merge_stats s;

	push(m, a, 1000, 64, 0, 1); /* a streams as it happens */
	push(m, b, 500, 64, 0, 2);  /* b's packets come 400-500 behind */
	push(m, b, 600, 64, 0, 3);
	srv_merge_heard(m, b, 1000);
	srv_merge_run(m, 1000);
	assert_int_equal(o.n, 1); /* b's, up to its mark less the slack */
	srv_merge_heard(m, b, 1150);
	srv_merge_run(m, 1200);
	assert_int_equal(o.n, 1); /* b heard within the window: a's 1000 waits */
	push(m, b, 900, 64, 0, 4);
	srv_merge_heard(m, b, 1190);
	srv_merge_run(m, 1200);
	assert_int_equal(o.n, 2);
	srv_merge_run(m, 1300); /* b not heard from since 1190: silent */
	assert_int_equal(o.n, 4);
	srv_merge_stats(m, &s);
	assert_int_equal(s.late, 0);
	assert_true(o.ts[0] == 500 && o.ts[1] == 600 && o.ts[2] == 900 && o.ts[3] == 1000);
	srv_merge_free(m);
}

/* A squeezed input (its reader has no room left) cannot show a later mark
 * until some of its packets go: its own slack holds none back, the others'
 * marks still do; what goes sooner than the slack allows counts as
 * forced. */
static void squeezed_input_lets_its_slack_go(void **st)
{
	struct out o = {0};
	struct srv_merge *m =
	    srv_merge_new(&(struct srv_merge_opts){.slack_ns = 100, .dedup_ns = -1}, emit, &o);
	int a = srv_merge_add_input(m), b = srv_merge_add_input(m);
	struct srv_merge_stats s;

	for (int i = 0; i < 5; i++)
		push(m, a, 1000 + 10 * i, 64, 0, (uint8_t)i); /* 1000..1040, within a's slack */
	push(m, b, 1200, 64, 0, 9);
	srv_merge_run(m, INT64_MIN);
	assert_int_equal(o.n, 0); /* up to 1040 - 100 */
	srv_merge_squeeze(m, a, 1);
	srv_merge_run(m, INT64_MIN);
	assert_int_equal(o.n, 5); /* up to 1040, as b's 1200 - 100 allows */
	srv_merge_squeeze(m, a, 0);
	push(m, a, 1250, 64, 0, 5);
	srv_merge_run(m, INT64_MIN);
	assert_int_equal(o.n, 5); /* b's 1200 waits for a's slack again */
	srv_merge_stats(m, &s);
	assert_int_equal(s.forced, 5);
	assert_int_equal(s.late, 0);
	srv_merge_free(m);
}

static void duplicates_across_devices_only(void **st)
{
	struct out o = {0};
	struct srv_merge *m =
	    srv_merge_new(&(struct srv_merge_opts){.slack_ns = 1, .dedup_ns = 1000}, emit, &o);
	int a = srv_merge_add_input(m), b = srv_merge_add_input(m);
	struct srv_merge_stats s;
	uint64_t pushed, dups;

	push(m, a, 100, 64, 0, 1);
	push(m, b, 105, 63, 1, 1); /* one hop on, with a VLAN tag: the same packet */
	push(m, a, 200, 64, 0, 2);
	push(m, a, 210, 63, 0, 2);  /* the same device again (routed): kept */
	push(m, b, 5000, 64, 0, 2); /* outside the window: kept */
	push(m, b, 300, 64, 0, 3);  /* another payload: kept */
	srv_merge_close_input(m, a);
	srv_merge_close_input(m, b);
	srv_merge_run(m, INT64_MIN);
	srv_merge_stats(m, &s);
	assert_int_equal(s.duplicates, 1);
	assert_int_equal(s.merged, 5);
	assert_int_equal(o.n, 5);
	srv_merge_input_stats(m, b, &pushed, &dups);
	assert_int_equal(pushed, 3);
	assert_int_equal(dups, 1);
	srv_merge_free(m);
}

/* frame's packet behind a cooked header (LINUX_SLL2: 20 bytes, or SLL: 16)
 * that names the interface and direction. */
static uint32_t cooked(uint8_t *f, int v1, int ifindex, uint8_t pkttype, uint8_t ttl,
		       uint8_t payload)
{
	uint8_t e[64];
	uint32_t n = frame(e, ttl, 0, payload) - 14, hl = v1 ? 16 : 20;

	memset(f, 0, hl);
	f[v1 ? 14 : 0] = 0x08; /* the protocol: IPv4 */
	if (v1) {
		f[1] = pkttype;
	} else {
		f[7] = (uint8_t)ifindex;
		f[10] = pkttype;
	}
	memcpy(f + hl, e + 14, n);
	return hl + n;
}

/* The same packet from two devices' -i any (their cooked headers differ)
 * and from an Ethernet interface: one copy kept. */
static void cooked_duplicates_ignore_the_header(void **st)
{
	struct out o = {0};
	struct srv_merge *m =
	    srv_merge_new(&(struct srv_merge_opts){.slack_ns = 1, .dedup_ns = 1000}, emit, &o);
	int a = srv_merge_add_input(m), b = srv_merge_add_input(m), c = srv_merge_add_input(m);
	struct srv_merge_stats s;
	uint8_t f[96];
	uint32_t n;

	n = cooked(f, 0, 3, 4 /* outgoing */, 64, 1);
	assert_int_equal(srv_merge_push(m, a, 100, 0, 276, 0, f, n, n), 0);
	n = cooked(f, 0, 7, 0 /* to us */, 63, 1);
	assert_int_equal(srv_merge_push(m, b, 101, 0, 276, 0, f, n, n), 0);
	n = cooked(f, 1, 0, 0, 62, 1);
	assert_int_equal(srv_merge_push(m, c, 102, 0, 113, 0, f, n, n), 0);
	push(m, c, 103, 61, 0, 1);     /* Ethernet */
	n = cooked(f, 0, 3, 4, 64, 2); /* another payload: kept */
	assert_int_equal(srv_merge_push(m, b, 104, 0, 276, 0, f, n, n), 0);
	srv_merge_close_input(m, a);
	srv_merge_close_input(m, b);
	srv_merge_close_input(m, c);
	srv_merge_run(m, INT64_MIN);
	srv_merge_stats(m, &s);
	assert_int_equal(s.duplicates, 3);
	assert_int_equal(o.n, 2);
	srv_merge_free(m);
}

/* Not IP: the same ARP frame by Ethernet and by -i any is one packet; the
 * same bytes under another type are another. */
static void non_ip_duplicates_by_type_and_payload(void **st)
{
	struct out o = {0};
	struct srv_merge *m =
	    srv_merge_new(&(struct srv_merge_opts){.slack_ns = 1, .dedup_ns = 1000}, emit, &o);
	int a = srv_merge_add_input(m), b = srv_merge_add_input(m);
	uint8_t e[42] = {0}, c[48] = {0};
	struct srv_merge_stats s;

	memcpy(e, "\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x01\x08\x06", 14);
	memset(e + 14, 0x5a, 28);
	c[0] = 0x08, c[1] = 0x06, c[7] = 3, c[10] = 1; /* SLL2: ARP, ifindex 3, broadcast */
	memcpy(c + 20, e + 14, 28);
	assert_int_equal(srv_merge_push(m, a, 100, 0, 1, 0, e, 42, 42), 0);
	assert_int_equal(srv_merge_push(m, b, 101, 0, 276, 0, c, 48, 48), 0);
	c[1] = 0x35; /* RARP: the same bytes, another packet */
	assert_int_equal(srv_merge_push(m, b, 102, 0, 276, 0, c, 48, 48), 0);
	srv_merge_close_input(m, a);
	srv_merge_close_input(m, b);
	srv_merge_run(m, INT64_MIN);
	srv_merge_stats(m, &s);
	assert_int_equal(s.duplicates, 1);
	assert_int_equal(o.n, 2);
	srv_merge_free(m);
}

static void many_keys_expire_and_grow(void **st)
{
	struct out o = {0};
	struct srv_merge *m =
	    srv_merge_new(&(struct srv_merge_opts){.slack_ns = 1, .dedup_ns = 50000}, emit, &o);
	int a = srv_merge_add_input(m), b = srv_merge_add_input(m);
	struct srv_merge_stats s;

	/* 20000 distinct packets, each seen by both within 10 ns: the key table
	 * grows past its first size and expires keys as time passes */
	for (int i = 0; i < 20000; i++) {
		uint8_t f[64];
		uint32_t n = frame(f, 64, 0, 0);

		memcpy(f + n - 4, &i, 4);
		assert_int_equal(srv_merge_push(m, a, i * 100ll, 0, 1, 0, f, n, n), 0);
		f[22] = 10; /* TTL */
		assert_int_equal(srv_merge_push(m, b, i * 100ll + 10, 0, 1, 0, f, n, n), 0);
		srv_merge_run(m, INT64_MIN);
	}
	srv_merge_flush(m);
	srv_merge_stats(m, &s);
	assert_int_equal(s.merged, 20000);
	assert_int_equal(s.duplicates, 20000);
	srv_merge_free(m);
}

/* --- duplicates under stress ----------------------------------------------
 *
 * Every packet seen by every input, the copies' timestamps jittered around
 * each other (many packets at one instant), the inputs' streams pushed in
 * chunks of any size with runs between, each input a little out of order
 * within the slack: exactly one copy of each packet goes out. Small windows
 * expire keys all the time (the key ring wraps many times); wide ones hold
 * many keys at once (the table grows, long probe chains). */

struct stress_pkt {
	int64_t ts;
	uint32_t id;
};

struct stress_out {
	uint32_t n;	       /* packets */
	uint8_t *seen;	       /* per id: copies emitted */
	uint64_t emitted;      /* every emit */
	uint64_t dropped;      /* drop callbacks (by reference) */
	uint64_t bad;	       /* an emit whose bytes are not a packet of ours */
	int64_t last;	       /* the latest timestamp emitted */
	uint64_t out_of_order; /* emitted before an earlier one, not flagged late */
};

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* The id from a stress frame: after Ethernet (and a VLAN tag), IPv4, UDP. */
static int stress_id(const struct srv_merge_pkt *p, uint32_t *ret)
{
	uint32_t off = p->caplen == 14 + 4 + 20 + 8 + 8 ? 18 : 14;

	if (p->caplen < off + 20 + 8 + 8)
		return -1;
	memcpy(ret, p->data + off + 28, 4);
	return 0;
}

static void stress_emit(void *ctx, const struct srv_merge_pkt *p)
{
	struct stress_out *o = ctx;
	uint32_t id;

	o->emitted++;
	if (stress_id(p, &id) || id >= o->n) {
		o->bad++;
		return;
	}
	o->seen[id]++;
	if (p->ts < o->last && !p->late)
		o->out_of_order++;
	if (p->ts > o->last)
		o->last = p->ts;
}

static void stress_drop(void *ctx, const struct srv_merge_pkt *p)
{
	((struct stress_out *)ctx)->dropped++;
}

/* Packet id as input `in` sees it: one hop further on for each input (TTL
 * and checksum differ), input 1's behind a VLAN tag. 8 bytes of payload:
 * the id and a word of it mixed. */
static uint32_t stress_frame(uint8_t *f, unsigned in, uint32_t id)
{
	uint32_t off = in == 1 ? 18 : 14, mix = id * 2654435761u;

	memset(f, 0, 64);
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	if (in == 1)
		memcpy(f + 12, "\x81\x00\x00\x07", 4);
	memcpy(f + off - 2, "\x08\x00", 2);
	f[off] = 0x45;
	f[off + 3] = 36;
	f[off + 8] = (uint8_t)(64 - in);
	f[off + 9] = 17;
	f[off + 10] = (uint8_t)(0x30 + in); /* the checksum follows the TTL */
	f[off + 11] = (uint8_t)id;
	memcpy(f + off + 12, "\x0a\x62\x00\x02\x0a\x62\x00\x01", 8);
	memcpy(f + off + 20, "\x13\x89\x13\x89\x00\x10\x00\x00", 8);
	memcpy(f + off + 28, &id, 4);
	memcpy(f + off + 32, &mix, 4);
	return off + 36;
}

static int stress_by_ts(const void *a, const void *b)
{
	const struct stress_pkt *x = a, *y = b;

	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

struct stress_case {
	uint64_t seed;
	unsigned inputs;
	uint32_t packets;
	int64_t step_ns;   /* mean distance between packets (0 to twice this) */
	int64_t jitter_ns; /* a copy's timestamp: the packet's, +- this */
	int64_t dedup_ns;
	int64_t slack_ns;
	size_t max_bytes; /* 0: the default */
	int by_ref;
};

static void stress(const struct stress_case *c)
{
	struct stress_out o = {.n = c->packets, .last = INT64_MIN};
	struct srv_merge *m = srv_merge_new(&(struct srv_merge_opts){.slack_ns = c->slack_ns,
								     .dedup_ns = c->dedup_ns,
								     .max_bytes = c->max_bytes},
					    stress_emit, &o);
	struct stress_pkt *s[4];
	uint8_t *arena[4]; /* by reference: each input's frames, 64 bytes each */
	uint32_t at[4] = {0};
	uint64_t x = c->seed, pushed = 0;
	int64_t t = 1795000000000000000ll;
	struct srv_merge_stats st;
	unsigned open = c->inputs;

	assert_non_null(m);
	assert_true(c->inputs <= 4);
	srv_merge_on_drop(m, stress_drop);
	o.seen = calloc(c->packets, 1);
	assert_non_null(o.seen);
	for (unsigned i = 0; i < c->inputs; i++) {
		assert_int_equal(srv_merge_add_input(m), (int)i);
		s[i] = malloc(c->packets * sizeof(*s[i]));
		arena[i] = c->by_ref ? malloc(c->packets * 64ull) : NULL;
		assert_non_null(s[i]);
	}
	for (uint32_t id = 0; id < c->packets; id++) {
		/* a quarter of them at the instant of the one before */
		if (rnd(&x) % 4)
			t += (int64_t)(rnd(&x) % (uint64_t)(2 * c->step_ns + 1));
		for (unsigned i = 0; i < c->inputs; i++) {
			int64_t j =
			    (int64_t)(rnd(&x) % (uint64_t)(2 * c->jitter_ns + 1)) - c->jitter_ns;

			s[i][id] = (struct stress_pkt){.ts = t + j, .id = id};
		}
	}
	for (unsigned i = 0; i < c->inputs; i++) {
		qsort(s[i], c->packets, sizeof(*s[i]), stress_by_ts);
		/* a device's own disorder, within the slack: neighbours swapped */
		for (uint32_t k = 1; k < c->packets; k++)
			if (rnd(&x) % 8 == 0 && s[i][k].ts - s[i][k - 1].ts < c->slack_ns) {
				struct stress_pkt tmp = s[i][k];

				s[i][k] = s[i][k - 1];
				s[i][k - 1] = tmp;
			}
	}
	while (open) {
		unsigned i = (unsigned)(rnd(&x) % c->inputs);
		uint32_t chunk = 1 + (uint32_t)(rnd(&x) % 64);

		if (at[i] == c->packets)
			continue;
		for (; chunk && at[i] < c->packets; chunk--, at[i]++) {
			const struct stress_pkt *p = &s[i][at[i]];
			uint8_t f[64], *d = arena[i] ? arena[i] + 64ull * at[i] : f;
			uint32_t n = stress_frame(d, i, p->id);

			if (c->by_ref)
				assert_int_equal(
				    srv_merge_push_ref(m, i, p->ts, i, 1, 0, d, n, n, d, 0), 0);
			else
				assert_int_equal(srv_merge_push(m, i, p->ts, i, 1, 0, d, n, n), 0);
			pushed++;
		}
		if (at[i] == c->packets) {
			srv_merge_close_input(m, i);
			open--;
		}
		srv_merge_run(m, INT64_MIN);
	}
	srv_merge_flush(m);
	srv_merge_stats(m, &st);
	for (uint32_t id = 0; id < c->packets; id++)
		if (o.seen[id] != 1)
			fail_msg("seed %llu: packet %u went out %u times (%llu merged, %llu "
				 "duplicates)",
				 (unsigned long long)c->seed, id, o.seen[id],
				 (unsigned long long)st.merged, (unsigned long long)st.duplicates);
	assert_int_equal(o.bad, 0);
	assert_int_equal(o.emitted, c->packets);
	assert_int_equal(st.merged, c->packets);
	assert_int_equal(st.duplicates, pushed - c->packets);
	assert_int_equal(o.out_of_order, 0);
	if (!c->max_bytes)
		assert_int_equal(st.late, 0);
	assert_int_equal(o.dropped, c->by_ref ? st.duplicates : 0);
	srv_merge_free(m);
	for (unsigned i = 0; i < c->inputs; i++) {
		free(s[i]);
		free(arena[i]);
	}
	free(o.seen);
}

static void duplicates_removed_exactly_under_stress(void **st)
{
	for (uint64_t seed = 1; seed <= 6; seed++) {
		/* keys expire all the time: the ring wraps again and again */
		stress(&(struct stress_case){.seed = seed,
					     .inputs = 2,
					     .packets = 60000,
					     .step_ns = 1000,
					     .jitter_ns = 20000,
					     .dedup_ns = 50000,
					     .slack_ns = 100000,
					     .by_ref = seed % 2});
		/* a wide window: tens of thousands of keys at once */
		stress(&(struct stress_case){.seed = seed * 7919,
					     .inputs = 2 + (unsigned)(seed % 3),
					     .packets = 40000,
					     .step_ns = 200,
					     .jitter_ns = 3000,
					     .dedup_ns = 100000000,
					     .slack_ns = 2000000,
					     .by_ref = seed % 2 == 0});
		/* some 3500 keys at once, near half the table: long clusters, across its
		 * end too, taken apart from the front as keys expire */
		stress(&(struct stress_case){.seed = seed * 65537,
					     .inputs = 2,
					     .packets = 150000,
					     .step_ns = 100,
					     .jitter_ns = 50000,
					     .dedup_ns = 250000,
					     .slack_ns = 200000,
					     .by_ref = seed % 2});
		/* copies within a nanosecond or two, packets at one instant */
		stress(&(struct stress_case){.seed = seed * 104729,
					     .inputs = 2,
					     .packets = 30000,
					     .step_ns = 1,
					     .jitter_ns = 1,
					     .dedup_ns = 4,
					     .slack_ns = 8});
		/* memory bound: packets go before the others catch up */
		stress(&(struct stress_case){.seed = seed * 15485863,
					     .inputs = 3,
					     .packets = 30000,
					     .step_ns = 500,
					     .jitter_ns = 2000,
					     .dedup_ns = 100000000,
					     .slack_ns = 2000000,
					     .max_bytes = 4096,
					     .by_ref = seed % 2});
	}
}

static void memory_bound_forces_output(void **st)
{
	struct out o = {0};
	struct srv_merge *m =
	    srv_merge_new(&(struct srv_merge_opts){.dedup_ns = -1, .max_bytes = 100}, emit, &o);
	int a = srv_merge_add_input(m);
	struct srv_merge_stats s;

	srv_merge_add_input(m); /* silent, never closed */
	for (int i = 0; i < 10; i++)
		push(m, a, i, 64, 0, (uint8_t)i); /* 47 bytes each */
	srv_merge_run(m, INT64_MIN);
	srv_merge_stats(m, &s);
	assert_int_equal(o.n, 8); /* until 2 remain: 94 bytes */
	assert_int_equal(s.forced, 8);
	srv_merge_free(m);
}

/* --- mux by reference ---------------------------------------------------- */

/* Two devices' streams, a's in two parts: a's packets as the agent writes
 * them, one with a comment (written anew), one that comes late (its
 * comment added), one a duplicate of b's; b's first interface in
 * microseconds (written anew), its second in nanoseconds (passed on,
 * renumbered). */
static void two_streams(struct ecap_buf *a1, struct ecap_buf *a2, struct ecap_buf *b)
{
	uint8_t f[64], g[64];
	uint32_t n = frame(f, 64, 0, 1), k = frame(g, 64, 0, 2);
	const uint64_t t = 1795000000000000000ull;

	ecap_pcapng_shb(a1, NULL, NULL, "a");
	ecap_pcapng_idb(a1, 1, 262144, "eth0", NULL, 9);
	ecap_pcapng_epb(a1, 0, t + 1000000, f, n, n, 1);
	ecap_pcapng_epb(a1, 0, t + 2000000, frame_with(f, 3), n - 1, n, 0);
	ecap_pcapng_epb_comment(a1, 0, t + 3000000, frame_with(f, 4), n, n, 2, "note");
	ecap_pcapng_epb(a1, 0, t + 30000000, g, k, k, 1); /* b's too */
	ecap_pcapng_epb(a2, 0, t + 2200000, frame_with(f, 5), n, n, 1);
	ecap_pcapng_isb(a2, 0, t + 40000000, &(struct ecap_isb_counts){.ifrecv = 5}, NULL);
	ecap_pcapng_shb(b, NULL, NULL, "b");
	ecap_pcapng_idb(b, 1, 262144, "wan", NULL, 6);
	ecap_pcapng_idb(b, 1, 262144, "lan", NULL, 9);
	ecap_pcapng_epb(b, 0, (t + 1500000) / 1000, frame_with(f, 6), n, n, 1);
	ecap_pcapng_epb(b, 1, t + 2500000, frame_with(f, 7), n - 2, n, 2);
	ecap_pcapng_epb(b, 1, t + 30000001, g, k, k, 1); /* a duplicate of a's */
	ecap_pcapng_epb(b, 1, t + 35000000, frame_with(f, 8), n, n, 0);
	ecap_pcapng_isb(b, 1, t + 40000000, &(struct ecap_isb_counts){.ifrecv = 4}, NULL);
}

/* Bytes of buf into a slab of pool (NULL: none). */
static struct ecap_slab *slab_of(struct ecap_slab_pool *pool, const struct ecap_buf *buf)
{
	struct ecap_slab *s;

	if (!pool)
		return NULL;
	s = ecap_slab_get(pool, buf->len);
	assert_non_null(s);
	memcpy(s->data, buf->data, buf->len);
	return s;
}

/* Feed one part: copied, or from a slab by reference (then let go: its
 * packets hold their own references). */
static void mux_part(struct srv_mux *x, unsigned in, struct ecap_slab_pool *pool,
		     const struct ecap_buf *buf)
{
	struct ecap_slab *s = slab_of(pool, buf);

	if (!s) {
		assert_int_equal(srv_mux_feed(x, in, buf->data, buf->len), 0);
		return;
	}
	assert_int_equal(srv_mux_take_slab(x, in, s, s->data, buf->len), (long)buf->len);
	ecap_slab_unref(s);
}

/* Merge a and b (a2 once what a1 and b allow is out): the output. */
static void mux_run(struct ecap_slab_pool *pool, struct ecap_buf *ret)
{
	struct ecap_buf a1 = {0}, a2 = {0}, b = {0};
	struct srv_mux *x = srv_mux_new(NULL, "test");
	struct srv_mux_iov v[4];
	struct srv_merge_stats st;
	int ia, ib;
	size_t n;

	assert_non_null(x);
	two_streams(&a1, &a2, &b);
	if (pool)
		srv_mux_by_ref(x, pool);
	ia = srv_mux_add(x, "a");
	ib = srv_mux_add(x, "b");
	mux_part(x, ia, pool, &a1);
	mux_part(x, ib, pool, &b);
	srv_mux_run(x, INT64_MIN);
	mux_part(x, ia, pool, &a2);
	assert_int_equal(srv_mux_close(x, ia, NULL), 0);
	assert_int_equal(srv_mux_close(x, ib, NULL), 0);
	srv_mux_finish(x);
	srv_mux_stats(x, &st);
	assert_int_equal(st.merged, 8);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.late, 1);
	if (pool) {
		while ((n = srv_mux_take_out(x, v, 4)))
			for (size_t i = 0; i < n; i++) {
				ecap_buf_put(ret, v[i].base, v[i].len);
				ecap_slab_unref(v[i].slab);
			}
	} else {
		ecap_buf_put(ret, srv_mux_out(x)->data, srv_mux_out(x)->len);
	}
	assert_int_equal(srv_mux_out(x)->err, 0);
	srv_mux_free(x);
	ecap_buf_free(&a1);
	ecap_buf_free(&a2);
	ecap_buf_free(&b);
}

static void mux_by_reference_writes_what_copying_writes(void **st)
{
	struct ecap_buf copied = {0}, byref = {0};
	/* slabs smaller than the mux's output: its own bytes span several */
	struct ecap_slab_pool *pool = ecap_slab_pool_new(NULL, 512, 1 << 20);

	mux_run(NULL, &copied);
	mux_run(pool, &byref);
	assert_int_equal(byref.len, copied.len);
	assert_memory_equal(byref.data, copied.data, copied.len);
	assert_int_equal(ecap_slab_pool_out(pool), 0); /* every reference came back */
	ecap_slab_pool_free(pool);
	ecap_buf_free(&copied);
	ecap_buf_free(&byref);
}

/* --- a part merged by another server -------------------------------------- */

/* Four devices' streams: a and b held by another server, c and d by this
 * one. Payload 9 is one packet seen by c at 0 ms, a at 50 and b at 120: c's
 * is kept, a's a duplicate of it, b's not (120 ms from the last copy kept).
 * A server that took a's and b's duplicates out first would keep a's and
 * drop b's. 10: a's and b's 0.5 ms apart (b's dropped); 11: d's and a's
 * (a's dropped). a's second interface ends with a comment on its ISB, c
 * carries a clock note. */
static void four_streams(struct ecap_buf s[4])
{
	const uint64_t t = 1795000000000000000ull, ms = 1000000;
	static const struct {
		int dev;
		uint64_t at;
		uint8_t pl;
		uint8_t ttl;
	} pk[] = {{2, 0, 9, 64},
		  {0, 1 * ms, 1, 64},
		  {1, 2 * ms, 2, 64},
		  {0, 10 * ms, 10, 64},
		  {1, 10 * ms + 500000, 10, 63},
		  {3, 20 * ms, 11, 64},
		  {0, 20 * ms + 200000, 11, 62},
		  {0, 50 * ms, 9, 63},
		  {3, 60 * ms, 3, 64},
		  {1, 120 * ms, 9, 61},
		  {2, 130 * ms, 4, 64},
		  {0, 200 * ms, 5, 64}};
	uint8_t f[64];

	for (int d = 0; d < 4; d++) {
		ecap_pcapng_shb(&s[d], NULL, NULL, "agent");
		ecap_pcapng_idb(&s[d], 1, 262144, "eth0", NULL, 9);
		ecap_pcapng_idb(&s[d], 1, 262144, "eth1", NULL, 9);
	}
	for (size_t i = 0; i < sizeof(pk) / sizeof(pk[0]); i++) {
		uint32_t n = frame(f, pk[i].ttl, 0, pk[i].pl);

		ecap_pcapng_epb(&s[pk[i].dev], pk[i].pl & 1, t + pk[i].at, f, n, n, 1);
	}
	for (int d = 0; d < 4; d++) {
		ecap_pcapng_isb(&s[d], 0, t + 300 * ms,
				&(struct ecap_isb_counts){.ifrecv = 10u + d, .osdrop = d}, NULL);
		ecap_pcapng_isb(&s[d], 1, t + 300 * ms, &(struct ecap_isb_counts){.ifrecv = 1},
				d == 0 ? "a note" : NULL);
	}
}

static void take_all(struct srv_mux *x, struct ecap_buf *ret)
{
	ecap_buf_put(ret, srv_mux_out(x)->data, srv_mux_out(x)->len);
	srv_mux_out(x)->len = 0;
}

static void part_merged_elsewhere_writes_what_one_mux_writes(void **st)
{
	static const char *const names[4] = {"a", "b", "c", "d"};
	struct ecap_buf s[4] = {{0}}, flat = {0}, part = {0}, whole = {0};
	struct srv_mux *x = srv_mux_new(NULL, "test"), *o, *r;
	struct srv_mux_input_stats is;
	struct srv_merge_stats fs, rs;
	uint64_t dups[4];
	int in[4], p;

	four_streams(s);
	/* one server holding all four */
	assert_non_null(x);
	for (int d = 0; d < 4; d++)
		in[d] = srv_mux_add(x, names[d]);
	assert_int_equal(srv_mux_clock(x, (unsigned)in[2], 0, "clock 3 ms ahead"), 0);
	for (int d = 0; d < 4; d++)
		assert_int_equal(srv_mux_feed(x, (unsigned)in[d], s[d].data, s[d].len), 0);
	for (int d = 0; d < 4; d++)
		assert_int_equal(srv_mux_close(x, (unsigned)in[d], NULL), 0);
	srv_mux_finish(x);
	take_all(x, &flat);
	srv_mux_stats(x, &fs);
	for (int d = 0; d < 4; d++) {
		srv_mux_input_stats(x, (unsigned)in[d], &is);
		dups[d] = is.duplicates;
	}
	srv_mux_free(x);
	assert_int_equal(fs.duplicates, 3);
	assert_int_equal(dups[0], 2); /* a's 9 and 11 */
	assert_int_equal(dups[1], 1); /* b's 10; its 9 kept */

	/* a and b on another server: put in order there, not de-duplicated */
	o = srv_mux_new(&(struct srv_merge_opts){.dedup_ns = -1}, "holder");
	assert_non_null(o);
	for (int d = 0; d < 2; d++)
		assert_int_equal(srv_mux_add(o, names[d]), d);
	for (int d = 0; d < 2; d++)
		assert_int_equal(srv_mux_feed(o, (unsigned)d, s[d].data, s[d].len), 0);
	for (int d = 0; d < 2; d++)
		assert_int_equal(srv_mux_close(o, (unsigned)d, NULL), 0);
	srv_mux_finish(o);
	take_all(o, &part);
	srv_mux_free(o);

	/* and merged with c and d here */
	r = srv_mux_new(NULL, "test");
	assert_non_null(r);
	p = srv_mux_add_part(r, "s2", names, 2);
	assert_true(p >= 0);
	in[2] = srv_mux_add(r, "c");
	in[3] = srv_mux_add(r, "d");
	assert_int_equal(srv_mux_clock(r, (unsigned)in[2], 0, "clock 3 ms ahead"), 0);
	assert_int_equal(srv_mux_feed(r, (unsigned)p, part.data, part.len), 0);
	for (int d = 2; d < 4; d++)
		assert_int_equal(srv_mux_feed(r, (unsigned)in[d], s[d].data, s[d].len), 0);
	assert_int_equal(srv_mux_close(r, (unsigned)p, NULL), 0);
	for (int d = 2; d < 4; d++)
		assert_int_equal(srv_mux_close(r, (unsigned)in[d], NULL), 0);
	srv_mux_finish(r);
	take_all(r, &whole);
	srv_mux_stats(r, &rs);
	assert_int_equal(rs.merged, fs.merged);
	assert_int_equal(rs.duplicates, fs.duplicates);
	assert_int_equal(srv_mux_part_duplicates(r, (unsigned)p, 0), dups[0]);
	assert_int_equal(srv_mux_part_duplicates(r, (unsigned)p, 1), dups[1]);
	srv_mux_free(r);
	/* the same file, byte for byte */
	assert_int_equal(whole.len, flat.len);
	assert_memory_equal(whole.data, flat.data, flat.len);

	/* an interface of no device of the part: a bad stream */
	r = srv_mux_new(NULL, "test");
	p = srv_mux_add_part(r, "s2", names + 1, 1);
	assert_int_equal(srv_mux_feed(r, (unsigned)p, part.data, part.len), -EINVAL);
	assert_non_null(strstr(srv_mux_error(r, (unsigned)p), "none of the part"));
	srv_mux_free(r);
	for (int d = 0; d < 4; d++)
		ecap_buf_free(&s[d]);
	ecap_buf_free(&flat);
	ecap_buf_free(&part);
	ecap_buf_free(&whole);
}

/* A part whose devices sent nothing newer yet still says how far they are
 * (a mark): the receiving mux lets its other inputs' packets go up to it,
 * as one mux of every device would, and not before. */
static void part_marks_hold_back_no_further(void **st)
{
	static const char *const a[1] = {"a"};
	const uint64_t t = 1795000000000000000ull, ms = 1000000;
	struct ecap_buf sa = {0}, sc = {0}, part = {0};
	struct srv_mux *o = srv_mux_new(&(struct srv_merge_opts){.dedup_ns = -1}, "holder"), *r;
	struct srv_merge_stats rs;
	uint8_t f[64];
	uint32_t n = frame(f, 64, 0, 1);
	int p, c;

	ecap_pcapng_shb(&sa, NULL, NULL, "agent");
	ecap_pcapng_idb(&sa, 1, 262144, "eth0", NULL, 9);
	ecap_pcapng_epb(&sa, 0, t + 20 * ms, f, n, n, 1);
	ecap_pcapng_shb(&sc, NULL, NULL, "agent");
	ecap_pcapng_idb(&sc, 1, 262144, "eth0", NULL, 9);
	for (int i = 0; i < 3; i++)
		ecap_pcapng_epb(&sc, 0, t + (uint64_t)(5 + 6 * i) * ms, frame_with(f, (uint8_t)i),
				n, n, 1);
	assert_int_equal(srv_mux_add(o, "a"), 0);
	assert_int_equal(srv_mux_feed(o, 0, sa.data, sa.len), 0);
	srv_mux_run(o, INT64_MIN); /* a's packet waits for its slack */
	assert_true(srv_mux_mark(o, INT64_MIN) == (int64_t)(t + 18 * ms));
	take_all(o, &part);

	for (int marked = 0; marked < 2; marked++) {
		r = srv_mux_new(NULL, "test");
		p = srv_mux_add_part(r, "s2", a, 1);
		c = srv_mux_add(r, "c");
		/* without its mark, the part's header alone */
		assert_int_equal(srv_mux_feed(r, (unsigned)p, part.data,
					      marked ? part.len : part.len - SRV_PCAPNG_MARK_LEN),
				 0);
		assert_int_equal(srv_mux_feed(r, (unsigned)c, sc.data, sc.len), 0);
		srv_mux_run(r, INT64_MIN);
		srv_mux_stats(r, &rs);
		/* c's at 5 and 11 ms are before the mark less the slack (16) */
		assert_int_equal(rs.merged, marked ? 2 : 0);
		srv_mux_free(r);
	}
	srv_mux_free(o);
	ecap_buf_free(&sa);
	ecap_buf_free(&sc);
	ecap_buf_free(&part);
}

/* A part may carry more interfaces than a device's stream (SRV_IFACES_MAX
 * a section): 130 devices of two interfaces each, bounded by the part's
 * devices, read whole. */
static void part_with_many_interfaces(void **st)
{
	enum { N = 130 };
	const uint64_t t = 1795000000000000000ull;
	struct srv_mux *o = srv_mux_new(&(struct srv_merge_opts){.dedup_ns = -1}, "holder"), *r;
	static char names[N][16];
	const char *devs[N];
	struct ecap_buf part = {0};
	struct srv_merge_stats rs;
	uint8_t f[64];
	uint32_t n = frame(f, 64, 0, 1);
	int p;

	for (int d = 0; d < N; d++) {
		struct ecap_buf b = {0};

		snprintf(names[d], sizeof(names[d]), "gw%d", d);
		devs[d] = names[d];
		assert_int_equal(srv_mux_add(o, names[d]), d);
		ecap_pcapng_shb(&b, NULL, NULL, "agent");
		ecap_pcapng_idb(&b, 1, 262144, "eth0", NULL, 9);
		ecap_pcapng_idb(&b, 1, 262144, "eth1", NULL, 9);
		ecap_pcapng_epb(&b, 1, t + (uint64_t)d, frame_with(f, (uint8_t)d), n, n, 1);
		assert_int_equal(srv_mux_feed(o, (unsigned)d, b.data, b.len), 0);
		assert_int_equal(srv_mux_close(o, (unsigned)d, NULL), 0);
		ecap_buf_free(&b);
	}
	srv_mux_finish(o);
	take_all(o, &part);
	srv_mux_free(o);
	r = srv_mux_new(NULL, "test");
	p = srv_mux_add_part(r, "s2", devs, N);
	srv_mux_bound(r, (unsigned)p, 0, N * 32, 1);
	assert_int_equal(srv_mux_feed(r, (unsigned)p, part.data, part.len), 0);
	assert_int_equal(srv_mux_close(r, (unsigned)p, NULL), 0);
	srv_mux_finish(r);
	srv_mux_stats(r, &rs);
	assert_int_equal(rs.merged, N);
	srv_mux_free(r);
	ecap_buf_free(&part);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reads_whole_and_byte_by_byte),
	    cmocka_unit_test(reads_in_place),
	    cmocka_unit_test(reads_the_other_byte_order),
	    cmocka_unit_test(reads_classic_pcap),
	    cmocka_unit_test(chunked_stream_is_read_in_place),
	    cmocka_unit_test(refuses_malformed_streams),
	    cmocka_unit_test(refuses_packet_overrun_and_unknown_iface),
	    cmocka_unit_test(merges_in_order_by_marks),
	    cmocka_unit_test(silent_input_holds_back_only_the_window),
	    cmocka_unit_test(heard_input_is_not_silent),
	    cmocka_unit_test(squeezed_input_lets_its_slack_go),
	    cmocka_unit_test(duplicates_across_devices_only),
	    cmocka_unit_test(cooked_duplicates_ignore_the_header),
	    cmocka_unit_test(non_ip_duplicates_by_type_and_payload),
	    cmocka_unit_test(many_keys_expire_and_grow),
	    cmocka_unit_test(duplicates_removed_exactly_under_stress),
	    cmocka_unit_test(memory_bound_forces_output),
	    cmocka_unit_test(mux_by_reference_writes_what_copying_writes),
	    cmocka_unit_test(part_merged_elsewhere_writes_what_one_mux_writes),
	    cmocka_unit_test(part_marks_hold_back_no_further),
	    cmocka_unit_test(part_with_many_interfaces),
	    cmocka_unit_test(bounded_streams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
