/* cli_out: what `ringcast-cli sub` prints (cli.h; the formats are in docs/cli.md, "Output").
 *
 * Messages go to stdout, one line each:
 *   text (default)  TOPIC SEQ PAYLOAD
 *                   a text payload as it is, except that a newline becomes the two characters
 *                   \n and a carriage return \r, so one message stays one line; a binary payload
 *                   as "base64:" and its base64 (RFC 4648, padded)
 *   --json          {"type":"message","topic":T,"seq":N,"epoch":E,"retained":B,"payload":S}
 *                   with "payload_b64" instead of "payload" for a binary payload; E is the
 *                   topic's epoch (16 hex digits) or null when the server did not say
 * The text form is for eyes and for grep; it cannot tell a payload holding the two characters
 * \n from one holding a newline. --json is exact (a JSON string of the UTF-8 text).
 *
 * Notices (missed, reset, error) are one line each on stderr, and with --json also a JSON line on
 * stdout ({"type":"missed",...}), in their place among the messages.
 *
 * stdout is fully buffered (line-buffered on a terminal); cli_sub.c flushes it whenever nothing
 * more is waiting on the connection, and before it writes the state file, so that the file never
 * counts a message that is still in a buffer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "rc_base64.h"

#define B64_CHUNK 3072 /* input bytes per rc_base64_encode call: a multiple of 3 */

static char g_stdout_buf[64 << 10];
static int g_err; /* the first error writing stdout (an errno), sticky */

/* After each line: remember the first failure with its errno, before another call changes it. */
static void check(void)
{
	if (g_err == 0 && ferror(stdout))
		g_err = errno ? errno : EIO;
}

void cli_out_init(void)
{
	if (isatty(STDOUT_FILENO))
		setvbuf(stdout, NULL, _IOLBF, 0);
	else
		setvbuf(stdout, g_stdout_buf, _IOFBF, sizeof g_stdout_buf);
}

int cli_out_flush(void)
{
	errno = 0;
	if (fflush(stdout) != 0 && g_err == 0)
		g_err = errno ? errno : EIO;
	check();
	return -g_err;
}

int cli_out_status(void)
{
	return -g_err;
}

/* p[0..n) as the content of a JSON string: '"' and '\' escaped, control bytes as \n \r \t \b \f
 * or \u00XX; the rest (valid UTF-8, checked by rc_app_pub_parse) as it is. */
static void json_chars(FILE *f, const uint8_t *p, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i];
		if (b >= 0x20 && b != '"' && b != '\\')
			continue;
		fwrite(p + run, 1, i - run, f);
		run = i + 1;
		switch (b) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		default:
			fprintf(f, "\\u%04x", b);
			break;
		}
	}
	fwrite(p + run, 1, n - run, f);
}

/* A text payload on one line: newline -> \n, carriage return -> \r, the rest as it is. */
static void text_line(FILE *f, const uint8_t *p, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n' && p[i] != '\r')
			continue;
		fwrite(p + run, 1, i - run, f);
		fputs(p[i] == '\n' ? "\\n" : "\\r", f);
		run = i + 1;
	}
	fwrite(p + run, 1, n - run, f);
}

static void base64(FILE *f, const uint8_t *p, size_t n)
{
	char out[RC_BASE64_LEN(B64_CHUNK) + 1];
	while (n > 0) {
		size_t k = n < B64_CHUNK ? n : B64_CHUNK;
		size_t len = rc_base64_encode(out, sizeof out, p, k);
		fwrite(out, 1, len, f);
		p += k;
		n -= k;
	}
}

static void epoch_json(FILE *f, bool known, uint64_t epoch)
{
	if (known)
		fprintf(f, "\"%016llx\"", (unsigned long long)epoch);
	else
		fputs("null", f);
}

void cli_out_message(const rc_app_pub *m, const struct cli_topic *t, bool json)
{
	FILE *f = stdout;
	const uint8_t *p = m->payload.ptr;
	size_t n = m->payload.len;
	bool text = m->flags & RC_APP_FLAG_TEXT;
	if (!json) {
		fwrite(m->topic.ptr, 1, m->topic.len, f);
		fprintf(f, " %llu ", (unsigned long long)m->seq);
		if (text) {
			text_line(f, p, n);
		} else {
			fputs("base64:", f);
			base64(f, p, n);
		}
		fputc('\n', f);
		check();
		return;
	}
	fputs("{\"type\":\"message\",\"topic\":\"", f);
	fwrite(m->topic.ptr, 1, m->topic.len, f); /* topic names need no escaping */
	fprintf(f, "\",\"seq\":%llu,\"epoch\":", (unsigned long long)m->seq);
	epoch_json(f, t != NULL && t->has_epoch, t != NULL ? t->epoch : 0);
	fprintf(f, ",\"retained\":%s,", m->flags & RC_APP_FLAG_RETAINED ? "true" : "false");
	if (text) {
		fputs("\"payload\":\"", f);
		json_chars(f, p, n);
	} else {
		fputs("\"payload_b64\":\"", f);
		base64(f, p, n);
	}
	fputs("\"}\n", f);
	check();
}

