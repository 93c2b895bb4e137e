/* Tests of rc_peers: the keys of IPv4 and IPv6 addresses (an IPv6 host counted by its /64,
 * loopback recognised); the connection cap per address, exact, and freed by release; the rate
 * per address with its burst, refilling with time; addresses independent of each other; entries
 * removed when nothing remembers them, so that a long run of distinct addresses never fills the
 * table; and a randomized test (fixed seeds) against a plain model that checks every verdict and
 * count while thousands of addresses come and go through backward-shift deletions. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rc_peers.h"

#define S 1000000000ull

static void v4(uint8_t key[16], uint32_t a)
{
	uint8_t addr[16] = { 0,
		                 0,
		                 0,
		                 0,
		                 0,
		                 0,
		                 0,
		                 0,
		                 0,
		                 0,
		                 0xff,
		                 0xff,
		                 (uint8_t)(a >> 24),
		                 (uint8_t)(a >> 16),
		                 (uint8_t)(a >> 8),
		                 (uint8_t)a };
	rc_peer_key(addr, key);
}

Test(peers, keys)
{
	uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 9, 9, 9, 9, 9, 9, 9, 9 };
	uint8_t b[16] = { 0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 7, 7, 7, 7, 7, 7, 7, 7 };
	uint8_t ka[16], kb[16];
	rc_peer_key(a, ka);
	rc_peer_key(b, kb);
	cr_assert(memcmp(ka, kb, 16) == 0, "one IPv6 /64, one key");
	uint8_t k1[16], k2[16];
	v4(k1, 0x0a000001);
	v4(k2, 0x0a000002);
	cr_assert(memcmp(k1, k2, 16) != 0, "IPv4 addresses are counted one by one");
	uint8_t lo4[16], lo6[16] = { 0 }, klo6[16];
	v4(lo4, 0x7f000001);
	cr_assert(rc_peer_loopback(lo4));
	v4(lo4, 0x7f0000fe);
	cr_assert(rc_peer_loopback(lo4), "127.0.0.0/8");
	lo6[15] = 1;
	rc_peer_key(lo6, klo6);
	cr_assert(rc_peer_loopback(klo6), "::1");
	cr_assert_not(rc_peer_loopback(k1));
	cr_assert_not(rc_peer_loopback(ka));
}

Test(peers, connection_cap_is_exact_and_released)
{
	rc_peers p;
	cr_assert_eq(rc_peers_init(&p, 100, 3, 0, 1000), 0);
	uint8_t k[16], other[16];
	v4(k, 0x01020304);
	v4(other, 0x01020305);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(rc_peers_admit(&p, k, 0), RC_PEER_OK);
	cr_assert_eq(rc_peers_admit(&p, k, 0), RC_PEER_OVER_CONNECTIONS);
	cr_assert_eq(rc_peers_count(&p, k), 3, "a refusal is not counted");
	cr_assert_eq(rc_peers_admit(&p, other, 0), RC_PEER_OK, "another address has its own cap");
	rc_peers_release(&p, k, 0);
	cr_assert_eq(rc_peers_admit(&p, k, 0), RC_PEER_OK);
	cr_assert_eq(rc_peers_admit(&p, k, 0), RC_PEER_OVER_CONNECTIONS);
	for (int i = 0; i < 3; i++)
		rc_peers_release(&p, k, 0);
	rc_peers_release(&p, other, 0);
	cr_assert_eq(rc_peers_count(&p, k), 0);
	cr_assert_eq(p.used, 0, "addresses with nothing to remember are removed");
	rc_peers_fini(&p);
}

Test(peers, rate_with_burst)
{
	rc_peers p;
	/* 10 a second, a burst of 500 ms: 5 at once, then one per 100 ms */
	cr_assert_eq(rc_peers_init(&p, 100, 0, 10, 500), 0);
	uint8_t k[16];
	v4(k, 0x05060708);
	uint64_t now = 7 * S;
	int ok = 0;
	for (int i = 0; i < 20; i++)
		ok += rc_peers_admit(&p, k, now) == RC_PEER_OK;
	cr_assert_eq(ok, 5, "the burst");
	cr_assert_eq(rc_peers_admit(&p, k, now + S / 10 - 1), RC_PEER_OVER_RATE);
	cr_assert_eq(rc_peers_admit(&p, k, now + S / 10), RC_PEER_OK, "one per 100 ms");
	cr_assert_eq(rc_peers_admit(&p, k, now + S / 10), RC_PEER_OVER_RATE);
	for (int i = 0; i < 6; i++)
		rc_peers_release(&p, k, now + S / 10);
	cr_assert_eq(p.used, 1, "the rate still remembers the address");
	ok = 0;
	for (int i = 0; i < 20; i++)
		ok += rc_peers_admit(&p, k, now + 10 * S) == RC_PEER_OK;
	cr_assert_eq(ok, 5, "the burst again after a quiet time");
	rc_peers_fini(&p);
}

Test(peers, distinct_addresses_never_fill_the_table)
{
	rc_peers p;
	cr_assert_eq(rc_peers_init(&p, 8, 0, 1000, 10), 0); /* 16 entries */
	uint8_t k[16];
	for (uint32_t i = 0; i < 100000; i++) {
		uint64_t now = (uint64_t)i * S; /* each address is forgotten a second later */
		v4(k, 0x0a000000 + i);
		cr_assert_eq(rc_peers_admit(&p, k, now), RC_PEER_OK, "address %u", i);
		rc_peers_release(&p, k, now);
	}
	cr_assert_leq(p.used, 12, "at most three quarters of the table");
	rc_peers_fini(&p);
}

#define ADDRS 300

Test(peers, matches_a_model)
{
	for (unsigned seed = 1; seed <= 10; seed++) {
		srand(seed);
		rc_peers p;
		cr_assert_eq(rc_peers_init(&p, 400, 4, 20, 200), 0);
		uint32_t count[ADDRS] = { 0 };
		uint64_t tat[ADDRS] = { 0 };
		uint64_t now = S;
		uint32_t open = 0;
		for (int op = 0; op < 50000; op++) {
			uint32_t a = (uint32_t)rand() % ADDRS;
			uint8_t k[16];
			v4(k, 0xc0a80000 + a * 7919u);
			now += (uint64_t)(rand() % 5) * 1000000;
			if (count[a] > 0 && rand() % 2) {
				rc_peers_release(&p, k, now);
				count[a]--;
				open--;
				continue;
			}
			if (open >= 400)
				continue;
			enum rc_peer_verdict want = RC_PEER_OK;
			uint64_t t = (tat[a] > now ? tat[a] : now) + S / 20;
			if (count[a] >= 4)
				want = RC_PEER_OVER_CONNECTIONS;
			else if (t > now + S / 5)
				want = RC_PEER_OVER_RATE;
			enum rc_peer_verdict got = rc_peers_admit(&p, k, now);
			cr_assert_eq(got, want, "seed %u op %d address %u", seed, op, a);
			if (got == RC_PEER_OK) {
				count[a]++;
				open++;
				tat[a] = t;
			}
			cr_assert_eq(rc_peers_count(&p, k), count[a]);
		}
		rc_peers_fini(&p);
	}
}
