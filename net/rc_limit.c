/* rc_limit.c: rates, lifetimes and admission (rc_limit.h). */
#include "rc_limit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "rc_clock.h"
#include "rc_conn.h"
#include "rc_log.h"
#include "rc_peers.h"

static const enum rc_limit_reason bucket_reason[3] = { RC_LIMIT_MSGS, RC_LIMIT_BYTES,
	                                                   RC_LIMIT_COMMANDS };

void limit_configure(rc_worker *w)
{
	struct worker_limit *l = &w->limit;
	const rc_cfg *cfg = w->cfg;
	uint32_t workers = w->group->n;
	l->rate[LIMIT_MSGS] = cfg->rate_msgs_per_s;
	l->rate[LIMIT_BYTES] = cfg->rate_bytes_per_s;
	l->rate[LIMIT_CMDS] = cfg->rate_commands_per_s;
	for (int k = 0; k < 3; k++)
		l->cost_ns[k] = k != LIMIT_BYTES && l->rate[k] > 0 ? 1000000000ull / l->rate[k] : 0;
	l->burst_ns = (uint64_t)cfg->rate_burst_ms * RC_NS_PER_MS;
	/* each worker takes its share of the server-wide figures: SO_REUSEPORT spreads new
	 * connections evenly (by hash, or by CPU with steer-by-cpu) */
	l->handshakes_cap = (cfg->handshakes_max + workers - 1) / workers;
	l->accept_cost_ns = cfg->accept_per_s > 0 ? 1000000000ull * workers / cfg->accept_per_s : 0;
}

int limit_init(rc_worker *w)
{
	struct worker_limit *l = &w->limit;
	uint32_t n = w->conns.nslots;
	l->conn = calloc(n, sizeof *l->conn);
	if (l->conn == NULL || rc_due_init(&l->wake, n) < 0 || rc_due_init(&l->life, n) < 0 ||
	    rc_due_init(&l->hs, n) < 0)
		return -ENOMEM;
	limit_configure(w);
	if (getrandom(&l->rng, sizeof l->rng, 0) != sizeof l->rng)
		l->rng = rc_now_ns() ^ ((uint64_t)w->index << 32);
	l->rng |= 1;
	return 0;
}

void limit_fini(rc_worker *w)
{
	struct worker_limit *l = &w->limit;
	free(l->conn);
	rc_due_fini(&l->wake);
	rc_due_fini(&l->life);
	rc_due_fini(&l->hs);
	*l = (struct worker_limit){ 0 };
}

/* ---- admission ------------------------------------------------------------------------------- */

/* The peer of an accept as the 16-byte form rc_peers.h counts (IPv4 mapped) and its port. */
static bool peer_of(const void *sockaddr, limit_conn *lc)
{
	static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const struct sockaddr *sa = sockaddr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = sockaddr;
		memcpy(lc->peer, v4_mapped, sizeof v4_mapped);
		memcpy(lc->peer + 12, &a->sin_addr, 4);
		lc->port = ntohs(a->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = sockaddr;
		memcpy(lc->peer, &a->sin6_addr, 16);
		lc->port = ntohs(a->sin6_port);
	} else {
		return false;
	}
	lc->family = (uint8_t)sa->sa_family;
	return true;
}

static bool refuse(rc_worker *w, rc_conn *c, enum rc_limit_reason why)
{
	rc_metric_inc(&w->metrics, RC_M_LIMITED(why));
	if (rc_log_enabled(RC_LOG_DEBUG)) {
		rc_metric_info mi;
		rc_metric_describe(RC_M_LIMITED(why), &mi);
		rc_log(RC_LOG_DEBUG, "conn_limited", "conn=%u limit=%s", c->id, mi.value);
	}
	conn_abort(w, c, RC_CLOSED_LIMITED);
	return false;
}

/* The worker's share of accept-per-s, a bucket with a burst of rate-burst-ms. */
static bool accept_rate_ok(rc_worker *w, uint64_t now)
{
	struct worker_limit *l = &w->limit;
	if (l->accept_cost_ns == 0)
		return true;
	uint64_t tat = (l->accept_tat > now ? l->accept_tat : now) + l->accept_cost_ns;
	uint64_t burst = l->burst_ns > l->accept_cost_ns ? l->burst_ns : l->accept_cost_ns;
	if (tat > now + burst)
		return false;
	l->accept_tat = tat;
	return true;
}

