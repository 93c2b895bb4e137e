/* rc_access.c: tokens and grants (rc_access.h). */
#include "rc_access.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rc_auth.h"
#include "rc_clock.h"
#include "rc_conn.h"
#include "rc_fanout.h"
#include "rc_log.h"

int access_init(rc_worker *w)
{
	struct worker_access *a = &w->access;
	a->grant = calloc(w->conns.nslots, sizeof *a->grant);
	if (a->grant == NULL || rc_due_init(&a->expiry, w->conns.nslots) < 0 ||
	    rc_chunks_init(&a->grants, sizeof(rc_jwt_grant), w->conns.nslots) < 0)
		return -ENOMEM;
	return 0;
}

void access_fini(rc_worker *w)
{
	struct worker_access *a = &w->access;
	if (a->grants.size > 0)
		rc_chunks_fini(&a->grants);
	free(a->grant);
	rc_due_fini(&a->expiry);
	*a = (struct worker_access){ 0 };
	rc_auth_thread_done(); /* this thread's ECC cache (rc_auth.h); the worker's thread runs this */
}

static bool equal_token(const uint8_t *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen != blen)
		return false;
	unsigned char d = 0; /* every byte: no early exit to time */
	for (size_t i = 0; i < alen; i++)
		d |= (unsigned char)(a[i] ^ (unsigned char)b[i]);
	return d == 0;
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* The worker's 32-bit ms at which a grant with exp (seconds since the epoch) is due: its expiry
 * plus the leeway, at most 20 days ahead (rc_due's range; a longer token is looked at again
 * then). */
static uint32_t expiry_ms(const rc_worker *w, int64_t exp)
{
	int64_t left = exp + RC_ACCESS_LEEWAY_S - now_s();
	int64_t cap = 20LL * 86400;
	if (left < 0)
		left = 0;
	if (left > cap)
		left = cap;
	return conn_deadline_in(w, (uint32_t)(left * 1000 + 999));
}

/* Keep g as c's grant (replacing one it had) and schedule its expiry. */
static void keep(rc_worker *w, rc_conn *c, const rc_jwt_grant *g)
{
	struct worker_access *a = &w->access;
	uint32_t slot = conn_slot(w, c);
	if (a->grant[slot] == NULL)
		a->grant[slot] = rc_chunk_get(&a->grants); /* one per slot: cannot fail */
	assert(a->grant[slot] != NULL);
	*a->grant[slot] = *g;
	if (g->exp != INT64_MAX)
		rc_due_set(&a->expiry,
		           (rc_due_entry){ .due_ms = expiry_ms(w, g->exp), .slot = slot, .gen = c->gen });
}

/* Verify a JWT with the keys of the moment. */
static enum rc_jwt_error verify(const rc_worker *w, const uint8_t *tok, size_t len, rc_jwt_grant *g)
{
	if (w->access.keys == NULL)
		return RC_JWT_NO_KEY;
	return rc_auth_verify(w->access.keys, tok, len, now_s(), RC_ACCESS_LEEWAY_S, g, NULL);
}

int access_connect(rc_worker *w, rc_conn *c, const uint8_t *tok, size_t len, const char **why)
{
	const rc_cfg *cfg = w->cfg;
	bool jwt = w->access.keys != NULL;
	if (len > 0 && cfg->publish_token[0] != '\0' && equal_token(tok, len, cfg->publish_token)) {
		c->flags |= F_AUTH;
		return 0;
	}
	if (cfg->publish_token[0] == '\0' && !jwt) {
		c->flags |= F_AUTH; /* no token configured: anyone may publish */
		return 0;
	}
	if (len == 0 || !jwt)
		return 0; /* a wrong shared token: refused at its first publish (4001) */
	rc_jwt_grant g;
	enum rc_jwt_error e = verify(w, tok, len, &g);
	if (e != RC_JWT_OK) {
		*why = rc_jwt_error_text(e);
		return 401;
	}
	keep(w, c, &g);
	return 0;
}

bool access_may_publish(const rc_worker *w, const rc_conn *c, const uint8_t *topic, size_t len)
{
	if (c->flags & F_AUTH)
		return true;
	const rc_jwt_grant *g = w->access.grant[c - w->conns.slots];
	return g != NULL && rc_jwt_allows(g, RC_JWT_PUBLISH, topic, len);
}

bool access_may_subscribe(const rc_worker *w, const rc_conn *c, const uint8_t *topic, size_t len)
{
	if (!rc_cfg_topic_listed(w->cfg->subscribe_token_topics, topic, len))
		return true;
	if (c->flags & F_AUTH && w->cfg->publish_token[0] != '\0')
		return true;
	const rc_jwt_grant *g = w->access.grant[c - w->conns.slots];
	return g != NULL && rc_jwt_allows(g, RC_JWT_SUBSCRIBE, topic, len);
}

void access_auth(rc_worker *w, rc_conn *c, const rc_app_cmd *cmd)
{
	assert(cmd->op == RC_APP_OP_AUTH && (c->flags & F_V1));
	const rc_cfg *cfg = w->cfg;
	size_t n;
	if (cfg->publish_token[0] != '\0' &&
	    equal_token(cmd->token.ptr, cmd->token.len, cfg->publish_token)) {
		c->flags |= F_AUTH;
		n = rc_app_notice_authorized(w->scratch, RC_SCRATCH_BYTES, false, 0);
		fan_notice(w, c, n, cmd->id);
		return;
	}
	rc_jwt_grant g;
	enum rc_jwt_error e = verify(w, cmd->token.ptr, cmd->token.len, &g);
	if (e != RC_JWT_OK) {
		const char *msg = w->access.keys == NULL ? "the server takes no JSON Web Tokens"
		                                         : rc_jwt_error_text(e);
		n = rc_app_notice_error(w->scratch, RC_SCRATCH_BYTES, RC_APP_ERR_FORBIDDEN, msg,
		                        strlen(msg));
		fan_notice(w, c, n, cmd->id);
		return;
	}
	keep(w, c, &g);
	n = rc_app_notice_authorized(w->scratch, RC_SCRATCH_BYTES, g.exp != INT64_MAX, (uint64_t)g.exp);
	fan_notice(w, c, n, cmd->id);
}

void access_due(rc_worker *w, uint64_t now_ns)
{
	struct worker_access *a = &w->access;
	uint32_t now = conn_ms(w, now_ns);
	rc_due_entry e;
	while (rc_due_pop(&a->expiry, now, &e)) {
		rc_conn *c = &w->conns.slots[e.slot];
		const rc_jwt_grant *g = a->grant[e.slot];
		if (c->gen != e.gen || g == NULL || c->state >= CS_CLOSING)
			continue;
		if (g->exp + RC_ACCESS_LEEWAY_S > now_s()) { /* refreshed, or beyond rc_due's range */
			rc_due_set(
			        &a->expiry,
			        (rc_due_entry){ .due_ms = expiry_ms(w, g->exp), .slot = e.slot, .gen = e.gen });
			continue;
		}
		if (c->state == CS_OPEN)
			conn_close(w, c, RC_CLOSE_TOKEN_EXPIRED, RC_CLOSED_TOKEN_EXPIRED, "token expired");
		else
			conn_abort(w, c, RC_CLOSED_TOKEN_EXPIRED);
	}
}

uint64_t access_next_ns(const rc_worker *w)
{
	uint32_t due;
	return rc_due_next(&w->access.expiry, &due) ? conn_deadline_ns(w, due) : 0;
}
