/* Tests of rc_log: the line format at a fixed time, the level filter, control bytes replaced (a
 * pasted-in string must never start a new line), truncation of lines at every boundary, and whole
 * lines under concurrent writers. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_log.h"

/* 2026-11-23T10:00:00.123Z */
static const struct timespec T0 = { .tv_sec = 1795428000, .tv_nsec = 123456789 };

static size_t vfmt_at(char *line, size_t cap, const struct timespec *ts, enum rc_log_level level,
                      const char *event, const char *fmt, va_list ap)
        __attribute__((format(printf, 6, 0)));
static size_t vfmt_at(char *line, size_t cap, const struct timespec *ts, enum rc_log_level level,
                      const char *event, const char *fmt, va_list ap)
{
	return rc_log_format(line, cap, ts, level, event, fmt, ap);
}

__attribute__((format(printf, 6, 7))) static size_t fmt_at(char *line, size_t cap,
                                                           const struct timespec *ts,
                                                           enum rc_log_level level,
                                                           const char *event, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = vfmt_at(line, cap, ts, level, event, fmt, ap);
	va_end(ap);
	return n;
}

#define fmt_line(line, cap, level, event, ...) fmt_at(line, cap, &T0, level, event, __VA_ARGS__)

static size_t count_char(const char *s, size_t n, char ch)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += s[i] == ch;
	return k;
}

static void assert_no_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		cr_assert(c >= 0x20 && c != 0x7F, "control byte 0x%02x at %zu in '%.*s'", c, i, (int)n, s);
	}
}

/* ---- format ---------------------------------------------------------------------------------- */

Test(log, format_documented_example)
{
	char line[RC_LOG_LINE_MAX + 1];
	size_t n = fmt_line(line, sizeof line, RC_LOG_INFO, "conn_open", "conn=%u peer=%s", 12u,
	                    "127.0.0.1:5555");
	const char *want = "ts=2026-11-23T10:00:00.123Z level=info event=conn_open conn=12 "
	                   "peer=127.0.0.1:5555\n";
	cr_assert_str_eq(line, want);
	cr_assert_eq(n, strlen(want));
}

Test(log, format_levels_and_no_fields)
{
	char line[RC_LOG_LINE_MAX + 1];
	static const char *const names[] = { "error", "warn", "info", "debug" };
	for (int l = 0; l < RC_LOG_LEVEL_COUNT; l++) {
		fmt_line(line, sizeof line, (enum rc_log_level)l, "x_1", NULL);
		char want[128];
		snprintf(want, sizeof want, "ts=2026-11-23T10:00:00.123Z level=%s event=x_1\n", names[l]);
		cr_assert_str_eq(line, want);
		fmt_line(line, sizeof line, (enum rc_log_level)l, "x_1", "%s", "");
		cr_assert_str_eq(line, want, "an empty field list adds no space");
	}
}

Test(log, format_milliseconds_padded_and_epoch)
{
	char line[RC_LOG_LINE_MAX + 1];
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 7999999 };
	size_t n = fmt_at(line, sizeof line, &ts, RC_LOG_WARN, "e", NULL);
	cr_assert_str_eq(line, "ts=1970-01-01T00:00:00.007Z level=warn event=e\n");
	cr_assert_eq(n, strlen(line));
}

Test(log, level_names_round_trip)
{
	for (int l = 0; l < RC_LOG_LEVEL_COUNT; l++) {
		enum rc_log_level got;
		cr_assert_eq(rc_log_level_parse(rc_log_level_name((enum rc_log_level)l), &got), 0);
		cr_assert_eq((int)got, l);
	}
	enum rc_log_level got = RC_LOG_DEBUG;
	static const char *const bad[] = { "",      "INFO",  "Info", "information", "warning",
		                               " info", "info ", "3",    "err" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_eq(rc_log_level_parse(bad[i], &got), -EINVAL, "'%s'", bad[i]);
		cr_assert_eq(got, RC_LOG_DEBUG, "unchanged on error");
	}
}

