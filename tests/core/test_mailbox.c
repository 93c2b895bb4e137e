/* Tests of rc_mailbox. Single thread: init's checks, empty, full, every push/pop batch size at
 * every starting slot (so every wrap-around point), the free-running indices wrapping past 2^32,
 * the wake flag's state machine, and a long random sequence against a model, with
 * rc_mailbox_validate after every operation. Two threads (pthreads): one producer and one consumer
 * hammer the ring with sequence-numbered records and a checksum (nothing lost, duplicated or
 * reordered) at capacities 1, 2 and 4096; and the wake-up protocol with a consumer that really
 * sleeps (futex on the wake flag, which is sticky like the CQE MSG_RING posts) and is woken only
 * through rc_mailbox_notify, with one producer and with two producers sharing the flag: a lost
 * wake-up fails the test after a bounded wait instead of hanging it.
 *
 * Sizes: 10M records per hammer (1M at capacity 1), 20,000 wake-up rounds, in every build: measured
 * here at 0.1-3.5 s per test in Release and 1-15 s under ThreadSanitizer with --jobs 2 (two
 * tiny-ring pairs of threads at once on two vCPUs are what make it slow, hence one test for
 * both). */
#include <criterion/criterion.h>

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rc_mailbox.h"

#define HAMMER_RECORDS 10000000u
#define WAKE_ROUNDS 20000u
/* A wake-up takes ~100 us on the development VM (docs/facts.md); 3 s means it was lost. */
#define ACK_WAIT_MS 3000

#define VALID(mb) \
	cr_assert(rc_mailbox_validate(mb), "rc_mailbox_validate failed (line %d)", __LINE__)

static rc_mail mail(uint64_t a, uint64_t b)
{
	return (rc_mail){ .a = a, .b = b };
}

/* Push m[0..n) one record at a time until the ring is full. Returns how many went in. */
static uint32_t push_some(rc_mailbox *mb, const rc_mail *m, uint32_t n)
{
	uint32_t i = 0;
	while (i < n && rc_mailbox_push(mb, &m[i]))
		i++;
	return i;
}

/* splitmix64: the checksum word of record i, and the tests' random numbers. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t rng_next(uint64_t *s)
{
	*s += 1;
	return mix(*s);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waiting for the other thread: a few spins, then give the CPU away (two vCPUs here, and
 * Criterion runs two tests at once). */
static void backoff(unsigned *spins)
{
	if (++*spins < 8) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
		return;
	}
	sched_yield();
}

/* ---- single thread ------------------------------------------------------------------------- */

Test(mailbox, init_checks_capacity)
{
	rc_mailbox mb;
	cr_assert_eq(rc_mailbox_init(&mb, 0), -EINVAL);
	cr_assert_eq(rc_mailbox_init(&mb, 3), -EINVAL);
	cr_assert_eq(rc_mailbox_init(&mb, 6), -EINVAL);
	cr_assert_eq(rc_mailbox_init(&mb, RC_MAILBOX_CAPACITY_MAX * 2u), -EINVAL);
	cr_assert_eq(rc_mailbox_init(&mb, UINT32_MAX), -EINVAL);
	for (uint32_t cap = 1; cap <= 1024; cap *= 2) {
		cr_assert_eq(rc_mailbox_init(&mb, cap), 0);
		VALID(&mb);
		rc_mailbox_fini(&mb);
	}
}

Test(mailbox, sides_on_separate_lines)
{
	/* Whatever the alignment, the producer's and consumer's indices and the flag are a line
	 * apart. */
	rc_mailbox mb;
	uintptr_t tail = (uintptr_t)&mb.tail, head = (uintptr_t)&mb.head;
	uintptr_t flag = (uintptr_t)&mb.own_wake.sleeping;
	cr_assert_geq(head - tail, RC_MAILBOX_LINE);
	cr_assert_geq(flag - head, RC_MAILBOX_LINE);
	cr_assert_geq(tail - (uintptr_t)&mb, RC_MAILBOX_LINE);
	cr_assert_geq((uintptr_t)(&mb + 1) - flag, RC_MAILBOX_LINE);
}

