/* report: the table, the JSON object and the percentiles file (report.h). */
#include "report.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "bench.h"
#include "options.h"

/* Above this share of its CPUs the bench may be what limits the result: it says so. Mostly kernel
 * time: on loopback a receiver pays for its recv, its ACK and the sender's processing of that ACK,
 * about 0.9 us per segment here (perf, 1 frame per segment, --rate 1000 x 1000 subscribers). */
#define BENCH_SATURATED 0.9

void report_init(struct report *r)
{
	*r = (struct report){ .mem_before = { -1, -1 },
		                  .mem_loaded = { -1, -1 },
		                  .mem_after = { -1, -1 },
		                  .server_cpu_s = -1 };
}

void report_measure(struct report *r, const struct opts *o, const struct timeline *tl)
{
	assert(r->threads > 0);
	long pid = o->server_pid;
	sleep_until_ns(tl->t_measure);
	double self0 = cpu_s_self(), srv0 = pid ? cpu_s_pid(pid) : -1;
	sleep_until_ns(tl->t_end);
	double self1 = cpu_s_self(), srv1 = pid ? cpu_s_pid(pid) : -1;
	if (pid) /* every connection still open (idle), or still coming and going (churn) */
		r->mem_loaded = proc_mem_read(pid);
	r->measured_s = (double)(tl->t_end - tl->t_measure) / 1e9;
	r->bench_cpu_s = self1 - self0;
	r->bench_util = r->measured_s > 0 ? r->bench_cpu_s / (r->measured_s * r->threads) : 0;
	r->server_cpu_s = srv0 >= 0 && srv1 >= 0 ? srv1 - srv0 : -1;
}

static bool is_v1(const struct opts *o)
{
	return o->proto == PROTO_V1;
}

static bool is_echo(const struct opts *o)
{
	return (o->wl->flags & WF_ECHO) != 0;
}

/* ---- JSON ------------------------------------------------------------------------------------- */

