/* rc_ws.c: WebSocket input, publishing and fan-out (rc_ws.h). */
#include "rc_ws.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "rc_access.h"
#include "rc_conn.h"
#include "rc_gauges.h"
#include "rc_log.h"
#include "rc_fanout.h"
#include "rc_limit.h"
#include "rc_owner.h"
#include "rc_pace.h"
#include "rc_xfer.h"

/* Topics the sweep of holds looks at per run (ws_sweep_holds): all of the default 65,536 in 16 s. */
#define RC_SWEEP_TOPICS 1024u

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

void ws_open(rc_worker *w, rc_conn *c)
{
	assert(c->state == CS_HTTP && c->close == CLOSE_NONE && c->route != ROUTE_NONE);
	conn_handshake_done(w, c);
	c->state = CS_OPEN;
	rc_frame_parser_init(&c->fp, &w->http.frame);
	w->conns.ws_open++;
	limit_opened(w, c);
}

static enum rc_close_reason why_for_code(uint16_t code)
{
	switch (code) {
	case RC_CLOSE_INVALID_DATA:
		return RC_CLOSED_INVALID_DATA;
	case RC_CLOSE_TOO_BIG:
		return RC_CLOSED_TOO_BIG;
	case RC_CLOSE_UNAUTHORIZED:
		return RC_CLOSED_UNAUTHORIZED;
	case RC_CLOSE_BAD_COMMAND:
		return RC_CLOSED_BAD_COMMAND;
	case RC_CLOSE_PING_FLOOD:
		return RC_CLOSED_PING_FLOOD;
	case RC_CLOSE_SLOW_CONSUMER:
		return RC_CLOSED_SLOW_CONSUMER;
	default:
		return RC_CLOSED_PROTOCOL_ERROR;
	}
}

/* Refuse a command or message: an error notice for ringcast.v1 clients (with the command's request
 * id), then the close the code asks for (plain clients just get the close). The
 * RC_APP_REFUSED_MAX-th refusal in a row closes the connection whatever the code. */
static void refuse(rc_worker *w, rc_conn *c, enum rc_app_error e, const char *msg, rc_app_slice id)
{
	assert(c->route == ROUTE_WS && e != RC_APP_OK);
	if (c->flags & F_V1) {
		size_t n = rc_app_notice_error(w->scratch, RC_SCRATCH_BYTES, e, msg, msg ? strlen(msg) : 0);
		fan_notice(w, c, n, id);
	}
	uint16_t code = rc_app_error_close(e);
	if (code != 0) {
		conn_close(w, c, code, why_for_code(code), msg ? msg : rc_app_error_name(e));
		return;
	}
	static_assert(RC_APP_REFUSED_MAX < F_REFUSED_MASK / F_REFUSED_ONE, "the count fits its bits");
	c->flags += F_REFUSED_ONE;
	if ((c->flags & F_REFUSED_MASK) / F_REFUSED_ONE >= RC_APP_REFUSED_MAX)
		conn_close(w, c, RC_CLOSE_BAD_COMMAND, why_for_code(RC_CLOSE_BAD_COMMAND),
		           "too many refused commands in a row");
}

static const rc_app_slice no_id = { 0 };

/* A publish by c read here on a topic another worker owns: to the owner, which numbers it. */
static void forward(rc_worker *w, rc_conn *c, const uint8_t *name, size_t len, uint32_t hash,
                    bool text, const rc_span *payload)
{
	xfer_forward(w, &(xfer_msg){ .topic = name,
	                             .tlen = len,
	                             .hash = hash,
	                             .text = text,
	                             .payload = payload,
	                             .origin = own_origin(w, c),
	                             .pub_ns = w->time.turn_ns });
}

static bool may_publish(rc_worker *w, rc_conn *c, const uint8_t *topic, size_t len)
{
	assert(c->route == ROUTE_WS && c->state == CS_OPEN);
	if (access_may_publish(w, c, topic, len))
		return true;
	if (w->access.grant[conn_slot(w, c)] != NULL) /* a token, for other topics: say so */
		refuse(w, c, RC_APP_ERR_FORBIDDEN, "the token does not grant publishing on this topic",
		       no_id);
	else
		refuse(w, c, RC_APP_ERR_UNAUTHORIZED, "publishing needs a valid token", no_id);
	return false;
}

