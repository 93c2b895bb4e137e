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
static uint32_t now_ms(const rc_worker *w, uint64_t now_ns)
{
	return (uint32_t)((now_ns - w->time.t0_ns) / RC_NS_PER_MS);
}

static bool before(const pace_entry *a, const pace_entry *b)
{
	return (int32_t)(a->due_ms - b->due_ms) < 0;
}

static void heap_push(struct worker_pace *p, pace_entry e)
{
	assert(p->len < p->cap);
	uint32_t i = p->len++;
	while (i > 0) {
		uint32_t up = (i - 1) / 2;
		if (!before(&e, &p->heap[up]))
			break;
		p->heap[i] = p->heap[up];
		i = up;
	}
	p->heap[i] = e;
}

static pace_entry heap_pop(struct worker_pace *p)
{
	assert(p->len > 0);
	pace_entry top = p->heap[0], last = p->heap[--p->len];
	uint32_t i = 0;
	for (;;) {
		uint32_t k = 2 * i + 1;
		if (k >= p->len)
			break;
		if (k + 1 < p->len && before(&p->heap[k + 1], &p->heap[k]))
			k++;
		if (!before(&p->heap[k], &last))
			break;
		p->heap[i] = p->heap[k];
		i = k;
	}
	if (p->len > 0)
		p->heap[i] = last;
	return top;
}

bool pace_hold(rc_worker *w, rc_conn *c)
{
	uint32_t slot = conn_slot(w, c);
	struct worker_pace *p = &w->pace;
	if (p->ms[slot] == 0 || c->state != CS_OPEN)
		return false;
	uint32_t now = now_ms(w, w->time.flush_ns ? w->time.flush_ns : rc_now_ns());
	if ((int32_t)(now - p->next_ms[slot]) >= 0) {
		p->next_ms[slot] = now + p->ms[slot];
		return false;
	}
	if (!(c->flags & F_PACED)) {
		c->flags |= F_PACED;
		heap_push(p, (pace_entry){ .due_ms = p->next_ms[slot], .slot = slot, .gen = c->gen });
	}
	return true;
}

void pace_due(rc_worker *w, uint64_t now_ns)
{
	struct worker_pace *p = &w->pace;
	uint32_t now = now_ms(w, now_ns);
	while (p->len > 0 && (int32_t)(now - p->heap[0].due_ms) >= 0) {
		pace_entry e = heap_pop(p);
		rc_conn *c = &w->conns.slots[e.slot];
		if (c->gen != e.gen || !(c->flags & F_PACED))
			continue; /* closed meanwhile: the slot was freed, or is another connection */
		c->flags &= ~F_PACED;
		conn_dirty(w, c);
	}
}

uint64_t pace_next_ns(const rc_worker *w)
{
	const struct worker_pace *p = &w->pace;
	return p->len > 0 ? conn_deadline_ns(w, p->heap[0].due_ms) : 0;
}

int pace_init(rc_worker *w)
{
	struct worker_pace *p = &w->pace;
	uint32_t n = w->conns.nslots;
	p->ms = calloc(n, sizeof *p->ms);
	p->next_ms = calloc(n, sizeof *p->next_ms);
	p->heap = calloc(n, sizeof *p->heap);
	p->cap = n;
	return p->ms && p->next_ms && p->heap ? 0 : -ENOMEM;
}

void pace_fini(rc_worker *w)
{
	free(w->pace.ms);
	free(w->pace.next_ms);
	free(w->pace.heap);
	w->pace = (struct worker_pace){ 0 };
}