void report_json_tally(const struct tally *t)
{
	putchar('{');
	for (uint32_t i = 0; i < t->n; i++)
		printf("%s\"%s\":%" PRIu64, i ? "," : "", t->e[i].key, t->e[i].count);
	putchar('}');
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

void report_json_latency(const struct stats *s)
{
	printf("{\"count\":%" PRIu64 ",\"mean\":%.1f,\"p50\":%.1f,\"p90\":%.1f,"
	       "\"p99\":%.1f,\"p99_9\":%.1f,\"p99_99\":%.1f,\"max\":%.1f}",
	       s->lat_count, s->lat_count ? (double)s->lat_sum_ns / (double)s->lat_count / 1e3 : 0,
	       hist_quantile_us(s, 0.5), hist_quantile_us(s, 0.9), hist_quantile_us(s, 0.99),
	       hist_quantile_us(s, 0.999), hist_quantile_us(s, 0.9999), (double)s->lat_max_ns / 1e3);
}

void report_json_sizes(const struct opts *o)
{
	printf("\"size_min\":%u,\"size_max\":%u,", o->size_min, o->size_max);
	if (is_v1(o))
		printf("\"topics\":%u,\"per_sub\":%u,\"zipf\":%.3f,", o->topics, o->per_sub, o->zipf);
}

double report_per_conn(long after, long before, uint32_t n)
{
	return n ? (double)(after - before) / n : 0;
}

/* The run's parameters, up to "opcode", then the workload's own. */
static void json_params(const struct opts *o, const struct report *r)
{
	printf("{\"bench\":\"ringcast-bench\",\"version\":\"%s\",\"workload\":\"%s\",", BENCH_VERSION,
	       o->wl->name);
	printf("\"ok\":%s,", r->error ? "false" : "true");
	if (r->error) {
		printf("\"error\":");
		json_str(r->error);
		putchar(',');
	}
	printf("\"url\":");
	json_str(o->url);
	printf(",\"proto\":\"%s\",\"topic\":", proto_name(o->proto));
	json_str(o->topic);
	printf(",\"subscribers\":%u,\"publishers\":%u,\"size\":%u,\"opcode\":\"%s\",", o->subs, o->pubs,
	       o->size, o->text ? "text" : "binary");
	if (o->wl->json != NULL)
		o->wl->json(o, r);
	printf("\"mode\":\"%s\",", o->max ? "max" : "rate");
	if (o->max)
		printf("\"window\":%u,\"rate\":null,", o->window);
	else
		printf("\"window\":null,\"rate\":%.3f,", o->rate);
	printf("\"duration_s\":%.3f,\"warmup_s\":%.3f,\"drain_s\":%.3f,\"measured_s\":%.6f,",
	       o->duration_s, o->warmup_s, o->drain_s, r->measured_s);
	printf("\"threads\":%u,\"cpus\":", r->threads);
	if (o->ncpus)
		json_str(o->cpus_text);
	else
		printf("null");
	printf(",\"connected_subscribers\":%u,\"connected_publishers\":%u,", r->open_subs,
	       r->open_pubs);
}

/* The messages: published, expected, delivered, and what went wrong with them. */
static void json_messages(const struct opts *o, const struct report *r)
{
	const struct stats *s = &r->st;
	double dur = r->measured_s;
	uint64_t missing = s->expected > s->delivered ? s->expected - s->delivered : 0;
	uint32_t clients = r->open_subs + r->open_pubs;
	if (is_v1(o) && o->topics > 1) /* each message has its topic's subscribers: see expected */
		printf("\"receivers_per_message\":null,");
	else
		printf("\"receivers_per_message\":%u,", is_echo(o) ? 1
		                                        : o->proto != PROTO_GENERIC
		                                                ? r->open_subs - r->open_slow
		                                        : clients ? clients - 1
		                                                  : 0);
	printf("\"published\":%" PRIu64 ",\"published_total\":%" PRIu64 ",", s->published,
	       s->published_total);
	if (!o->max)
		printf("\"unsent\":%" PRIu64 ",", s->unsent);
	printf("\"msgs_per_sec\":%.1f,", dur > 0 ? (double)s->published / dur : 0);
	printf("\"expected\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"missing\":%" PRIu64 ",",
	       s->expected, s->delivered, missing);
	printf("\"delivered_total\":%" PRIu64 ",", s->delivered_total);
	printf("\"deliveries_per_sec\":%.1f,", dur > 0 ? (double)s->arrivals / dur : 0);
	printf("\"gaps\":%" PRIu64 ",\"lost_tail\":%" PRIu64 ",\"dups\":%" PRIu64 ",", s->gaps,
	       s->lost_tail, s->dups);
	printf("\"self\":%" PRIu64 ",\"foreign\":%" PRIu64 ",\"unexpected\":%" PRIu64 ",", s->self,
	       s->foreign, s->unexpected);
	if (is_v1(o))
		printf("\"missed\":%" PRIu64 ",\"unexplained_gaps\":%" PRIu64 ",\"seq_back\":%" PRIu64
		       ",\"notices\":%" PRIu64 ",",
		       s->missed, s->unexplained, s->seq_back, s->notices);
	printf("\"stalls\":%" PRIu64 ",\"closed_in_run\":%" PRIu64 ",", s->stalls, s->closed_in_run);
	if (o->reconnect) {
		printf("\"reconnect\":{\"backoff_base_ms\":%u,\"backoff_cap_ms\":%u,\"attempts\":%" PRIu64
		       ",\"succeeded\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"waits_told\":%" PRIu64 "},",
		       o->backoff_base_ms, o->backoff_cap_ms, s->reconnects, s->reconnected,
		       s->reconnect_failed, s->waits_told);
	}
	printf("\"latency_us\":");
	report_json_latency(s);
	putchar(',');
	if (!o->max)
		printf("\"send_lag_us\":{\"mean\":%.1f,\"max\":%.1f},",
		       s->published ? (double)s->lag_sum_ns / (double)s->published / 1e3 : 0,
		       (double)s->lag_max_ns / 1e3);
}

/* A string, or null for NULL and "-" (tls.c's "none"). */
static void json_str_or_null(const char *s)
{
	if (s == NULL || s[0] == 0 || strcmp(s, "-") == 0)
		printf("null");
	else
		json_str(s);
}

/* Wall seconds inside wolfSSL's calls (in: 0 the whole run, 1 the measured interval). */
static double tls_wall_s(const struct tls_counts *t, int in)
{
	uint64_t ns = 0;
	for (int k = 0; k < TLS_CALLS; k++)
		ns += t->wall[in][k];
	return (double)ns / 1e9;
}

/* wss://: what was negotiated, the handshakes, and the bench's CPU spent in TLS (null for ws). */
static void json_tls(const struct opts *o, const struct report *r)
{
	const struct tls_counts *t = &r->st.tls;
	if (!o->tls) {
		printf("\"tls\":null,");
		return;
	}
	double in_s = tls_cpu_s(t, TLS_CALLS, 1);
	printf("\"tls\":{\"version\":");
	json_str_or_null(t->version);
	printf(",\"cipher\":");
	json_str_or_null(t->cipher);
	printf(",\"alpn\":");
	json_str_or_null(t->alpn);
	printf(",\"version_asked\":");
	json_str_or_null(o->tls_version == 12 ? "1.2" : o->tls_version == 13 ? "1.3" : NULL);
	printf(",\"verify\":%s,\"ca\":", o->tls_ca ? "true" : "false");
	json_str_or_null(o->tls_ca);
	printf(",\"sni\":");
	json_str_or_null(r->sni);
	printf(",\"resume\":%s,\"handshakes\":%" PRIu64 ",\"resumed\":%" PRIu64 ",",
	       o->tls_resume ? "true" : "false", t->handshakes, t->resumed);
	printf("\"crypto_cpu_s\":%.6f,\"crypto_share\":", in_s);
	if (r->bench_cpu_s > 0)
		printf("%.4f", in_s / r->bench_cpu_s);
	else
		printf("null");
	printf(",\"crypto_cpu_s_by_call\":{\"handshake\":%.6f,\"read\":%.6f,\"write\":%.6f}",
	       tls_cpu_s(t, TLS_CALL_HANDSHAKE, 1), tls_cpu_s(t, TLS_CALL_READ, 1),
	       tls_cpu_s(t, TLS_CALL_WRITE, 1));
	printf(",\"crypto_wall_s\":%.6f,\"crypto_cpu_s_total\":%.6f,\"calls_total\":{"
	       "\"handshake\":%" PRIu64 ",\"read\":%" PRIu64 ",\"write\":%" PRIu64 "}",
	       tls_wall_s(t, 1), tls_cpu_s(t, TLS_CALLS, 0), t->calls[TLS_CALL_HANDSHAKE],
	       t->calls[TLS_CALL_READ], t->calls[TLS_CALL_WRITE]);
	printf(",\"writes\":%" PRIu64 ",\"records_out\":%" PRIu64 ",\"plain_bytes_out\":%" PRIu64
	       ",\"plain_bytes_in\":%" PRIu64 ",\"first_error\":",
	       t->writes, t->records, t->plain_out, t->plain_in);
	json_str_or_null(t->first_error);
	printf("},");
}

/* CPU, closes, errors, I/O counts; the end of the object. */
static void json_costs(const struct opts *o, const struct report *r)
{
	const struct stats *s = &r->st;
	printf("\"busy_poll\":%s,\"bench_cpu_s\":%.3f,\"bench_cpu_util\":%.3f,\"bench_saturated\":%s,",
	       o->busy_poll ? "true" : "false", r->bench_cpu_s, r->bench_util,
	       !o->busy_poll && r->bench_util > BENCH_SATURATED ? "true" : "false");
	if (r->server_cpu_s >= 0)
		printf("\"server_pid\":%ld,\"server_cpu_s\":%.3f,\"deliveries_per_server_cpu_s\":%.1f,",
		       o->server_pid, r->server_cpu_s,
		       r->server_cpu_s > 0 ? (double)s->arrivals / r->server_cpu_s : 0);
	else
		printf("\"server_pid\":null,\"server_cpu_s\":null,\"deliveries_per_server_cpu_s\":null,");
	json_tls(o, r);
	printf("\"server_closes\":");
	report_json_tally(&s->closes);
	printf(",\"errors\":");
	report_json_tally(&s->errors);
	printf(",\"io\":{\"sends\":%" PRIu64 ",\"send_bytes\":%" PRIu64 ",\"recv_completions\":%" PRIu64
	       ",\"recv_bytes\":%" PRIu64 ",\"recv_enobufs\":%" PRIu64 ",\"recv_rearms\":%" PRIu64 "}",
	       s->sends, s->send_bytes, s->recv_cqes, s->recv_bytes, s->enobufs, s->rearms);
	printf("}\n");
	fflush(stdout);
}

/* The one JSON object on stdout. Counts are over the measured interval unless named _total;
 * gaps, dups, lost_tail over the whole run; latency in microseconds. */
static void json_print(const struct opts *o, const struct report *r)
{
	json_params(o, r);
	json_messages(o, r);
	json_costs(o, r);
}

/* ---- the table -------------------------------------------------------------------------------- */

void report_table_latency(FILE *f, const struct stats *s)
{
	fprintf(f, "p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  p99.99 %.1f  max %.1f\n",
	        hist_quantile_us(s, 0.5), hist_quantile_us(s, 0.9), hist_quantile_us(s, 0.99),
	        hist_quantile_us(s, 0.999), hist_quantile_us(s, 0.9999), (double)s->lat_max_ns / 1e3);
}

void report_table_tally(FILE *f, const char *label, const struct tally *t)
{
	if (t->n == 0)
		return;
	fprintf(f, "%s", label);
	for (uint32_t i = 0; i < t->n; i++)
		fprintf(f, " %s x%" PRIu64, t->e[i].key, t->e[i].count);
	fputc('\n', f);
}

/* Mode, clients and messages: the parameters of a run with traffic. */
static void table_setup(FILE *f, const struct opts *o, const struct report *r)
{
	if (o->max)
		fprintf(f, "  mode             max, window %u\n", o->window);
	else
		fprintf(f, "  mode             open loop, %.1f msgs/s\n", o->rate);
	if (is_echo(o))
		fprintf(f, "  connections      %u/%u, each its own receiver", r->open_pubs, o->pubs);
	else
		fprintf(f, "  clients          %u/%u subscribers, %u/%u publishers", r->open_subs, o->subs,
		        r->open_pubs, o->pubs);
	fprintf(f, ", %u thread(s)%s%s\n", r->threads, o->ncpus ? " on CPUs " : "",
	        o->ncpus ? o->cpus_text : "");
	if (o->size_min == o->size_max)
		fprintf(f, "  messages         %u bytes", o->size);
	else
		fprintf(f, "  messages         %u..%u bytes", o->size_min, o->size_max);
	fprintf(f, " %s, %.1f s measured after %.1f s warmup\n", o->text ? "text" : "binary",
	        r->measured_s, o->warmup_s);
}

/* The message part of the table: every workload but those with a table of their own. */
static void table_traffic(FILE *f, const struct opts *o, const struct report *r)
{
	const struct stats *s = &r->st;
	double dur = r->measured_s;
	uint64_t missing = s->expected > s->delivered ? s->expected - s->delivered : 0;
	table_setup(f, o, r);
	fprintf(f, "  published        %" PRIu64 " (%.1f msgs/s)\n", s->published,
	        dur > 0 ? (double)s->published / dur : 0);
	if (!o->max && s->unsent)
		fprintf(f, "  NOT SENT         %" PRIu64 " messages were due but never sent\n", s->unsent);
	fprintf(f, "  delivered        %" PRIu64 " of %" PRIu64 " expected (missing %" PRIu64 ")\n",
	        s->delivered, s->expected, missing);
	fprintf(f, "  deliveries/s     %.0f\n", dur > 0 ? (double)s->arrivals / dur : 0);
	fprintf(f,
	        "  gaps %" PRIu64 "  lost at end %" PRIu64 "  dups %" PRIu64 "  foreign %" PRIu64
	        "  stalls %" PRIu64 "  closed in run %" PRIu64 "\n",
	        s->gaps, s->lost_tail, s->dups, s->foreign, s->stalls, s->closed_in_run);
	if (is_v1(o))
		fprintf(f,
		        "  server seq       missed %" PRIu64 "  unexplained gaps %" PRIu64
		        "  went back %" PRIu64 "  notices %" PRIu64 "\n",
		        s->missed, s->unexplained, s->seq_back, s->notices);
	fprintf(f, "  %-17s", is_echo(o) ? "round trip us" : "latency us");
	report_table_latency(f, s);
	if (!o->max)
		fprintf(f, "  send lag us      mean %.1f  max %.1f  (sent after the intended time)\n",
		        s->published ? (double)s->lag_sum_ns / (double)s->published / 1e3 : 0,
		        (double)s->lag_max_ns / 1e3);
}

/* Whose CPU, and what the server said and what failed. */
static void table_costs(FILE *f, const struct opts *o, const struct report *r)
{
	const struct stats *s = &r->st;
	double dur = r->measured_s;
	fprintf(f, "  bench cpu        %.2f s (%.0f%% of its %u CPU(s))%s\n", r->bench_cpu_s,
	        100 * r->bench_util, r->threads,
	        o->busy_poll                      ? "  busy polling"
	        : r->bench_util > BENCH_SATURATED ? "  WARNING: near saturation, may be the limit"
	                                          : "");
	if (r->server_cpu_s >= 0)
		fprintf(f,
		        "  server cpu       %.2f s (%.0f%% of one CPU), %.0f deliveries per CPU-second\n",
		        r->server_cpu_s, dur > 0 ? 100 * r->server_cpu_s / dur : 0,
		        r->server_cpu_s > 0 ? (double)s->arrivals / r->server_cpu_s : 0);
	report_table_tally(f, "  server closes   ", &s->closes);
	report_table_tally(f, "  errors          ", &s->errors);
}

/* wss://: what was negotiated, the handshakes, the bench's CPU spent in TLS. */
static void table_tls(FILE *f, const struct opts *o, const struct report *r)
{
	const struct tls_counts *t = &r->st.tls;
	double in_s = tls_cpu_s(t, TLS_CALLS, 1);
	if (t->handshakes == 0)
		fprintf(f, "  tls              no handshake completed");
	else
		fprintf(f, "  tls              %s %s, ALPN %s", t->version, t->cipher,
		        strcmp(t->alpn, "-") != 0 ? t->alpn : "none");
	fprintf(f, ", SNI %s, %s%s%s\n", r->sni ? r->sni : "none",
	        o->tls_ca ? "server verified with " : "server NOT verified (no --tls-ca)",
	        o->tls_ca ? o->tls_ca : "",
	        o->tls_version == 12   ? ", 1.2 only"
	        : o->tls_version == 13 ? ", 1.3 only"
	                               : "");
	fprintf(f, "  tls handshakes   %" PRIu64 " done, %" PRIu64 " resumed%s\n", t->handshakes,
	        t->resumed, o->tls_resume ? " (--tls-resume)" : " (no --tls-resume)");
	fprintf(f,
	        "  tls cpu          %.3f s in the interval (%.0f%% of the bench's): handshakes %.3f, "
	        "reads %.3f, writes %.3f; %.3f s in the whole run\n",
	        in_s, r->bench_cpu_s > 0 ? 100 * in_s / r->bench_cpu_s : 0,
	        tls_cpu_s(t, TLS_CALL_HANDSHAKE, 1), tls_cpu_s(t, TLS_CALL_READ, 1),
	        tls_cpu_s(t, TLS_CALL_WRITE, 1), tls_cpu_s(t, TLS_CALLS, 0));
	if (t->first_error[0])
		fprintf(f, "  tls first error  %s\n", t->first_error);
}

static void table_print(const struct opts *o, const struct report *r)
{
	const struct stats *s = &r->st;
	FILE *f = stderr;
	fprintf(f, "ringcast-bench %s  %s  proto=%s  topic=%s\n", o->wl->name, o->url,
	        proto_name(o->proto), o->topic);
	if (is_v1(o))
		fprintf(f, "  topics           %u (\"%s%s\"), %u per subscriber, zipf %.2f\n", o->topics,
		        o->topic, o->topics > 1 ? ".<k>" : "", o->per_sub, o->zipf);
	if (o->wl->table != NULL)
		o->wl->table(f, o, r);
	else
		table_traffic(f, o, r);
	table_costs(f, o, r);
	if (o->tls)
		table_tls(f, o, r);
	if (o->wl->table_more != NULL)
		o->wl->table_more(f, o, r);
	if (o->reconnect)
		fprintf(f,
		        "  reconnects       %" PRIu64 " attempted, %" PRIu64 " opened, %" PRIu64
		        " failed, %" PRIu64 " waits lengthened by the server (Retry-After, 1012, 1013)\n",
		        s->reconnects, s->reconnected, s->reconnect_failed, s->waits_told);
	if (r->error)
		fprintf(f, "  ERROR            %s\n", r->error);
}

/* ---- the percentiles file --------------------------------------------------------------------- */

/* Every non-empty bucket of the histogram, as (value, percentile, count): the bucket's highest
 * value in microseconds, the share of samples at or below it, its count. */
static void percentiles_write(const char *path, const char *workload, const struct stats *s)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "ringcast-bench: cannot write --percentiles %s: %s\n", path,
		        strerror(errno));
		return;
	}
	fprintf(f, "# %s latency, %" PRIu64 " samples\n# value_us percentile count\n", workload,
	        s->lat_count);
	uint64_t seen = 0;
	for (uint32_t i = 0; i < HIST_BUCKETS && s->lat_count; i++) {
		if (s->hist[i] == 0)
			continue;
		seen += s->hist[i];
		uint64_t v = hist_value(i);
		if (v > s->lat_max_ns)
			v = s->lat_max_ns;
		fprintf(f, "%.3f %.6f %" PRIu64 "\n", (double)v / 1e3,
		        100.0 * (double)seen / (double)s->lat_count, s->hist[i]);
	}
	if (fclose(f) != 0)
		fprintf(stderr, "ringcast-bench: cannot write --percentiles %s\n", path);
}

int report_finish(const struct opts *o, const struct report *r)
{
	if (!o->quiet)
		table_print(o, r);
	json_print(o, r);
	if (o->percentiles)
		percentiles_write(o->percentiles, o->wl->name, &r->st);
	return r->error ? 1 : 0;
}
