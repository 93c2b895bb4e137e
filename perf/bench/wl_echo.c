/* echo: --connections C to an echo URL (ringcast: /echo), each its own publisher and its own only
 * receiver (WF_ECHO): latency is the round trip. Closed loop keeps one message in flight per
 * connection; --rate sends that many in all. */
#include "bench.h"
#include "fanout.h"
#include "options.h"
#include "report.h"

static void echo_defaults(struct opts *o, struct given *gv)
{
	if (gv->proto)
		usage_error("--workload echo connects to the URL as given: no --proto");
	o->proto = PROTO_GENERIC;
	o->pubs = o->connections ? o->connections : 100;
	o->subs = 0;
	if (!gv->window) /* one round trip in flight per connection */
		o->window = o->pubs;
}

static void echo_check(const struct opts *o, const struct given *gv)
{
	(void)o;
	if (gv->subs || gv->pubs)
		usage_error("--workload echo takes --connections, not -n or -p");
}

static void echo_json(const struct opts *o, const struct report *r)
{
	(void)r;
	report_json_sizes(o);
	printf("\"connections\":%u,", o->pubs);
}

const struct workload wl_echo = {
	.name = "echo",
	.run = fanout_run,
	.help = "echo: --connections C to an echo URL (ringcast: /echo), each\n"
	        "one round trip in flight (or --rate in all)",
	.flags = WF_ECHO | WF_CONNECTIONS,
	.defaults = echo_defaults,
	.check = echo_check,
	.json = echo_json,
};
