/* proto-bench: how fast the proto/ hot loops run on this machine.
 *
 * Prints, one line each (median of --runs runs of about --ms milliseconds):
 *   mask        rc_mask_apply over a 64 KiB buffer at an odd alignment           GB/s
 *   frame N     rc_frame_parse + in-place unmask of masked binary client frames  GB/s of payload
 *               (N = payload size; 64 B and 512 B are market-data sizes)         and frames/s
 *   utf8 ascii  rc_utf8_feed over ASCII market-data-like JSON text               GB/s
 *   utf8 mixed  rc_utf8_feed over text with 2-, 3- and 4-byte characters         GB/s
 *   handshake   rc_http_parse + rc_ws_handshake_check + the 101 response for a   ns per request
 *               request as Chromium sends it
 * Pin it for stable numbers: taskset -c 0 build/release/perf/proto-bench
 * Options: --runs N (default 5), --ms N (default 300), --json (one JSON object on stdout),
 * --only handshake (just that measurement, e.g. to profile it). */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rc_frame.h"
#include "rc_handshake.h"
#include "rc_http.h"
#include "rc_mask.h"
#include "rc_utf8.h"

static int g_runs = 5;
static int g_ms = 300;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* A measurement: fn(ctx) does one unit of work of `units` (bytes or items). Returns the median
 * rate in units per second over g_runs runs of about g_ms each. */
typedef void (*work_fn)(void *ctx);

static volatile uint64_t g_sink; /* keeps results observable so no loop is optimised away */

static double measure(work_fn fn, void *ctx, double units)
{
	double rates[64];
	int runs = g_runs < 64 ? g_runs : 64;
	fn(ctx); /* warm caches and branch predictors */
	for (int r = 0; r < runs; r++) {
		uint64_t iters = 0;
		double t0 = now_s(), t1;
		do {
			for (int i = 0; i < 16; i++)
				fn(ctx);
			iters += 16;
			t1 = now_s();
		} while (t1 - t0 < g_ms / 1000.0);
		rates[r] = (double)iters * units / (t1 - t0);
	}
	qsort(rates, (size_t)runs, sizeof rates[0], cmp_double);
	return rates[runs / 2];
}

/* --- mask ------------------------------------------------------------------------------------ */

struct mask_ctx {
	uint8_t *buf;
	size_t len;
};

static void mask_work(void *arg)
{
	struct mask_ctx *c = arg;
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	g_sink += rc_mask_apply(c->buf, c->len, key, 1);
}

/* --- frame parse + unmask -------------------------------------------------------------------- */

struct frame_ctx {
	uint8_t *buf;
	size_t len;
	size_t frames;
	rc_frame_parser parser;
};

/* Parsing unmasks in place and masking is its own inverse, so parsing the same buffer again
 * re-masks it: every pass does the same work on the same bytes, with no copy to restore them. */
static void frame_work(void *arg)
{
	struct frame_ctx *c = arg;
	uint8_t *p = c->buf;
	size_t left = c->len;
	uint64_t seen = 0;
	while (left) {
		rc_frame_event ev;
		ssize_t n = rc_frame_parse(&c->parser, p, left, &ev);
		if (n < 0) {
			fprintf(stderr, "proto-bench: frame parse failed\n");
			exit(1);
		}
		p += n;
		left -= (size_t)n;
		if (ev.type == RC_FRAME_DATA)
			seen += ev.data_len + ev.data[0];
	}
	g_sink += seen;
}

static struct frame_ctx frame_setup(size_t payload, size_t total)
{
	struct frame_ctx c = { 0 };
	static const uint8_t key[4] = { 0x11, 0x22, 0x33, 0x44 };
	size_t hlen = rc_frame_header_len(payload, true);
	c.frames = total / (hlen + payload);
	if (c.frames == 0)
		c.frames = 1;
	c.len = c.frames * (hlen + payload);
	c.buf = malloc(c.len);
	if (!c.buf)
		abort();
	uint8_t *p = c.buf;
	for (size_t i = 0; i < c.frames; i++) {
		p += rc_frame_header_encode(p, RC_OPCODE_BINARY, true, payload, key);
		for (size_t j = 0; j < payload; j++)
			p[j] = (uint8_t)(j * 7 + i);
		rc_mask_apply(p, payload, key, 0);
		p += payload;
	}
	rc_frame_cfg cfg = { .role = RC_FRAME_SERVER, .message_max = 1 << 20 };
	rc_frame_parser_init(&c.parser, &cfg);
	return c;
}

