/* Tests of rc_metrics: every slot has a family and a unique (name, label) pair; the rendering has
 * HELP and TYPE for every family and parses as Prometheus text (a small checker below, written from
 * the exposition format's grammar, not from rc_metrics.c); values land on their own line; a buffer
 * too small gives 0 at every size; rc_metrics_add sums; the gauge helpers and the pool mapping. */
#include <criterion/criterion.h>

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_metrics.h"
#include "rc_pool.h"

/* ---- a checker for the text format ----------------------------------------------------------- */

struct sample {
	char name[96];
	char labels[96]; /* what is between the braces, "" if none */
	uint64_t value;
};

struct parsed {
	struct sample s[RC_M_COUNT + 8];
	size_t n;
	char help[64][96]; /* family names with a HELP line */
	char type[64][96]; /* family names with a TYPE line */
	char type_kind[64][16];
	size_t nhelp, ntype;
};

static bool name_char(char c, bool first)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':' ||
	       (!first && isdigit((unsigned char)c));
}

/* Parse a whole exposition; fails the test at the first line that is not
 *   # HELP name text | # TYPE name counter|gauge | name[{label="value"[,...]}] integer */
static void parse_exposition(const char *text, size_t len, struct parsed *out)
{
	memset(out, 0, sizeof *out);
	cr_assert_gt(len, 0);
	cr_assert_eq(text[len - 1], '\n', "ends with a newline");
	cr_assert_eq(strlen(text), len, "no NUL inside");
	const char *p = text;
	while (p < text + len) {
		const char *eol = memchr(p, '\n', (size_t)(text + len - p));
		cr_assert_not_null(eol);
		size_t n = (size_t)(eol - p);
		char line[512];
		cr_assert_lt(n, sizeof line);
		memcpy(line, p, n);
		line[n] = '\0';
		p = eol + 1;
		cr_assert_gt(n, 0, "no empty lines");
		if (line[0] == '#') {
			char kw[8], name[96], rest[400];
			int got = sscanf(line, "# %7s %95s %399[^\n]", kw, name, rest);
			cr_assert_eq(got, 3, "comment line '%s'", line);
			if (strcmp(kw, "HELP") == 0) {
				cr_assert_lt(out->nhelp, 64);
				strcpy(out->help[out->nhelp++], name);
			} else {
				cr_assert_str_eq(kw, "TYPE", "'%s'", line);
				cr_assert(strcmp(rest, "counter") == 0 || strcmp(rest, "gauge") == 0, "'%s'", line);
				cr_assert_lt(out->ntype, 64);
				strcpy(out->type[out->ntype], name);
				strcpy(out->type_kind[out->ntype++], rest);
			}
			continue;
		}
		struct sample *s = &out->s[out->n];
		cr_assert_lt(out->n, sizeof out->s / sizeof out->s[0]);
		size_t i = 0;
		cr_assert(name_char(line[0], true), "'%s'", line);
		while (name_char(line[i], false))
			i++;
		cr_assert_lt(i, sizeof s->name);
		memcpy(s->name, line, i);
		s->name[i] = '\0';
		if (line[i] == '{') {
			size_t start = ++i;
			for (;;) { /* label="value" pairs; our values never need escapes */
				cr_assert(name_char(line[i], true), "label in '%s'", line);
				while (name_char(line[i], false))
					i++;
				cr_assert_eq(line[i], '=', "'%s'", line);
				cr_assert_eq(line[i + 1], '"', "'%s'", line);
				i += 2;
				while (line[i] != '"' && line[i] != '\0') {
					cr_assert_neq(line[i], '\\', "'%s'", line);
					i++;
				}
				cr_assert_eq(line[i], '"', "'%s'", line);
				i++;
				if (line[i] == ',') {
					i++;
					continue;
				}
				cr_assert_eq(line[i], '}', "'%s'", line);
				break;
			}
			memcpy(s->labels, line + start, i - start);
			s->labels[i - start] = '\0';
			i++;
		}
		cr_assert_eq(line[i], ' ', "one space before the value: '%s'", line);
		i++;
		cr_assert(isdigit((unsigned char)line[i]), "'%s'", line);
		char *end;
		errno = 0;
		unsigned long long v = strtoull(line + i, &end, 10);
		cr_assert_eq(errno, 0);
		cr_assert_eq(*end, '\0', "nothing after the value (no timestamp): '%s'", line);
		s->value = v;
		out->n++;
	}
}

