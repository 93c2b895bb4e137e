/* rc_due: due times for a worker's connection slots, earliest first: "bring slot S (generation
 * G) back at millisecond T". Paced connections (net/rc_pace.h), throttled readers and connection
 * lifetimes (net/rc_limit.h) each keep one.
 *
 * A slot has at most one entry: rc_due_set on a slot that has one moves it to the new time and
 * generation (an indexed binary heap). So the heap never holds more entries than slots, however
 * fast slots are reused, and nobody has to remove the entry of a connection that closed while it
 * waited: its slot's next user overwrites it, or it comes out when due and its generation, which
 * the caller compares with the slot's, tells it is stale.
 *
 * Times are 32-bit milliseconds of the worker's clock (as rc_conn.deadline_ms), compared by
 * difference: they wrap after 49 days without harm as long as no entry waits that long. Storage
 * (16 bytes per slot) is allocated by rc_due_init; nothing allocates after it.
 */
#ifndef RC_DUE_H
#define RC_DUE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rc_due_entry {
	uint32_t due_ms, slot, gen;
} rc_due_entry;

typedef struct rc_due {
	rc_due_entry *heap; /* [nslots], len in use, earliest first */
	uint32_t *pos;      /* [nslots] the slot's index in heap, RC_DUE_NONE if it has no entry */
	uint32_t len, nslots;
} rc_due;

#define RC_DUE_NONE UINT32_MAX

/* For slots 0 .. nslots-1. Returns 0 or -ENOMEM. */
int rc_due_init(rc_due *d, uint32_t nslots);
void rc_due_fini(rc_due *d);

/* Slot e.slot is due at e.due_ms with generation e.gen, replacing its entry if it has one. */
void rc_due_set(rc_due *d, rc_due_entry e);

/* Whether slot has an entry. */
static inline bool rc_due_has(const rc_due *d, uint32_t slot)
{
	return d->pos[slot] != RC_DUE_NONE;
}

/* The earliest entry if it is due at now_ms (removed, into *out): true; false if none is due. */
bool rc_due_pop(rc_due *d, uint32_t now_ms, rc_due_entry *out);

/* The earliest entry's due time, if there is one. */
static inline bool rc_due_next(const rc_due *d, uint32_t *due_ms)
{
	if (d->len == 0)
		return false;
	*due_ms = d->heap[0].due_ms;
	return true;
}

#endif
