/* rc_reload.c: SIGHUP (rc_reload.h). */
#include "rc_reload.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "rc_auth.h"
#include "rc_cfg_reload.h"
#include "rc_limit.h"
#include "rc_log.h"
#include "rc_wss.h"
#include "rc_xfer.h"

extern char **environ;

/* The process's: set once before the workers start, then touched by worker 0 only, except
 * `pending`, which every worker counts down, and the slots, which workers read (rc_reload.h). */
static struct {
	bool set;
	int argc;
	char **argv;
	rc_cfg configured;        /* what the sources said at start, or at the last reload */
	rc_cfg slot[2];           /* running configurations made by reloads */
	rc_auth *keys0;           /* the JWT keys loaded at start (jwt-keys), or NULL */
	rc_auth *keys[2];         /* the keys of each slot (may be another slot's, or keys0) */
	rc_auth *cur;             /* the keys of the last reload (keys0 before any) */
	uint32_t next;            /* the slot the next reload fills */
	_Atomic uint32_t pending; /* workers yet to take the last reload */
} g_reload;

/* arg of the MSG_RING: the slot, and whether worker 0's TLS load succeeded */
#define ARG_TLS 1u
#define ARG_SLOT_SHIFT 1

int reload_source(const rc_cfg *configured, int argc, char **argv, char *err, size_t errlen)
{
	g_reload.configured = *configured;
	g_reload.argc = argc;
	g_reload.argv = argv;
	g_reload.set = true;
	if (configured->jwt_keys[0] != '\0') {
		g_reload.keys0 = rc_auth_load(configured->jwt_keys, err, errlen);
		if (g_reload.keys0 == NULL)
			return -EINVAL;
	}
	g_reload.cur = g_reload.keys0;
	return 0;
}

const rc_auth *reload_keys(void)
{
	return g_reload.keys0;
}

void reload_release(void)
{
	rc_auth *all[3] = { g_reload.keys0, g_reload.keys[0], g_reload.keys[1] };
	for (int i = 0; i < 3; i++) {
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen |= all[j] == all[i];
		if (!seen)
			rc_auth_free(all[i]);
	}
	g_reload.keys0 = g_reload.keys[0] = g_reload.keys[1] = NULL;
}

/* The keys for the slot being filled: the keys file read again (a rotation may replace it under
 * the same name), or the old keys if it does not load (said in a log line). The slot's previous
 * keys are freed unless the other slot or the start still uses them: no worker does any more,
 * since every worker took the reload after the one that filled this slot last. */
static rc_auth *slot_keys(uint32_t index, rc_cfg *next, rc_cfg *configured)
{
	rc_auth *old = g_reload.cur, *keys = old;
	if (next->jwt_keys[0] != '\0') {
		char err[RC_CFG_ERR_MAX + RC_CFG_PATH_MAX];
		rc_auth *fresh = rc_auth_load(next->jwt_keys, err, sizeof err);
		if (fresh != NULL) {
			keys = fresh;
		} else {
			rc_log(RC_LOG_ERROR, "reload_refused",
			       "keys=jwt-keys error=\"%s\" note=\"the old keys stay\"", err);
			memcpy(next->jwt_keys, g_reload.configured.jwt_keys, sizeof next->jwt_keys);
			memcpy(configured->jwt_keys, g_reload.configured.jwt_keys, sizeof configured->jwt_keys);
			if (old == NULL)
				next->jwt_keys[0] = configured->jwt_keys[0] = '\0';
		}
	} else {
		keys = NULL; /* jwt-keys emptied: no more JWTs */
	}
	rc_auth *prev = g_reload.keys[index];
	if (prev != NULL && prev != keys && prev != g_reload.keys[index ^ 1] && prev != g_reload.keys0)
		rc_auth_free(prev);
	g_reload.keys[index] = keys;
	g_reload.cur = keys;
	return keys;
}

static void ts_set_ms(struct __kernel_timespec *ts, uint32_t ms)
{
	ts->tv_sec = ms / 1000;
	ts->tv_nsec = (long long)(ms % 1000) * 1000000;
}

void reload_derive(rc_worker *w)
{
	const rc_cfg *cfg = w->cfg;
	ts_set_ms(&w->time.idle, cfg->idle_timeout_ms);
	ts_set_ms(&w->time.write, cfg->write_timeout_ms);
	ts_set_ms(&w->time.drain, cfg->drain_timeout_ms);
	size_t no = rc_cfg_origins(cfg, w->http.origins, RC_CFG_ORIGINS_MAX);
	w->http.subprotocols[0] = RC_APP_SUBPROTOCOL;
	w->http.hs_ws = (rc_ws_handshake_cfg){ .origins = w->http.origins,
		                                   .origin_count = no,
		                                   .allow_no_origin = cfg->allow_no_origin,
		                                   .subprotocols = w->http.subprotocols,
		                                   .subprotocol_count = 1 };
	w->http.hs_echo = w->http.hs_ws;
	w->http.hs_echo.subprotocols = NULL;
	w->http.hs_echo.subprotocol_count = 0;
	w->http.frame = (rc_frame_cfg){ .role = RC_FRAME_SERVER,
		                            .message_max = cfg->message_max_bytes,
		                            .rsv_allowed = 0 };
}

