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
	CMD_KEYS
};
static const char *const cmd_keys[CMD_KEYS] = {
	[CMD_KEY_OP] = "op", [CMD_KEY_TOPICS] = "topics", [CMD_KEY_ID] = "id"
};

static bool cmd_member(rc_json *c, unsigned key, void *ctx)
{
	rc_app_cmd *cmd = ctx;
	if (key == CMD_KEY_TOPICS)
		return rc_json_topics(c, cmd->topics, &cmd->topics_len);
	if (key == CMD_KEY_ID)
		return rc_json_id(c, &cmd->id);
	assert(key == CMD_KEY_OP);
	rc_app_slice op;
	if (!rc_json_word(c, 16, &op, "\"op\" must be a string", "unknown op"))
		return false;
	if (rc_app_slice_is(op, "subscribe"))
		cmd->op = RC_APP_OP_SUBSCRIBE;
	else if (rc_app_slice_is(op, "unsubscribe"))
		cmd->op = RC_APP_OP_UNSUBSCRIBE;
	else
		return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "unknown op");
	return true;
}

enum rc_app_error rc_app_cmd_parse(const uint8_t *p, size_t n, rc_app_cmd *out)
{
	assert(p || n == 0);
	assert(out);
	out->op = 0;
	out->id = (rc_app_slice){ 0 };
	out->topics_len = 0;
	out->reason = NULL;
	if (n > RC_APP_JSON_LEN_MAX) {
		out->reason = "command longer than 16384 bytes";
		return RC_APP_ERR_BAD_COMMAND;
	}
	rc_json c = rc_json_start(p, n);
	uint32_t seen;
	if (rc_json_object(&c, cmd_keys, CMD_KEYS, cmd_member, out, &seen,
	                   "a command is a JSON object")) {
		if (!(seen & 1u << CMD_KEY_OP))
			rc_json_fail(&c, RC_APP_ERR_BAD_COMMAND, "missing \"op\"");
		else if (!(seen & 1u << CMD_KEY_TOPICS))
			rc_json_fail(&c, RC_APP_ERR_BAD_COMMAND, "missing \"topics\"");
		else
			rc_json_end(&c);
	}
	if (c.err) {
		out->reason = c.why;
		return c.err;
	}
	assert(out->op == RC_APP_OP_SUBSCRIBE || out->op == RC_APP_OP_UNSUBSCRIBE);
	assert(out->topics_len >= 1 && out->topics_len <= RC_APP_TOPICS_MAX);
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
