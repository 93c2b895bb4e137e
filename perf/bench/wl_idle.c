/* idle: --connections C subscribers held open for --duration, answering the server's pings; with
 * --server-pid, the server's memory and descriptors before and with them, and per connection. */
#include "bench.h"
#include "options.h"

static void idle_defaults(struct opts *o, struct given *gv)
{
	o->subs = o->connections ? o->connections : 1000;
	o->pubs = 0;
	if (!gv->warmup)
		o->warmup_s = 0;
	if (!gv->drain)
		o->drain_s = 0;
}

static void idle_check(const struct opts *o, const struct given *gv)
{
	(void)o;
	if (gv->rate || gv->max || gv->pubs || gv->subs)
		usage_error("--workload idle publishes nothing: --connections, not -n, -p, --rate, --max");
}

const struct workload wl_idle = {
	.name = "idle",
	.help = "idle: --connections C held for --duration (with --server-pid:\n"
	        "the server's RSS and descriptors per connection)",
	.flags = WF_CONNECTIONS,
	.defaults = idle_defaults,
	.check = idle_check,
};
