/* rc_admin_json: the admin view's JSON from hand-made worker answers (rc_view.h records): string
 * escaping, the slowest consumers' order, topics summed over workers with rates from the previous
 * answer, closes merged newest first, workers that did not answer, cut lists, and output longer
 * than the buffer reaching a descriptor whole. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rc_admin_json.h"

/* Output kept in the buffer (fd -1), as a C string. */
static const char *text(json_out *o)
{
	cr_assert_lt(o->len, JSON_OUT_BYTES, "the output fits the buffer");
	o->buf[o->len] = '\0';
	return o->buf;
}

static json_out *out_new(void)
{
	json_out *o = malloc(sizeof *o);
	cr_assert_not_null(o);
	json_out_init(o, -1);
	return o;
}

static const char *escaped(json_out *o, const void *s, size_t n)
{
	json_out_init(o, -1);
	json_string(o, s, n);
	return text(o);
}

Test(admin_json, strings_are_escaped)
{
	json_out *o = out_new();
	cr_assert_str_eq(escaped(o, "BTC-USD@x/y:z_1.2", 17), "\"BTC-USD@x/y:z_1.2\"");
	cr_assert_str_eq(escaped(o, "", 0), "\"\"");
	cr_assert_str_eq(escaped(o, "a\"b\\c", 5), "\"a\\\"b\\\\c\"");
	cr_assert_str_eq(escaped(o, "l\nt\tr\r", 6), "\"l\\nt\\tr\\r\"");
	cr_assert_str_eq(escaped(o, "\x01\x1f\x7f", 3), "\"\\u0001\\u001f\\u007f\"");
	cr_assert_str_eq(escaped(o, "caf\xc3\xa9", 5), "\"caf\\u00c3\\u00a9\"");
	cr_assert_str_eq(escaped(o, "nul\0end", 7), "\"nul\\u0000end\"");
	free(o);
}

/* An answer of worker w with room for 32 connections and topics. */
static view_ask *ask(uint32_t w)
{
	view_ask *a = view_ask_new(32, 32);
	cr_assert_not_null(a);
	a->worker = w;
	atomic_store(&a->state, VIEW_DONE);
	return a;
}

static view_conn_rec *conn(view_ask *a, uint32_t id, uint32_t qbytes, uint64_t dropped,
                           uint32_t qmsgs)
{
	cr_assert_lt(a->conns_n, a->conns_cap);
	view_conn_rec *c = &a->conns[a->conns_n++];
	memset(c, 0, sizeof *c);
	c->id = id;
	c->queue_bytes = qbytes;
	c->queue_msgs = qmsgs;
	c->dropped = dropped;
	c->state = CS_OPEN;
	c->route = ROUTE_WS;
	c->family = AF_INET;
	c->peer[10] = c->peer[11] = 0xff;
	c->peer[12] = 127;
	c->peer[15] = 1;
	c->port = (uint16_t)(40000 + id);
	c->publish = -1;
	a->conns_total++;
	return c;
}

static view_topic_rec *topic(view_ask *a, uint32_t id, const char *name, uint32_t plain,
                             uint32_t v1, uint64_t messages, uint64_t epoch, bool owner)
{
	cr_assert_lt(a->topics_n, a->topics_cap);
	view_topic_rec *t = &a->topics[a->topics_n++];
	*t = (view_topic_rec){ .messages = messages,
		                   .epoch = epoch,
		                   .id = id,
		                   .subs_plain = plain,
		                   .subs_v1 = v1,
		                   .owner = owner,
		                   .name_len = (uint8_t)strlen(name) };
	memcpy(t->name, name, t->name_len);
	a->topics_total++;
	return t;
}

Test(admin_json, slowest_first_and_only_the_slow)
{
	view_ask *a0 = ask(0), *a1 = ask(1);
	conn(a0, 1, 0, 0, 0);   /* keeps up: not listed */
	conn(a0, 2, 500, 0, 5); /* bytes queued */
	conn(a1, 3, 500, 7, 5); /* as many bytes, and drops: ahead of 2 */
	conn(a1, 4, 0, 9, 0);   /* drops only */
	conn(a0, 5, 9000, 0, 1);
	conn(a1, 6, 500, 7, 6); /* ties 3 on bytes and drops, more messages queued */
	view_ask *asks[2] = { a0, a1 };
	json_answers ans = { .n = 2, .ask = asks };
	json_conn_ref top[JSON_SLOW_MAX];
	uint32_t n = json_slowest(&ans, top, JSON_SLOW_MAX);
	uint32_t want[] = { 5, 6, 3, 2, 4 };
	cr_assert_eq(n, 5);
	for (uint32_t i = 0; i < n; i++)
		cr_assert_eq(top[i].c->id, want[i], "place %u: id %u, expected %u", i, top[i].c->id,
		             want[i]);
	cr_assert_eq(top[0].a, a0);
	cr_assert_eq(top[1].a, a1);
	/* more candidates than places: the slowest ones, in order */
	for (uint32_t i = 0; i < 20; i++)
		conn(a0, 100 + i, 1000 + i, 0, 1);
	n = json_slowest(&ans, top, 3);
	cr_assert_eq(n, 3);
	cr_assert_eq(top[0].c->id, 5);
	cr_assert_eq(top[1].c->id, 119);
	cr_assert_eq(top[2].c->id, 118);
	view_ask_free(a0);
	view_ask_free(a1);
}

