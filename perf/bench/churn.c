/* churn: the engine of connections that come and go (churn.h). */
#include "churn.h"

#include "bench.h"
#include "options.h"

void churn_presets(struct opts *o, struct given *gv)
{
	if (o->proto == PROTO_V1)
		usage_error("--workload %s connects with --proto plain or generic", o->wl->name);
	o->subs = 0;
	o->pubs = 0;
	if (!gv->warmup)
		o->warmup_s = 0;
	if (!gv->ctimeout) /* a handshake slower than this is a failure (timeout) */
		o->connect_timeout_s = 5;
}

void churn_refuse(const struct opts *o, const struct given *gv)
{
	if (gv->subs || gv->pubs || gv->connections || gv->size || gv->topics || o->text)
		usage_error("--workload %s opens and closes connections: no -n, -p, --connections, "
		            "--size, --topics, --text",
		            o->wl->name);
}