/* --- utf8 ------------------------------------------------------------------------------------ */

struct utf8_ctx {
	uint8_t *buf;
	size_t len;
};

static void utf8_work(void *arg)
{
	struct utf8_ctx *c = arg;
	rc_utf8 v;
	rc_utf8_init(&v);
	size_t ok = rc_utf8_feed(&v, c->buf, c->len);
	if (ok != c->len || !rc_utf8_complete(&v)) {
		fprintf(stderr, "proto-bench: utf8 input rejected at %zu\n", ok);
		exit(1);
	}
	g_sink += ok;
}

static struct utf8_ctx utf8_setup(const char *const *pieces, size_t n_pieces, size_t total)
{
	struct utf8_ctx c = { .buf = malloc(total + 64), .len = 0 };
	if (!c.buf)
		abort();
	for (size_t i = 0; c.len < total; i++) {
		const char *s = pieces[i % n_pieces];
		size_t n = strlen(s);
		if (c.len + n > total)
			break;
		memcpy(c.buf + c.len, s, n);
		c.len += n;
	}
	return c;
}

/* --- handshake ------------------------------------------------------------------------------- */

static const char chromium_request[] =
        "GET /ws?topics=BTC-USD,ETH-USD HTTP/1.1\r\n"
        "Host: 127.0.0.1:8080\r\n"
        "Connection: Upgrade\r\n"
        "Pragma: no-cache\r\n"
        "Cache-Control: no-cache\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36\r\n"
        "Upgrade: websocket\r\n"
        "Origin: http://127.0.0.1:8080\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "Accept-Encoding: gzip, deflate, br\r\n"
        "Accept-Language: en-US,en;q=0.9\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        "Sec-WebSocket-Protocol: ringcast.v1\r\n"
        "\r\n";

static void handshake_work(void *arg)
{
	(void)arg;
	rc_http_header headers[32];
	rc_http_cfg cfg = RC_HTTP_CFG_DEFAULT;
	cfg.header_fields_max = 32;
	rc_http_parser parser;
	rc_http_parser_init(&parser, &cfg, headers);
	ssize_t n =
	        rc_http_parse(&parser, (const uint8_t *)chromium_request, sizeof chromium_request - 1);
	if (n <= 0) {
		fprintf(stderr, "proto-bench: handshake request rejected (%zd)\n", n);
		exit(1);
	}
	static const char *const protos[] = { "ringcast.v1" };
	rc_ws_handshake_cfg wcfg = RC_WS_HANDSHAKE_CFG_DEFAULT;
	wcfg.subprotocols = protos;
	wcfg.subprotocol_count = 1;
	rc_ws_handshake_result res;
	int status = rc_ws_handshake_check(&parser.req, &wcfg, &res);
	if (status != 0) {
		fprintf(stderr, "proto-bench: handshake refused (%d)\n", status);
		exit(1);
	}
	char out[512];
	g_sink += rc_ws_response_101(out, sizeof out, &res);
}

/* The command line: sets g_runs and g_ms, *json and *only_handshake. Returns -1 to go on, else
 * the exit status (0 after --help, 2 for a bad command line). */