static const struct sample *find_sample(const struct parsed *p, const char *name,
                                        const char *labels)
{
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->s[i].name, name) == 0 && strcmp(p->s[i].labels, labels) == 0)
			return &p->s[i];
	}
	return NULL;
}

static size_t render(const rc_metrics *m, char *out, size_t cap)
{
	size_t n = rc_metrics_render(m, out, cap);
	cr_assert_gt(n, 0);
	cr_assert_lt(n, cap);
	return n;
}

/* The sample expected for slot id: ringcast_<name> and its label text. */
static void expected(unsigned id, char name[96], char labels[96])
{
	rc_metric_info in;
	cr_assert_eq(rc_metric_describe(id, &in), 0);
	snprintf(name, 96, "ringcast_%s", in.name);
	if (in.label != NULL)
		snprintf(labels, 96, "%s=\"%s\"", in.label, in.value);
	else
		labels[0] = '\0';
}

/* ---- the table ------------------------------------------------------------------------------- */

Test(metrics, every_slot_described_once)
{
	for (unsigned a = 0; a < RC_M_COUNT; a++) {
		rc_metric_info in;
		cr_assert_eq(rc_metric_describe(a, &in), 0);
		cr_assert_not_null(in.name);
		cr_assert_not_null(in.help);
		cr_assert(strcmp(in.type, "counter") == 0 || strcmp(in.type, "gauge") == 0);
		bool total = strlen(in.name) > 6 && strcmp(in.name + strlen(in.name) - 6, "_total") == 0;
		cr_assert_eq(total, strcmp(in.type, "counter") == 0,
		             "%s: counters and only counters "
		             "end in _total",
		             in.name);
		cr_assert_eq(in.label == NULL, in.value == NULL);
		char na[96], la[96];
		expected(a, na, la);
		for (unsigned b = 0; b < a; b++) {
			char nb[96], lb[96];
			expected(b, nb, lb);
			cr_assert(strcmp(na, nb) != 0 || strcmp(la, lb) != 0, "slots %u and %u: %s{%s}", a, b,
			          na, la);
			/* a family's slots are consecutive */
			if (strcmp(na, nb) == 0)
				for (unsigned c = b; c <= a; c++) {
					char nc[96], lc[96];
					expected(c, nc, lc);
					cr_assert_str_eq(nc, na);
				}
		}
	}
	rc_metric_info in;
	cr_assert_eq(rc_metric_describe(RC_M_COUNT, &in), -EINVAL);
}

