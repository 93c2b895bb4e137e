#include "rc_xmsg.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int rc_xarena_init(rc_xarena *a, rc_pool *pool)
{
	assert(a != NULL && pool != NULL && pool->count > 0);
	a->pool = pool;
	a->cur = RC_POOL_NONE;
	a->used = 0;
	a->built = 0;
	a->holds = calloc(pool->count, sizeof *a->holds);
	return a->holds != NULL ? 0 : -ENOMEM;
}

/* The arena lets go of its current buffer. */
static void drop_current(rc_xarena *a)
{
	assert(a->holds != NULL);
	if (a->cur == RC_POOL_NONE)
		return;
	uint32_t buf = a->cur;
	a->cur = RC_POOL_NONE;
	rc_xmsg_release(a, buf, 1, true);
}

bool rc_xarena_idle(rc_xarena *a)
{
	assert(a->holds != NULL);
	if (a->cur == RC_POOL_NONE ||
	    atomic_load_explicit(&a->holds[a->cur], memory_order_acquire) != 1)
		return false;
	drop_current(a);
	return true;
}

void rc_xarena_fini(rc_xarena *a)
{
	assert(a != NULL);
	if (a->holds == NULL)
		return;
	drop_current(a);
	free(a->holds);
	a->holds = NULL;
}

/* Fill in the fixed part and the topic of an rc_xmsg at x, in buffer buf. */
static void xmsg_head(rc_xmsg *x, uint32_t buf, enum rc_xmsg_kind kind, bool text,
                      const uint8_t *topic, size_t topic_len, size_t len)
{
	x->pub_ns = 0;
	x->seq = 0;
	x->epoch = 0;
	x->origin = RC_XMSG_NO_ORIGIN;
	x->len = (uint32_t)len;
	x->buf = buf;
	x->kind = (uint8_t)kind;
	x->text = text;
	x->topic_len = (uint8_t)topic_len;
	x->ask = 0;
	x->snapshot = 0;
	memset(x->reserved, 0, sizeof x->reserved);
	memcpy(x->data, topic, topic_len);
}

/* A hand-off longer than a buffer: alone at the start of a buffer of its own, its payload going on
 * over the buffer's chain; no arena hold, so the last receiver's release sends the whole chain
 * home. NULL if the pool, or the chains' cap, has no room. */
static rc_xmsg *xmsg_large(rc_xarena *a, enum rc_xmsg_kind kind, bool text, const uint8_t *topic,
                           size_t topic_len, const rc_span *payload, uint32_t holders)
{
	int32_t idx = rc_pool_alloc(a->pool);
	if (idx < 0)
		return NULL;
	uint32_t buf = (uint32_t)idx;
	rc_xmsg *x = (rc_xmsg *)rc_pool_data(a->pool, buf);
	xmsg_head(x, buf, kind, text, topic, topic_len, payload->len);
	if (rc_span_append_span(a->pool, buf, offsetof(rc_xmsg, data) + topic_len, payload) < 0) {
		rc_pool_unref(a->pool, buf); /* and what the chain holds so far */
		return NULL;
	}
	assert(atomic_load_explicit(&a->holds[buf], memory_order_relaxed) == 0);
	atomic_store_explicit(&a->holds[buf], holders, memory_order_relaxed);
	a->built++;
	return x;
}

rc_xmsg *rc_xmsg_new(rc_xarena *a, enum rc_xmsg_kind kind, bool text, const uint8_t *topic,
                     size_t topic_len, const rc_span *payload, uint32_t holders)
{
	assert(holders >= 1 && topic_len >= 1 && topic_len <= UINT8_MAX && topic != NULL);
	assert(kind >= RC_XMSG_FORWARD && kind <= RC_XMSG_REPLAY && payload != NULL);
	assert((kind != RC_XMSG_SKIP && kind != RC_XMSG_JOIN && kind != RC_XMSG_JOINED) ||
	       payload->len == 0);
	size_t len = payload->len;
	size_t size = rc_xmsg_size(topic_len, len);
	if (size > a->pool->buf_size)
		return len <= UINT32_MAX ? xmsg_large(a, kind, text, topic, topic_len, payload, holders)
		                         : NULL;
	if (a->cur == RC_POOL_NONE || a->used + size > a->pool->buf_size) {
		drop_current(a);
		int32_t idx = rc_pool_alloc(a->pool);
		if (idx < 0)
			return NULL;
		a->cur = (uint32_t)idx;
		a->used = 0;
		assert(atomic_load_explicit(&a->holds[idx], memory_order_relaxed) == 0);
		atomic_store_explicit(&a->holds[idx], 1, memory_order_relaxed);
	}
	rc_xmsg *x = (rc_xmsg *)(rc_pool_data(a->pool, a->cur) + a->used);
	a->used += (uint32_t)size;
	xmsg_head(x, a->cur, kind, text, topic, topic_len, len);
	if (len > 0)
		rc_span_copy(payload, 0, x->data + topic_len, len);
	atomic_fetch_add_explicit(&a->holds[a->cur], holders, memory_order_relaxed);
	a->built++;
	return x;
}

void rc_xmsg_release(rc_xarena *a, uint32_t buf, uint32_t n, bool owner)
{
	assert(buf < a->pool->count && n >= 1);
	uint32_t before = atomic_fetch_sub_explicit(&a->holds[buf], n, memory_order_acq_rel);
	assert(before >= n);
	if (before != n)
		return;
	if (owner)
		rc_pool_unref(a->pool, buf);
	else
		rc_pool_remote_put(a->pool, buf);
}
