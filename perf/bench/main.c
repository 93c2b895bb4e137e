/* ringcast-bench: ringcast's load generator.
 *
 *   ringcast-bench [--workload NAME] [options] ws[s]://HOST:PORT/PATH[?QUERY]
 *
 * A table on stderr, one JSON object on stdout; docs/ringcast-bench.md has every workload, flag
 * and JSON field, bench.h how the program is cut up. This file: the table of workloads, and main,
 * which parses the options, sets up what every run needs (the server's address, the requests,
 * the v1 topics, the run's nonce, the TLS context of a wss:// URL) and runs the workload. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>

#include "bench.h"
#include "handshake.h"
#include "options.h"
#include "sys.h"
#include "tls.h"
#include "topics.h"

/* Adding a workload: its file (wl_NAME.c, with its entry), its line here. */
const struct workload *const workloads[] = { &wl_fanout, &wl_market, &wl_slow,  &wl_echo,
	                                         &wl_idle,   &wl_churn,  &wl_storm, NULL };

static enum hs_mode hs_mode_of(enum proto_mode p)
{
	return p == PROTO_V1 ? HS_V1 : p == PROTO_GENERIC ? HS_GENERIC : HS_PLAIN;
}

/* wss://: the TLS client context of the run (and the SNI it sends, for the report). Returns 0,
 * or -1 after saying why on stderr. */
static int tls_setup(struct bench *b, const struct opts *o, const rc_ws_url *u)
{
	struct tls_cfg cfg = {
		.ca_file = o->tls_ca, .version = o->tls_version, .resume = o->tls_resume, .host = u->host
	};
	char err[512];
	b->tls = tls_ctx_new(&cfg, err, sizeof err);
	if (b->tls == NULL) {
		fprintf(stderr, "ringcast-bench: %s\n", err);
		return -1;
	}
	b->sni = tls_ctx_sni(b->tls);
	return 0;
}

int main(int argc, char **argv)
{
	static struct opts o;
	static struct bench b;
	opts_parse(&o, argc, argv);
	b.o = &o;
	if (o.proto == PROTO_V1)
		topics_init(&b.topics, o.topic, o.topics, o.zipf);
	rc_ws_url u;
	const char *why;
	bool tls;
	if (hs_url_parse(o.url, &u, &tls, &why) < 0) {
		fprintf(stderr, "ringcast-bench: bad URL (ws[s]://HOST:PORT/PATH[?QUERY]): %s: %s\n", o.url,
		        why);
		return 2;
	}
	if (hs_resolve(&u, &b.addr) < 0)
		return 2;
	if (tls && tls_setup(&b, &o, &u) < 0)
		return 2;
	if (hs_requests_build(&b.rq, &u, hs_mode_of(o.proto), o.topic, &b.topics, o.per_sub) < 0)
		die("URL too long", 0);
	signal(SIGPIPE, SIG_IGN);
	if (getrandom(&b.nonce, sizeof b.nonce, 0) != (ssize_t)sizeof b.nonce)
		b.nonce = (uint32_t)mono_ns() ^ (uint32_t)getpid();
	int status = o.wl->run(&b);
	if (o.proto == PROTO_V1)
		topics_fini(&b.topics);
	tls_ctx_free(b.tls);
	return status;
}