Test(admin_json, topics_summed_with_rates_from_the_last_answer)
{
	view_ask *a0 = ask(0), *a1 = ask(1);
	topic(a0, 0, "b", 2, 0, 8, 77, false); /* follows worker 1's numbering, 2 messages behind */
	topic(a0, 3, "a", 1, 1, 5, 55, true);
	topic(a1, 1, "b", 1, 3, 10, 77, true);
	topic(a1, 2, "c", 0, 0, 4, 66, true);
	view_ask *asks[2] = { a0, a1 };
	json_answers ans = { .n = 2, .ask = asks, .mono_ns = 10000000000ull, .real_ms = 0 };
	json_rates rates = { 0 };
	json_out *o = out_new();
	json_answer(o, &ans, JSON_TOPICS, &rates);
	const char *s = text(o);
	cr_assert(strstr(s, "\"rate_seconds\":null") != NULL, "%s", s);
	cr_assert(strstr(s, "{\"name\":\"a\",\"subscribers\":2,\"subscribers_plain\":1,"
	                    "\"subscribers_v1\":1,\"subscribers_by_worker\":[2,0],\"messages\":5,"
	                    "\"rate\":null}") != NULL,
	          "%s", s);
	cr_assert(strstr(s, "{\"name\":\"b\",\"subscribers\":6,\"subscribers_plain\":3,"
	                    "\"subscribers_v1\":3,\"subscribers_by_worker\":[2,4],\"messages\":10,"
	                    "\"rate\":null}") != NULL,
	          "the owner's count, not the follower's: %s", s);
	const char *pa = strstr(s, "\"name\":\"a\""), *pb = strstr(s, "\"name\":\"b\""),
	           *pc = strstr(s, "\"name\":\"c\"");
	cr_assert(pa != NULL && pa < pb && pb < pc, "by name: %s", s);
	cr_assert(strstr(s, "\"connections\":[") == NULL && strstr(s, "\"slow\"") == NULL);
	cr_assert_eq(rates.n, 3);
	cr_assert_eq(rates.at_ns, ans.mono_ns);

	/* 2 s later: b 20 more, a's numbering started again, c gone, d new */
	a0->topics_n = a1->topics_n = 0;
	topic(a0, 3, "a", 1, 1, 50, 56, true);
	topic(a1, 1, "b", 1, 3, 30, 77, true);
	topic(a1, 4, "d", 1, 0, 3, 88, true);
	ans.mono_ns += 2000000000ull;
	json_out_init(o, -1);
	json_answer(o, &ans, JSON_TOPICS, &rates);
	s = text(o);
	cr_assert(strstr(s, "\"rate_seconds\":2.000") != NULL, "%s", s);
	cr_assert(strstr(s, "\"name\":\"b\"") != NULL && strstr(s, "\"messages\":30,\"rate\":10.000}"),
	          "%s", s);
	cr_assert(strstr(s, "\"messages\":50,\"rate\":null}") != NULL, "a new numbering: %s", s);
	cr_assert(strstr(s, "\"messages\":3,\"rate\":null}") != NULL, "a new topic: %s", s);
	cr_assert(strstr(s, "\"name\":\"c\"") == NULL, "%s", s);
	cr_assert_eq(rates.n, 3);
	json_rates_fini(&rates);
	free(o);
	view_ask_free(a0);
	view_ask_free(a1);
}

static void closed(view_ask *a, uint32_t id, uint64_t at_ns, uint8_t reason, uint16_t code)
{
	view_close *c = &a->closes[a->closes_n++];
	*c = (view_close){ .closed_ns = at_ns,
		               .age_ns = 1500000000ull,
		               .id = id,
		               .port = 5555,
		               .code = code,
		               .family = AF_INET6,
		               .reason = reason,
		               .route = ROUTE_WS };
	c->peer[15] = 1; /* ::1 */
	a->closes_total++;
}

