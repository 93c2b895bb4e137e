/* rc_app_cmd: ringcast.v1's commands, the JSON text frames a client sends to subscribe and
 * unsubscribe: the server's parser and the clients' encoder. The contract is rc_app.h (its
 * "ringcast.v1 commands" section); the JSON scanner is rc_app_text.h's. */
#include "rc_app.h"

#include <assert.h>

#include "rc_app_text.h"

enum {
	CMD_KEY_OP,
	CMD_KEY_TOPICS,
	CMD_KEY_ID,
	CMD_KEY_SNAPSHOT,
	CMD_KEY_RESUME,
	CMD_KEY_INTERVAL,
	CMD_KEY_TOKEN,
	CMD_KEYS
};
static const char *const cmd_keys[CMD_KEYS] = {
	[CMD_KEY_OP] = "op",         [CMD_KEY_TOPICS] = "topics",
	[CMD_KEY_ID] = "id",         [CMD_KEY_SNAPSHOT] = "snapshot",
	[CMD_KEY_RESUME] = "resume", [CMD_KEY_INTERVAL] = "interval_ms",
	[CMD_KEY_TOKEN] = "token",
};
/* the keys only a subscribe may have */
#define CMD_SUBSCRIBE_ONLY (1u << CMD_KEY_SNAPSHOT | 1u << CMD_KEY_RESUME | 1u << CMD_KEY_INTERVAL)

/* What the parse collects before it can put the lists together (the keys come in any order). */
struct cmd_parse {
	rc_app_cmd *cmd;
	size_t resume_len;
	rc_app_slice resume_topics[RC_APP_TOPICS_MAX];
	rc_app_pos resume[RC_APP_TOPICS_MAX];
};

enum {
	POS_TOPIC,
	POS_EPOCH,
	POS_SEQ,
	POS_KEYS
};
static const char *const pos_keys[POS_KEYS] = {
	[POS_TOPIC] = "topic", [POS_EPOCH] = "epoch", [POS_SEQ] = "seq"
};

struct pos_ctx {
	rc_app_slice *topic;
	rc_app_pos *pos;
};

static bool pos_member(rc_json *c, unsigned key, void *ctx)
{
	struct pos_ctx *p = ctx;
	if (key == POS_TOPIC)
		return rc_json_topic(c, p->topic);
	if (key == POS_EPOCH)
		return rc_json_epoch(c, &p->pos->epoch);
	assert(key == POS_SEQ);
	return rc_json_u64(c, 0, UINT64_MAX, &p->pos->seq,
	                   "\"seq\" must be an integer from 0 to 2^64-1");
}

/* One {"topic":T,"epoch":E,"seq":N} of "resume". */
static bool resume_item(rc_json *c, size_t i, void *ctx)
{
	struct cmd_parse *cp = ctx;
	struct pos_ctx p = { &cp->resume_topics[i], &cp->resume[i] };
	uint32_t seen;
	if (!rc_json_object(c, pos_keys, POS_KEYS, pos_member, &p, &seen,
	                    "each item of \"resume\" must be an object"))
		return false;
	if (seen != (1u << POS_KEYS) - 1)
		return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND,
		                    "each item of \"resume\" needs \"topic\", \"epoch\" and \"seq\"");
	return true;
}

/* "token": a string of 1..RC_APP_TOKEN_MAX bytes 0x21..0x7E without escapes (what a token may be
 * in the connect URL or an Authorization header, so one token works in all three places). */
static bool auth_token(rc_json *c, rc_app_slice *out)
{
	if (!rc_json_text(c, RC_APP_TOKEN_MAX, out))
		return false;
	if (out->len == 0)
		return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "\"token\" is empty");
	for (size_t i = 0; i < out->len; i++)
		if (out->ptr[i] < 0x21 || out->ptr[i] > 0x7e || out->ptr[i] == '\\')
			return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND,
			                    "\"token\" has a byte outside 0x21..0x7E, or an escape");
	return true;
}

