/* rc_log: structured logs, one line per event.
 *
 * A line is logfmt: space-separated key=value pairs, always starting with the same three keys
 *     ts=2026-11-23T10:00:00.123Z level=info event=conn_open worker=0 conn=12 peer=127.0.0.1:5555
 * ts is UTC with milliseconds; level is error|warn|info|debug; event is a fixed snake_case name
 * (asserted: [a-z0-9_]+) chosen by the caller; worker=N follows on a worker's thread
 * (rc_log_set_worker); the rest comes from the caller's printf format.
 *
 * Hostile values. Anything a client controls (an Origin, a close reason, a path, a token-shaped
 * string) goes through rc_log_value() before it reaches the format: it comes back bare if it is a
 * plain token, otherwise in double quotes with every byte that could end the line, end the quotes or
 * confuse a reader escaped (\" \\ \n \r \t, any other control byte, DEL and every byte >= 0x80 as
 * \xHH). So a client cannot forge a line or a key. As a second line of defence rc_log replaces
 * any raw control byte that still reaches the line (a caller that forgot rc_log_value) with '?':
 * one call is always exactly one line.
 *
 * Size. A line is at most RC_LOG_LINE_MAX bytes including its newline; a longer one is cut and ends
 * in "..." (a cut can fall inside a quoted value, leaving its quote open: the "..." tells).
 *
 * Threads. rc_log formats into a stack buffer and writes the line with one fwrite under the
 * stream's lock (then flushes it), so lines from several threads never interleave. The level is an
 * atomic and may change at any time; rc_log_init must run before other threads log (the sink is a
 * plain pointer). No allocation.
 */
#ifndef RC_LOG_H
#define RC_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

enum rc_log_level {
	RC_LOG_ERROR = 0, /* the server cannot do what it should (a failed syscall at start, a bug) */
	RC_LOG_WARN = 1,  /* something is wrong but handled (a pool running dry, a refused config) */
	RC_LOG_INFO = 2,  /* lifecycle: start, listening, drain, exit */
	RC_LOG_DEBUG = 3, /* per-connection events (open, close, refusals); never on by default */
};
#define RC_LOG_LEVEL_COUNT 4

#define RC_LOG_LINE_MAX 1024 /* bytes per line, newline included */
#define RC_LOG_VALUE_MAX 256 /* a good size for rc_log_value's buffer: longer values are cut */

/* Where lines go (NULL: stderr) and the most verbose level written. Call before other threads log.
 * The stream stays the caller's: rc_log never closes it. Default before any call: stderr, info. */
void rc_log_init(FILE *sink, enum rc_log_level level);

void rc_log_set_level(enum rc_log_level level);

/* Tag every line this thread writes from now on with worker=N right after event= (N >= 0), or
 * stop tagging (N < 0). Each worker thread calls it once. */
void rc_log_set_worker(int worker);
enum rc_log_level rc_log_get_level(void);

/* Would a line at this level be written? Lets a caller skip building expensive values. */
bool rc_log_enabled(enum rc_log_level level);

/* Write one line if level passes the filter. fmt (may be NULL: no fields beyond event) gives the
 * caller's key=value pairs, without a leading space or a trailing newline. */
void rc_log(enum rc_log_level level, const char *event, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void rc_logv(enum rc_log_level level, const char *event, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

/* Format the line rc_log would write at time ts into line[0..cap): the line, its newline, a NUL.
 * Returns its length, newline included: at most min(cap - 1, RC_LOG_LINE_MAX); a longer line is
 * cut and ends in "...\n". cap must be >= 64. rc_log uses it; tests call it with a fixed time. */
size_t rc_log_format(char *line, size_t cap, const struct timespec *ts, enum rc_log_level level,
                     const char *event, const char *fmt, va_list ap)
        __attribute__((format(printf, 6, 0)));

/* The n bytes at s (any bytes, NUL included; s may be NULL when n == 0) as a log value, written to
 * buf[0..cap) with its NUL; returns buf, so it can be an argument of rc_log:
 *     char ob[RC_LOG_VALUE_MAX];
 *     rc_log(RC_LOG_WARN, "handshake_refused", "conn=%u status=403 origin=%s", id,
 *            rc_log_value(ob, sizeof ob, origin, origin_len));
 * Bare when 1 <= n and every byte is in 0x21..0x7E other than '"', '\\' and '='; otherwise quoted
 * and escaped as described at the top (so "" for an empty value). A value that does not fit is cut
 * and ends with ... inside its quotes: "abc...". cap must be >= 8. */
const char *rc_log_value(char *buf, size_t cap, const void *s, size_t n);

/* rc_log_value of a NUL-terminated string (NULL gives ""). */
const char *rc_log_str(char *buf, size_t cap, const char *s);

/* "error", "warn", "info", "debug". */
const char *rc_log_level_name(enum rc_log_level level);

/* The level named s (exactly one of the names above). Returns 0, or -EINVAL. */
int rc_log_level_parse(const char *s, enum rc_log_level *out);

#endif