Test(mailbox, empty)
{
	rc_mailbox mb;
	rc_mail out[4];
	cr_assert_eq(rc_mailbox_init(&mb, 4), 0);
	cr_assert(rc_mailbox_empty(&mb));
	cr_assert_eq(rc_mailbox_pop_many(&mb, out, 4), 0);
	cr_assert_eq(rc_mailbox_pop_many(&mb, out, 0), 0);
	cr_assert_eq(rc_mailbox_pop_many(&mb, NULL, 0), 0);
	cr_assert(rc_mailbox_empty(&mb));
	VALID(&mb);
	rc_mail m = mail(7, 8);
	cr_assert(rc_mailbox_push(&mb, &m));
	cr_assert_not(rc_mailbox_empty(&mb));
	cr_assert_eq(rc_mailbox_pop_many(&mb, out, 0), 0);
	cr_assert_eq(rc_mailbox_pop_many(&mb, out, 4), 1);
	cr_assert_eq(out[0].a, 7);
	cr_assert_eq(out[0].b, 8);
	cr_assert(rc_mailbox_empty(&mb));
	VALID(&mb);
	rc_mailbox_fini(&mb);
}

Test(mailbox, full)
{
	for (uint32_t cap = 1; cap <= 64; cap *= 2) {
		rc_mailbox mb;
		cr_assert_eq(rc_mailbox_init(&mb, cap), 0);
		for (uint32_t i = 0; i < cap; i++) {
			rc_mail m = mail(i, ~(uint64_t)i);
			cr_assert(rc_mailbox_push(&mb, &m));
			VALID(&mb);
		}
		rc_mail extra = mail(999, 999);
		cr_assert_not(rc_mailbox_push(&mb, &extra), "cap %u: push into a full ring", cap);
		VALID(&mb);
		/* Freeing one slot makes room for exactly one. */
		rc_mail out[64];
		cr_assert_eq(rc_mailbox_pop_many(&mb, out, 1), 1);
		cr_assert_eq(out[0].a, 0);
		cr_assert(rc_mailbox_push(&mb, &extra));
		cr_assert_not(rc_mailbox_push(&mb, &extra));
		cr_assert_eq(rc_mailbox_pop_many(&mb, out, 64), cap);
		for (uint32_t i = 0; i + 1 < cap; i++)
			cr_assert_eq(out[i].a, i + 1);
		cr_assert_eq(out[cap - 1].a, 999);
		VALID(&mb);
		rc_mailbox_fini(&mb);
	}
}

/* The room a producer sees: exact after pops it has not yet seen, and that many pushes succeed. */
Test(mailbox, room)
{
	rc_mailbox mb;
	cr_assert_eq(rc_mailbox_init(&mb, 8), 0);
	cr_assert_eq(rc_mailbox_room(&mb, 1), 8);
	rc_mail m = mail(1, 1), out[8];
	for (int i = 0; i < 8; i++)
		cr_assert(rc_mailbox_push(&mb, &m));
	cr_assert_eq(rc_mailbox_room(&mb, 1), 0);
	cr_assert_eq(rc_mailbox_pop_many(&mb, out, 3), 3);
	/* the cached head says full, and asking for 1 reloads it */
	cr_assert_eq(rc_mailbox_room(&mb, 1), 3);
	for (int i = 0; i < 3; i++)
		cr_assert(rc_mailbox_push(&mb, &m));
	cr_assert_not(rc_mailbox_push(&mb, &m));
	cr_assert_eq(rc_mailbox_pop_many(&mb, out, 8), 8);
	cr_assert_geq(rc_mailbox_room(&mb, 0), 0, "no reload asked: the cached view may lag");
	cr_assert_eq(rc_mailbox_room(&mb, 8), 8);
	VALID(&mb);
	rc_mailbox_fini(&mb);
}

/* For each capacity, each starting slot s, each push batch n and each pop batch k: the records come
 * out whole and in order, across the end of the array wherever it falls. */
