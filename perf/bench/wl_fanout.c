/* fanout, the default workload: N subscribers and P publishers on one topic; every subscriber
 * should receive every message. The fan-out engine as it is: no presets, no checks of its own. */
#include "bench.h"
#include "fanout.h"
#include "options.h"
#include "report.h"

/* Only with v1 has it fields of its own: the sizes and topics. */
static void fanout_json(const struct opts *o, const struct report *r)
{
	(void)r;
	if (o->proto == PROTO_V1)
		report_json_sizes(o);
}

const struct workload wl_fanout = {
	.name = "fanout",
	.run = fanout_run,
	.help = "fanout (default): N subscribers, P publishers, one topic",
	.json = fanout_json,
};