/* A plain publisher's message on its publish= topic: payload[0..len) in buffer buf (and on over its
 * chain). */
static void publish_plain(rc_worker *w, rc_conn *c, uint8_t opcode, uint32_t buf, uint8_t *payload,
                          size_t len)
{
	assert(c->pub_topic >= 0 && !(c->flags & F_V1));
	assert(opcode == RC_OPCODE_TEXT || opcode == RC_OPCODE_BINARY);
	uint32_t tid = (uint32_t)c->pub_topic;
	rc_topic *t = rc_topic_get(&w->topics, tid);
	assert(t != NULL);
	if (!may_publish(w, c, t->name, t->name_len))
		return;
	rc_metric_inc(&w->metrics, RC_M_PUBLISHED);
	rc_span body = rc_span_of(&w->mem.pool, buf, payload, len);
	bool text = opcode == RC_OPCODE_TEXT;
	if (xfer_owner(w->group, t->hash) != w->index) {
		forward(w, c, t->name, t->name_len, t->hash, text, &body);
		return;
	}
	(void)own_topic(w, t->name, t->name_len, t->hash, (int)tid); /* the pin keeps it */
	uint64_t seq = own_number(w, tid, text, &body, own_origin(w, c), w->time.turn_ns);
	rc_msg *mplain = NULL, *mv1 = NULL;
	if (t->subs_v1 > 0) {
		uint8_t env[RC_APP_PUB_HEADER_MAX];
		size_t hl = rc_app_pub_encode_header(env, text ? RC_APP_FLAG_TEXT : 0, t->name, t->name_len,
		                                     seq);
		mv1 = fan_copy(w, RC_OPCODE_BINARY, env, hl, &body, tid, seq, RC_MSG_V1, RC_COPY_REENCODE);
	}
	if (t->subs_plain > 0)
		mplain = fan_in_place(w, opcode, payload, len, tid, seq, RC_MSG_PLAIN);
	fan_out(w, c, tid, mplain, mv1, w->time.turn_ns);
}

/* Parse a ringcast.v1 PUBLISH whose bytes are `whole` (its header is in the first piece, which
 * holds at least RC_CFG_HEADROOM_BYTES; a large one goes on over its buffer's chain). */
static enum rc_app_error parse_publish(const rc_span *whole, uint8_t *payload, rc_app_pub *pub)
{
	const uint8_t *first = payload;
	size_t have = whole->len > 0 ? rc_span_piece(whole, 0, &first) : 0;
	enum rc_app_error e = rc_app_pub_parse_head(payload, have, whole->len, pub);
	if (e == RC_APP_OK && (pub->flags & RC_APP_FLAG_RETAINED)) {
		*pub = (rc_app_pub){
			.reason = "the retained flag (0x02) is the server's, not a publisher's"
		};
		return RC_APP_ERR_BAD_PUBLISH;
	}
	if (e != RC_APP_OK || !(pub->flags & RC_APP_FLAG_TEXT))
		return e;
	rc_span text = rc_span_of(whole->pool, whole->buf, pub->payload.ptr, pub->payload.len);
	if (rc_span_utf8_valid(&text))
		return RC_APP_OK;
	*pub = (rc_app_pub){ .reason = "text payload is not valid UTF-8" };
	return RC_APP_ERR_BAD_PUBLISH;
}

/* A ringcast.v1 binary PUBLISH: the frame itself becomes the MESSAGE (sequence number written in
 * place), the bare payload is copied for plain subscribers. */