Test(metrics, families_named_in_the_brief)
{
	static const struct {
		unsigned id;
		const char *name, *value;
	} want[] = {
		{ RC_M_CONNECTIONS, "connections", NULL },
		{ RC_M_ACCEPTED, "connections_accepted_total", NULL },
		{ RC_M_REJECTED(RC_REJECT_OVER_LIMIT), "connections_rejected_total", "over_limit" },
		{ RC_M_REJECTED(RC_REJECT_BAD_REQUEST), "connections_rejected_total", "bad_request" },
		{ RC_M_REJECTED(RC_REJECT_FORBIDDEN), "connections_rejected_total", "forbidden" },
		{ RC_M_REJECTED(RC_REJECT_NOT_FOUND), "connections_rejected_total", "not_found" },
		{ RC_M_REJECTED(RC_REJECT_METHOD), "connections_rejected_total", "method" },
		{ RC_M_REJECTED(RC_REJECT_UPGRADE_REQUIRED), "connections_rejected_total",
		  "upgrade_required" },
		{ RC_M_REJECTED(RC_REJECT_TOO_LARGE), "connections_rejected_total", "too_large" },
		{ RC_M_REJECTED(RC_REJECT_DRAINING), "connections_rejected_total", "draining" },
		{ RC_M_PUBLISHED, "messages_published_total", NULL },
		{ RC_M_DELIVERED, "messages_delivered_total", NULL },
		{ RC_M_DROPPED(RC_DROP_QUEUE_FULL_OLDEST), "messages_dropped_total", "queue_full_oldest" },
		{ RC_M_DROPPED(RC_DROP_QUEUE_FULL_NEWEST), "messages_dropped_total", "queue_full_newest" },
		{ RC_M_DROPPED(RC_DROP_CONFLATED), "messages_dropped_total", "conflated" },
		{ RC_M_DROPPED(RC_DROP_SLOW_DISCONNECT), "messages_dropped_total", "slow_disconnect" },
		{ RC_M_DROPPED(RC_DROP_NO_MEMORY), "messages_dropped_total", "no_memory" },
		{ RC_M_SLOW_DISCONNECTS, "slow_consumer_disconnects_total", NULL },
		{ RC_M_BYTES_IN, "bytes_received_total", NULL },
		{ RC_M_BYTES_OUT, "bytes_sent_total", NULL },
		{ RC_M_BUFFERS(RC_BUFS_POOL), "buffers", "pool" },
		{ RC_M_BUFFERS(RC_BUFS_RECV_HELD), "buffers", "recv_held" },
		{ RC_M_COPIES(RC_COPY_SPANNING), "slow_path_copies_total", "spanning" },
		{ RC_M_COPIES(RC_COPY_FRAGMENTED), "slow_path_copies_total", "fragmented" },
		{ RC_M_COPIES(RC_COPY_REENCODE), "slow_path_copies_total", "reencode" },
		{ RC_M_PROMOTIONS, "promotions_total", NULL },
		{ RC_M_FDS_OPEN, "open_fds", NULL },
		{ RC_M_CLOSED(RC_CLOSED_IDLE_TIMEOUT), "connections_closed_total", "idle_timeout" },
		{ RC_M_CLOSED(RC_CLOSED_PING_FLOOD), "connections_closed_total", "ping_flood" },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		rc_metric_info in;
		cr_assert_eq(rc_metric_describe(want[i].id, &in), 0);
		cr_assert_str_eq(in.name, want[i].name);
		if (want[i].value == NULL) {
			cr_assert_null(in.label);
		} else {
			cr_assert_str_eq(in.value, want[i].value);
		}
	}
}

/* ---- rendering ------------------------------------------------------------------------------- */

Test(metrics, render_zero_parses_and_has_help_and_type)
{
	rc_metrics m;
	rc_metrics_init(&m);
	char *out = malloc(RC_METRICS_RENDER_MAX);
	size_t n = render(&m, out, RC_METRICS_RENDER_MAX);
	struct parsed *p = malloc(sizeof *p);
	parse_exposition(out, n, p);
	cr_assert_eq(p->n, RC_M_COUNT, "one sample per slot");
	cr_assert_eq(p->nhelp, p->ntype);
	for (size_t i = 0; i < p->ntype; i++)
		cr_assert_str_eq(p->help[i], p->type[i], "HELP and TYPE name the same family");
	for (unsigned id = 0; id < RC_M_COUNT; id++) {
		char name[96], labels[96];
		expected(id, name, labels);
		const struct sample *s = find_sample(p, name, labels);
		cr_assert_not_null(s, "%s{%s}", name, labels);
		cr_assert_eq(s->value, 0);
		bool has_help = false;
		for (size_t i = 0; i < p->ntype; i++) {
			if (strcmp(p->type[i], name) == 0) {
				rc_metric_info in;
				rc_metric_describe(id, &in);
				cr_assert_str_eq(p->type_kind[i], in.type);
				has_help = true;
			}
		}
		cr_assert(has_help, "%s has HELP and TYPE", name);
	}
	/* The example of the brief, verbatim. */
	cr_assert_not_null(
	        strstr(out, "\nringcast_messages_dropped_total{reason=\"queue_full_oldest\"} 0\n"));
	cr_assert_not_null(strstr(out, "# TYPE ringcast_messages_dropped_total counter\n"));
	cr_assert_not_null(strstr(out, "# TYPE ringcast_connections gauge\n"));
	free(p);
	free(out);
}

