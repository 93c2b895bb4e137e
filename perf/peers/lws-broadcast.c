/* lws-broadcast: a WebSocket broadcast server on libwebsockets, for perf/side-by-side.py.
 *
 *   gcc -O2 -g -Wall -Wextra -o lws-broadcast perf/peers/lws-broadcast.c \
 *       $(pkg-config --cflags --libs libwebsockets)
 *   ./lws-broadcast --port 8081
 *   ./lws-broadcast --port 8443 --tls-cert cert.pem --tls-key key.pem   # wss:// instead
 *
 * (perf/side-by-side.py builds it that way, into build-peers/; the project's CMake does not, so
 * the project never needs libwebsockets.)
 *
 * Every client connects to ws://127.0.0.1:PORT/ (any path, no subprotocol needed: the one
 * protocol below is the default), and every message, text or binary, received from one client is
 * sent unchanged to every other connected client. One thread, lws's default event loop.
 *
 * With --tls-cert and --tls-key it serves wss:// instead, with libwebsockets' own TLS (on Debian,
 * OpenSSL): the certificate (PEM, the server's first, then any intermediates) and its key are
 * handed to lws as files, as in the lws example minimal-http-server-tls ("three extra lines");
 * nothing else changes, lws encrypts each lws_write as it sends it.
 *
 * How it is written is what the libwebsockets examples teach (minimal-ws-server-ring and friends):
 * a received message is copied once into a refcounted buffer with LWS_PRE bytes of headroom for
 * the frame header; every other client gets a pointer to it in its own outbound queue and a
 * lws_callback_on_writable(); in LWS_CALLBACK_SERVER_WRITEABLE the client writes what it has
 * queued, one lws_write() per message, until the queue is empty or lws_send_pipe_choked() says the
 * socket is full. The queues are bounded (QUEUE_MAX messages per client): when one is full its
 * oldest message is dropped, so a slow client costs bounded memory and never blocks the others.
 * The drops are counted and printed when the server stops (SIGINT or SIGTERM).
 *
 * Written against libwebsockets 4.1 (Debian 12's libwebsockets-dev 4.1.6). */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

/* Per client. 1,024 messages of backlog: more than the bench's --max window (256 in flight), so
 * the saturation run never drops, while 1,000 clients hold at most 8 MiB of queue pointers. */
#define QUEUE_MAX 1024u
/* Longest message relayed; a longer one closes its sender with 1009 (message too big). */
#define MSG_LEN_MAX (64u * 1024)

struct msg {
	uint32_t refs; /* one per client queue holding it */
	bool binary;
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then len bytes of payload */
};

struct client {
	struct lws *wsi;
	lws_dll2_t node;              /* in g_clients */
	struct msg *queue[QUEUE_MAX]; /* ring: head is the next to send, count entries */
	uint32_t head, count;
	struct msg *partial; /* a message still arriving in fragments, or NULL */
};

static lws_dll2_owner_t g_clients;
static uint64_t g_relayed, g_dropped;
static volatile sig_atomic_t g_stop;

static struct msg *msg_new(size_t cap, bool binary)
{
	struct msg *m = malloc(sizeof(*m) + LWS_PRE + cap);
	if (!m)
		return NULL;
	m->refs = 0;
	m->binary = binary;
	m->len = 0;
	return m;
}

static void msg_unref(struct msg *m)
{
	assert(m->refs > 0);
	if (--m->refs == 0)
		free(m);
}

/* Queues m on c, dropping c's oldest message when its queue is full. */
static void client_push(struct client *c, struct msg *m)
{
	if (c->count == QUEUE_MAX) {
		msg_unref(c->queue[c->head]);
		c->head = (c->head + 1) % QUEUE_MAX;
		c->count--;
		g_dropped++;
	}
	c->queue[(c->head + c->count) % QUEUE_MAX] = m;
	c->count++;
	m->refs++;
	lws_callback_on_writable(c->wsi);
}

static void client_clear(struct client *c)
{
	while (c->count) {
		msg_unref(c->queue[c->head]);
		c->head = (c->head + 1) % QUEUE_MAX;
		c->count--;
	}
	free(c->partial);
	c->partial = NULL;
}

/* Hands a complete message from `from` to every other client. */
static void broadcast(struct client *from, struct msg *m)
{
	m->refs++; /* hold it while queueing, so it survives a queue that drops it at once */
	lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&g_clients))
	{
		struct client *c = lws_container_of(d, struct client, node);
		if (c != from)
			client_push(c, m);
	}
	lws_end_foreach_dll(d);
	g_relayed++;
	msg_unref(m);
}

/* Adds one received piece to the sender's message; at the message's end, broadcasts it.
 * Returns -1 (close the connection) when the message is too long or memory runs out. */
