/* storm: a handshake storm: --inflight connections in progress at all times, each closed cleanly
 * as soon as its handshake is done; the rate is what the server takes. Run by the churn engine
 * (churn.h), closed loop. */
#include "bench.h"
#include "churn.h"
#include "options.h"

static void storm_defaults(struct opts *o, struct given *gv)
{
	churn_presets(o, gv);
	o->window = o->inflight;
}

static void storm_check(const struct opts *o, const struct given *gv)
{
	churn_refuse(o, gv);
	if (gv->rate)
		usage_error("--workload storm takes connections as fast as the server does: no --rate "
		            "(--workload churn paces them), --inflight bounds them");
}

const struct workload wl_storm = {
	.name = "storm",
	.run = churn_run,
	.help = "storm: handshakes as fast as the server takes them,\n"
	        "--inflight at once, each closed at once",
	.flags = WF_CHURN,
	.defaults = storm_defaults,
	.json = churn_json,
	.table = churn_table,
	.check = storm_check,
};