static void publish_v1(rc_worker *w, rc_conn *c, uint32_t buf, uint8_t *payload, size_t len)
{
	assert(c->flags & F_V1);
	rc_app_pub pub;
	rc_span whole = rc_span_of(&w->mem.pool, buf, payload, len);
	enum rc_app_error e = parse_publish(&whole, payload, &pub);
	if (e != RC_APP_OK) {
		refuse(w, c, e, pub.reason, no_id);
		return;
	}
	rc_span body = rc_span_of(&w->mem.pool, buf, pub.payload.ptr, pub.payload.len);
	if (!may_publish(w, c, pub.topic.ptr, pub.topic.len))
		return;
	c->flags &= ~F_REFUSED_MASK;
	rc_metric_inc(&w->metrics, RC_M_PUBLISHED);
	bool text = (pub.flags & RC_APP_FLAG_TEXT) != 0;
	int id = rc_topic_find(&w->topics, pub.topic.ptr, pub.topic.len);
	uint32_t hash = id >= 0 ? rc_topic_get(&w->topics, (uint32_t)id)->hash
	                        : rc_topics_hash(&w->topics, pub.topic.ptr, pub.topic.len);
	if (xfer_owner(w->group, hash) != w->index) {
		forward(w, c, pub.topic.ptr, pub.topic.len, hash, text, &body);
		return;
	}
	id = own_topic(w, pub.topic.ptr, pub.topic.len, hash, id);
	if (id < 0)
		return; /* nobody subscribes and nobody holds the topic: nothing to deliver */
	uint32_t tid = (uint32_t)id;
	rc_topic *t = rc_topic_get(&w->topics, tid);
	uint64_t seq = own_number(w, tid, text, &body, own_origin(w, c), w->time.turn_ns);
	rc_app_seq_write(pub.seq_slot, seq);
	rc_msg *mplain = NULL, *mv1 = NULL;
	if (t->subs_plain > 0)
		mplain = fan_copy(w, text ? RC_OPCODE_TEXT : RC_OPCODE_BINARY, NULL, 0, &body, tid, seq,
		                  RC_MSG_PLAIN, RC_COPY_REENCODE);
	if (t->subs_v1 > 0)
		mv1 = fan_in_place(w, RC_OPCODE_BINARY, payload, len, tid, seq, RC_MSG_V1);
	fan_out(w, c, tid, mplain, mv1, w->time.turn_ns);
}

/* ---- hand-offs from other workers (rc_xfer.c) --------------------------------------------- */

/* Both frames of a message of topic tid numbered seq, copied from its bare payload (a hand-off),
 * for this worker's subscribers but pub; pub_ns: when it was read. */
static void deliver_copies(rc_worker *w, rc_conn *pub, uint32_t tid, bool text,
                           const rc_span *payload, uint64_t seq, uint64_t pub_ns)
{
	rc_topic *t = rc_topic_get(&w->topics, tid);
	rc_msg *mplain = NULL, *mv1 = NULL;
	if (t->subs_v1 > 0) {
		uint8_t env[RC_APP_PUB_HEADER_MAX];
		size_t hl = rc_app_pub_encode_header(env, text ? RC_APP_FLAG_TEXT : 0, t->name, t->name_len,
		                                     seq);
		mv1 = fan_copy(w, RC_OPCODE_BINARY, env, hl, payload, tid, seq, RC_MSG_V1, RC_COPY_HANDOFF);
	}
	if (t->subs_plain > 0)
		mplain = fan_copy(w, text ? RC_OPCODE_TEXT : RC_OPCODE_BINARY, NULL, 0, payload, tid, seq,
		                  RC_MSG_PLAIN, RC_COPY_HANDOFF);
	fan_out(w, pub, tid, mplain, mv1, pub_ns);
}