/* Make room for one more handshake: close the oldest connection still in its handshake. */
static void evict_handshake(rc_worker *w)
{
	struct worker_limit *l = &w->limit;
	uint32_t due;
	rc_due_entry e;
	while (l->handshaking >= l->handshakes_cap && rc_due_next(&l->hs, &due) &&
	       rc_due_pop(&l->hs, due, &e)) {
		rc_conn *o = &w->conns.slots[e.slot];
		if (o->gen != e.gen || !(o->flags & F_HANDSHAKE))
			continue; /* upgraded or closed since */
		rc_metric_inc(&w->metrics, RC_M_LIMITED(RC_LIMIT_HANDSHAKES));
		rc_log(RC_LOG_DEBUG, "handshake_evicted", "conn=%u handshaking=%u", o->id, l->handshaking);
		conn_abort(w, o, RC_CLOSED_HANDSHAKE_EVICTED);
	}
}

bool limit_admit(rc_worker *w, rc_conn *c, const void *sockaddr)
{
	struct worker_limit *l = &w->limit;
	uint32_t slot = conn_slot(w, c);
	limit_conn *lc = &l->conn[slot];
	*lc = (limit_conn){ 0 };
	uint64_t now = rc_now_ns();
	if (sockaddr != NULL)
		(void)peer_of(sockaddr, lc);
	if (!accept_rate_ok(w, now))
		return refuse(w, c, RC_LIMIT_ACCEPT_RATE);
	const rc_cfg *cfg = w->cfg;
	bool by_address = cfg->ip_connections_max > 0 || cfg->ip_connects_per_s > 0;
	if (by_address && lc->family != 0) {
		uint8_t key[RC_PEER_ADDR_BYTES];
		rc_peer_key(lc->peer, key);
		if (cfg->ip_limits_loopback || !rc_peer_loopback(key)) {
			switch (rc_peers_admit(&w->group->peers, key, now)) {
			case RC_PEER_OK:
				c->flags |= F_PEER;
				break;
			case RC_PEER_OVER_CONNECTIONS:
				return refuse(w, c, RC_LIMIT_IP_CONNECTIONS);
			case RC_PEER_OVER_RATE:
				return refuse(w, c, RC_LIMIT_IP_RATE);
			case RC_PEER_UNTRACKED:
				break;
			}
		}
	}
	evict_handshake(w);
	c->flags |= F_HANDSHAKE;
	l->handshaking++;
	rc_due_set(&l->hs, (rc_due_entry){ .due_ms = c->deadline_ms, .slot = slot, .gen = c->gen });
	return true;
}

/* ---- lifetime -------------------------------------------------------------------------------- */

void limit_opened(rc_worker *w, rc_conn *c)
{
	struct worker_limit *l = &w->limit;
	uint32_t life = w->cfg->max_lifetime_ms;
	if (life == 0)
		return;
	/* xorshift64: jitter needs no more */
	l->rng ^= l->rng << 13;
	l->rng ^= l->rng >> 7;
	l->rng ^= l->rng << 17;
	life -= (uint32_t)(l->rng % ((uint64_t)life / 10 + 1));
	rc_due_set(&l->life, (rc_due_entry){ .due_ms = conn_deadline_in(w, life),
	                                     .slot = conn_slot(w, c),
	                                     .gen = c->gen });
}

/* ---- rates ----------------------------------------------------------------------------------- */

/* Stop reading from c for wait ns (a due time of w->limit.wake brings it back). */
static void throttle(rc_worker *w, rc_conn *c, int bucket, uint64_t wait)
{
	if (!(c->flags & F_THROTTLED)) /* counted once per pause */
		rc_metric_inc(&w->metrics, RC_M_LIMITED(bucket_reason[bucket]));
	c->flags |= F_THROTTLED;
	uint32_t pause = (uint32_t)((wait + RC_NS_PER_MS - 1) / RC_NS_PER_MS);
	rc_due_set(&w->limit.wake, (rc_due_entry){ .due_ms = conn_ms(w, w->time.turn_ns) + pause,
	                                           .slot = conn_slot(w, c),
	                                           .gen = c->gen });
}

