/* rc_group.c: what the workers share (rc_group.h). */
#define _GNU_SOURCE
#include "rc_group.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void rc_group_fini(rc_group *g)
{
	if (g->mail != NULL)
		for (size_t i = 0; i < (size_t)g->n * g->n; i++)
			rc_mailbox_fini(&g->mail[i]);
	free(g->mail);
	free(g->wake);
	free(g->workers);
	free(g->ring_fd);
	rc_interest_fini(&g->interest);
	rc_peers_fini(&g->peers);
}

int rc_group_init(rc_group *g, const rc_cfg *cfg, uint32_t n)
{
	assert(n >= 1 && n <= RC_INTEREST_WORKERS_MAX);
	memset(g, 0, sizeof *g);
	g->cfg = cfg;
	g->n = n;
	g->workers = calloc(n, sizeof *g->workers);
	g->ring_fd = calloc(n, sizeof *g->ring_fd);
	g->wake = calloc(n, sizeof *g->wake);
	g->mail = calloc((size_t)n * n, sizeof *g->mail);
	if (g->workers == NULL || g->ring_fd == NULL || g->wake == NULL || g->mail == NULL ||
	    rc_interest_init(&g->interest) < 0)
		return -ENOMEM;
	int pr = rc_peers_init(&g->peers, cfg->max_connections + cfg->handshakes_max,
	                       cfg->ip_connections_max, cfg->ip_connects_per_s, cfg->rate_burst_ms);
	if (pr < 0)
		return pr;
	for (uint32_t to = 0; to < n; to++) {
		rc_wakeflag_init(&g->wake[to]);
		for (uint32_t from = 0; from < n; from++) {
			if (from == to)
				continue;
			rc_mailbox *mb = rc_group_mail(g, from, to);
			int r = rc_mailbox_init(mb, cfg->mailbox_records);
			if (r < 0)
				return r;
			rc_mailbox_use_wakeflag(mb, &g->wake[to]);
		}
	}
	if (getrandom(&g->seed, sizeof g->seed, 0) != sizeof g->seed) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		g->seed = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 40;
	}
	/* Ticket keys change every hour; a ticket is accepted for two. Made whether or not TLS is
	 * on: 32 random bytes. */
	return rc_tls_tickets_init(&g->tickets, RC_GROUP_TICKET_PERIOD_S);
}