void ws_forwarded(rc_worker *w, const rc_xmsg *x, const rc_span *payload)
{
	assert(x->kind == RC_XMSG_FORWARD && x->topic_len > 0 && x->topic_len <= RC_APP_TOPIC_MAX);
	const uint8_t *name = rc_xmsg_topic(x);
	int id = rc_topic_find(&w->topics, name, x->topic_len);
	uint32_t hash = id >= 0 ? rc_topic_get(&w->topics, (uint32_t)id)->hash
	                        : rc_topics_hash(&w->topics, name, x->topic_len);
	assert(xfer_owner(w->group, hash) == w->index);
	id = own_topic(w, name, x->topic_len, hash, id);
	if (id < 0)
		return;
	uint32_t tid = (uint32_t)id;
	uint64_t seq = own_number(w, tid, x->text, payload, x->origin, x->pub_ns);
	rc_topic *t = rc_topic_get(&w->topics, tid);
	if (t->subs_plain + t->subs_v1 > 0) /* the publisher is on another worker */
		deliver_copies(w, NULL, tid, x->text, payload, seq, x->pub_ns);
}

/* n numbers of topic tid did not reach this worker: every ringcast.v1 subscriber of the topic gets
 * a missed notice for them at this point of its stream, queued like a message, behind what was
 * queued before, so that under drop-oldest the gap between two MESSAGEs still equals the missed
 * counts between them (docs/protocol.md 6.5). */
static void missed_here(rc_worker *w, uint32_t tid, uint64_t n)
{
	rc_topic *t = rc_topic_get(&w->topics, tid);
	uint32_t count = n < UINT32_MAX ? (uint32_t)n : UINT32_MAX;
	rc_metric_add(&w->metrics, RC_M_DROPPED(RC_DROP_HANDOFF_LOST),
	              (uint64_t)count * (t->subs_plain + t->subs_v1));
	if (t->subs_v1 == 0)
		return;
	uint8_t body[RC_APP_NOTICE_MISSED_MAX];
	size_t len = rc_app_notice_missed(body, sizeof body, t->name, t->name_len, count);
	rc_span notice = rc_span_bytes(body, len);
	rc_msg *m =
	        fan_copy(w, RC_OPCODE_TEXT, NULL, 0, &notice, tid, count, RC_MSG_MISSED, RC_COPY_COUNT);
	if (m != NULL) {
		fan_out(w, NULL, tid, NULL, m, w->time.turn_ns);
		return;
	}
	/* No memory for the notice frame: owe it as a pending notice (it may then come ahead of
	 * messages queued before the loss; the counts still add up). */
	rc_sub *s, *next;
	RC_TOPIC_FOREACH_SUB (t, s, next) {
		rc_conn *sc = container_of(s->subscriber, rc_conn, sub);
		if (sc->state == CS_OPEN && !s->pending && rc_sub_add_missed(&w->topics, s, count))
			conn_dirty(w, sc);
	}
}

void ws_deliver(rc_worker *w, const rc_xmsg *x, const rc_span *payload)
{
	assert((x->kind == RC_XMSG_PUBLISH || x->kind == RC_XMSG_SKIP) && x->seq >= 1 && x->epoch != 0);
	int id = rc_topic_find(&w->topics, rc_xmsg_topic(x), x->topic_len);
	if (id < 0)
		return; /* the subscribers left meanwhile, or another topic shares the bucket */
	uint32_t tid = (uint32_t)id;
	rc_topic *t = rc_topic_get(&w->topics, tid);
	if (t->subs_plain + t->subs_v1 == 0)
		return;
	bool skip = x->kind == RC_XMSG_SKIP;
	if (t->epoch != x->epoch) {
		/* The first message here of this numbering (the topic is new here, or its owner started
		 * it again): nothing before it was owed to anyone here. */
		rc_topic_sync(&w->topics, tid, x->epoch, skip ? x->seq + 1 : x->seq);
	} else if (x->seq < t->next_seq) {
		/* A SKIP overtaken by a later message, which showed the gap itself. */
		assert(skip && "the owner's numbers went back within one epoch");
		return;
	}
	uint64_t gap = x->seq + skip - t->next_seq; /* a SKIP's own number was lost too */
	if (gap > 0)
		missed_here(w, tid, gap);
	rc_topic_sync(&w->topics, tid, x->epoch, x->seq + 1);
	if (!skip)
		deliver_copies(w, own_origin_conn(w, x->origin), tid, x->text, payload, x->seq, x->pub_ns);
}