Test(mailbox, wrap_around_at_every_index)
{
	rc_mail in[16], out[16];
	for (uint32_t cap = 1; cap <= 16; cap *= 2) {
		for (uint32_t s = 0; s < cap; s++) {
			for (uint32_t n = 1; n <= cap; n++) {
				for (uint32_t k = 1; k <= cap; k++) {
					rc_mailbox mb;
					cr_assert_eq(rc_mailbox_init(&mb, cap), 0);
					rc_mail skip = mail(0, 0);
					for (uint32_t i = 0; i < s; i++) { /* move the start to slot s */
						cr_assert(rc_mailbox_push(&mb, &skip));
						cr_assert_eq(rc_mailbox_pop_many(&mb, out, 1), 1);
					}
					for (uint32_t i = 0; i < n; i++)
						in[i] = mail(cap * 1000 + s * 100 + i, mix(i));
					cr_assert_eq(push_some(&mb, in, n), n);
					VALID(&mb);
					uint32_t got = 0;
					while (got < n) {
						uint32_t r = rc_mailbox_pop_many(&mb, out, k);
						cr_assert_eq(r, n - got < k ? n - got : k);
						for (uint32_t i = 0; i < r; i++) {
							cr_assert_eq(out[i].a, in[got + i].a, "cap %u s %u n %u k %u", cap, s,
							             n, k);
							cr_assert_eq(out[i].b, in[got + i].b);
						}
						got += r;
						VALID(&mb);
					}
					cr_assert(rc_mailbox_empty(&mb));
					rc_mailbox_fini(&mb);
				}
			}
		}
	}
}

/* The indices are free-running uint32_t: start them just below 2^32 (white box: the test sets the
 * fields, which is what ~4 billion records would do) and cross the wrap with every operation. */
Test(mailbox, indices_wrap_past_2_to_32)
{
	rc_mailbox mb;
	rc_mail in[8], out[8];
	cr_assert_eq(rc_mailbox_init(&mb, 8), 0);
	uint32_t start = UINT32_MAX - 4;
	atomic_store(&mb.tail, start);
	atomic_store(&mb.head, start);
	mb.head_cache = mb.tail_cache = start;
	VALID(&mb);
	uint64_t seq = 0, want = 0;
	for (int round = 0; round < 40; round++) {
		uint32_t n = (uint32_t)(round % 8) + 1;
		for (uint32_t i = 0; i < n; i++)
			in[i] = mail(seq + i, mix(seq + i));
		uint32_t pushed = push_some(&mb, in, n);
		seq += pushed;
		VALID(&mb);
		uint32_t r = rc_mailbox_pop_many(&mb, out, (uint32_t)(round % 3) + 1);
		for (uint32_t i = 0; i < r; i++, want++)
			cr_assert_eq(out[i].a, want);
		VALID(&mb);
	}
	while (!rc_mailbox_empty(&mb)) {
		uint32_t r = rc_mailbox_pop_many(&mb, out, 8);
		for (uint32_t i = 0; i < r; i++, want++)
			cr_assert_eq(out[i].a, want);
	}
	cr_assert_eq(want, seq);
	cr_assert_lt(atomic_load(&mb.tail), start, "the indices did wrap");
	rc_mailbox_fini(&mb);
}

/* Random pushes, runs of pushes and pop_manys against a plain array model. */
Test(mailbox, random_against_model)
{
	enum {
		OPS = 200000,
		MODEL = 1 << 16
	};
	static rc_mail model[MODEL]; /* [lo, hi) is what the ring should hold */
	uint64_t s = 42;
	for (uint32_t cap = 1; cap <= 64; cap *= 2) {
		rc_mailbox mb;
		rc_mail buf[80];
		uint32_t lo = 0, hi = 0;
		cr_assert_eq(rc_mailbox_init(&mb, cap), 0);
		for (int op = 0; op < OPS / 8; op++) {
			uint64_t r = rng_next(&s);
			uint32_t k = (uint32_t)(r >> 8) % (cap + 8); /* sometimes more than fits */
			if (hi - lo > MODEL - 100) {                 /* keep the model's window; drain */
				while (lo < hi)
					lo += rc_mailbox_pop_many(&mb, buf, 80);
				lo = hi = 0;
				continue;
			}
			switch (r % 3) {
			case 0: {
				rc_mail m = mail(hi, r);
				bool ok = rc_mailbox_push(&mb, &m);
				cr_assert_eq(ok, hi - lo < cap);
				if (ok)
					model[hi++ % MODEL] = m;
				break;
			}
			case 1: {
				for (uint32_t i = 0; i < k; i++)
					buf[i] = mail(hi + i, r + i);
				uint32_t fit = cap - (hi - lo);
				uint32_t n = push_some(&mb, buf, k);
				cr_assert_eq(n, k < fit ? k : fit);
				for (uint32_t i = 0; i < n; i++)
					model[hi++ % MODEL] = buf[i];
				break;
			}
			default: {
				uint32_t n = rc_mailbox_pop_many(&mb, buf, k);
				cr_assert_eq(n, k < hi - lo ? k : hi - lo);
				for (uint32_t i = 0; i < n; i++, lo++) {
					cr_assert_eq(buf[i].a, model[lo % MODEL].a);
					cr_assert_eq(buf[i].b, model[lo % MODEL].b);
				}
				break;
			}
			}
			cr_assert_eq(rc_mailbox_empty(&mb), lo == hi);
			VALID(&mb);
		}
		rc_mailbox_fini(&mb);
	}
}

