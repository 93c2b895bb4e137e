/* churn: the engine of connections that come and go (churn.h). */
#include "churn.h"

#include <inttypes.h>

#include "bench.h"
#include "options.h"
#include "report.h"

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

/* ---- the report ------------------------------------------------------------------------------- */

void churn_json(const struct opts *o, const struct report *r)
{
	const struct cstats *cs = &r->cs;
	printf("\"%s\":{\"inflight\":%u,", o->wl->name, o->inflight);
	if (o->wl->flags & WF_HOLD)
		printf("\"hold_ms\":%u,\"reset_fraction\":%.4f,", o->hold_ms, o->reset_fraction);
	printf("\"attempted\":%" PRIu64 ",\"completed\":%" PRIu64 ",\"failed\":%" PRIu64
	       ",\"unstarted\":%" PRIu64 ",\"abandoned\":%" PRIu64 ",\"inflight_max\":%" PRIu64
	       ",\"handshakes_per_sec\":%.1f,\"failures\":",
	       cs->attempted, cs->completed, cs->failed, cs->unstarted, cs->abandoned, cs->inflight_max,
	       r->measured_s > 0 ? (double)cs->completed / r->measured_s : 0);
	report_json_tally(&r->st.errors);
	printf(",\"ends\":");
	report_json_tally(&cs->ends);
	printf("},");
	const struct proc_mem *a = &r->mem_before, *b = &r->mem_loaded, *c = &r->mem_after;
	if (!o->server_pid || a->rss_kib < 0 || b->rss_kib < 0 || c->rss_kib < 0) {
		printf("\"server_mem\":null,");
		return;
	}
	printf("\"server_mem\":{\"rss_kib_before\":%ld,\"rss_kib_loaded\":%ld,\"rss_kib_after\":%ld,"
	       "\"fds_before\":%ld,\"fds_loaded\":%ld,\"fds_after\":%ld,\"settle_s\":%.3f},",
	       a->rss_kib, b->rss_kib, c->rss_kib, a->fds, b->fds, c->fds, r->settle_s);
}

void churn_table(FILE *f, const struct opts *o, const struct report *r)
{
	const struct cstats *cs = &r->cs;
	double dur = r->measured_s;
	if (!o->max)
		fprintf(f,
		        "  mode             open loop, %.1f connections/s, hold 0..%u ms, %.0f%% reset\n",
		        o->rate, o->hold_ms, 100 * o->reset_fraction);
	else
		fprintf(f, "  mode             storm, %u in progress at most\n", o->inflight);
	fprintf(f,
	        "  connections      %" PRIu64 " attempted, %" PRIu64 " completed (%.1f/s), %" PRIu64
	        " failed, %" PRIu64 " never started, %" PRIu64 " abandoned; %u thread(s)\n",
	        cs->attempted, cs->completed, dur > 0 ? (double)cs->completed / dur : 0, cs->failed,
	        cs->unstarted, cs->abandoned, r->threads);
	fprintf(f, "  handshake us     ");
	report_table_latency(f, &r->st);
	report_table_tally(f, "  ends            ", &cs->ends);
	if (r->mem_before.rss_kib >= 0 && r->mem_after.rss_kib >= 0)
		fprintf(f,
		        "  server memory    RSS %ld -> %ld -> %ld KiB, descriptors %ld -> %ld -> %ld "
		        "(before, at the end, %.2f s after)\n",
		        r->mem_before.rss_kib, r->mem_loaded.rss_kib, r->mem_after.rss_kib,
		        r->mem_before.fds, r->mem_loaded.fds, r->mem_after.fds, r->settle_s);
}
