/* rc_peers: connections per source address, for the whole server: how many are open from each
 * address, and how fast new ones come (ip-connections-max, ip-connects-per-s; net/rc_limit.h).
 *
 * One table is shared by every worker, because SO_REUSEPORT spreads one address's connections
 * over all of them: a per-worker count would let an address hold the cap once per worker. A
 * mutex guards it. It is taken twice per connection (admit at accept, release at close), for a
 * few dozen nanoseconds, never on the path of a message.
 *
 * An address is 16 bytes: IPv4 as the IPv4-mapped IPv6 address (::ffff:a.b.c.d), IPv6 cut to its
 * /64 (one host usually has a whole /64, so counting single IPv6 addresses would count nothing).
 * The rate is a token bucket kept as a theoretical arrival time (GCRA): each connection costs
 * 1/rate seconds, and the address may run burst ahead of the clock.
 *
 * Memory is fixed at init: an open-addressed table of twice the entries the server can have
 * (every connection from a different address), so it is never more than half full of addresses
 * with connections. An address with none left stays only while its rate still remembers it;
 * then it is removed (at its release, or by a later admit or release passing over it). If the
 * table is full anyway, admit says UNTRACKED: the connection is let in uncounted (fail open),
 * and the caller must not release it.
 */
#ifndef RC_PEERS_H
#define RC_PEERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define RC_PEER_ADDR_BYTES 16

enum rc_peer_verdict {
	RC_PEER_OK = 0,           /* counted: release it at close */
	RC_PEER_OVER_CONNECTIONS, /* the address has max_conns open: refused, not counted */
	RC_PEER_OVER_RATE,        /* the address connects faster than per_s: refused, not counted */
	RC_PEER_UNTRACKED,        /* the table is full: let in, not counted */
};

typedef struct rc_peer_entry {
	uint64_t hi, lo; /* the address; hi == lo == 0 marks an empty entry (:: is never a peer) */
	uint64_t tat;    /* the rate's theoretical arrival time, ns */
	uint32_t count;  /* connections open */
	uint32_t pad;
} rc_peer_entry;

typedef struct rc_peers {
	pthread_mutex_t lock;
	rc_peer_entry *tab;
	uint32_t mask; /* entries - 1 */
	uint32_t used;
	uint32_t sweep;     /* the next entry a call looks at for removal */
	uint32_t max_conns; /* 0 = no cap */
	uint64_t cost_ns;   /* 1/rate; 0 = no rate */
	uint64_t burst_ns;
} rc_peers;

/* For up to `connections` connections at once, server-wide. max_conns and per_s of 0 mean no
 * limit of that kind; burst_ms is how far ahead of the rate an address may get. Returns 0 or
 * -ENOMEM / -errno of the mutex. */
int rc_peers_init(rc_peers *p, uint32_t connections, uint32_t max_conns, uint32_t per_s,
                  uint32_t burst_ms);
void rc_peers_fini(rc_peers *p);

/* New limits (a reload), as rc_peers_init's; addresses and their counts stay. An address over a
 * lowered cap keeps its connections; new ones wait until it is under. */
void rc_peers_configure(rc_peers *p, uint32_t max_conns, uint32_t per_s, uint32_t burst_ms);

/* The key an address is counted under. addr is the 16-byte form of an IPv6 address, IPv4 as
 * IPv4-mapped (::ffff:a.b.c.d); the key is an IPv4 address whole, an IPv6 address cut to its /64. */
void rc_peer_key(const uint8_t addr[RC_PEER_ADDR_BYTES], uint8_t key[RC_PEER_ADDR_BYTES]);

/* True if key is a loopback address (127.0.0.0/8 or ::1). */
bool rc_peer_loopback(const uint8_t key[RC_PEER_ADDR_BYTES]);

/* A new connection from key at now_ns (CLOCK_MONOTONIC). */
enum rc_peer_verdict rc_peers_admit(rc_peers *p, const uint8_t key[RC_PEER_ADDR_BYTES],
                                    uint64_t now_ns);

/* A connection admitted with RC_PEER_OK closed. */
void rc_peers_release(rc_peers *p, const uint8_t key[RC_PEER_ADDR_BYTES], uint64_t now_ns);

/* Connections counted for key now (tests, the admin view). */
uint32_t rc_peers_count(rc_peers *p, const uint8_t key[RC_PEER_ADDR_BYTES]);

#endif
