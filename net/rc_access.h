/* rc_access: who may do what on a connection: the shared publish token, JSON Web Tokens and their
 * grants, topics that need a token to be subscribed to, and tokens that expire on open connections
 * (docs/operations.md, "Tokens"; docs/protocol.md 6.8).
 *
 * A connection presents a token at its handshake (token= or Authorization: Bearer) and, with
 * ringcast.v1, later in auth commands. A token equal to publish-token (F_AUTH) may publish and
 * subscribe to anything, for as long as the connection lasts. With jwt-keys, any other token
 * must be a JWT that the keys verify (net/rc_auth.h: signature, exp, nbf); a bad one is refused
 * at the handshake with 401 and its reason ("token expired", "bad signature", ...), in an auth
 * command with a `forbidden` error notice. A verified JWT's grant (proto/rc_jwt.h: topics and
 * prefixes to subscribe to and to publish on) is kept with the connection until it expires:
 *   - publishing: with jwt-keys, only F_AUTH or a grant that lists the topic may publish; without
 *     jwt-keys, F_AUTH as before (anyone when publish-token is empty);
 *   - subscribing: topics in subscribe-token-topics need F_AUTH or a grant that lists them;
 *     other topics are open to anyone;
 *   - expiry: at the grant's exp (plus RC_ACCESS_LEEWAY_S) the connection is closed with 4006,
 *     unless an auth command brought a fresh token before; the fresh grant replaces the old one
 *     for what comes next (subscriptions made under the old one stay).
 * Grants live in a slab of the worker (one per connection that presented a JWT, about 512 bytes),
 * expiries in a due-time heap (core/rc_due.h). Verification runs on the worker's thread: a few
 * microseconds for HS256, tens for ES256 and RS256, at the handshake and per auth command only.
 */
#ifndef RC_ACCESS_H
#define RC_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "rc_worker_int.h"

/* Clock skew allowed between whoever issues tokens and the server, for exp and nbf. */
#define RC_ACCESS_LEEWAY_S 5

int access_init(rc_worker *w);
void access_fini(rc_worker *w);

/* The token c presented at its handshake (len 0: none). Returns 0, or 401 with *why (a static
 * phrase) for a JWT the keys refuse. */
int access_connect(rc_worker *w, rc_conn *c, const uint8_t *tok, size_t len, const char **why);

/* May c publish on topic? */
bool access_may_publish(const rc_worker *w, const rc_conn *c, const uint8_t *topic, size_t len);

/* May c subscribe to topic? */
bool access_may_subscribe(const rc_worker *w, const rc_conn *c, const uint8_t *topic, size_t len);

/* An auth command: verify its token and answer (authorized notice, or a forbidden error). */
void access_auth(rc_worker *w, rc_conn *c, const rc_app_cmd *cmd);

/* Loop phase: connections whose token expired are closed (4006). */
void access_due(rc_worker *w, uint64_t now_ns);
uint64_t access_next_ns(const rc_worker *w);

#endif