/* The wake flag as the server drives it: one flag per consumer (rc_mailbox_use_wakeflag), armed,
 * re-checked with rc_mailbox_empty, disarmed; the producer's rc_mailbox_notify after each
 * publish. */
Test(mailbox, wake_flag_state_machine)
{
	rc_wakeflag wf;
	rc_mailbox mb;
	rc_mail m = mail(1, 2), out[4];
	rc_wakeflag_init(&wf);
	cr_assert_eq(rc_mailbox_init(&mb, 4), 0);
	rc_mailbox_use_wakeflag(&mb, &wf);
	/* Consumer awake: no wake-up, however many pushes. */
	cr_assert(rc_mailbox_push(&mb, &m));
	cr_assert_not(rc_mailbox_notify(&mb));
	cr_assert_not(rc_mailbox_notify(&mb));
	/* Records waiting: the re-check after arming finds them, so the consumer disarms, and nobody
	 * had taken the wake-up. */
	rc_wakeflag_arm(&wf);
	cr_assert_not(rc_mailbox_empty(&mb));
	cr_assert_not(rc_wakeflag_disarm(&wf));
	cr_assert_eq(atomic_load(&wf.sleeping), 0);
	cr_assert_eq(rc_mailbox_pop_many(&mb, out, 4), 1);
	/* Empty: it may sleep; the first publish takes the wake-up, the next ones do not. */
	rc_wakeflag_arm(&wf);
	cr_assert(rc_mailbox_empty(&mb));
	cr_assert(rc_mailbox_push(&mb, &m));
	cr_assert(rc_mailbox_notify(&mb), "first publish after the consumer armed must wake it");
	cr_assert(rc_mailbox_push(&mb, &m));
	cr_assert_not(rc_mailbox_notify(&mb), "one wake-up per sleep, not one per message");
	cr_assert(rc_wakeflag_disarm(&wf), "disarm reports the wake-up was taken");
	/* Armed, then woken for another reason: disarm says nobody took it, and notify stays quiet. */
	cr_assert_eq(rc_mailbox_pop_many(&mb, out, 4), 2);
	rc_wakeflag_arm(&wf);
	cr_assert(rc_mailbox_empty(&mb));
	cr_assert_not(rc_wakeflag_disarm(&wf));
	cr_assert_not(rc_mailbox_notify(&mb));
	VALID(&mb);
	rc_mailbox_fini(&mb);
}

Test(mailbox, shared_wake_flag_wakes_once)
{
	rc_wakeflag wf;
	rc_mailbox a, b;
	rc_mail m = mail(1, 1), out[4];
	rc_wakeflag_init(&wf);
	cr_assert_eq(rc_mailbox_init(&a, 4), 0);
	cr_assert_eq(rc_mailbox_init(&b, 4), 0);
	rc_mailbox_use_wakeflag(&a, &wf);
	rc_mailbox_use_wakeflag(&b, &wf);
	rc_wakeflag_arm(&wf);
	cr_assert(rc_mailbox_empty(&a) && rc_mailbox_empty(&b));
	cr_assert(rc_mailbox_push(&a, &m) && rc_mailbox_push(&b, &m));
	cr_assert(rc_mailbox_notify(&b) != rc_mailbox_notify(&a), "exactly one producer wakes");
	cr_assert(rc_wakeflag_disarm(&wf));
	cr_assert_eq(rc_mailbox_pop_many(&a, out, 4) + rc_mailbox_pop_many(&b, out, 4), 2);
	VALID(&a);
	VALID(&b);
	rc_mailbox_fini(&a);
	rc_mailbox_fini(&b);
}

