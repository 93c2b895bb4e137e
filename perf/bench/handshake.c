/* handshake: address, requests and the verdict on the 101, over rc_ws_client (handshake.h). */
#define _GNU_SOURCE
#include "handshake.h"

#include <assert.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench.h"

#define HS_EXTRA "User-Agent: ringcast-bench/" BENCH_VERSION "\r\n"

int hs_url_parse(const char *url, rc_ws_url *u, bool *tls, const char **why)
{
	*tls = strncasecmp(url, "wss://", 6) == 0;
	if (!*tls)
		return rc_ws_url_parse(url, u, why) < 0 ? -1 : 0;
	/* rc_ws_url_parse knows ws:// only: the same URL with that scheme, then the default port. */
	size_t n = strlen(url);
	char *ws = malloc(n);
	if (ws == NULL) {
		*why = "out of memory";
		return -1;
	}
	memcpy(ws, "ws://", 5);
	memcpy(ws + 5, url + 6, n - 5); /* the rest and its NUL */
	int r = rc_ws_url_parse(ws, u, why);
	free(ws);
	if (r < 0)
		return -1;
	const char *a = url + 6, *colon = NULL;
	size_t an = strcspn(a, "/?#");
	for (size_t i = 0; i < an; i++) /* the port's ':' comes after the last ']' of an IPv6 host */
		if (a[i] == ':')
			colon = a + i;
		else if (a[i] == ']')
			colon = NULL;
	if (colon == NULL || colon + 1 == a + an)
		memcpy(u->port, "443", 4);
	return 0;
}

int hs_resolve(const rc_ws_url *u, struct hs_addr *a)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	int r = getaddrinfo(u->host, u->port, &hints, &ai);
	if (r != 0) {
		fprintf(stderr, "ringcast-bench: cannot resolve %s: %s\n", u->host, gai_strerror(r));
		return -1;
	}
	memcpy(&a->ss, ai->ai_addr, ai->ai_addrlen);
	a->len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* The request for target with key. Returns its length, 0 if it does not fit in cap. */
static size_t request_write(const struct hs_requests *rq, const char *target, const char *key,
                            uint8_t *out, size_t cap)
{
	rc_ws_client_req req = {
		.host = rq->url.hostport,
		.target = target,
		.key = key,
		.subprotocol = rq->subprotocol,
		.extra = HS_EXTRA,
	};
	return rc_ws_client_request((char *)out, cap, &req);
}

/* The length of the request for target (with a key of the right length). */
static size_t request_len(const struct hs_requests *rq, const char *target)
{
	static const char key[RC_WS_KEY_LEN + 1] = "AAAAAAAAAAAAAAAAAAAAAA==";
	uint8_t out[HS_REQ_MAX];
	return request_write(rq, target, key, out, sizeof out);
}

/* v1: the target of a subscriber of n topics: TARGET?topics=a,b,c. Returns its length, less than
 * cap (asserted: hs_requests_build checked the longest fits). */
static size_t target_v1_sub(const struct hs_requests *rq, const struct topics *t,
                            const uint32_t *topics, uint32_t n, char *out, size_t cap)
{
	const char *path = rq->url.target;
	size_t len = (size_t)snprintf(out, cap, "%s%stopics=", path, strchr(path, '?') ? "&" : "?");
	for (uint32_t k = 0; k < n; k++) {
		uint32_t x = topics[k];
		assert(len + 1 + t->name_len[x] < cap);
		if (k)
			out[len++] = ',';
		memcpy(out + len, t->name[x], t->name_len[x]);
		len += t->name_len[x];
	}
	out[len] = 0;
	return len;
}

