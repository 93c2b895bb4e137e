/* Tests of rc_due: order of due times, nothing popped before its time, one entry per slot (a set
 * on a slot with an entry moves it, earlier or later), generations carried through, wrap-around
 * of the 32-bit clock, and a randomized test (fixed seeds) against a plain array model: after
 * every operation the same entries pop at the same times, and the heap never holds more entries
 * than slots. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>

#include "rc_due.h"

Test(due, pops_in_order_and_not_before_time)
{
	rc_due d;
	cr_assert_eq(rc_due_init(&d, 8), 0);
	uint32_t dues[] = { 50, 10, 30, 20, 40 };
	for (uint32_t i = 0; i < 5; i++)
		rc_due_set(&d, (rc_due_entry){ .due_ms = dues[i], .slot = i, .gen = 100 + i });
	rc_due_entry e;
	cr_assert_not(rc_due_pop(&d, 9, &e), "nothing is due at 9");
	uint32_t next;
	cr_assert(rc_due_next(&d, &next));
	cr_assert_eq(next, 10);
	uint32_t want_slot[] = { 1, 3, 2, 4, 0 };
	for (uint32_t i = 0; i < 5; i++) {
		cr_assert(rc_due_pop(&d, 1000, &e));
		cr_assert_eq(e.slot, want_slot[i]);
		cr_assert_eq(e.gen, 100 + want_slot[i]);
		cr_assert_not(rc_due_has(&d, e.slot));
	}
	cr_assert_not(rc_due_pop(&d, 1000, &e));
	cr_assert_not(rc_due_next(&d, &next));
	rc_due_fini(&d);
}

Test(due, set_moves_the_slots_one_entry)
{
	rc_due d;
	cr_assert_eq(rc_due_init(&d, 3), 0);
	rc_due_set(&d, (rc_due_entry){ .due_ms = 100, .slot = 0, .gen = 1 });
	rc_due_set(&d, (rc_due_entry){ .due_ms = 200, .slot = 1, .gen = 1 });
	/* earlier, then later, with a new generation: still one entry for slot 0 */
	rc_due_set(&d, (rc_due_entry){ .due_ms = 50, .slot = 0, .gen = 2 });
	rc_due_set(&d, (rc_due_entry){ .due_ms = 300, .slot = 0, .gen = 3 });
	cr_assert_eq(d.len, 2);
	rc_due_entry e;
	cr_assert_not(rc_due_pop(&d, 199, &e));
	cr_assert(rc_due_pop(&d, 299, &e));
	cr_assert_eq(e.slot, 1);
	cr_assert_not(rc_due_pop(&d, 299, &e));
	cr_assert(rc_due_pop(&d, 300, &e));
	cr_assert(e.slot == 0 && e.gen == 3 && e.due_ms == 300);
	rc_due_fini(&d);
}

Test(due, the_clock_wraps)
{
	rc_due d;
	cr_assert_eq(rc_due_init(&d, 2), 0);
	rc_due_set(&d, (rc_due_entry){ .due_ms = 5, .slot = 0 });              /* after the wrap */
	rc_due_set(&d, (rc_due_entry){ .due_ms = UINT32_MAX - 5, .slot = 1 }); /* before it */
	rc_due_entry e;
	cr_assert(rc_due_pop(&d, UINT32_MAX - 1, &e));
	cr_assert_eq(e.slot, 1);
	cr_assert_not(rc_due_pop(&d, UINT32_MAX, &e), "5 is after UINT32_MAX on a wrapping clock");
	cr_assert(rc_due_pop(&d, 6, &e));
	cr_assert_eq(e.slot, 0);
	rc_due_fini(&d);
}

#define NSLOTS 64

Test(due, matches_a_model)
{
	for (unsigned seed = 1; seed <= 20; seed++) {
		srand(seed);
		rc_due d;
		cr_assert_eq(rc_due_init(&d, NSLOTS), 0);
		bool has[NSLOTS] = { false };
		uint32_t due[NSLOTS], gen[NSLOTS];
		uint32_t now = UINT32_MAX - 20000; /* the run crosses the wrap */
		for (int op = 0; op < 20000; op++) {
			if (rand() % 3 != 0) {
				uint32_t s = (uint32_t)rand() % NSLOTS;
				due[s] = now + (uint32_t)(rand() % 200);
				gen[s] = (uint32_t)op;
				has[s] = true;
				rc_due_set(&d, (rc_due_entry){ .due_ms = due[s], .slot = s, .gen = gen[s] });
			} else {
				now += (uint32_t)(rand() % 50);
				rc_due_entry e;
				uint32_t last = 0;
				bool first = true;
				while (rc_due_pop(&d, now, &e)) {
					cr_assert(has[e.slot], "seed %u: slot %u popped twice", seed, e.slot);
					cr_assert(e.due_ms == due[e.slot] && e.gen == gen[e.slot]);
					cr_assert((int32_t)(now - e.due_ms) >= 0);
					cr_assert(first || (int32_t)(e.due_ms - last) >= 0, "out of order");
					first = false;
					last = e.due_ms;
					has[e.slot] = false;
				}
				for (uint32_t s = 0; s < NSLOTS; s++)
					cr_assert(!has[s] || (int32_t)(now - due[s]) < 0,
					          "seed %u: slot %u due and not popped", seed, s);
			}
			uint32_t n = 0;
			for (uint32_t s = 0; s < NSLOTS; s++) {
				n += has[s];
				cr_assert_eq(rc_due_has(&d, s), has[s]);
			}
			cr_assert_eq(d.len, n);
		}
		rc_due_fini(&d);
	}
}