/* ---- two threads: the hammer --------------------------------------------------------------- */

/* Record i is (i, mix(i)). The producer pushes in batches of random size, one record at a time,
 * retrying what did not fit; the consumer pops batches of random size and checks each
 * record is the next one expected, with the right checksum word. Each field is written by one
 * thread only and read by the main thread after the join. */
struct hammer {
	rc_mailbox mb;
	uint64_t n;
	uint64_t produced_sum;
	uint64_t consumed, consumed_sum, bad, first_bad;
};

static void *hammer_producer(void *arg)
{
	struct hammer *h = arg;
	rc_mail batch[32];
	uint64_t s = 1, sum = 0;
	for (uint64_t i = 0; i < h->n;) {
		uint64_t r = rng_next(&s);
		uint32_t k = (uint32_t)(r % 32) + 1;
		if (k > h->n - i)
			k = (uint32_t)(h->n - i);
		for (uint32_t j = 0; j < k; j++) {
			batch[j] = mail(i + j, mix(i + j));
			sum += batch[j].b;
		}
		uint32_t done = 0;
		unsigned spins = 0;
		while (done < k) {
			uint32_t put = push_some(&h->mb, batch + done, k - done);
			if (put == 0)
				backoff(&spins);
			else
				spins = 0;
			done += put;
		}
		i += k;
	}
	h->produced_sum = sum;
	return NULL;
}

static void *hammer_consumer(void *arg)
{
	struct hammer *h = arg;
	rc_mail out[64];
	uint64_t s = 2, want = 0, sum = 0, bad = 0, first_bad = UINT64_MAX;
	unsigned spins = 0;
	while (want < h->n) {
		uint32_t max = (uint32_t)(rng_next(&s) % 64) + 1;
		uint32_t r = rc_mailbox_pop_many(&h->mb, out, max);
		if (r == 0) {
			backoff(&spins);
			continue;
		}
		spins = 0;
		for (uint32_t i = 0; i < r; i++, want++) {
			sum += out[i].b;
			if (out[i].a != want || out[i].b != mix(out[i].a)) {
				if (bad++ == 0)
					first_bad = want;
			}
		}
	}
	h->consumed = want;
	h->consumed_sum = sum;
	h->bad = bad;
	h->first_bad = first_bad;
	return NULL;
}

static void hammer(uint32_t cap, uint64_t n)
{
	static struct hammer h; /* large (padded) and shared: not on a thread's stack */
	memset(&h, 0, sizeof h);
	h.n = n;
	cr_assert_eq(rc_mailbox_init(&h.mb, cap), 0);
	pthread_t p, c;
	uint64_t t0 = now_ms();
	cr_assert_eq(pthread_create(&c, NULL, hammer_consumer, &h), 0);
	cr_assert_eq(pthread_create(&p, NULL, hammer_producer, &h), 0);
	cr_assert_eq(pthread_join(p, NULL), 0);
	cr_assert_eq(pthread_join(c, NULL), 0);
	fprintf(stderr, "hammer cap %u: %llu records in %llu ms\n", cap, (unsigned long long)n,
	        (unsigned long long)(now_ms() - t0));
	cr_assert_eq(h.bad, 0, "cap %u: %llu records out of sequence, first at %llu", cap,
	             (unsigned long long)h.bad, (unsigned long long)h.first_bad);
	cr_assert_eq(h.consumed, n);
	cr_assert_eq(h.consumed_sum, h.produced_sum, "checksum");
	cr_assert(rc_mailbox_empty(&h.mb));
	VALID(&h.mb);
	rc_mailbox_fini(&h.mb);
}

/* No Criterion .timeout on these: with --jobs 2 it leaks 48 bytes in Criterion's runner, which
 * fails the ASan build; a hang is bounded by ctest's TIMEOUT, and the wake-up tests bound every
 * wait themselves. Capacities 1 and 2 in one test, one after the other: every record is a handoff
 * between the cores, and two such pairs of threads at once on this two-vCPU machine (Criterion
 * --jobs 2) spend their time in sched_yield, several times slower. */