static bool cmd_member(rc_json *c, unsigned key, void *ctx)
{
	struct cmd_parse *cp = ctx;
	rc_app_cmd *cmd = cp->cmd;
	uint64_t v;
	switch (key) {
	case CMD_KEY_TOPICS:
		return rc_json_topics(c, cmd->topics, &cmd->topics_len);
	case CMD_KEY_ID:
		return rc_json_id(c, &cmd->id);
	case CMD_KEY_SNAPSHOT:
		return rc_json_bool(c, &cmd->snapshot, "\"snapshot\" must be true or false");
	case CMD_KEY_RESUME:
		return rc_json_array(c, RC_APP_TOPICS_MAX, resume_item, cp, &cp->resume_len,
		                     "\"resume\" must be an array of objects");
	case CMD_KEY_TOKEN:
		return auth_token(c, &cmd->token);
	case CMD_KEY_INTERVAL:
		if (!rc_json_u64(c, 0, RC_APP_INTERVAL_MAX_MS, &v,
		                 "\"interval_ms\" must be an integer from 0 to 60000"))
			return false;
		cmd->interval_ms = (uint32_t)v;
		return true;
	}
	assert(key == CMD_KEY_OP);
	rc_app_slice op;
	if (!rc_json_word(c, 16, &op, "\"op\" must be a string", "unknown op"))
		return false;
	if (rc_app_slice_is(op, "subscribe"))
		cmd->op = RC_APP_OP_SUBSCRIBE;
	else if (rc_app_slice_is(op, "unsubscribe"))
		cmd->op = RC_APP_OP_UNSUBSCRIBE;
	else if (rc_app_slice_is(op, "auth"))
		cmd->op = RC_APP_OP_AUTH;
	else
		return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "unknown op");
	return true;
}

/* The object is read: check which keys it had and put the two topic lists together. */
static void cmd_finish(rc_json *c, struct cmd_parse *cp, uint32_t seen)
{
	rc_app_cmd *cmd = cp->cmd;
	if (!(seen & 1u << CMD_KEY_OP)) {
		rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "missing \"op\"");
		return;
	}
	if (cmd->op == RC_APP_OP_AUTH) {
		if (seen & ~(1u << CMD_KEY_OP | 1u << CMD_KEY_ID | 1u << CMD_KEY_TOKEN))
			rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "a key auth does not have");
		else if (!(seen & 1u << CMD_KEY_TOKEN))
			rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "missing \"token\"");
		else
			rc_json_end(c);
		return;
	}
	if (seen & 1u << CMD_KEY_TOKEN) {
		rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "a key only auth has");
		return;
	}
	if (cmd->op == RC_APP_OP_UNSUBSCRIBE && (seen & CMD_SUBSCRIBE_ONLY)) {
		rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "a key only subscribe has");
		return;
	}
	if (!(seen & 1u << CMD_KEY_TOPICS) && cp->resume_len == 0) {
		rc_json_fail(c, RC_APP_ERR_BAD_COMMAND,
		             seen & 1u << CMD_KEY_RESUME ? "\"resume\" is empty" : "missing \"topics\"");
		return;
	}
	if (cmd->topics_len + cp->resume_len > RC_APP_TOPICS_MAX) {
		rc_json_fail(c, RC_APP_ERR_TOO_MANY_TOPICS, "more than 64 topics");
		return;
	}
	cmd->resume_from = cmd->topics_len;
	for (size_t i = 0; i < cp->resume_len; i++) {
		cmd->topics[cmd->topics_len] = cp->resume_topics[i];
		cmd->resume[cmd->topics_len++] = cp->resume[i];
	}
	rc_json_end(c);
}

enum rc_app_error rc_app_cmd_parse(const uint8_t *p, size_t n, rc_app_cmd *out)
{
	assert(p || n == 0);
	assert(out);
	out->op = 0;
	out->id = (rc_app_slice){ 0 };
	out->topics_len = 0;
	out->resume_from = 0;
	out->snapshot = false;
	out->interval_ms = 0;
	out->token = (rc_app_slice){ 0 };
	out->reason = NULL;
	if (n > RC_APP_JSON_LEN_MAX) {
		out->reason = "command longer than 16384 bytes";
		return RC_APP_ERR_BAD_COMMAND;
	}
	rc_json c = rc_json_start(p, n);
	struct cmd_parse cp = { .cmd = out, .resume_len = 0 };
	uint32_t seen;
	if (rc_json_object(&c, cmd_keys, CMD_KEYS, cmd_member, &cp, &seen,
	                   "a command is a JSON object"))
		cmd_finish(&c, &cp, seen);
	if (c.err) {
		out->reason = c.why;
		return c.err;
	}
	assert(out->op == RC_APP_OP_AUTH
	               ? out->topics_len == 0 && out->token.len > 0
	               : out->topics_len >= 1 && out->topics_len <= RC_APP_TOPICS_MAX);
	return RC_APP_OK;
}