/* Each slot set to a distinct value shows up on its own line and nowhere else. */
Test(metrics, render_values_land_on_their_slot)
{
	rc_metrics m;
	rc_metrics_init(&m);
	for (unsigned id = 0; id < RC_M_COUNT; id++)
		rc_metric_add(&m, id, 1000003ull * (id + 1));
	char *out = malloc(RC_METRICS_RENDER_MAX);
	size_t n = render(&m, out, RC_METRICS_RENDER_MAX);
	struct parsed *p = malloc(sizeof *p);
	parse_exposition(out, n, p);
	for (unsigned id = 0; id < RC_M_COUNT; id++) {
		char name[96], labels[96];
		expected(id, name, labels);
		const struct sample *s = find_sample(p, name, labels);
		cr_assert_not_null(s);
		cr_assert_eq(s->value, 1000003ull * (id + 1), "%s{%s}", name, labels);
	}
	free(p);
	free(out);
}

Test(metrics, render_max_bound_holds_at_uint64_max)
{
	rc_metrics m;
	rc_metrics_init(&m);
	for (unsigned id = 0; id < RC_M_COUNT; id++)
		rc_metric_add(&m, id, UINT64_MAX);
	char *out = malloc(RC_METRICS_RENDER_MAX);
	size_t n = render(&m, out, RC_METRICS_RENDER_MAX);
	struct parsed *p = malloc(sizeof *p);
	parse_exposition(out, n, p);
	for (size_t i = 0; i < p->n; i++)
		cr_assert_eq(p->s[i].value, UINT64_MAX);
	free(p);
	free(out);
}

/* Every capacity below the length gives 0, the exact length + 1 works, and nothing is written past
 * cap (an exact-size heap block each time, for ASan). */
Test(metrics, render_cap_too_small_returns_zero)
{
	rc_metrics m;
	rc_metrics_init(&m);
	rc_metric_inc(&m, RC_M_ACCEPTED);
	char *full = malloc(RC_METRICS_RENDER_MAX);
	size_t len = render(&m, full, RC_METRICS_RENDER_MAX);
	cr_assert_eq(rc_metrics_render(&m, NULL, 0), 0);
	for (size_t cap = 1; cap <= len + 1; cap++) {
		char *b = malloc(cap);
		size_t n = rc_metrics_render(&m, b, cap);
		if (cap <= len) {
			cr_assert_eq(n, 0, "cap %zu of %zu", cap, len);
		} else {
			cr_assert_eq(n, len);
			cr_assert_eq(memcmp(b, full, len + 1), 0);
		}
		free(b);
	}
	free(full);
}

/* ---- updates and sums ------------------------------------------------------------------------ */

