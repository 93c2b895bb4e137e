/* rc_pace.c: paced connections (rc_pace.h). */
#include "rc_pace.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "rc_clock.h"
#include "rc_conn.h"

void pace_set(rc_worker *w, rc_conn *c, uint32_t ms)
{
	assert(ms <= UINT16_MAX);
	w->pace.ms[conn_slot(w, c)] = (uint16_t)ms;
}

/* The worker's milliseconds (as rc_conn.deadline_ms): 32 bits, compared by difference. */
bool pace_hold(rc_worker *w, rc_conn *c)
{
	uint32_t slot = conn_slot(w, c);
	struct worker_pace *p = &w->pace;
	if (p->ms[slot] == 0 || c->state != CS_OPEN)
		return false;
	uint32_t now = conn_ms(w, w->time.flush_ns ? w->time.flush_ns : rc_now_ns());
	if ((int32_t)(now - p->next_ms[slot]) >= 0) {
		p->next_ms[slot] = now + p->ms[slot];
		return false;
	}
	if (!(c->flags & F_PACED)) {
		c->flags |= F_PACED;
		rc_due_set(&p->due,
		           (rc_due_entry){ .due_ms = p->next_ms[slot], .slot = slot, .gen = c->gen });
	}
	return true;
}

void pace_due(rc_worker *w, uint64_t now_ns)
{
	struct worker_pace *p = &w->pace;
	uint32_t now = conn_ms(w, now_ns);
	rc_due_entry e;
	while (rc_due_pop(&p->due, now, &e)) {
		rc_conn *c = &w->conns.slots[e.slot];
		if (c->gen != e.gen || !(c->flags & F_PACED))
			continue; /* closed meanwhile: the slot was freed, or is another connection */
		c->flags &= ~F_PACED;
		conn_dirty(w, c);
	}
}

uint64_t pace_next_ns(const rc_worker *w)
{
	uint32_t due;
	return rc_due_next(&w->pace.due, &due) ? conn_deadline_ns(w, due) : 0;
}

int pace_init(rc_worker *w)
{
	struct worker_pace *p = &w->pace;
	uint32_t n = w->conns.nslots;
	p->ms = calloc(n, sizeof *p->ms);
	p->next_ms = calloc(n, sizeof *p->next_ms);
	int r = rc_due_init(&p->due, n);
	return p->ms && p->next_ms && r == 0 ? 0 : -ENOMEM;
}

void pace_fini(rc_worker *w)
{
	free(w->pace.ms);
	free(w->pace.next_ms);
	rc_due_fini(&w->pace.due);
	w->pace = (struct worker_pace){ 0 };
}
