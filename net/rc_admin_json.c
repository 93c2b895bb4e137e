/* rc_admin_json.c: the admin view's JSON (rc_admin_json.h). */
#define _GNU_SOURCE
#include "rc_admin_json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rc_metrics.h"

/* ---- output ---------------------------------------------------------------------------------- */

void json_out_init(json_out *o, int fd)
{
	o->fd = fd;
	o->failed = false;
	o->len = 0;
	o->total = 0;
}

bool json_flush(json_out *o)
{
	size_t done = 0;
	while (o->fd >= 0 && !o->failed && done < o->len) {
		ssize_t k = write(o->fd, o->buf + done, o->len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			o->failed = true; /* the client went away or stopped reading (SO_SNDTIMEO) */
		else
			done += (size_t)k;
	}
	if (o->fd >= 0 || o->failed)
		o->len = 0;
	return !o->failed;
}

void json_put(json_out *o, const void *p, size_t n)
{
	const char *s = p;
	o->total += n;
	while (n > 0) {
		if (o->len == JSON_OUT_BYTES) {
			if (o->fd < 0)
				return; /* nowhere to go: counted in total, dropped */
			json_flush(o);
		}
		size_t k = JSON_OUT_BYTES - o->len < n ? JSON_OUT_BYTES - o->len : n;
		memcpy(o->buf + o->len, s, k);
		o->len += (uint32_t)k;
		s += k;
		n -= k;
	}
}

void json_puts(json_out *o, const char *s)
{
	json_put(o, s, strlen(s));
}

void json_printf(json_out *o, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n > 0)
		json_put(o, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void json_string(json_out *o, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	json_put(o, "\"", 1);
	size_t run = 0; /* bytes that need no escape, written at once */
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			continue;
		json_put(o, s + run, i - run);
		run = i + 1;
		char esc[6] = { '\\', (char)ch, '0', '0', hex[ch >> 4], hex[ch & 15] };
		if (ch == '\n' || ch == '\t' || ch == '\r') {
			esc[1] = ch == '\n' ? 'n' : ch == '\t' ? 't' : 'r';
			json_put(o, esc, 2);
		} else if (ch == '"' || ch == '\\') {
			json_put(o, esc, 2);
		} else {
			esc[1] = 'u'; /* \u00XX */
			json_put(o, esc, 6);
		}
	}
	json_put(o, s + run, n - run);
	json_put(o, "\"", 1);
}

/* ---- values ---------------------------------------------------------------------------------- */

/* The wall-clock time of a CLOCK_MONOTONIC instant of this answer, as the logs write it. */
static void put_time(json_out *o, const json_answers *a, uint64_t mono_ns)
{
	int64_t ago_ms = ((int64_t)a->mono_ns - (int64_t)mono_ns) / 1000000;
	int64_t ms = a->real_ms - ago_ms;
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	json_printf(o, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
	            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static void put_peer(json_out *o, uint8_t family, const uint8_t peer[16], uint16_t port)
{
	char text[INET6_ADDRSTRLEN];
	if ((family != AF_INET && family != AF_INET6) ||
	    inet_ntop(family, family == AF_INET ? peer + 12 : peer, text, sizeof text) == NULL) {
		json_puts(o, "\"peer\":null,\"port\":null");
		return;
	}
	json_printf(o, "\"peer\":\"%s\",\"port\":%u", text, port);
}

static const char *state_name(uint8_t state)
{
	switch (state) {
	case CS_HTTP:
		return "http";
	case CS_OPEN:
		return "open";
	default: /* closing, and dropped with the descriptor's close on its way */
		return "closing";
	}
}

static const char *route_name(uint8_t route)
{
	return route == ROUTE_WS ? "\"ws\"" : route == ROUTE_ECHO ? "\"echo\"" : "null";
}

static void put_ms(json_out *o, const char *key, uint64_t ns)
{
	json_printf(o, ",\"%s\":%llu", key, (unsigned long long)(ns / 1000000));
}

/* ---- connections ----------------------------------------------------------------------------- */

static int topic_id_cmp(const void *key, const void *elem)
{
	uint32_t id = *(const uint32_t *)key, other = ((const view_topic_rec *)elem)->id;
	return id < other ? -1 : id > other;
}

/* A topic's name in the answer of its worker (whose topics are by increasing id), as a JSON
 * string; null if the list was cut before it. */
static void put_topic_name(json_out *o, const view_ask *a, uint32_t id)
{
	const view_topic_rec *t = bsearch(&id, a->topics, a->topics_n, sizeof *t, topic_id_cmp);
	if (t != NULL)
		json_string(o, t->name, t->name_len);
	else
		json_puts(o, "null");
}

static void put_conn(json_out *o, const view_ask *a, const view_conn_rec *c)
{
	json_printf(o, "{\"id\":%u,\"worker\":%u,", c->id, a->worker);
	put_peer(o, c->family, c->peer, c->port);
	json_printf(o, ",\"state\":\"%s\",\"route\":%s,\"protocol\":%s,\"tls\":%s",
	            state_name(c->state), route_name(c->route),
	            c->route == ROUTE_NONE ? "null"
	            : c->v1                ? "\"v1\""
	                                   : "\"plain\"",
	            c->tls ? "true" : "false");
	put_ms(o, "age_ms", c->age_ns);
	put_ms(o, "idle_ms", c->idle_ns);
	json_printf(o, ",\"subscriptions\":%u,\"topics\":[", c->subs);
	for (uint32_t i = 0; i < c->listed; i++) {
		if (i > 0)
			json_put(o, ",", 1);
		put_topic_name(o, a, c->topic[i]);
	}
	json_puts(o, "],\"publish\":");
	if (c->publish >= 0)
		put_topic_name(o, a, (uint32_t)c->publish);
	else
		json_puts(o, "null");
	json_printf(o,
	            ",\"queue_msgs\":%u,\"queue_bytes\":%u,\"dropped\":%llu,\"bytes_in\":%llu,"
	            "\"bytes_out\":%llu}",
	            c->queue_msgs, c->queue_bytes, (unsigned long long)c->dropped,
	            (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out);
}

static void put_connections(json_out *o, const json_answers *a)
{
	json_puts(o, ",\"connections\":[");
	bool first = true;
	for (uint32_t w = 0; w < a->n; w++) {
		const view_ask *k = a->ask[w];
		for (uint32_t i = 0; k != NULL && i < k->conns_n; i++) {
			json_puts(o, first ? "\n" : ",\n");
			first = false;
			put_conn(o, k, &k->conns[i]);
		}
	}
	json_puts(o, "]");
}

/* ---- closes ---------------------------------------------------------------------------------- */

typedef struct close_ref {
	const view_close *c;
	uint32_t worker;
} close_ref;

/* Newest first. */
static int close_cmp(const void *x, const void *y)
{
	const close_ref *a = x, *b = y;
	if (a->c->closed_ns != b->c->closed_ns)
		return a->c->closed_ns > b->c->closed_ns ? -1 : 1;
	if (a->worker != b->worker)
		return a->worker < b->worker ? -1 : 1;
	return a->c->id > b->c->id ? -1 : a->c->id < b->c->id;
}

static void put_close(json_out *o, const json_answers *a, const close_ref *r)
{
	const view_close *c = r->c;
	rc_metric_info mi = { .value = NULL };
	if (c->reason < RC_CLOSED_COUNT)
		rc_metric_describe(RC_M_CLOSED(c->reason), &mi);
	json_puts(o, "{\"time\":");
	put_time(o, a, c->closed_ns);
	json_printf(o, ",\"worker\":%u,\"id\":%u,", r->worker, c->id);
	put_peer(o, c->family, c->peer, c->port);
	json_printf(o, ",\"reason\":\"%s\",\"code\":", mi.value != NULL ? mi.value : "unknown");
	if (c->code != 0)
		json_printf(o, "%u", c->code);
	else
		json_puts(o, "null");
	json_printf(o, ",\"route\":%s", route_name(c->route));
	put_ms(o, "age_ms", c->age_ns);
	json_printf(o, ",\"bytes_in\":%llu,\"bytes_out\":%llu}", (unsigned long long)c->bytes_in,
	            (unsigned long long)c->bytes_out);
}

static void put_closes(json_out *o, const json_answers *a)
{
	uint32_t n = 0;
	for (uint32_t w = 0; w < a->n; w++)
		n += a->ask[w] != NULL ? a->ask[w]->closes_n : 0;
	close_ref *refs = n > 0 ? malloc(n * sizeof *refs) : NULL;
	json_puts(o, ",\"closes\":[");
	if (refs != NULL) {
		uint32_t k = 0;
		for (uint32_t w = 0; w < a->n; w++)
			for (uint32_t i = 0; a->ask[w] != NULL && i < a->ask[w]->closes_n; i++)
				refs[k++] = (close_ref){ .c = &a->ask[w]->closes[i], .worker = w };
		qsort(refs, n, sizeof *refs, close_cmp);
		for (uint32_t i = 0; i < n; i++) {
			json_puts(o, i == 0 ? "\n" : ",\n");
			put_close(o, a, &refs[i]);
		}
	}
	free(refs);
	json_puts(o, "]");
}

/* ---- the slowest consumers ------------------------------------------------------------------- */

/* Slower first: most bytes queued, then most dropped, then most messages queued. */
static bool slower(const view_conn_rec *x, const view_conn_rec *y)
{
	if (x->queue_bytes != y->queue_bytes)
		return x->queue_bytes > y->queue_bytes;
	if (x->dropped != y->dropped)
		return x->dropped > y->dropped;
	return x->queue_msgs > y->queue_msgs;
}

uint32_t json_slowest(const json_answers *a, json_conn_ref *out, uint32_t max)
{
	uint32_t n = 0;
	for (uint32_t w = 0; w < a->n; w++) {
		const view_ask *k = a->ask[w];
		for (uint32_t i = 0; k != NULL && i < k->conns_n; i++) {
			const view_conn_rec *c = &k->conns[i];
			if (c->queue_msgs == 0 && c->dropped == 0)
				continue;
			if (n == max && (max == 0 || !slower(c, out[max - 1].c)))
				continue;
			uint32_t at = n < max ? n++ : max - 1; /* insertion into the sorted top */
			while (at > 0 && slower(c, out[at - 1].c)) {
				out[at] = out[at - 1];
				at--;
			}
			out[at] = (json_conn_ref){ .c = c, .a = k };
		}
	}
	return n;
}

static void put_slow(json_out *o, const json_answers *a)
{
	json_conn_ref top[JSON_SLOW_MAX];
	uint32_t n = json_slowest(a, top, JSON_SLOW_MAX);
	json_puts(o, ",\"slow\":[");
	for (uint32_t i = 0; i < n; i++) {
		json_puts(o, i == 0 ? "\n" : ",\n");
		put_conn(o, top[i].a, top[i].c);
	}
	json_puts(o, "]");
}

/* ---- topics ---------------------------------------------------------------------------------- */

typedef struct topic_ref {
	const view_topic_rec *t;
	uint32_t worker;
} topic_ref;

static int name_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int d = memcmp(a, b, alen < blen ? alen : blen);
	return d != 0 ? d : (alen > blen) - (alen < blen);
}

static int topic_cmp(const void *x, const void *y)
{
	const topic_ref *a = x, *b = y;
	int d = name_cmp(a->t->name, a->t->name_len, b->t->name, b->t->name_len);
	return d != 0 ? d : (a->worker > b->worker) - (a->worker < b->worker);
}

static int rate_cmp(const void *key, const void *elem)
{
	const view_topic_rec *t = key;
	const json_rate *r = elem;
	return name_cmp(t->name, t->name_len, r->name, r->len);
}

void json_rates_fini(json_rates *r)
{
	free(r->r);
	*r = (json_rates){ 0 };
}

/* One topic, from its records on each worker (refs[0..k), by worker): subscribers added up; the
 * message count of the worker that numbers it (every worker's is that numbering as far as it has
 * seen it), else the highest; its rate from the last answer's count of the same numbering. */
static void put_topic(json_out *o, const json_answers *a, const topic_ref *refs, uint32_t k,
                      const json_rates *prev, double dt, json_rate *now)
{
	const view_topic_rec *count = refs[0].t;
	uint64_t plain = 0, v1 = 0;
	for (uint32_t i = 0; i < k; i++) {
		const view_topic_rec *t = refs[i].t;
		plain += t->subs_plain;
		v1 += t->subs_v1;
		if (t->owner || (!count->owner && t->messages > count->messages))
			count = t;
	}
	*now = (json_rate){ .messages = count->messages,
		                .epoch = count->epoch,
		                .len = count->name_len };
	memcpy(now->name, count->name, count->name_len);
	json_puts(o, "{\"name\":");
	json_string(o, count->name, count->name_len);
	json_printf(o,
	            ",\"subscribers\":%llu,\"subscribers_plain\":%llu,\"subscribers_v1\":%llu,"
	            "\"subscribers_by_worker\":[",
	            (unsigned long long)(plain + v1), (unsigned long long)plain,
	            (unsigned long long)v1);
	for (uint32_t w = 0, i = 0; w < a->n; w++) {
		uint64_t s = 0;
		if (i < k && refs[i].worker == w) {
			s = (uint64_t)refs[i].t->subs_plain + refs[i].t->subs_v1;
			i++;
		}
		json_printf(o, "%s%llu", w > 0 ? "," : "", (unsigned long long)s);
	}
	json_printf(o, "],\"messages\":%llu,\"rate\":", (unsigned long long)count->messages);
	const json_rate *was =
	        prev->n > 0 ? bsearch(count, prev->r, prev->n, sizeof *prev->r, rate_cmp) : NULL;
	/* a topic the last answer did not have, or whose numbering started again since: unknown */
	if (was != NULL && dt > 0 && was->epoch == count->epoch && count->messages >= was->messages)
		json_printf(o, "%.3f}", (double)(count->messages - was->messages) / dt);
	else
		json_puts(o, "null}");
}

/* Every topic of every answer, by name, each worker's record of it next to the others'. */
static topic_ref *collect_topics(const json_answers *a, uint32_t *count)
{
	uint32_t n = 0;
	for (uint32_t w = 0; w < a->n; w++)
		n += a->ask[w] != NULL ? a->ask[w]->topics_n : 0;
	*count = n;
	topic_ref *refs = malloc((n > 0 ? n : 1) * sizeof *refs);
	if (refs == NULL)
		return NULL;
	uint32_t k = 0;
	for (uint32_t w = 0; w < a->n; w++)
		for (uint32_t i = 0; a->ask[w] != NULL && i < a->ask[w]->topics_n; i++)
			refs[k++] = (topic_ref){ .t = &a->ask[w]->topics[i], .worker = w };
	qsort(refs, n, sizeof *refs, topic_cmp);
	return refs;
}

static void put_topics(json_out *o, const json_answers *a, json_rates *rates)
{
	uint32_t n;
	topic_ref *refs = collect_topics(a, &n);
	json_rate *now = refs != NULL ? malloc((n > 0 ? n : 1) * sizeof *now) : NULL;
	double dt = rates->at_ns != 0 && a->mono_ns > rates->at_ns
	                    ? (double)(a->mono_ns - rates->at_ns) / 1e9
	                    : 0;
	if (dt > 0)
		json_printf(o, ",\"rate_seconds\":%.3f,\"topics\":[", dt);
	else
		json_puts(o, ",\"rate_seconds\":null,\"topics\":[");
	if (now == NULL) {
		free(refs);
		json_puts(o, "]");
		return;
	}
	uint32_t topics = 0;
	for (uint32_t i = 0, j; i < n; i = j) {
		const view_topic_rec *t = refs[i].t;
		for (j = i + 1;
		     j < n && name_cmp(refs[j].t->name, refs[j].t->name_len, t->name, t->name_len) == 0;)
			j++;
		json_puts(o, topics == 0 ? "\n" : ",\n");
		put_topic(o, a, refs + i, j - i, rates, dt, &now[topics++]);
	}
	json_puts(o, "]");
	free(refs);
	free(rates->r);
	*rates = (json_rates){ .at_ns = a->mono_ns, .n = topics, .r = now };
}

/* ---- the answer ------------------------------------------------------------------------------ */

static void put_workers(json_out *o, const json_answers *a)
{
	json_puts(o, ",\"workers\":[");
	bool cut = false;
	for (uint32_t w = 0; w < a->n; w++) {
		const view_ask *k = a->ask[w];
		json_puts(o, w == 0 ? "\n" : ",\n");
		if (k == NULL) {
			json_printf(o, "{\"worker\":%u,\"answered\":false}", w);
			continue;
		}
		json_printf(o,
		            "{\"worker\":%u,\"answered\":true,\"connections\":%u,\"connections_listed\":%u,"
		            "\"topics\":%u,\"topics_listed\":%u,\"closes\":%llu}",
		            w, k->conns_total, k->conns_n, k->topics_total, k->topics_n,
		            (unsigned long long)k->closes_total);
		cut |= k->conns_n < k->conns_total || k->topics_n < k->topics_total;
	}
	json_puts(o, "],\"errors\":[");
	bool first = true;
	for (uint32_t w = 0; w < a->n; w++) {
		if (a->ask[w] != NULL)
			continue;
		json_printf(o, "%s\"worker %u %s\"", first ? "" : ",", w,
		            a->why != NULL && a->why[w] != NULL ? a->why[w] : "did not answer");
		first = false;
	}
	json_printf(o, "],\"truncated\":%s", cut ? "true" : "false");
}

void json_answer(json_out *o, const json_answers *a, unsigned parts, json_rates *rates)
{
	json_puts(o, "{\"time\":");
	put_time(o, a, a->mono_ns);
	put_workers(o, a);
	if (parts & JSON_CONNECTIONS) {
		put_connections(o, a);
		put_closes(o, a);
	}
	if (parts & JSON_SLOW)
		put_slow(o, a);
	if (parts & JSON_TOPICS)
		put_topics(o, a, rates);
	json_puts(o, "}\n");
}