void ws_sweep_holds(rc_worker *w, uint64_t now_ns)
{
	rc_topics *tt = &w->topics;
	if (now_ns - w->xfer.sweep_ns < RC_GAUGES_NS)
		return;
	w->xfer.sweep_ns = now_ns;
	for (uint32_t i = 0; i < RC_SWEEP_TOPICS; i++) {
		uint32_t id = w->xfer.sweep_at;
		w->xfer.sweep_at = id + 1 < tt->topics_max ? id + 1 : 0;
		rc_topic *t = rc_topic_get(tt, id);
		if (t != NULL && t->held && !xfer_watched(w, t->hash))
			rc_topic_release_hold(tt, id);
	}
}

/* ---- ringcast.v1 commands ------------------------------------------------------------------ */

static void cmd_subscribe(rc_worker *w, rc_conn *c, const rc_app_cmd *cmd)
{
	assert(cmd->op == RC_APP_OP_SUBSCRIBE && cmd->topics_len <= RC_APP_TOPICS_MAX);
	if (!own_can_join(w, cmd->topics, cmd->topics_len)) {
		/* Not the client's fault: answered, not counted as a refusal. */
		static const char busy[] = "too many subscribes waiting for other workers: send it again";
		size_t n = rc_app_notice_error(w->scratch, RC_SCRATCH_BYTES, RC_APP_ERR_BUSY, busy,
		                               sizeof busy - 1);
		fan_notice(w, c, n, cmd->id);
		return;
	}
	for (size_t k = 0; k < cmd->topics_len; k++) {
		if (!access_may_subscribe(w, c, cmd->topics[k].ptr, cmd->topics[k].len)) {
			refuse(w, c, RC_APP_ERR_FORBIDDEN,
			       "a topic needs a token that grants it (send an auth command first)", cmd->id);
			return;
		}
	}
	bool added[RC_APP_TOPICS_MAX];
	const char *fail = NULL;
	enum rc_app_error code = RC_APP_ERR_TOO_MANY_TOPICS;
	size_t i;
	for (i = 0; i < cmd->topics_len; i++) {
		const rc_app_slice *t = &cmd->topics[i];
		int r = rc_subscribe(&w->topics, &c->sub, t->ptr, t->len);
		added[i] = r == 0;
		if (r == 0 && c->sub.subs_len > w->cfg->topics_per_connection_max) {
			fail = "more topics than this server allows per connection";
			i++;
			break;
		}
		if (r == -ENOSPC) {
			fail = "the server's topic or subscription table is full";
			break;
		}
		if (r < 0 && r != -EEXIST) {
			fail = "bad topic";
			code = RC_APP_ERR_BAD_TOPIC;
			break;
		}
	}
	if (fail != NULL) {
		/* Refused as a whole: undo what this command added. */
		for (size_t j = 0; j < i; j++)
			if (added[j])
				rc_unsubscribe(&w->topics, &c->sub, cmd->topics[j].ptr, cmd->topics[j].len);
		refuse(w, c, code, fail, cmd->id);
		return;
	}
	c->flags &= ~F_REFUSED_MASK;
	if (cmd->interval_ms > 0)
		pace_set(w, c, cmd->interval_ms);
	own_join(w, c,
	         &(own_req){ .topics = cmd->topics,
	                     .n = cmd->topics_len,
	                     .added = added,
	                     .resume_from = cmd->resume_from,
	                     .resume = cmd->resume,
	                     .snapshot = cmd->snapshot,
	                     .notice = true,
	                     .id = cmd->id });
}

