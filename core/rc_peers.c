/* rc_peers.c: connections per source address (rc_peers.h): a linear-probing table with
 * backward-shift deletion, under one mutex. */
#include "rc_peers.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void set_limits(rc_peers *p, uint32_t max_conns, uint32_t per_s, uint32_t burst_ms)
{
	p->max_conns = max_conns;
	p->cost_ns = per_s > 0 ? 1000000000ull / per_s : 0;
	/* a burst of at least one connection, whatever burst_ms is */
	p->burst_ns = (uint64_t)burst_ms * 1000000ull;
	if (p->cost_ns > 0 && p->burst_ns < p->cost_ns)
		p->burst_ns = p->cost_ns;
}

void rc_peers_configure(rc_peers *p, uint32_t max_conns, uint32_t per_s, uint32_t burst_ms)
{
	pthread_mutex_lock(&p->lock);
	set_limits(p, max_conns, per_s, burst_ms);
	pthread_mutex_unlock(&p->lock);
}

int rc_peers_init(rc_peers *p, uint32_t connections, uint32_t max_conns, uint32_t per_s,
                  uint32_t burst_ms)
{
	memset(p, 0, sizeof *p);
	uint64_t want = 2 * (uint64_t)(connections > 0 ? connections : 1), n = 16;
	while (n < want)
		n <<= 1;
	if (n > (1u << 30))
		return -ENOMEM;
	p->tab = calloc(n, sizeof *p->tab);
	if (p->tab == NULL)
		return -ENOMEM;
	int r = pthread_mutex_init(&p->lock, NULL);
	if (r != 0) {
		free(p->tab);
		p->tab = NULL;
		return -r;
	}
	p->mask = (uint32_t)(n - 1);
	set_limits(p, max_conns, per_s, burst_ms);
	return 0;
}

void rc_peers_fini(rc_peers *p)
{
	if (p->tab != NULL)
		pthread_mutex_destroy(&p->lock);
	free(p->tab);
	p->tab = NULL;
}

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void rc_peer_key(const uint8_t addr[RC_PEER_ADDR_BYTES], uint8_t key[RC_PEER_ADDR_BYTES])
{
	memcpy(key, addr, RC_PEER_ADDR_BYTES);
	if (memcmp(addr, v4_mapped, sizeof v4_mapped) != 0)
		memset(key + 8, 0, 8); /* an IPv6 host: its /64 */
}

bool rc_peer_loopback(const uint8_t key[RC_PEER_ADDR_BYTES])
{
	if (memcmp(key, v4_mapped, sizeof v4_mapped) == 0)
		return key[12] == 127;
	/* ::1 cut to its /64 is ::, the same key as any other address of ::/64, none of which can
	 * be a real peer */
	for (int i = 0; i < RC_PEER_ADDR_BYTES; i++)
		if (key[i] != 0)
			return false;
	return true;
}

static void split(const uint8_t key[RC_PEER_ADDR_BYTES], uint64_t *hi, uint64_t *lo)
{
	memcpy(hi, key, 8);
	memcpy(lo, key + 8, 8);
}

