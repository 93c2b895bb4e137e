/* slow: a fan-out (ringcast.v1 by default, so that drops are announced) where --slow-fraction of
 * the subscribers stop reading at the end of the warmup, or read --slow-rate bytes/s; the fast
 * and the slow are reported apart. The fan-out engine pauses them (WF_SLOW). */
#include "bench.h"
#include "options.h"

static void slow_defaults(struct opts *o, struct given *gv)
{
	if (!gv->proto)
		o->proto = PROTO_V1;
	if (!gv->subs)
		o->subs = 100;
	if (!gv->size)
		o->size = 1024;
	if (!gv->rate && !gv->max) {
		o->rate = 1000;
		gv->rate = true;
	}
}

static void slow_check(const struct opts *o, const struct given *gv)
{
	(void)gv;
	if (o->max)
		usage_error("--workload slow needs --rate: a --max window would wait for the slow ones");
}

const struct workload wl_slow = {
	.name = "slow",
	.help = "slow: fan-out where --slow-fraction of the subscribers stop\n"
	        "reading after the warmup (defaults --proto v1 -n 100\n"
	        "--rate 1000 -s 1024)",
	.flags = WF_SLOW,
	.defaults = slow_defaults,
	.check = slow_check,
};