Test(admin_json, connections_and_closes)
{
	view_ask *a0 = ask(0), *a1 = ask(1);
	topic(a0, 0, "x", 1, 0, 0, 0, true);
	topic(a0, 2, "y\"q", 1, 0, 0, 0, true);
	view_conn_rec *c = conn(a0, 7, 0, 0, 0);
	c->subs = 3;
	c->listed = 3;
	c->topic[0] = 2;
	c->topic[1] = 0;
	c->topic[2] = 9; /* not in the topic list (it was cut): null */
	c->publish = 0;
	c->age_ns = 2500000000ull;
	c->idle_ns = 1000000ull;
	c->bytes_in = 10;
	c->bytes_out = 20;
	c->v1 = true;
	view_conn_rec *h = conn(a0, 8, 0, 0, 0);
	h->state = CS_HTTP;
	h->route = ROUTE_NONE;
	h->family = 0;
	closed(a0, 1, 1000000000ull, RC_CLOSED_CLIENT, 1000);
	closed(a1, 1, 3000000000ull, RC_CLOSED_EOF, 0);
	closed(a0, 2, 2000000000ull, RC_CLOSED_SLOW_CONSUMER, 4000);
	a1->conns_total = 5; /* it had 5, listed none: cut */
	view_ask *asks[3] = { a0, a1, NULL };
	const char *why[3] = { NULL, NULL, "did not answer" };
	/* at 4 s of CLOCK_MONOTONIC, 2026-01-01T00:00:00Z */
	json_answers ans = { .n = 3, .ask = asks, .why = why, .mono_ns = 4000000000ull };
	ans.real_ms = 1767225600000ll;
	json_rates rates = { 0 };
	json_out *o = out_new();
	json_answer(o, &ans, JSON_CONNECTIONS, &rates);
	const char *s = text(o);
	const char *head = "{\"time\":\"2026-01-01T00:00:00.000Z\",\"workers\":[";
	cr_assert(strncmp(s, head, strlen(head)) == 0, "%s", s);
	cr_assert(strstr(s, "{\"worker\":2,\"answered\":false}") != NULL, "%s", s);
	cr_assert(strstr(s, "\"errors\":[\"worker 2 did not answer\"],\"truncated\":true") != NULL,
	          "%s", s);
	cr_assert(strstr(s,
	                 "{\"id\":7,\"worker\":0,\"peer\":\"127.0.0.1\",\"port\":40007,"
	                 "\"state\":\"open\",\"route\":\"ws\",\"protocol\":\"v1\",\"tls\":false,"
	                 "\"age_ms\":2500,\"idle_ms\":1,\"subscriptions\":3,"
	                 "\"topics\":[\"y\\\"q\",\"x\",null],\"publish\":\"x\",\"queue_msgs\":0,"
	                 "\"queue_bytes\":0,\"dropped\":0,\"bytes_in\":10,\"bytes_out\":20}") != NULL,
	          "%s", s);
	cr_assert(strstr(s, "{\"id\":8,\"worker\":0,\"peer\":null,\"port\":null,\"state\":\"http\","
	                    "\"route\":null,\"protocol\":null,") != NULL,
	          "%s", s);
	/* newest first across workers, 3 s, 2 s, 1 s after the epoch of CLOCK_MONOTONIC: the answer
	 * is at 4 s, so 1, 2 and 3 s before 2026-01-01 */
	const char *c3 = strstr(s, "{\"time\":\"2025-12-31T23:59:59.000Z\",\"worker\":1,\"id\":1,"
	                           "\"peer\":\"::1\",\"port\":5555,\"reason\":\"eof\",\"code\":null,"
	                           "\"route\":\"ws\",\"age_ms\":1500,\"bytes_in\":0,\"bytes_out\":0}");
	const char *c2 = strstr(s, "{\"time\":\"2025-12-31T23:59:58.000Z\",\"worker\":0,\"id\":2,"
	                           "\"peer\":\"::1\",\"port\":5555,\"reason\":\"slow_consumer\","
	                           "\"code\":4000,");
	const char *c1 =
	        strstr(s, "{\"time\":\"2025-12-31T23:59:57.000Z\",\"worker\":0,\"id\":1,"
	                  "\"peer\":\"::1\",\"port\":5555,\"reason\":\"client\",\"code\":1000,");
	cr_assert(c3 != NULL && c2 != NULL && c1 != NULL && c3 < c2 && c2 < c1, "%s", s);
	cr_assert(strstr(s, "\"slow\"") == NULL && strstr(s, "\"topics\":[{") == NULL);
	cr_assert(s[strlen(s) - 2] == '}' && s[strlen(s) - 1] == '\n');
	free(o);
	view_ask_free(a0);
	view_ask_free(a1);
}

/* An answer much longer than the buffer reaches the descriptor whole and in order. */
Test(admin_json, long_output_is_flushed_whole)
{
	FILE *f = tmpfile();
	cr_assert_not_null(f);
	json_out *o = malloc(sizeof *o);
	json_out_init(o, fileno(f));
	uint64_t want = 0;
	for (uint32_t i = 0; i < 50000; i++) {
		json_printf(o, "%u,", i);
		want += (uint64_t)snprintf(NULL, 0, "%u,", i);
	}
	cr_assert(json_flush(o));
	cr_assert_eq(o->total, want);
	cr_assert_eq((uint64_t)ftell(f), want);
	rewind(f);
	for (uint32_t i = 0; i < 50000; i++) {
		unsigned v;
		cr_assert_eq(fscanf(f, "%u,", &v), 1);
		cr_assert_eq(v, i);
	}
	fclose(f);
	/* a descriptor that cannot be written: failed, and the rest goes nowhere */
	int fd = dup(STDERR_FILENO);
	cr_assert_geq(fd, 0);
	close(fd);
	json_out_init(o, fd);
	json_puts(o, "x");
	cr_assert_not(json_flush(o));
	json_puts(o, "more");
	cr_assert_not(json_flush(o));
	cr_assert_eq(o->len, 0);
	free(o);
}
