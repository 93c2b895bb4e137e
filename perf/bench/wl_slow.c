/* slow: a fan-out (ringcast.v1 by default, so that drops are announced) where --slow-fraction of
 * the subscribers stop reading at the end of the warmup, or read --slow-rate bytes/s; the fast
 * and the slow are reported apart. The fan-out engine pauses them (WF_SLOW). */
#include "bench.h"
#include "fanout.h"
#include "options.h"
#include "report.h"

#include <inttypes.h>

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

/* What the slow subscribers got and were told, apart from the fast ones. */
static void slow_json(const struct opts *o, const struct report *r)
{
	const struct stats *s = &r->st_slow;
	uint64_t missing = s->expected > s->delivered ? s->expected - s->delivered : 0;
	report_json_sizes(o);
	printf("\"slow\":{\"fraction\":%.4f,\"subscribers\":%u,\"connected\":%u,", o->slow_fraction,
	       r->slow_total, r->open_slow);
	if (o->slow_rate > 0)
		printf("\"read_bytes_per_sec\":%.1f,", o->slow_rate);
	else
		printf("\"read_bytes_per_sec\":0,");
	printf("\"expected\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"missing\":%" PRIu64
	       ",\"delivered_total\":%" PRIu64 ",\"gaps\":%" PRIu64 ",\"lost_tail\":%" PRIu64
	       ",\"dups\":%" PRIu64 ",\"closed_in_run\":%" PRIu64 ",",
	       s->expected, s->delivered, missing, s->delivered_total, s->gaps, s->lost_tail, s->dups,
	       s->closed_in_run);
	if (o->proto == PROTO_V1)
		printf("\"missed\":%" PRIu64 ",\"unexplained_gaps\":%" PRIu64 ",\"seq_back\":%" PRIu64
		       ",\"notices\":%" PRIu64 ",",
		       s->missed, s->unexplained, s->seq_back, s->notices);
	printf("\"latency_us\":");
	report_json_latency(s);
	printf(",\"server_closes\":");
	report_json_tally(&s->closes);
	printf(",\"errors\":");
	report_json_tally(&s->errors);
	printf("},");
}

static void slow_table_more(FILE *f, const struct opts *o, const struct report *r)
{
	const struct stats *s = &r->st_slow;
	uint64_t missing = s->expected > s->delivered ? s->expected - s->delivered : 0;
	fprintf(f, "  SLOW subscribers %u/%u connected, reading %s after the warmup\n", r->open_slow,
	        r->slow_total, o->slow_rate > 0 ? "slowly" : "nothing");
	fprintf(f,
	        "    delivered      %" PRIu64 " of %" PRIu64 " expected (missing %" PRIu64
	        ")  gaps %" PRIu64 "  closed in run %" PRIu64 "\n",
	        s->delivered, s->expected, missing, s->gaps, s->closed_in_run);
	if (o->proto == PROTO_V1)
		fprintf(f, "    told           missed %" PRIu64 "  unexplained gaps %" PRIu64 "\n",
		        s->missed, s->unexplained);
	fprintf(f, "    latency us     ");
	report_table_latency(f, s);
	report_table_tally(f, "    server closes ", &s->closes);
	report_table_tally(f, "    errors        ", &s->errors);
}

const struct workload wl_slow = {
	.name = "slow",
	.run = fanout_run,
	.help = "slow: fan-out where --slow-fraction of the subscribers stop\n"
	        "reading after the warmup (defaults --proto v1 -n 100\n"
	        "--rate 1000 -s 1024)",
	.flags = WF_SLOW,
	.defaults = slow_defaults,
	.check = slow_check,
	.json = slow_json,
	.table_more = slow_table_more,
};