static int parse_args(int argc, char **argv, bool *json, bool *only_handshake)
{
	static const struct option opts[] = {
		{ "runs", required_argument, NULL, 'r' }, { "ms", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },       { "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },       { 0 },
	};
	for (int c; (c = getopt_long(argc, argv, "r:m:jh", opts, NULL)) != -1;) {
		switch (c) {
		case 'r':
			g_runs = atoi(optarg);
			break;
		case 'm':
			g_ms = atoi(optarg);
			break;
		case 'j':
			*json = true;
			break;
		case 'o':
			if (strcmp(optarg, "handshake") != 0) {
				fprintf(stderr, "proto-bench: --only takes: handshake\n");
				return 2;
			}
			*only_handshake = true;
			break;
		default:
			fprintf(stderr, "usage: %s [--runs N] [--ms N] [--json] [--only handshake]\n", argv[0]);
			return c == 'h' ? 0 : 2;
		}
	}
	if (g_runs < 1 || g_runs > 64 || g_ms < 1) {
		fprintf(stderr, "proto-bench: --runs must be 1..64 and --ms positive\n");
		return 2;
	}
	return -1;
}

static const size_t frame_sizes[] = { 64, 512, 4096, 65536 };
#define NSIZES (sizeof frame_sizes / sizeof frame_sizes[0])

struct results {
	double mask_gbs;
	double frame_gbs[NSIZES], frame_fps[NSIZES];
	double utf8_ascii_gbs, utf8_mixed_gbs;
	double hs_ns;
};

static double measure_mask(void)
{
	struct mask_ctx mc = { .len = 64 * 1024 };
	mc.buf = malloc(mc.len + 8);
	if (!mc.buf)
		abort();
	memset(mc.buf, 0x5a, mc.len + 8);
	mc.buf += 3; /* odd alignment: the unaligned head and tail are part of the work */
	double gbs = measure(mask_work, &mc, (double)mc.len) / 1e9;
	free(mc.buf - 3);
	return gbs;
}

static void measure_frames(struct results *r)
{
	for (size_t i = 0; i < NSIZES; i++) {
		struct frame_ctx fc = frame_setup(frame_sizes[i], 256 * 1024);
		double bytes = (double)fc.frames * (double)frame_sizes[i];
		r->frame_gbs[i] = measure(frame_work, &fc, bytes) / 1e9;
		r->frame_fps[i] = r->frame_gbs[i] * 1e9 / (double)frame_sizes[i];
		free(fc.buf);
	}
}

static void measure_utf8(struct results *r)
{
	static const char *const ascii[] = {
		"{\"s\":\"BTC-USD\",\"p\":\"43125.50\",\"q\":\"0.0125\",\"t\":1700000000123,\"side\":"
		"\"buy\"}\n",
		"{\"s\":\"ETH-USD\",\"bids\":[[\"2250.10\",\"3.2\"],[\"2250.05\",\"1.1\"]],\"seq\":918273}"
		"\n",
	};
	static const char *const mixed[] = {
		"κόσμε ", "日本語のテキスト ", "emoji 😀🚀 ", "plain ascii words here ",
		"Größe ", "ελληνικά ",         "中文 ",     "𝄞 music ",
	};
	struct utf8_ctx ua = utf8_setup(ascii, 2, 64 * 1024);
	struct utf8_ctx um = utf8_setup(mixed, 8, 64 * 1024);
	r->utf8_ascii_gbs = measure(utf8_work, &ua, (double)ua.len) / 1e9;
	r->utf8_mixed_gbs = measure(utf8_work, &um, (double)um.len) / 1e9;
	free(ua.buf);
	free(um.buf);
}

static void print_results(const struct results *r, bool json)
{
	fprintf(stderr, "%-16s %10.2f GB/s\n", "mask 64KiB", r->mask_gbs);
	for (size_t i = 0; i < NSIZES; i++)
		fprintf(stderr, "frame %-10zu %10.2f GB/s %10.1f Mframes/s\n", frame_sizes[i],
		        r->frame_gbs[i], r->frame_fps[i] / 1e6);
	fprintf(stderr, "%-16s %10.2f GB/s\n", "utf8 ascii", r->utf8_ascii_gbs);
	fprintf(stderr, "%-16s %10.2f GB/s\n", "utf8 mixed", r->utf8_mixed_gbs);
	fprintf(stderr, "%-16s %10.0f ns/request\n", "handshake", r->hs_ns);
	if (!json)
		return;
	printf("{\"mask_gbs\":%.3f", r->mask_gbs);
	for (size_t i = 0; i < NSIZES; i++)
		printf(",\"frame_%zu_gbs\":%.3f,\"frame_%zu_mfps\":%.3f", frame_sizes[i], r->frame_gbs[i],
		       frame_sizes[i], r->frame_fps[i] / 1e6);
	printf(",\"utf8_ascii_gbs\":%.3f,\"utf8_mixed_gbs\":%.3f,\"handshake_ns\":%.0f}\n",
	       r->utf8_ascii_gbs, r->utf8_mixed_gbs, r->hs_ns);
}

int main(int argc, char **argv)
{
	bool json = false, only_handshake = false;
	int status = parse_args(argc, argv, &json, &only_handshake);
	if (status >= 0)
		return status;
	if (only_handshake) {
		fprintf(stderr, "%-16s %10.0f ns/request\n", "handshake",
		        1e9 / measure(handshake_work, NULL, 1.0));
		return 0;
	}
	struct results r;
	r.mask_gbs = measure_mask();
	measure_frames(&r);
	measure_utf8(&r);
	r.hs_ns = 1e9 / measure(handshake_work, NULL, 1.0);
	print_results(&r, json);
	return 0;
}