/* Switch w to next and derive again; its TLS context too if tls. */
static void take(rc_worker *w, const rc_cfg *next, const rc_auth *keys, bool tls)
{
	w->cfg = next;
	w->access.keys = keys;
	reload_derive(w);
	limit_configure(w);
	if (tls && w->tls.ctx != NULL)
		(void)wss_reload(w);
}

static bool same_tls(const rc_cfg *a, const rc_cfg *b)
{
	return strcmp(a->tls_cert, b->tls_cert) == 0 && strcmp(a->tls_key, b->tls_key) == 0 &&
	       a->tls_min_version == b->tls_min_version;
}

static void keep_tls(rc_cfg *into, const rc_cfg *from)
{
	memcpy(into->tls_cert, from->tls_cert, sizeof into->tls_cert);
	memcpy(into->tls_key, from->tls_key, sizeof into->tls_key);
	into->tls_min_version = from->tls_min_version;
}

void reload_begin(rc_worker *w)
{
	if (!g_reload.set) {
		if (wss_reload(w))
			for (uint32_t to = 0; to < w->group->n; to++)
				if (to != w->index)
					xfer_wake(w, to, rc_ud(RC_IO_RELOAD, 0, RC_UD_WORKER), ARG_TLS | 1u << 31);
		return;
	}
	uint32_t pending = atomic_load_explicit(&g_reload.pending, memory_order_acquire);
	if (pending > 0) {
		rc_log(RC_LOG_WARN, "reload_busy",
		       "workers_pending=%u note=\"the last reload is still being taken: send SIGHUP "
		       "again\"",
		       pending);
		return;
	}
	const rc_cfg *old = w->cfg;
	rc_cfg *next = &g_reload.slot[g_reload.next];
	rc_cfg configured;
	rc_cfg_reload_result res;
	char err[RC_CFG_ERR_MAX];
	if (rc_cfg_reload(&g_reload.configured, old, g_reload.argc, g_reload.argv, environ, &configured,
	                  next, &res, err, sizeof err) < 0) {
		rc_log(RC_LOG_ERROR, "reload_failed",
		       "error=\"%s\" note=\"nothing changed: the server runs on as before\"", err);
		return;
	}
	if (res.refused > 0)
		rc_log(RC_LOG_WARN, "reload_refused",
		       "keys=%s note=\"these need a restart: their old values stay\"", res.refused_keys);
	/* The TLS pair is loaded here first, with the new names if they changed: a pair that does
	 * not load is refused once, here, and the other workers keep theirs. */
	bool tls = false;
	if (w->tls.ctx != NULL) {
		w->cfg = next;
		tls = wss_reload(w);
		w->cfg = old;
		if (!tls && !same_tls(old, next)) {
			keep_tls(next, old);
			keep_tls(&configured, &g_reload.configured);
			rc_log(RC_LOG_WARN, "reload_refused",
			       "keys=tls-cert,tls-key,tls-min-version note=\"the new pair does not load: "
			       "the old one stays\"");
		}
	}
	uint32_t index = g_reload.next;
	rc_auth *keys = slot_keys(index, next, &configured);
	g_reload.configured = configured;
	g_reload.next ^= 1;
	rc_log_set_level(next->log_level);
	rc_peers_configure(&w->group->peers, next->ip_connections_max, next->ip_connects_per_s,
	                   next->rate_burst_ms);
	take(w, next, keys, false); /* its TLS context is loaded already */
	atomic_store_explicit(&g_reload.pending, w->group->n - 1, memory_order_release);
	for (uint32_t to = 0; to < w->group->n; to++)
		if (to != w->index)
			xfer_wake(w, to, rc_ud(RC_IO_RELOAD, 0, RC_UD_WORKER),
			          index << ARG_SLOT_SHIFT | (tls ? ARG_TLS : 0));
	rc_log(RC_LOG_INFO, "reloaded", "changed=%u keys=%s refused=%u", res.changed,
	       res.changed ? res.changed_keys : "none", res.refused);
}

void reload_take(rc_worker *w, uint32_t arg)
{
	if (arg & 1u << 31) { /* a TLS reload alone (no reload_source) */
		(void)wss_reload(w);
		return;
	}
	uint32_t index = (arg >> ARG_SLOT_SHIFT) & 1;
	take(w, &g_reload.slot[index], g_reload.keys[index], (arg & ARG_TLS) != 0);
	atomic_fetch_sub_explicit(&g_reload.pending, 1, memory_order_acq_rel);
}