static void cmd_unsubscribe(rc_worker *w, rc_conn *c, const rc_app_cmd *cmd)
{
	assert(cmd->op == RC_APP_OP_UNSUBSCRIBE && cmd->topics_len <= RC_APP_TOPICS_MAX);
	rc_app_slice removed[RC_APP_TOPICS_MAX];
	size_t nremoved = 0;
	for (size_t i = 0; i < cmd->topics_len && c->state == CS_OPEN; i++) {
		const rc_app_slice *t = &cmd->topics[i];
		if (rc_unsubscribe(&w->topics, &c->sub, t->ptr, t->len) == 0) {
			removed[nremoved++] = *t;
			continue;
		}
		bool dup = false; /* the same topic twice in one command: removed the first time */
		for (size_t j = 0; j < nremoved && !dup; j++)
			dup = removed[j].len == t->len && memcmp(removed[j].ptr, t->ptr, t->len) == 0;
		if (dup)
			continue;
		char msg[RC_APP_TOPIC_MAX + 32];
		int m = snprintf(msg, sizeof msg, "not subscribed to %.*s", (int)t->len,
		                 (const char *)t->ptr);
		size_t n = rc_app_notice_error(w->scratch, RC_SCRATCH_BYTES, RC_APP_ERR_NOT_SUBSCRIBED, msg,
		                               (size_t)m);
		fan_notice(w, c, n, cmd->id);
	}
	c->flags &= ~F_REFUSED_MASK; /* a valid command, whether or not it found what to remove */
	if (nremoved == 0 || c->state != CS_OPEN)
		return;
	if (!rc_outq_empty(&c->q))
		c->flags |= F_PURGE;
	size_t n = rc_app_notice_unsubscribed(w->scratch, RC_SCRATCH_BYTES, removed, nremoved);
	fan_notice(w, c, n, cmd->id);
}

static void command(rc_worker *w, rc_conn *c, const rc_span *text)
{
	assert((c->flags & F_V1) && c->state == CS_OPEN);
	/* A command is parsed whole from one piece. One longer than a piece (a large message) is
	 * copied, as much of it as makes it too long, so the parser refuses it by its length. */
	const uint8_t *p = text->at;
	size_t n = text->len;
	if (rc_span_chained(text)) {
		static_assert(RC_APP_JSON_LEN_MAX < RC_SCRATCH_BYTES, "a command fits the scratch");
		n = n <= RC_APP_JSON_LEN_MAX ? n : RC_APP_JSON_LEN_MAX + 1;
		rc_span_copy(text, 0, w->scratch, n);
		p = w->scratch;
	}
	limit_count(w, c, LIMIT_CMDS); /* a command has a rate of its own, besides the message's */
	rc_app_cmd cmd;
	enum rc_app_error e = rc_app_cmd_parse(p, n, &cmd);
	if (e != RC_APP_OK) {
		refuse(w, c, e, cmd.reason, cmd.id);
		return;
	}
	if (cmd.op == RC_APP_OP_SUBSCRIBE)
		cmd_subscribe(w, c, &cmd);
	else if (cmd.op == RC_APP_OP_UNSUBSCRIBE)
		cmd_unsubscribe(w, c, &cmd);
	else
		access_auth(w, c, &cmd);
}

/* ---- messages ------------------------------------------------------------------------------- */

/* A complete message: payload[0..len) inside pool buffer buf, which the caller holds, with room
 * for a server header just before it; a large one goes on over buf's chain. */
static void message(rc_worker *w, rc_conn *c, uint8_t opcode, uint32_t buf, uint8_t *payload,
                    size_t len)
{
	assert(c->state == CS_OPEN && (len == 0 || payload != NULL));
	limit_count(w, c, LIMIT_MSGS);
	if (c->route == ROUTE_ECHO) {
		rc_msg *m = fan_in_place(w, opcode, payload, len, 0, 0, RC_MSG_PLAIN);
		if (m == NULL)
			return;
		fan_push(w, c, m, NULL);
		rc_msg_unref(&w->mem.msgs, m);
	} else if (!(c->flags & F_V1)) {
		publish_plain(w, c, opcode, buf, payload, len);
	} else if (opcode == RC_OPCODE_TEXT) {
		rc_span text = rc_span_of(&w->mem.pool, buf, payload, len);
		command(w, c, &text);
	} else {
		publish_v1(w, c, buf, payload, len);
	}
}

