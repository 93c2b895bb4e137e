/* rc_log: structured one-line logs. The contract is in rc_log.h. */
#include "rc_log.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

static const char *const level_names[RC_LOG_LEVEL_COUNT] = {
	[RC_LOG_ERROR] = "error",
	[RC_LOG_WARN] = "warn",
	[RC_LOG_INFO] = "info",
	[RC_LOG_DEBUG] = "debug",
};

/* NULL means stderr: stderr is not a constant expression, and this lets rc_log_init(NULL, ...)
 * follow a later freopen of stderr. */
static FILE *g_sink;
/* Read on every call from every thread, written rarely: relaxed is enough, nothing else is
 * published through it. */
static _Atomic int g_level = RC_LOG_INFO;
/* The worker this thread runs, -1 if none (rc_log_set_worker). */
static _Thread_local int t_worker = -1;

void rc_log_set_worker(int worker)
{
	t_worker = worker;
}

void rc_log_init(FILE *sink, enum rc_log_level level)
{
	assert((unsigned)level < RC_LOG_LEVEL_COUNT);
	g_sink = sink;
	atomic_store_explicit(&g_level, (int)level, memory_order_relaxed);
}

void rc_log_set_level(enum rc_log_level level)
{
	assert((unsigned)level < RC_LOG_LEVEL_COUNT);
	atomic_store_explicit(&g_level, (int)level, memory_order_relaxed);
}

bool rc_log_enabled(enum rc_log_level level)
{
	assert((unsigned)level < RC_LOG_LEVEL_COUNT);
	return (int)level <= atomic_load_explicit(&g_level, memory_order_relaxed);
}

const char *rc_log_level_name(enum rc_log_level level)
{
	assert((unsigned)level < RC_LOG_LEVEL_COUNT);
	return level_names[level];
}

int rc_log_level_parse(const char *s, enum rc_log_level *out)
{
	assert(s != NULL && out != NULL);
	for (int i = 0; i < RC_LOG_LEVEL_COUNT; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum rc_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Event names are constants in our code, never client data: a bad one is a bug, caught here. */
static bool event_name_ok(const char *event)
{
	if (event == NULL || *event == '\0')
		return false;
	for (const char *p = event; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return true;
}

size_t rc_log_format(char *line, size_t cap, const struct timespec *ts, enum rc_log_level level,
                     const char *event, const char *fmt, va_list ap)
{
	assert(line != NULL && cap >= 64 && ts != NULL);
	assert((unsigned)level < RC_LOG_LEVEL_COUNT);
	assert(event_name_ok(event));
	/* max: the longest line we may produce, newline included (the NUL comes after). */
	size_t max = cap - 1 < RC_LOG_LINE_MAX ? cap - 1 : RC_LOG_LINE_MAX;

	struct tm tm;
	time_t sec = ts->tv_sec;
	gmtime_r(&sec, &tm);
	int n = snprintf(line, cap, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	                 (long)(ts->tv_nsec / 1000000), level_names[level], event);
	assert(n > 0);
	if (t_worker >= 0 && (size_t)n < cap)
		n += snprintf(line + n, cap - (size_t)n, " worker=%d", t_worker);
	/* want: the length of the whole line without its newline, had there been room. */
	size_t want = (size_t)n;
	if (fmt != NULL && *fmt != '\0' && want + 1 < cap) {
		line[want] = ' ';
		int m = vsnprintf(line + want + 1, cap - want - 1, fmt, ap);
		if (m > 0) /* fields that expand to nothing leave no trailing space */
			want += 1 + (size_t)m;
	}
	size_t len = want;
	if (want > max - 1) { /* no room for it and its newline: cut, and say so */
		len = max - 4;
		memcpy(line + len, "...", 3);
		len += 3;
	}
	/* Whatever the format pasted in, no raw control byte (above all no newline) survives, so one
	 * call stays one line (rc_log.h, "Values"). */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 || c == 0x7F)
			line[i] = '?';
	}
	line[len++] = '\n';
	line[len] = '\0';
	assert(len <= max);
	return len;
}

static void log_line(enum rc_log_level level, const char *event, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));
static void log_line(enum rc_log_level level, const char *event, const char *fmt, va_list ap)
{
	if (!rc_log_enabled(level))
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char line[RC_LOG_LINE_MAX + 1];
	size_t len = rc_log_format(line, sizeof line, &ts, level, event, fmt, ap);
	FILE *f = g_sink != NULL ? g_sink : stderr;
	/* One fwrite of the whole line under the stream's lock, and the flush inside the same lock,
	 * so concurrent lines never interleave and a line is out before the call returns (a crash
	 * right after the event still leaves the event in the log). */
	flockfile(f);
	fwrite(line, 1, len, f);
	fflush(f);
	funlockfile(f);
}

void rc_log(enum rc_log_level level, const char *event, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line(level, event, fmt, ap);
	va_end(ap);
}