static int on_receive(struct client *c, const void *in, size_t len)
{
	struct lws *wsi = c->wsi;
	if (lws_is_first_fragment(wsi)) {
		assert(!c->partial);
		/* Most messages arrive in one piece: then their size is known and exact. */
		size_t cap = lws_is_final_fragment(wsi) ? len : MSG_LEN_MAX;
		c->partial = msg_new(cap, lws_frame_is_binary(wsi));
		if (!c->partial)
			return -1;
	}
	struct msg *m = c->partial;
	if (!m)
		return -1; /* a continuation without a start: lws should not let this through */
	if (m->len + len > MSG_LEN_MAX) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
		return -1;
	}
	memcpy(m->buf + LWS_PRE + m->len, in, len);
	m->len += len;
	if (!lws_is_final_fragment(wsi))
		return 0;
	c->partial = NULL;
	broadcast(c, m);
	return 0;
}

/* Writes what c has queued until the queue is empty or the socket is full. Returns -1 when a
 * write fails (the connection is then closed by lws). */
static int on_writeable(struct client *c)
{
	while (c->count) {
		struct msg *m = c->queue[c->head];
		/* lws_write writes the frame header into the LWS_PRE bytes in front of the payload.
		 * The buffer is shared, but every client writes the same header there, and a write
		 * lws cannot finish is copied into the connection's own buffer, so sharing is safe on
		 * this one thread. */
		int n = lws_write(c->wsi, m->buf + LWS_PRE, m->len,
		                  m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
		c->head = (c->head + 1) % QUEUE_MAX;
		c->count--;
		msg_unref(m);
		if (n < 0)
			return -1;
		if (lws_send_pipe_choked(c->wsi))
			break;
	}
	if (c->count)
		lws_callback_on_writable(c->wsi);
	return 0;
}

static int callback_broadcast(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                              void *in, size_t len)
{
	struct client *c = user;
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		memset(c, 0, sizeof(*c));
		c->wsi = wsi;
		lws_dll2_add_tail(&c->node, &g_clients);
		return 0;
	case LWS_CALLBACK_CLOSED:
		lws_dll2_remove(&c->node);
		client_clear(c);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return on_receive(c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return on_writeable(c);
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{
	        .name = "broadcast",
	        .callback = callback_broadcast,
	        .per_session_data_size = sizeof(struct client),
	        /* lws hands over received data in pieces of at most this size. */
	        .rx_buffer_size = MSG_LEN_MAX,
	},
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: lws-broadcast --port N [--host ADDR] [--tls-cert FILE --tls-key FILE]\n"
	           "Relays every WebSocket message from a client to every other client.\n"
	           "  --port N           TCP port to listen on (required)\n"
	           "  --host ADDR        address to listen on (default 127.0.0.1)\n"
	           "  --tls-cert FILE    serve wss:// with this PEM certificate (chain)\n"
	           "  --tls-key FILE     and this PEM private key (both or neither)\n");
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	const char *cert = NULL, *key = NULL;
	long port = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			char *end;
			errno = 0;
			port = strtol(argv[++i], &end, 10);
			if (errno || *end || port < 1 || port > 65535) {
				fprintf(stderr, "lws-broadcast: --port wants 1..65535, not %s\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--host") && i + 1 < argc) {
			host = argv[++i];
		} else if (!strcmp(argv[i], "--tls-cert") && i + 1 < argc) {
			cert = argv[++i];
		} else if (!strcmp(argv[i], "--tls-key") && i + 1 < argc) {
			key = argv[++i];
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (port < 0 || !cert != !key) {
		usage(stderr);
		return 2;
	}

	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = (int)port;
	info.iface = host;
	info.protocols = protocols;
	/* No extensions: like the other servers compared, no permessage-deflate. */
	if (cert) {
		/* lws loads both files when it creates the vhost and fails then if they do not load. */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cert;
		info.ssl_private_key_filepath = key;
	}
	struct lws_context *ctx = lws_create_context(&info);
	if (!ctx) {
		fprintf(stderr, "lws-broadcast: cannot listen on %s:%ld (lws_create_context failed%s)\n",
		        host, port,
		        cert ? "; or the certificate or key did not load: lws's log above" : "");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "lws-broadcast: listening on %s:%ld, %s (libwebsockets %s)\n", host, port,
	        cert ? "wss://" : "ws://", lws_get_library_version());

	int n = 0;
	while (n >= 0 && !g_stop)
		n = lws_service(ctx, 0);

	lws_context_destroy(ctx);
	fprintf(stderr,
	        "lws-broadcast: relayed %" PRIu64 " messages, dropped %" PRIu64
	        " queued deliveries (queues full)\n",
	        g_relayed, g_dropped);
	return 0;
}