static void on_data(rc_worker *w, rc_conn *c, const rc_frame_event *ev, uint32_t buf)
{
	assert(c->state == CS_OPEN && ev->type == RC_FRAME_DATA && buf != RC_POOL_NONE);
	/* The zero-copy path: the whole message is this one frame, in this receive buffer, with its
	 * header in front of it in the same buffer (a header split over two reads is not). */
	if (c->asm_buf == RC_POOL_NONE && ev->opcode != RC_OPCODE_CONT && ev->frame_end &&
	    ev->msg_end && ev->data_len == ev->frame_len &&
	    (size_t)(ev->data - rc_pool_data(&w->mem.pool, buf)) >=
	            rc_frame_header_len(ev->data_len, false)) {
		message(w, c, ev->msg_opcode, buf, ev->data, ev->data_len);
		return;
	}
	if (c->asm_buf == RC_POOL_NONE) {
		int32_t b = rc_pool_alloc(&w->mem.pool);
		if (b < 0) {
			fan_no_memory(w);
			conn_close(w, c, RC_CLOSE_TRY_AGAIN, RC_CLOSED_IO_ERROR, "server out of buffers");
			return;
		}
		c->asm_buf = (uint32_t)b;
		c->asm_len = 0;
		c->asm_op = ev->msg_opcode;
		rc_metric_inc(&w->metrics, RC_M_COPIES(ev->fin ? RC_COPY_SPANNING : RC_COPY_FRAGMENTED));
	}
	/* A message longer than the buffer goes on over the buffer's chain (core/rc_pool.h). */
	assert(c->asm_len + ev->data_len <= w->cfg->message_max_bytes);
	int r = rc_span_append(&w->mem.pool, c->asm_buf, RC_CFG_HEADROOM_BYTES + (size_t)c->asm_len,
	                       ev->data, ev->data_len);
	if (r < 0) {
		fan_no_memory(w);
		if (r == -ENOSPC)
			conn_close(w, c, RC_CLOSE_TOO_BIG, RC_CLOSED_TOO_BIG,
			           "large messages would go over large-bytes-max");
		else
			conn_close(w, c, RC_CLOSE_TRY_AGAIN, RC_CLOSED_IO_ERROR, "server out of buffers");
		return;
	}
	c->asm_len += (uint32_t)ev->data_len;
	if (ev->msg_end) {
		uint8_t *base = rc_pool_data(&w->mem.pool, c->asm_buf) + RC_CFG_HEADROOM_BYTES;
		message(w, c, c->asm_op, c->asm_buf, base, c->asm_len);
		conn_release_asm(w, c); /* the messages made from it hold it now */
	}
}

static void on_control(rc_worker *w, rc_conn *c, const rc_frame_event *ev)
{
	assert(ev->type == RC_FRAME_CONTROL && ev->data_len <= RC_FRAME_CONTROL_MAX);
	limit_count(w, c, LIMIT_MSGS);
	switch (ev->opcode) {
	case RC_OPCODE_PING:
		if (c->state != CS_OPEN)
			return;
		/* Pongs go out with the control output, ahead of queued data. A client that pings
		 * faster than it reads fills that chunk: a ping flood. */
		if (!conn_ctl_frame(w, c, RC_OPCODE_PONG, ev->data, ev->data_len))
			conn_close(w, c, RC_CLOSE_PING_FLOOD, RC_CLOSED_PING_FLOOD, "ping flood");
		return;
	case RC_OPCODE_PONG:
		return;
	case RC_OPCODE_CLOSE:
		conn_peer_closed(w, c, ev->close_code);
		return;
	default:
		return;
	}
}