/* v1: the longest subscriber request: per_sub names of the longest length. */
static size_t v1_sub_max(const struct hs_requests *rq)
{
	size_t cap = HS_TARGET_MAX + RC_APP_TOPICS_MAX * (RC_APP_TOPIC_MAX + 1);
	char target[HS_TARGET_MAX + RC_APP_TOPICS_MAX * (RC_APP_TOPIC_MAX + 1)];
	const char *path = rq->url.target;
	size_t len = (size_t)snprintf(target, cap, "%s%stopics=", path, strchr(path, '?') ? "&" : "?");
	size_t names = rq->per_sub * (rq->topic_name_max + 1) - 1; /* names and commas */
	if (len + names >= cap)
		return 0;
	memset(target + len, 'x', names);
	target[len + names] = 0;
	uint8_t out[sizeof target + 1024];
	rc_ws_client_req req = { .host = rq->url.hostport,
		                     .target = target,
		                     .key = "AAAAAAAAAAAAAAAAAAAAAA==",
		                     .subprotocol = rq->subprotocol,
		                     .extra = HS_EXTRA };
	return rc_ws_client_request((char *)out, sizeof out, &req);
}

int hs_requests_build(struct hs_requests *rq, const rc_ws_url *u, enum hs_mode mode,
                      const char *topic, const struct topics *t, uint32_t per_sub)
{
	rq->mode = mode;
	rq->url = *u;
	rq->subprotocol = mode == HS_V1 ? RC_APP_SUBPROTOCOL : NULL;
	const char *path = u->target, *sep = strchr(path, '?') ? "&" : "?";
	int a, b;
	if (mode == HS_PLAIN) {
		a = snprintf(rq->target_sub, sizeof rq->target_sub, "%s%stopics=%s", path, sep, topic);
		b = snprintf(rq->target_pub, sizeof rq->target_pub, "%s%spublish=%s", path, sep, topic);
	} else {
		a = snprintf(rq->target_sub, sizeof rq->target_sub, "%s", path);
		b = snprintf(rq->target_pub, sizeof rq->target_pub, "%s", path);
	}
	if (a < 0 || b < 0 || (size_t)a >= sizeof rq->target_sub || (size_t)b >= sizeof rq->target_pub)
		return -1;
	rq->pub_max = request_len(rq, rq->target_pub);
	if (mode == HS_V1) {
		rq->per_sub = per_sub;
		rq->topic_name_max = t->name_max;
		rq->sub_max = v1_sub_max(rq);
	} else {
		rq->sub_max = request_len(rq, rq->target_sub);
	}
	return rq->sub_max == 0 || rq->pub_max == 0 ? -1 : 0;
}

size_t hs_request_sub(const struct hs_requests *rq, const struct topics *t, const uint32_t *topics,
                      uint32_t n, const char *key, uint8_t *out, size_t cap)
{
	assert(cap >= rq->sub_max);
	if (rq->mode != HS_V1)
		return request_write(rq, rq->target_sub, key, out, cap);
	char target[HS_TARGET_MAX + RC_APP_TOPICS_MAX * (RC_APP_TOPIC_MAX + 1)];
	target_v1_sub(rq, t, topics, n, target, sizeof target);
	size_t len = request_write(rq, target, key, out, cap);
	assert(len > 0 && len <= rq->sub_max);
	return len;
}

size_t hs_request_pub(const struct hs_requests *rq, const char *key, uint8_t *out, size_t cap)
{
	assert(cap >= rq->pub_max);
	return request_write(rq, rq->target_pub, key, out, cap);
}

enum hs_verdict hs_answer(const uint8_t *buf, size_t len, const char *key, const char *subprotocol,
                          struct hs_answer *a)
{
	rc_ws_client_result res;
	enum rc_ws_client_status st = rc_ws_client_check(buf, len, key, subprotocol, &res);
	a->head_len = res.head_len;
	a->retry_after_s = -1;
	a->err = a->scratch;
	switch (st) {
	case RC_WS_CLIENT_NEED_MORE:
		return HS_MORE;
	case RC_WS_CLIENT_OK:
		return HS_OPEN;
	case RC_WS_CLIENT_STATUS:
		snprintf(a->scratch, sizeof a->scratch, "http_%d", res.status);
		a->retry_after_s = res.retry_after_s;
		return HS_FAILED;
	default:
		snprintf(a->scratch, sizeof a->scratch, "handshake_%s", rc_ws_client_status_name(st));
		return HS_FAILED;
	}
}