size_t rc_app_cmd_encode(uint8_t *out, size_t cap, enum rc_app_op op, const rc_app_slice *topics,
                         size_t n)
{
	wr w = wr_make(out, cap);
	if (op == RC_APP_OP_SUBSCRIBE)
		wr_put_s(&w, "{\"op\":\"subscribe\",\"topics\":");
	else if (op == RC_APP_OP_UNSUBSCRIBE)
		wr_put_s(&w, "{\"op\":\"unsubscribe\",\"topics\":");
	else
		return 0;
	if (!rc_app_put_topic_list(&w, topics, n))
		return 0;
	assert(w.full || w.len <= RC_APP_CMD_MAX);
	return wr_done(&w);
}

/* "resume":[{"topic":"a","epoch":"...","seq":N},...] for topics[from..n) */
static void put_resume(wr *w, const rc_app_cmd *cmd)
{
	wr_put_s(w, "\"resume\":[");
	for (size_t i = cmd->resume_from; i < cmd->topics_len; i++) {
		const rc_app_slice *t = &cmd->topics[i];
		if (!rc_app_topic_valid(t->ptr, t->len))
			w->full = true;
		wr_put_s(w, i > cmd->resume_from ? ",{\"topic\":\"" : "{\"topic\":\"");
		wr_put(w, t->ptr, t->len);
		wr_put_s(w, "\",\"epoch\":");
		rc_app_put_epoch(w, cmd->resume[i].epoch);
		wr_put_s(w, ",\"seq\":");
		wr_put_u64(w, cmd->resume[i].seq);
		wr_put_c(w, '}');
	}
	wr_put_c(w, ']');
}

/* {"op":"auth","token":"..."} with its id. */
static size_t write_auth(uint8_t *out, size_t cap, const rc_app_cmd *cmd)
{
	if (cmd->token.len == 0 || cmd->token.len > RC_APP_TOKEN_MAX || cmd->id.len > RC_APP_ID_RAW_MAX)
		return 0;
	for (size_t i = 0; i < cmd->token.len; i++)
		if (cmd->token.ptr[i] < 0x21 || cmd->token.ptr[i] > 0x7e || cmd->token.ptr[i] == '"' ||
		    cmd->token.ptr[i] == '\\')
			return 0;
	wr w = wr_make(out, cap);
	wr_put_s(&w, "{\"op\":\"auth\",\"token\":\"");
	wr_put(&w, cmd->token.ptr, cmd->token.len);
	wr_put_c(&w, '"');
	if (cmd->id.len > 0) {
		wr_put_s(&w, ",\"id\":");
		wr_put(&w, cmd->id.ptr, cmd->id.len);
	}
	wr_put_c(&w, '}');
	return wr_done(&w);
}

size_t rc_app_cmd_write(uint8_t *out, size_t cap, const rc_app_cmd *cmd)
{
	assert(cmd);
	if (cmd->op == RC_APP_OP_AUTH)
		return write_auth(out, cap, cmd);
	bool sub = cmd->op == RC_APP_OP_SUBSCRIBE;
	size_t from = sub ? cmd->resume_from : cmd->topics_len;
	if ((!sub && cmd->op != RC_APP_OP_UNSUBSCRIBE) || cmd->topics_len == 0 ||
	    cmd->topics_len > RC_APP_TOPICS_MAX || from > cmd->topics_len ||
	    (!sub && (cmd->snapshot || cmd->interval_ms)) ||
	    cmd->interval_ms > RC_APP_INTERVAL_MAX_MS || cmd->id.len > RC_APP_ID_RAW_MAX)
		return 0;
	wr w = wr_make(out, cap);
	wr_put_s(&w, sub ? "{\"op\":\"subscribe\"" : "{\"op\":\"unsubscribe\"");
	if (from > 0) {
		wr_put_s(&w, ",\"topics\":");
		if (!rc_app_put_topic_list(&w, cmd->topics, from))
			return 0;
		if (!w.full)
			w.len--; /* the list writer closes the object too */
	}
	if (from < cmd->topics_len) {
		wr_put_c(&w, ',');
		put_resume(&w, cmd);
	}
	if (cmd->snapshot)
		wr_put_s(&w, ",\"snapshot\":true");
	if (cmd->interval_ms > 0) {
		wr_put_s(&w, ",\"interval_ms\":");
		wr_put_u64(&w, cmd->interval_ms);
	}
	if (cmd->id.len > 0) {
		wr_put_s(&w, ",\"id\":");
		wr_put(&w, cmd->id.ptr, cmd->id.len);
	}
	wr_put_c(&w, '}');
	assert(w.full || w.len <= RC_APP_CMD_FULL_MAX);
	return wr_done(&w);
}