/* How far beyond its burst c's furthest bucket is (ns; 0 if none is), and which bucket. */
static uint64_t overrun(const rc_worker *w, const rc_conn *c, int *worst)
{
	const limit_conn *lc = &w->limit.conn[conn_slot(w, c)];
	uint64_t now = w->time.turn_ns, burst = w->limit.burst_ns, wait = 0;
	*worst = -1;
	for (int k = 0; k < 3; k++) {
		uint64_t tat = lc->tat[k];
		if (tat > now + burst && tat - now - burst > wait) {
			wait = tat - now - burst;
			*worst = k;
		}
	}
	return wait;
}

void limit_throttle(rc_worker *w, rc_conn *c)
{
	int worst;
	uint64_t wait = overrun(w, c, &worst);
	if (worst >= 0)
		throttle(w, c, worst, wait);
}

void limit_charge(rc_worker *w, rc_conn *c, uint32_t bytes)
{
	struct worker_limit *l = &w->limit;
	limit_conn *lc = &l->conn[conn_slot(w, c)];
	uint64_t now = w->time.turn_ns;
	if (l->rate[LIMIT_BYTES] > 0 && bytes > 0) {
		uint64_t *tat = &lc->tat[LIMIT_BYTES];
		*tat = (*tat > now ? *tat : now) + bytes * 1000000000ull / l->rate[LIMIT_BYTES];
	}
	int worst;
	uint64_t wait = overrun(w, c, &worst);
	if (worst < 0) {
		c->flags &= ~F_OVER;
		return;
	}
	uint32_t ms = conn_ms(w, now);
	if (!(c->flags & F_OVER)) {
		c->flags |= F_OVER;
		lc->over_ms = ms;
	} else if (w->cfg->rate_close_after_ms > 0 && ms - lc->over_ms >= w->cfg->rate_close_after_ms) {
		rc_metric_inc(&w->metrics, RC_M_LIMITED(RC_LIMIT_RATE_CLOSED));
		rc_log(RC_LOG_INFO, "rate_limited", "conn=%u over_ms=%u limit=%s", c->id, ms - lc->over_ms,
		       worst == LIMIT_MSGS    ? "msgs"
		       : worst == LIMIT_BYTES ? "bytes"
		                              : "commands");
		conn_close(w, c, RC_CLOSE_RATE_LIMITED, RC_CLOSED_RATE_LIMITED, "over the rate limit");
		return;
	}
	throttle(w, c, worst, wait);
}

void limit_due(rc_worker *w, uint64_t now_ns)
{
	struct worker_limit *l = &w->limit;
	uint32_t now = conn_ms(w, now_ns);
	rc_due_entry e;
	while (rc_due_pop(&l->wake, now, &e)) {
		rc_conn *c = &w->conns.slots[e.slot];
		if (c->gen != e.gen || !(c->flags & F_THROTTLED))
			continue;
		/* counted on after the pause began (input held by a subscribe, rc_owner.h): wait on */
		int worst;
		uint64_t wait = overrun(w, c, &worst);
		if (worst >= 0) {
			throttle(w, c, worst, wait);
			continue;
		}
		c->flags &= ~F_THROTTLED;
		conn_start_recv(w, c);
	}
	while (rc_due_pop(&l->life, now, &e)) {
		rc_conn *c = &w->conns.slots[e.slot];
		if (c->gen != e.gen || c->state != CS_OPEN)
			continue;
		rc_metric_inc(&w->metrics, RC_M_LIMITED(RC_LIMIT_LIFETIME));
		conn_close(w, c, RC_CLOSE_RESTART, RC_CLOSED_LIFETIME,
		           "connection lifetime reached: reconnect");
	}
}

uint64_t limit_next_ns(const rc_worker *w)
{
	uint32_t a, b;
	bool ha = rc_due_next(&w->limit.wake, &a), hb = rc_due_next(&w->limit.life, &b);
	if (!ha && !hb)
		return 0;
	uint32_t due = !ha ? b : !hb ? a : (int32_t)(a - b) < 0 ? a : b;
	return conn_deadline_ns(w, due);
}
