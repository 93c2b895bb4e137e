/* rc_gauges.c: the gauges /metrics adds up (rc_gauges.h). */
#include "rc_gauges.h"

#include <assert.h>

#include "rc_clock.h"

void gauges_set_cheap(rc_worker *w)
{
	rc_metrics *m = &w->metrics;
	struct rc_pool_stats ps;
	rc_pool_stats(&w->mem.pool, &ps);
	rc_metrics_set_pool(m, &ps);
	rc_metric_set(m, RC_M_CONNECTIONS, w->conns.open);
	rc_metric_set(m, RC_M_TOPICS, w->topics.topics_live);
	rc_metric_set(m, RC_M_SUBSCRIPTIONS, w->topics.subs_live);
	rc_metric_set(m, RC_M_TLS_SESSIONS, w->tls.live);
	if (w->own.history) {
		const rc_retain *r = &w->own.retain;
		rc_metric_set(m, RC_M_HISTORY_MESSAGES, r->live_msgs);
		rc_metric_set(m, RC_M_HISTORY_BUFFERS, r->segments);
		rc_metric_add(m, RC_M_HISTORY_EVICTED, r->evicted - w->own.evicted_told);
		w->own.evicted_told = r->evicted;
		uint64_t not_kept = r->too_large + r->failed;
		rc_metric_add(m, RC_M_HISTORY_NOT_KEPT, not_kept - w->own.not_kept_told);
		w->own.not_kept_told = not_kept;
	}
}

void gauges_refresh_all(rc_worker *w)
{
	gauges_set_cheap(w);
	uint64_t queued = 0;
	for (uint32_t i = 0; i < w->conns.nslots; i++)
		if (w->conns.slots[i].state != CS_FREE)
			queued += rc_outq_bytes(&w->conns.slots[i].q);
	rc_metric_set(&w->metrics, RC_M_QUEUED_BYTES, queued);
	w->gauges.at_ns = rc_now_ns();
	w->gauges.stale = false;
}

void gauges_refresh(rc_worker *w, bool busy, uint64_t now_ns)
{
	assert(w->group->n > 1);
	gauges_set_cheap(w);
	if (busy)
		w->gauges.stale = true;
	if (w->gauges.stale && now_ns - w->gauges.at_ns >= RC_GAUGES_NS)
		gauges_refresh_all(w);
}
