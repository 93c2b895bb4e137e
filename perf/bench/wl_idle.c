/* idle: --connections C subscribers held open for --duration, answering the server's pings; with
 * --server-pid, the server's memory and descriptors before and with them, and per connection. */
#include "bench.h"
#include "fanout.h"
#include "options.h"
#include "report.h"

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

/* The server's memory and descriptors, before and with the connections. */
static void idle_json(const struct opts *o, const struct report *r)
{
	report_json_sizes(o);
	printf("\"connections\":%u,", o->subs);
	const struct proc_mem *a = &r->mem_before, *b = &r->mem_loaded;
	uint32_t n = r->open_subs + r->open_pubs;
	if (!o->server_pid || a->rss_kib < 0 || b->rss_kib < 0) {
		printf("\"server_mem\":null,");
		return;
	}
	printf("\"server_mem\":{\"rss_kib_before\":%ld,\"rss_kib_loaded\":%ld,\"fds_before\":%ld,"
	       "\"fds_loaded\":%ld,\"rss_bytes_per_conn\":%.1f,\"fds_per_conn\":%.3f},",
	       a->rss_kib, b->rss_kib, a->fds, b->fds,
	       1024 * report_per_conn(b->rss_kib, a->rss_kib, n), report_per_conn(b->fds, a->fds, n));
}

static void idle_table(FILE *f, const struct opts *o, const struct report *r)
{
	fprintf(f, "  connections      %u/%u held for %.1f s, %u thread(s)\n", r->open_subs, o->subs,
	        r->measured_s, r->threads);
}

static void idle_table_more(FILE *f, const struct opts *o, const struct report *r)
{
	(void)o;
	if (r->mem_before.rss_kib < 0 || r->mem_loaded.rss_kib < 0)
		return;
	uint32_t n = r->open_subs + r->open_pubs;
	fprintf(f,
	        "  server memory    RSS %ld -> %ld KiB (%.0f B per connection), descriptors "
	        "%ld -> %ld\n",
	        r->mem_before.rss_kib, r->mem_loaded.rss_kib,
	        1024 * report_per_conn(r->mem_loaded.rss_kib, r->mem_before.rss_kib, n),
	        r->mem_before.fds, r->mem_loaded.fds);
}

const struct workload wl_idle = {
	.name = "idle",
	.run = fanout_run,
	.help = "idle: --connections C held for --duration (with --server-pid:\n"
	        "the server's RSS and descriptors per connection)",
	.flags = WF_CONNECTIONS,
	.defaults = idle_defaults,
	.check = idle_check,
	.json = idle_json,
	.table = idle_table,
	.table_more = idle_table_more,
};