void cli_out_missed(const rc_app_notice *nt, bool json)
{
	const rc_app_slice *tp = &nt->topics[0];
	fprintf(stderr,
	        "ringcast-cli: %.*s: %llu message(s) missed: the server dropped them because this "
	        "client read too slowly\n",
	        (int)tp->len, (const char *)tp->ptr, (unsigned long long)nt->count);
	if (json)
		fprintf(stdout, "{\"type\":\"missed\",\"topic\":\"%.*s\",\"count\":%llu}\n", (int)tp->len,
		        (const char *)tp->ptr, (unsigned long long)nt->count);
	check();
}

/* The stderr line of a reset: what was lost, as far as the numbers say. */
static void reset_line(const rc_app_notice *nt, const struct cli_topic *prev)
{
	const rc_app_slice *tp = &nt->topics[0];
	unsigned long long first = nt->first;
	fprintf(stderr, "ringcast-cli: %.*s: cannot resume", (int)tp->len, (const char *)tp->ptr);
	if (prev != NULL && prev->has_seq)
		fprintf(stderr, " after %llu", (unsigned long long)prev->seq);
	if (nt->reset == RC_APP_RESET_EPOCH)
		fprintf(stderr,
		        ": the topic's numbering changed (recreated, or the server restarted; "
		        "epoch now %016llx)",
		        (unsigned long long)nt->epoch);
	else
		fputs(": the server's history no longer holds what came next", stderr);
	fprintf(stderr, "; continuing at %llu%s", first,
	        nt->snapshot ? " with the latest retained message" : "");
	if (nt->reset == RC_APP_RESET_HISTORY && prev != NULL && prev->has_seq && first > prev->seq + 1)
		fprintf(stderr, " (%llu message(s) lost)", first - 1 - (unsigned long long)prev->seq);
	fputc('\n', stderr);
}

void cli_out_reset(const rc_app_notice *nt, const struct cli_topic *prev, bool json)
{
	reset_line(nt, prev);
	if (!json)
		return;
	const rc_app_slice *tp = &nt->topics[0];
	FILE *f = stdout;
	fprintf(f,
	        "{\"type\":\"reset\",\"topic\":\"%.*s\",\"reason\":\"%s\",\"epoch\":\"%016llx\","
	        "\"first\":%llu,\"snapshot\":%s,\"prev_epoch\":",
	        (int)tp->len, (const char *)tp->ptr,
	        nt->reset == RC_APP_RESET_EPOCH ? "epoch" : "history", (unsigned long long)nt->epoch,
	        (unsigned long long)nt->first, nt->snapshot ? "true" : "false");
	bool known = prev != NULL && prev->has_seq;
	epoch_json(f, known && prev->has_epoch, known ? prev->epoch : 0);
	if (known)
		fprintf(f, ",\"prev_seq\":%llu}\n", (unsigned long long)prev->seq);
	else
		fputs(",\"prev_seq\":null}\n", f);
	check();
}

void cli_out_error(const rc_app_notice *nt, bool json)
{
	char msg[6 * RC_APP_MESSAGE_MAX + 1];
	size_t n = rc_app_notice_message(nt, msg, sizeof msg - 1);
	msg[n] = 0;
	const char *code = rc_app_error_name(nt->code);
	fprintf(stderr, "ringcast-cli: the server refused: %s: ", code);
	for (size_t i = 0; i < n; i++) /* a line for a terminal: no control bytes */
		fputc((uint8_t)msg[i] < 0x20 ? ' ' : msg[i], stderr);
	fputc('\n', stderr);
	if (!json)
		return;
	fprintf(stdout, "{\"type\":\"error\",\"code\":\"%s\",\"message\":\"", code);
	json_chars(stdout, (const uint8_t *)msg, n);
	fputs("\"}\n", stdout);
	check();
}
