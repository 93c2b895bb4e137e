/* rc_check: the checks inside _validate() functions, written the same way in every module.
 *
 * A data structure with invariants has a `bool rc_X_validate(const rc_X *x)` that tests (and
 * debug checks) call after operations on it. It checks every invariant and returns true if all
 * hold; at the first one that does not, it prints one line to stderr saying which, with the
 * values involved where that helps, and returns false. It does not assert: the test that called it
 * then fails with its own context (which operation, which step) next to the printed line.
 *
 * Inside a validate function, or a bool helper of one:
 *
 *     RC_CHECK(q->pinned <= q->count);
 *     RC_CHECKF(n == p->free_top, "%u FREE buffers, free stack holds %u", n, p->free_top);
 *
 *   RC_CHECK(cond)             if cond is false: print "FUNC: FILE:LINE: cond", return false
 *   RC_CHECKF(cond, fmt, ...)  the same line, then ": " and the printf-formatted values
 *
 * FUNC is the enclosing function (__func__), so a check in a helper names the helper. Both
 * macros are one statement that returns false from the enclosing function, which must return
 * bool; whoever calls a helper passes its failure on (`if (!validate_slots(t)) return false;`).
 * They never allocate and print with stderr locked, so the line is whole even with other threads
 * writing.
 */
#ifndef RC_CHECK_H
#define RC_CHECK_H

#include <stdbool.h>
#include <stdio.h>

/* The source file without its directories where the compiler offers it (GCC 12, clang 9). */
#ifdef __FILE_NAME__
#define RC_CHECK_FILE __FILE_NAME__
#else
#define RC_CHECK_FILE __FILE__
#endif

#define RC_CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "%s: %s:%d: %s\n", __func__, RC_CHECK_FILE, __LINE__, #cond); \
			return false; \
		} \
	} while (0)

#define RC_CHECKF(cond, ...) \
	do { \
		if (!(cond)) { \
			flockfile(stderr); \
			fprintf(stderr, "%s: %s:%d: %s: ", __func__, RC_CHECK_FILE, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
			funlockfile(stderr); \
			return false; \
		} \
	} while (0)

#endif