Test(mailbox_threads, hammer_tiny_rings)
{
	hammer(1, HAMMER_RECORDS / 10);
	hammer(2, HAMMER_RECORDS);
}

Test(mailbox_threads, hammer_capacity_4096)
{
	hammer(4096, HAMMER_RECORDS);
}

/* ---- two threads: the wake-up protocol ----------------------------------------------------- */

/* The consumer sleeps in FUTEX_WAIT on the wake flag's word while it is 1; a producer that takes
 * the wake-up (rc_mailbox_notify: the flag is now 0) calls FUTEX_WAKE. Like a MSG_RING completion,
 * the wake-up cannot be missed once the flag is 0: FUTEX_WAIT returns at once if the word is not 1.
 *
 * Each producer publishes a burst, notifies once, then waits (without ever notifying again) until
 * the consumer has taken the whole burst. So the consumer runs dry after every burst and goes to
 * sleep, and the next burst lands while it is arming, re-checking or asleep. A lost wake-up leaves
 * the burst unread: the producer gives up after ACK_WAIT_MS, counts it, and the test fails. */
enum {
	WAKE_PRODUCERS_MAX = 2
};

struct wake_test {
	rc_wakeflag wf;
	uint32_t producers;
	uint32_t rounds;
	struct wake_side {
		rc_mailbox mb;
		_Atomic uint64_t taken; /* records the consumer has popped from this mailbox */
		uint64_t wakes;         /* producer only */
		uint64_t lost;          /* producer only */
		uint64_t pushed;        /* producer only */
		char pad[RC_MAILBOX_LINE];
	} side[WAKE_PRODUCERS_MAX];
	_Atomic bool stop;
	uint64_t sleeps, timeouts, bad; /* consumer only */
};

struct wake_arg {
	struct wake_test *t;
	uint32_t id;
};

