/* cli_sys: what ringcast-cli asks of the system besides the network (cli.h): the clock,
 * randomness, and signals with the one wait they may interrupt.
 *
 * Signals. SIGINT and SIGTERM are blocked all the time except inside cli_poll, which waits with
 * ppoll and the original mask: a signal is delivered only there, sets cli_stop and ends the wait
 * with EINTR. So no signal can arrive between "check cli_stop" and "start waiting" (a plain poll
 * would then sleep its whole timeout after Ctrl-C), and none can interrupt a write half done.
 * SIGPIPE is ignored: a closed socket or stdout is an error return (EPIPE) to handle.
 *
 * Randomness is getrandom(2): masking keys must be unpredictable (RFC 6455 §5.3) and are drawn
 * a few thousand at a time; the backoff jitter draws its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cli.h"

#define CLI_KEYS 4096 /* masking keys drawn per getrandom call */

volatile sig_atomic_t cli_stop;

static sigset_t g_wait_mask; /* the mask while waiting: SIGINT and SIGTERM deliverable */

static void on_signal(int sig)
{
	(void)sig;
	if (cli_stop < 2)
		cli_stop++;
}

void cli_signals_init(void)
{
	struct sigaction sa = { 0 };
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &g_wait_mask);
	sigdelset(&g_wait_mask, SIGINT);
	sigdelset(&g_wait_mask, SIGTERM);
}

int cli_poll(struct pollfd *pfd, nfds_t n, int timeout_ms)
{
	struct timespec ts, *tp = NULL;
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tp = &ts;
	}
	return ppoll(pfd, n, tp, &g_wait_mask);
}

void cli_sleep_ms(uint32_t ms)
{
	uint64_t until = cli_now_ns() + (uint64_t)ms * 1000000u;
	while (!cli_stop) {
		int left = cli_ms_until(until, 1 << 30);
		if (left == 0)
			return;
		(void)cli_poll(NULL, 0, left);
	}
}

uint64_t cli_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int cli_ms_until(uint64_t deadline_ns, int cap_ms)
{
	if (deadline_ns == 0)
		return cap_ms;
	uint64_t now = cli_now_ns();
	if (now >= deadline_ns)
		return 0;
	/* rounded up, so that a wait of this long does reach the deadline */
	uint64_t ms = (deadline_ns - now + 999999u) / 1000000u;
	return ms < (uint64_t)cap_ms ? (int)ms : cap_ms;
}

/* Fill p[0..n) from the kernel's generator; it only fails on kernels without getrandom (before
 * 3.17), which liburing does not run on anyway. */
static void random_fill(void *p, size_t n)
{
	uint8_t *b = p;
	while (n > 0) {
		ssize_t r = getrandom(b, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "ringcast-cli: getrandom: %s\n", strerror(errno));
			exit(CLI_EXIT_FAIL);
		}
		b += r;
		n -= (size_t)r;
	}
}

static uint8_t g_keys[CLI_KEYS][4];
static uint32_t g_keys_left;

void cli_mask_key(uint8_t key[4])
{
	if (g_keys_left == 0) {
		random_fill(g_keys, sizeof g_keys);
		g_keys_left = CLI_KEYS;
	}
	memcpy(key, g_keys[--g_keys_left], 4);
}

uint64_t cli_random_upto(uint64_t n)
{
	uint64_t r;
	random_fill(&r, sizeof r);
	/* the modulo's bias is below 2^-40 for the delays this is used for */
	return n == UINT64_MAX ? r : r % (n + 1);
}

int cli_fail(struct cli_err *e, bool fatal, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	e->fatal = fatal;
	return -1;
}

bool cli_close_retryable(uint16_t code)
{
	switch (code) {
	case RC_CLOSE_PROTOCOL:     /* 1002: we broke the protocol, or the server did */
	case RC_CLOSE_UNSUPPORTED:  /* 1003 */
	case RC_CLOSE_INVALID_DATA: /* 1007 */
	case RC_CLOSE_POLICY:       /* 1008 */
	case RC_CLOSE_TOO_BIG:      /* 1009: the same message would be refused again */
	case RC_CLOSE_EXTENSION:    /* 1010 */
	case RC_CLOSE_UNAUTHORIZED: /* 4001 */
	case RC_CLOSE_BAD_COMMAND:  /* 4002 */
		return false;
	default:
		return true;
	}
}