static uint32_t home(const rc_peers *p, uint64_t hi, uint64_t lo)
{
	uint64_t h = (hi ^ (lo * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
	return (uint32_t)(h >> 32) & p->mask;
}

static bool empty(const rc_peer_entry *e)
{
	return e->hi == 0 && e->lo == 0;
}

/* The entry of (hi, lo), or the empty entry where it would go. */
static uint32_t find(const rc_peers *p, uint64_t hi, uint64_t lo)
{
	uint32_t i = home(p, hi, lo);
	while (!empty(&p->tab[i]) && !(p->tab[i].hi == hi && p->tab[i].lo == lo))
		i = (i + 1) & p->mask;
	return i;
}

/* Remove entry i, moving later entries of its run back so every entry stays reachable from its
 * home (backward-shift deletion: no tombstones). */
static void remove_at(rc_peers *p, uint32_t i)
{
	uint32_t j = i;
	for (;;) {
		j = (j + 1) & p->mask;
		if (empty(&p->tab[j]))
			break;
		uint32_t h = home(p, p->tab[j].hi, p->tab[j].lo);
		/* j may move to i only if its home is not within (i, j] */
		bool between = i <= j ? (i < h && h <= j) : (i < h || h <= j);
		if (between)
			continue;
		p->tab[i] = p->tab[j];
		i = j;
	}
	p->tab[i] = (rc_peer_entry){ 0 };
	p->used--;
}

/* An address with no connection whose rate has forgotten it. */
static bool stale(const rc_peer_entry *e, uint64_t now_ns)
{
	return !empty(e) && e->count == 0 && e->tat <= now_ns;
}

/* Look at one more entry for removal, so that addresses gone quiet leave even when nothing
 * else touches them. */
static void sweep_one(rc_peers *p, uint64_t now_ns)
{
	uint32_t i = p->sweep;
	p->sweep = (i + 1) & p->mask;
	if (stale(&p->tab[i], now_ns))
		remove_at(p, i);
}

/* One more address would make the table more than three quarters full. */
static bool crowded(const rc_peers *p)
{
	return (uint64_t)(p->used + 1) * 4 > (uint64_t)(p->mask + 1) * 3;
}

enum rc_peer_verdict rc_peers_admit(rc_peers *p, const uint8_t key[RC_PEER_ADDR_BYTES],
                                    uint64_t now_ns)
{
	uint64_t hi, lo;
	split(key, &hi, &lo);
	if (hi == 0 && lo == 0)
		lo = 1; /* :: would read as empty; ::1/64 is :: (rc_peer_loopback) */
	pthread_mutex_lock(&p->lock);
	sweep_one(p, now_ns);
	uint32_t i = find(p, hi, lo);
	rc_peer_entry *e = &p->tab[i];
	enum rc_peer_verdict v = RC_PEER_OK;
	if (empty(e) && crowded(p)) {
		/* remove every address nothing remembers any more, then look again (deletions move
		 * entries) */
		for (uint32_t j = 0; j <= p->mask; j++)
			while (stale(&p->tab[j], now_ns))
				remove_at(p, j);
		i = find(p, hi, lo);
		e = &p->tab[i];
	}
	if (empty(e)) {
		/* at most three quarters full, so probes stay short; past that, uncounted */
		if (crowded(p)) {
			v = RC_PEER_UNTRACKED;
			goto out;
		}
		*e = (rc_peer_entry){ .hi = hi, .lo = lo };
		p->used++;
	}
	if (p->max_conns > 0 && e->count >= p->max_conns) {
		v = RC_PEER_OVER_CONNECTIONS;
		goto out;
	}
	if (p->cost_ns > 0) {
		uint64_t tat = (e->tat > now_ns ? e->tat : now_ns) + p->cost_ns;
		if (tat > now_ns + p->burst_ns) {
			v = RC_PEER_OVER_RATE;
			goto out;
		}
		e->tat = tat;
	}
	e->count++;
out:
	if (v != RC_PEER_OK && v != RC_PEER_UNTRACKED && stale(e, now_ns))
		remove_at(p, i);
	pthread_mutex_unlock(&p->lock);
	return v;
}

void rc_peers_release(rc_peers *p, const uint8_t key[RC_PEER_ADDR_BYTES], uint64_t now_ns)
{
	uint64_t hi, lo;
	split(key, &hi, &lo);
	if (hi == 0 && lo == 0)
		lo = 1;
	pthread_mutex_lock(&p->lock);
	uint32_t i = find(p, hi, lo);
	rc_peer_entry *e = &p->tab[i];
	assert(!empty(e) && e->count > 0);
	if (!empty(e) && e->count > 0) {
		e->count--;
		if (stale(e, now_ns))
			remove_at(p, i);
	}
	sweep_one(p, now_ns);
	pthread_mutex_unlock(&p->lock);
}

uint32_t rc_peers_count(rc_peers *p, const uint8_t key[RC_PEER_ADDR_BYTES])
{
	uint64_t hi, lo;
	split(key, &hi, &lo);
	if (hi == 0 && lo == 0)
		lo = 1;
	pthread_mutex_lock(&p->lock);
	const rc_peer_entry *e = &p->tab[find(p, hi, lo)];
	uint32_t n = empty(e) ? 0 : e->count;
	pthread_mutex_unlock(&p->lock);
	return n;
}