void ws_feed(rc_worker *w, rc_conn *c, uint8_t *data, size_t len, uint32_t buf)
{
	assert(c->route != ROUTE_NONE && buf != RC_POOL_NONE);
	for (;;) {
		if (c->state != CS_OPEN && c->state != CS_CLOSING)
			return;
		if (c->state == CS_CLOSING && (c->flags & F_PEER_CLOSED))
			return; /* nothing after the peer's close frame matters */
		if (c->flags & F_JOINING) {
			/* a subscribe waits for other workers: what follows it waits too (rc_owner.h) */
			own_hold_input(w, c, data, len, buf);
			return;
		}
		rc_frame_event ev;
		ssize_t n = rc_frame_parse(&c->fp, data, len, &ev);
		if (n < 0) {
			const char *reason;
			uint16_t code = rc_frame_error(&c->fp, &reason);
			if (c->state == CS_OPEN)
				conn_close(w, c, code, why_for_code(code), reason);
			else
				conn_abort(w, c, (enum rc_close_reason)c->why);
			return;
		}
		data += n;
		len -= (size_t)n;
		switch (ev.type) {
		case RC_FRAME_NEED_MORE:
			return;
		case RC_FRAME_DATA_START:
			if (c->state == CS_OPEN && c->route == ROUTE_WS && !(c->flags & F_V1) &&
			    c->pub_topic < 0) {
				conn_close(w, c, RC_CLOSE_BAD_COMMAND, RC_CLOSED_BAD_COMMAND, "no publish topic");
				return;
			}
			break;
		case RC_FRAME_DATA:
			if (c->state == CS_OPEN)
				on_data(w, c, &ev, buf);
			break;
		case RC_FRAME_CONTROL:
			on_control(w, c, &ev);
			conn_ctl_store_release(w, c); /* the frame is handled: its payload is not needed */
			break;
		case RC_FRAME_NEED_CTL:
			/* A control frame in pieces: lend the parser room for it (one per connection at
			 * most, so the slab has one per slot and this cannot fail). */
			c->fp.ctl = rc_chunk_get(&w->mem.ctls);
			assert(c->fp.ctl != NULL);
			if (c->fp.ctl == NULL) {
				conn_abort(w, c, RC_CLOSED_IO_ERROR);
				return;
			}
			break;
		}
	}
}

/* ---- memory pressure ------------------------------------------------------------------------ */

struct relief {
	rc_worker *w;
	rc_conn *c;
};

static void relief_drop(void *ctx, struct rc_msg *m)
{
	struct relief *r = ctx;
	assert(r->c->state == CS_OPEN);
	fan_count_drop(r->w, r->c, m, RC_DROP_NO_MEMORY, NULL);
	rc_msg_unref(&r->w->mem.msgs, m);
}

/* The pool is below its reserve: the messages pinning it are those queued for subscribers whose
 * send is still in flight (everyone else was flushed this iteration). Take them back, connection
 * by connection, until the reserve is restored: under the disconnect policy by closing the
 * connection (4000), otherwise by dropping its queue (counted as no_memory, announced to
 * ringcast.v1 clients as missed). Receive buffers are never held by a queue past promotion, so
 * this keeps promotion, and with it the receive ring, going (docs/architecture.md). Walks every
 * slot: the caller runs it only while the pool is low, and at most every 10 ms when it found
 * nothing to take back. Returns the number of connections relieved. */
uint32_t ws_relieve_pressure(rc_worker *w)
{
	uint32_t relieved = 0;
	for (uint32_t i = 0; i < w->conns.nslots && rc_pool_low(&w->mem.pool); i++) {
		rc_conn *c = &w->conns.slots[i];
		if (c->state != CS_OPEN || rc_outq_empty(&c->q) || !(c->flags & F_SEND) ||
		    (c->flags & F_PINNED))
			continue;
		relieved++;
		if (w->mem.qcfg.policy == RC_OUTQ_DISCONNECT) {
			rc_metric_inc(&w->metrics, RC_M_SLOW_DISCONNECTS);
			conn_close(w, c, RC_CLOSE_SLOW_CONSUMER, RC_CLOSED_SLOW_CONSUMER, "slow consumer");
			continue;
		}
		struct relief r = { w, c };
		rc_outq_drain(&c->q, &w->mem.qcfg, &w->mem.qalloc, relief_drop, &r);
	}
	if (relieved > 0)
		rc_log(RC_LOG_WARN, "pool_pressure", "free_buffers=%u reserve=%u queues_relieved=%u",
		       rc_pool_free_count(&w->mem.pool), w->mem.pool.reserve, relieved);
	return relieved;
}