static long futex_wait_ms(rc_wakeflag *wf, uint32_t val, long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	return syscall(SYS_futex, &wf->sleeping, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake_one(rc_wakeflag *wf)
{
	syscall(SYS_futex, &wf->sleeping, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *wake_producer(void *arg)
{
	struct wake_arg *wa = arg;
	struct wake_test *t = wa->t;
	struct wake_side *me = &t->side[wa->id];
	uint64_t s = 100 + wa->id, seq = 0;
	rc_mail batch[16];
	for (uint32_t round = 0; round < t->rounds && !atomic_load(&t->stop); round++) {
		uint64_t r = rng_next(&s);
		uint32_t k = (uint32_t)(r % 16) + 1;
		for (uint32_t j = 0; j < k; j++)
			batch[j] = mail(seq + j, mix(seq + j));
		/* The ring (capacity 16) always has room: the consumer took everything before. */
		if (push_some(&me->mb, batch, k) != k) {
			me->lost++;
			atomic_store(&t->stop, true);
			break;
		}
		seq += k;
		if (rc_mailbox_notify(&me->mb)) {
			me->wakes++;
			futex_wake_one(&t->wf);
		}
		/* Now wait, without notifying again, for the consumer to take the burst. Sometimes
		 * spin a little first so that the next burst also lands while it is still awake. */
		uint64_t t0 = now_ms();
		unsigned spins = (unsigned)(r >> 32) % 128;
		while (atomic_load_explicit(&me->taken, memory_order_acquire) != seq) {
			backoff(&spins);
			if (now_ms() - t0 > ACK_WAIT_MS) {
				me->lost++;
				atomic_store(&t->stop, true);
				break;
			}
		}
	}
	me->pushed = seq;
	return NULL;
}

static void *wake_consumer(void *arg)
{
	struct wake_test *t = arg;
	uint64_t want[WAKE_PRODUCERS_MAX] = { 0 };
	uint64_t s = 7;
	rc_mail out[16];
	for (;;) {
		uint32_t got = 0;
		for (uint32_t p = 0; p < t->producers; p++) {
			struct wake_side *sd = &t->side[p];
			uint32_t r = rc_mailbox_pop_many(&sd->mb, out, 16);
			for (uint32_t i = 0; i < r; i++, want[p]++)
				if (out[i].a != want[p] || out[i].b != mix(want[p]))
					t->bad++;
			if (r != 0)
				atomic_store_explicit(&sd->taken, want[p], memory_order_release);
			got += r;
		}
		if (got != 0)
			continue;
		if (atomic_load(&t->stop))
			break;
		/* A short, random spin before sleeping, so the arming races every phase of the
		 * producer's publish. */
		unsigned spin = (unsigned)(rng_next(&s) % 32);
		bool work = false;
		for (unsigned i = 0; i < spin && !work; i++)
			for (uint32_t p = 0; p < t->producers; p++)
				work |= !rc_mailbox_empty(&t->side[p].mb);
		if (work)
			continue;
		/* The protocol of rc_mailbox.h: arm, re-check every mailbox, sleep only if all empty. */
		rc_wakeflag_arm(&t->wf);
		for (uint32_t p = 0; p < t->producers; p++)
			work |= !rc_mailbox_empty(&t->side[p].mb);
		if (!work && !atomic_load(&t->stop)) {
			t->sleeps++;
			if (futex_wait_ms(&t->wf, 1, 5 * ACK_WAIT_MS) == -1 && errno == ETIMEDOUT)
				t->timeouts++;
		}
		rc_wakeflag_disarm(&t->wf);
	}
	return NULL;
}

static void wake_run(uint32_t producers)
{
	static struct wake_test t;
	memset(&t, 0, sizeof t);
	rc_wakeflag_init(&t.wf);
	t.producers = producers;
	t.rounds = WAKE_ROUNDS / producers;
	for (uint32_t p = 0; p < producers; p++) {
		cr_assert_eq(rc_mailbox_init(&t.side[p].mb, 16), 0);
		rc_mailbox_use_wakeflag(&t.side[p].mb, &t.wf);
	}
	pthread_t c, pt[WAKE_PRODUCERS_MAX];
	struct wake_arg args[WAKE_PRODUCERS_MAX];
	uint64_t t0 = now_ms();
	cr_assert_eq(pthread_create(&c, NULL, wake_consumer, &t), 0);
	for (uint32_t p = 0; p < producers; p++) {
		args[p] = (struct wake_arg){ .t = &t, .id = p };
		cr_assert_eq(pthread_create(&pt[p], NULL, wake_producer, &args[p]), 0);
	}
	for (uint32_t p = 0; p < producers; p++)
		cr_assert_eq(pthread_join(pt[p], NULL), 0);
	/* All bursts were taken (or a loss was counted): stop the consumer through its own flag. */
	atomic_store(&t.stop, true);
	atomic_store(&t.wf.sleeping, 0);
	futex_wake_one(&t.wf);
	cr_assert_eq(pthread_join(c, NULL), 0);
	uint64_t wakes = 0, lost = 0, pushed = 0;
	for (uint32_t p = 0; p < producers; p++) {
		wakes += t.side[p].wakes;
		lost += t.side[p].lost;
		pushed += t.side[p].pushed;
		cr_assert_eq(atomic_load(&t.side[p].taken), t.side[p].pushed, "producer %u", p);
		VALID(&t.side[p].mb);
		rc_mailbox_fini(&t.side[p].mb);
	}
	fprintf(stderr,
	        "wake %u producers: %u rounds, %llu records, %llu sleeps, %llu wake-ups, "
	        "%llu futex timeouts, %llu ms\n",
	        producers, t.rounds * producers, (unsigned long long)pushed,
	        (unsigned long long)t.sleeps, (unsigned long long)wakes, (unsigned long long)t.timeouts,
	        (unsigned long long)(now_ms() - t0));
	cr_assert_eq(lost, 0, "%llu lost wake-ups (a burst sat unread for %d ms)",
	             (unsigned long long)lost, ACK_WAIT_MS);
	cr_assert_eq(t.bad, 0, "records out of sequence");
	cr_assert_eq(t.timeouts, 0, "the consumer slept through a whole futex timeout");
	/* The protocol was exercised: the consumer really slept, and was woken at most once per
	 * burst (not once per record). */
	cr_assert_gt(t.sleeps, t.rounds / 20, "only %llu sleeps", (unsigned long long)t.sleeps);
	cr_assert_gt(wakes, 0);
	cr_assert_leq(wakes, (uint64_t)t.rounds * producers);
}

Test(mailbox_threads, wake_one_producer)
{
	wake_run(1);
}

Test(mailbox_threads, wake_two_producers_one_flag)
{
	wake_run(2);
}
