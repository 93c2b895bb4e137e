/* rc_test: helpers shared by the unit tests.
 *
 * Guarded buffers: rc_guard_copy() puts n bytes so that they end exactly where a PROT_NONE page
 * begins, so a parser that reads one byte past its input faults at once instead of reading stale
 * memory (the technique of picohttpparser's test.c). Every parser test feeds its inputs this way.
 *
 * Both functions abort the test on failure; there is nothing for the caller to check. */
#ifndef RC_TEST_H
#define RC_TEST_H

#include <stddef.h>
#include <stdint.h>

typedef struct rc_guard {
	uint8_t *data; /* first byte of the copy; data + len is the first byte of the guard page */
	size_t len;
	void *map; /* the whole mapping, for rc_guard_free */
	size_t map_len;
} rc_guard;

/* Copy n bytes of src (src may be NULL when n == 0) in front of a guard page. */
rc_guard rc_guard_copy(const void *src, size_t n);
void rc_guard_free(rc_guard *g);

#endif
