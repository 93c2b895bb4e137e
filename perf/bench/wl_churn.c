/* churn: connections opened at --rate per second (open loop), each held 0..--hold-ms and ended by
 * a close frame or, for --reset-fraction of them, a reset: handshake latency, failures and ends
 * by kind. Run by the churn engine (churn.h). */
#include "bench.h"
#include "churn.h"
#include "options.h"

static void churn_defaults(struct opts *o, struct given *gv)
{
	churn_presets(o, gv);
	if (!gv->rate && !gv->max) {
		o->rate = 100; /* connections per second */
		gv->rate = true;
	}
}

static void churn_check(const struct opts *o, const struct given *gv)
{
	churn_refuse(o, gv);
	if (gv->max)
		usage_error("--workload churn is open loop (--rate connections/s): no --max");
}

const struct workload wl_churn = {
	.name = "churn",
	.run = churn_run,
	.help = "churn: --rate connections/s, each connects, subscribes,\n"
	        "holds 0..--hold-ms and closes (--reset-fraction: reset)",
	.flags = WF_CHURN | WF_HOLD,
	.defaults = churn_defaults,
	.json = churn_json,
	.table = churn_table,
	.check = churn_check,
};
