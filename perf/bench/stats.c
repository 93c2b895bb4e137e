/* stats: tallies, the latency histogram and merging the threads' counts (stats.h). */
#include "stats.h"

#include <stdio.h>
#include <string.h>

void tally_add(struct tally *t, const char *key, uint64_t k)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (strcmp(t->e[i].key, key) == 0) {
			t->e[i].count += k;
			return;
		}
	if (t->n == TALLY_MAX) { /* full: the last entry, "other", absorbs the rest */
		t->e[TALLY_MAX - 1].count += k;
		return;
	}
	uint32_t i = t->n++;
	snprintf(t->e[i].key, sizeof t->e[i].key, "%s", i == TALLY_MAX - 1 ? "other" : key);
	t->e[i].count += k;
}

static void tally_merge(struct tally *to, const struct tally *from)
{
	for (uint32_t i = 0; i < from->n; i++)
		tally_add(to, from->e[i].key, from->e[i].count);
}

uint64_t hist_value(uint32_t i)
{
	uint32_t octave = i / HIST_SUB, sub = i % HIST_SUB;
	if (octave == 0)
		return i;
	uint64_t lower = (uint64_t)(HIST_SUB + sub) << (octave - 1);
	return lower + (1ull << (octave - 1)) - 1;
}

/* A name of the threads' sessions: the same everywhere, or "mixed". */
static void name_merge(char *to, size_t cap, const char *from)
{
	if (from[0] == 0 || strcmp(to, from) == 0)
		return;
	snprintf(to, cap, "%s", to[0] == 0 ? from : "mixed");
}

static void tls_merge(struct tls_counts *to, const struct tls_counts *from)
{
	to->handshakes += from->handshakes;
	to->resumed += from->resumed;
	for (int k = 0; k < TLS_CALLS; k++) {
		to->calls[k] += from->calls[k];
		for (int in = 0; in < 2; in++) {
			to->ns[in][k] += from->ns[in][k];
			to->wall[in][k] += from->wall[in][k];
		}
	}
	to->writes += from->writes;
	to->records += from->records;
	to->plain_out += from->plain_out;
	to->plain_in += from->plain_in;
	name_merge(to->version, sizeof to->version, from->version);
	name_merge(to->cipher, sizeof to->cipher, from->cipher);
	name_merge(to->alpn, sizeof to->alpn, from->alpn);
	if (to->first_error[0] == 0)
		memcpy(to->first_error, from->first_error, sizeof to->first_error);
}

double tls_cpu_s(const struct tls_counts *t, int k, int in)
{
	uint64_t ns = 0;
	for (int j = 0; j < TLS_CALLS; j++)
		if (k == TLS_CALLS || k == j)
			ns += t->ns[in][j];
	return (double)ns / 1e9;
}

void stats_merge(struct stats *to, const struct stats *from)
{
	to->published += from->published;
	to->published_total += from->published_total;
	to->unsent += from->unsent;
	to->expected += from->expected;
	to->delivered += from->delivered;
	to->delivered_total += from->delivered_total;
	to->arrivals += from->arrivals;
	to->gaps += from->gaps;
	to->lost_tail += from->lost_tail;
	to->dups += from->dups;
	to->self += from->self;
	to->foreign += from->foreign;
	to->unexpected += from->unexpected;
	to->stalls += from->stalls;
	to->closed_in_run += from->closed_in_run;
	to->missed += from->missed;
	to->unexplained += from->unexplained;
	to->seq_back += from->seq_back;
	to->notices += from->notices;
	to->reconnects += from->reconnects;
	to->reconnected += from->reconnected;
	to->reconnect_failed += from->reconnect_failed;
	to->waits_told += from->waits_told;
	to->sends += from->sends;
	to->send_bytes += from->send_bytes;
	to->recv_cqes += from->recv_cqes;
	to->recv_bytes += from->recv_bytes;
	to->enobufs += from->enobufs;
	to->rearms += from->rearms;
	to->lat_count += from->lat_count;
	to->lat_sum_ns += from->lat_sum_ns;
	if (from->lat_max_ns > to->lat_max_ns)
		to->lat_max_ns = from->lat_max_ns;
	to->lag_sum_ns += from->lag_sum_ns;
	if (from->lag_max_ns > to->lag_max_ns)
		to->lag_max_ns = from->lag_max_ns;
	for (uint32_t i = 0; i < HIST_BUCKETS; i++)
		to->hist[i] += from->hist[i];
	tally_merge(&to->closes, &from->closes);
	tally_merge(&to->errors, &from->errors);
	tls_merge(&to->tls, &from->tls);
}

double hist_quantile_us(const struct stats *s, double q)
{
	if (s->lat_count == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)s->lat_count + 0.999999);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
		seen += s->hist[i];
		if (seen >= rank) {
			uint64_t v = hist_value(i);
			return (double)(v < s->lat_max_ns ? v : s->lat_max_ns) / 1e3;
		}
	}
	return (double)s->lat_max_ns / 1e3;
}

void cstats_merge(struct cstats *to, const struct cstats *from)
{
	to->attempted += from->attempted;
	to->completed += from->completed;
	to->failed += from->failed;
	to->unstarted += from->unstarted;
	to->abandoned += from->abandoned;
	to->inflight_max += from->inflight_max;
	tally_merge(&to->ends, &from->ends);
}