Test(metrics, inc_add_set)
{
	rc_metrics m;
	rc_metrics_init(&m);
	for (unsigned id = 0; id < RC_M_COUNT; id++)
		cr_assert_eq(rc_metric_get(&m, id), 0);
	rc_metric_inc(&m, RC_M_ACCEPTED);
	rc_metric_inc(&m, RC_M_ACCEPTED);
	rc_metric_add(&m, RC_M_BYTES_IN, 1500);
	rc_metric_add(&m, RC_M_CONNECTIONS, 1);
	rc_metric_set(&m, RC_M_TOPICS, 42);
	rc_metric_inc(&m, RC_M_DROPPED(RC_DROP_CONFLATED));
	cr_assert_eq(rc_metric_get(&m, RC_M_ACCEPTED), 2);
	cr_assert_eq(rc_metric_get(&m, RC_M_BYTES_IN), 1500);
	cr_assert_eq(rc_metric_get(&m, RC_M_CONNECTIONS), 1);
	cr_assert_eq(rc_metric_get(&m, RC_M_TOPICS), 42);
	cr_assert_eq(rc_metric_get(&m, RC_M_DROPPED(RC_DROP_CONFLATED)), 1);
	cr_assert_eq(rc_metric_get(&m, RC_M_DROPPED(RC_DROP_NO_MEMORY)), 0);
	cr_assert_eq(rc_metric_get(&m, RC_M_DROPPED(RC_DROP_QUEUE_FULL_NEWEST)), 0);
}

Test(metrics, set_on_a_counter_asserts, .signal = SIGABRT)
{
	rc_metrics m;
	rc_metrics_init(&m);
	rc_metric_set(&m, RC_M_DELIVERED, 5);
}

Test(metrics, add_sums_every_slot)
{
	rc_metrics a, b, sum;
	rc_metrics_init(&a);
	rc_metrics_init(&b);
	rc_metrics_init(&sum);
	for (unsigned id = 0; id < RC_M_COUNT; id++) {
		rc_metric_add(&a, id, id + 1);
		rc_metric_add(&b, id, 1000 * (id + 1));
	}
	rc_metrics_add(&sum, &a);
	rc_metrics_add(&sum, &b);
	for (unsigned id = 0; id < RC_M_COUNT; id++) {
		cr_assert_eq(rc_metric_get(&sum, id), 1001ull * (id + 1), "slot %u", id);
		cr_assert_eq(rc_metric_get(&a, id), id + 1, "src unchanged");
	}
	rc_metrics_add(&a, &b);
	for (unsigned id = 0; id < RC_M_COUNT; id++)
		cr_assert_eq(rc_metric_get(&a, id), rc_metric_get(&sum, id));
}

Test(metrics, set_pool_maps_every_state)
{
	rc_metrics m;
	rc_metrics_init(&m);
	struct rc_pool_stats s = { .count = 15,
		                       .buf_size = 65536,
		                       .free = 1,
		                       .pool_used = 2,
		                       .recv_kernel = 3,
		                       .recv_held = 4,
		                       .recv_returned = 5,
		                       .reserve = 9,
		                       .alloc_failed = 77 };
	rc_metrics_set_pool(&m, &s);
	cr_assert_eq(rc_metric_get(&m, RC_M_BUFFERS(RC_BUFS_FREE)), 1);
	cr_assert_eq(rc_metric_get(&m, RC_M_BUFFERS(RC_BUFS_POOL)), 2);
	cr_assert_eq(rc_metric_get(&m, RC_M_BUFFERS(RC_BUFS_RECV_KERNEL)), 3);
	cr_assert_eq(rc_metric_get(&m, RC_M_BUFFERS(RC_BUFS_RECV_HELD)), 4);
	cr_assert_eq(rc_metric_get(&m, RC_M_BUFFERS(RC_BUFS_RECV_RETURNED)), 5);
	cr_assert_eq(rc_metric_get(&m, RC_M_BUFFER_ALLOC_FAILURES), 77);
	uint64_t total = 0;
	for (unsigned k = 0; k < RC_BUFS_COUNT; k++)
		total += rc_metric_get(&m, RC_M_BUFFERS(k));
	cr_assert_eq(total, s.count, "the states add up to the pool");
	/* setting again replaces, it does not add */
	rc_metrics_set_pool(&m, &s);
	cr_assert_eq(rc_metric_get(&m, RC_M_BUFFERS(RC_BUFS_RECV_RETURNED)), 5);
	cr_assert_eq(rc_metric_get(&m, RC_M_BUFFER_ALLOC_FAILURES), 77);
}