/* ---- the sink and the filter ----------------------------------------------------------------- */

struct capture {
	char *buf;
	size_t len;
	FILE *f;
};

static void capture_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	cr_assert_not_null(c->f);
}

static void capture_close(struct capture *c)
{
	fclose(c->f);
	free(c->buf);
}

static const char *LINE_RE =
        "^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
        "level=(error|warn|info|debug) event=[a-z0-9_]+( [^\n]*)?$";

static void assert_lines(const char *text, size_t len, size_t want_lines)
{
	regex_t re;
	cr_assert_eq(regcomp(&re, LINE_RE, REG_EXTENDED | REG_NOSUB), 0);
	cr_assert_eq(count_char(text, len, '\n'), want_lines, "%.*s", (int)len, text);
	cr_assert(len == 0 || text[len - 1] == '\n');
	char *copy = strndup(text, len);
	char *save = NULL;
	size_t seen = 0;
	for (char *l = strtok_r(copy, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		cr_assert_eq(regexec(&re, l, 0, NULL, 0), 0, "line '%s'", l);
		seen++;
	}
	cr_assert_eq(seen, want_lines);
	free(copy);
	regfree(&re);
}

Test(log, level_filter)
{
	struct capture c;
	capture_open(&c);
	rc_log_init(c.f, RC_LOG_WARN);
	cr_assert(rc_log_enabled(RC_LOG_ERROR));
	cr_assert(rc_log_enabled(RC_LOG_WARN));
	cr_assert_not(rc_log_enabled(RC_LOG_INFO));
	cr_assert_not(rc_log_enabled(RC_LOG_DEBUG));

	rc_log(RC_LOG_INFO, "hidden", "a=1");
	rc_log(RC_LOG_DEBUG, "hidden", "a=2");
	fflush(c.f);
	cr_assert_eq(c.len, 0, "nothing below the level: '%.*s'", (int)c.len, c.buf);

	rc_log(RC_LOG_WARN, "shown", "a=3");
	rc_log(RC_LOG_ERROR, "shown", "a=4");
	fflush(c.f);
	assert_lines(c.buf, c.len, 2);
	cr_assert_not_null(strstr(c.buf, "level=warn event=shown a=3\n"));
	cr_assert_not_null(strstr(c.buf, "level=error event=shown a=4\n"));

	rc_log_init(c.f, RC_LOG_DEBUG);
	rc_log(RC_LOG_DEBUG, "verbose", NULL);
	fflush(c.f);
	assert_lines(c.buf, c.len, 3);
	cr_assert_not_null(strstr(c.buf, "level=debug event=verbose\n"));

	rc_log_init(c.f, RC_LOG_ERROR);
	rc_log(RC_LOG_WARN, "hidden", NULL);
	fflush(c.f);
	assert_lines(c.buf, c.len, 3);
	capture_close(&c);
}

Test(log, default_level_is_info)
{
	/* Criterion runs each test in a fresh process: this is the state before any rc_log_init. */
	cr_assert(rc_log_enabled(RC_LOG_INFO));
	cr_assert_not(rc_log_enabled(RC_LOG_DEBUG));
}

/* Control bytes pasted in by a format (rc_log does not escape values): the line is still one
 * line. */
Test(log, raw_control_bytes_replaced)
{
	char line[RC_LOG_LINE_MAX + 1];
	size_t n = fmt_line(line, sizeof line, RC_LOG_INFO, "oops", "reason=%s x=%c", "a\nb\rc\x01\x7f",
	                    '\t');
	cr_assert_str_eq(line, "ts=2026-11-23T10:00:00.123Z level=info event=oops "
	                       "reason=a?b?c?? x=?\n");
	assert_no_control(line, n - 1);
}

/* ---- lines ----------------------------------------------------------------------------------- */

Test(log, line_truncated_at_limit_boundary)
{
	char line[RC_LOG_LINE_MAX + 1];
	size_t head = fmt_line(line, sizeof line, RC_LOG_INFO, "big", NULL) - 1; /* no newline */
	/* fields of f bytes make a line of head + 1 + f bytes before the newline */
	char *fields = malloc(RC_LOG_LINE_MAX * 2);
	cr_assert_not_null(fields);
	for (size_t total = RC_LOG_LINE_MAX - 3; total <= RC_LOG_LINE_MAX + 2; total++) {
		size_t f = total - head - 1;
		memset(fields, 'x', f);
		fields[0] = 'k';
		fields[1] = '=';
		fields[f] = '\0';
		size_t n = fmt_line(line, sizeof line, RC_LOG_INFO, "big", "%s", fields);
		cr_assert_eq(n, strlen(line));
		cr_assert_eq(line[n - 1], '\n');
		assert_no_control(line, n - 1);
		if (total + 1 <= RC_LOG_LINE_MAX) {
			cr_assert_eq(n, total + 1, "fits whole at %zu", total);
			cr_assert_neq(memcmp(line + n - 4, "...", 3), 0);
		} else {
			cr_assert_eq(n, RC_LOG_LINE_MAX, "cut at %zu", total);
			cr_assert_eq(memcmp(line + n - 4, "...\n", 4), 0);
		}
	}
	/* far over, and a buffer smaller than the limit */
	memset(fields, 'y', RC_LOG_LINE_MAX * 2 - 1);
	fields[RC_LOG_LINE_MAX * 2 - 1] = '\0';
	size_t n = fmt_line(line, sizeof line, RC_LOG_INFO, "big", "v=%s", fields);
	cr_assert_eq(n, RC_LOG_LINE_MAX);
	char small[64];
	n = fmt_line(small, sizeof small, RC_LOG_INFO, "big", "v=%s", fields);
	cr_assert_eq(n, sizeof small - 1);
	cr_assert_eq(strlen(small), n);
	cr_assert_eq(memcmp(small + n - 4, "...\n", 4), 0);
	free(fields);
}

Test(log, rc_log_writes_the_cut_line)
{
	struct capture c;
	capture_open(&c);
	rc_log_init(c.f, RC_LOG_INFO);
	char big[4000];
	memset(big, 'z', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	rc_log(RC_LOG_INFO, "big", "v=%s", big);
	fflush(c.f);
	cr_assert_eq(c.len, RC_LOG_LINE_MAX);
	assert_lines(c.buf, c.len, 1);
	capture_close(&c);
}

/* ---- threads --------------------------------------------------------------------------------- */

#define THREADS 4
#define LINES_PER_THREAD 2000

static void *writer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	char pad[300];
	memset(pad, 'a' + (int)id, sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	for (unsigned i = 0; i < LINES_PER_THREAD; i++)
		rc_log(RC_LOG_INFO, "tick", "thread=%u i=%u pad=%s", id, i, pad);
	return NULL;
}

Test(log, concurrent_lines_never_interleave)
{
	FILE *f = tmpfile();
	cr_assert_not_null(f);
	rc_log_init(f, RC_LOG_INFO);
	pthread_t t[THREADS];
	for (unsigned i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, writer, (void *)(uintptr_t)i), 0);
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	rewind(f);
	unsigned next[THREADS] = { 0 };
	char line[RC_LOG_LINE_MAX + 2];
	size_t lines = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned id, i;
		char pad[400];
		int got =
		        sscanf(line, "ts=%*s level=info event=tick thread=%u i=%u pad=%399s", &id, &i, pad);
		cr_assert_eq(got, 3, "line '%s'", line);
		cr_assert_lt(id, THREADS);
		cr_assert_eq(i, next[id], "thread %u: lines in order, none lost", id);
		next[id]++;
		cr_assert_eq(strlen(pad), 299);
		cr_assert_eq(strspn(pad, (char[]){ (char)('a' + id), 0 }), 299, "'%s'", pad);
		lines++;
	}
	cr_assert_eq(lines, THREADS * LINES_PER_THREAD);
	fclose(f);
}
