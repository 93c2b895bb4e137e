/* rc_log: structured logs, one line per event.
 *
 * A line is logfmt: space-separated key=value pairs, always starting with the same three keys
 *     ts=2026-11-23T10:00:00.123Z level=info event=conn_open worker=0 conn=12 peer=127.0.0.1:5555
 * ts is UTC with milliseconds; level is error|warn|info|debug; event is a fixed snake_case name
 * (asserted: [a-z0-9_]+) chosen by the caller; worker=N follows on a worker's thread
 * (rc_log_set_worker); the rest comes from the caller's printf format.
 *
 * Values. The server logs only values it chose or formatted itself (numbers, addresses, fixed
 * reason strings); rc_log does not quote or escape them, so text a client controls (an Origin, a
 * close reason, a path) must not be pasted into a line as it is: it could forge a key. Whatever a
 * format pastes in, rc_log replaces every raw control byte (a newline above all) and DEL with '?',
 * so one call is always exactly one line.
 *
 * Size. A line is at most RC_LOG_LINE_MAX bytes including its newline; a longer one is cut and ends
 * in "..." (a cut can fall inside a quoted value, leaving its quote open: the "..." tells).
 *
 * Threads. rc_log formats into a stack buffer and writes the line with one fwrite under the
 * stream's lock (then flushes it), so lines from several threads never interleave. The level is an
 * atomic, but the sink is a plain pointer: rc_log_init must run before other threads log. No
 * allocation.
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

/* Where lines go (NULL: stderr) and the most verbose level written. Call before other threads log.
 * The stream stays the caller's: rc_log never closes it. Default before any call: stderr, info. */
void rc_log_init(FILE *sink, enum rc_log_level level);

/* Change the most verbose level written (a reload); any thread, at any time. */
void rc_log_set_level(enum rc_log_level level);

/* Tag every line this thread writes from now on with worker=N right after event= (N >= 0), or
 * stop tagging (N < 0). Each worker thread calls it once. */
void rc_log_set_worker(int worker);

/* Would a line at this level be written? Lets a caller skip building expensive values. */
bool rc_log_enabled(enum rc_log_level level);

/* Write one line if level passes the filter. fmt (may be NULL: no fields beyond event) gives the
 * caller's key=value pairs, without a leading space or a trailing newline. */
void rc_log(enum rc_log_level level, const char *event, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Format the line rc_log would write at time ts into line[0..cap): the line, its newline, a NUL.
 * Returns its length, newline included: at most min(cap - 1, RC_LOG_LINE_MAX); a longer line is
 * cut and ends in "...\n". cap must be >= 64. rc_log's formatter, public for the tests, which call
 * it with a fixed time. */
size_t rc_log_format(char *line, size_t cap, const struct timespec *ts, enum rc_log_level level,
                     const char *event, const char *fmt, va_list ap)
        __attribute__((format(printf, 6, 0)));

/* "error", "warn", "info", "debug". */
const char *rc_log_level_name(enum rc_log_level level);

/* The level named s (exactly one of the names above). Returns 0, or -EINVAL. */
int rc_log_level_parse(const char *s, enum rc_log_level *out);

#endif
