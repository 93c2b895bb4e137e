/* market: market data over ringcast.v1. T topics with Zipf popularity, each subscriber on k of
 * them, each message on a topic drawn from the same popularity, sizes uniform in a range, open
 * loop. The fan-out engine does the v1 part (it follows --proto v1); this file holds the presets. */
#include "bench.h"
#include "fanout.h"
#include "options.h"
#include "report.h"

static void market_defaults(struct opts *o, struct given *gv)
{
	if (gv->proto && o->proto != PROTO_V1)
		usage_error("--workload market speaks ringcast.v1 (--proto v1)");
	o->proto = PROTO_V1;
	if (!gv->topics)
		o->topics = 100;
	if (!gv->per_sub)
		o->per_sub = 5;
	if (!gv->pubs)
		o->pubs = 4;
	if (!gv->rate && !gv->max) {
		o->rate = 1000;
		gv->rate = true;
	}
	/* Sizes 32..256 unless --size is given: a preset the generic rule (--size for both ends of
	 * the range) must leave alone, so it counts as given. */
	if (!gv->size) {
		if (!gv->size_min)
			o->size_min = 32;
		if (!gv->size_max)
			o->size_max = 256;
		gv->size_min = gv->size_max = true;
	}
}

static void market_json(const struct opts *o, const struct report *r)
{
	(void)r;
	report_json_sizes(o);
}

const struct workload wl_market = {
	.name = "market",
	.run = fanout_run,
	.help = "market: ringcast.v1, T topics, Zipf popularity, open loop\n"
	        "(defaults -n 1000 -p 4 --rate 1000 --topics 100 --per-sub 5\n"
	        "--size-min 32 --size-max 256)",
	.defaults = market_defaults,
	.json = market_json,
};
