/* rc_admin.c: the admin view's thread and the workers' side of its questions (rc_admin.h). */
#define _GNU_SOURCE
#include "rc_admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rc_admin_json.h"
#include "rc_app.h"
#include "rc_clock.h"
#include "rc_http.h"
#include "rc_interest.h"
#include "rc_listen.h"
#include "rc_log.h"
#include "rc_view.h"

#define ADMIN_HEAD_MAX 8192      /* longest request head */
#define ADMIN_HEAD_FIELDS 64     /* most header fields */
#define ADMIN_IO_TIMEOUT_S 2     /* each read and write of a client (SO_RCVTIMEO, SO_SNDTIMEO) */
#define ADMIN_HEAD_MS 5000       /* a whole request head, however it trickles in */
#define ADMIN_ACCEPT_PAUSE_MS 50 /* after a failed accept (out of descriptors): not a spin */

/* The process's admin view. Set up by rc_admin_open on the main thread before any worker exists;
 * then the admin thread's, except ring_fd (each worker writes its own before the threads meet at
 * their start barrier, which orders it before rc_admin_start) and ask[] and answers, which the
 * workers share with it through atomics. */
static struct {
	int listen_fd; /* -1: admin-listen is off */
	int stop_fd;   /* eventfd: rc_admin_stop */
	uint32_t n;    /* workers */
	uint32_t conns_cap, topics_cap;
	char token[RC_CFG_TOKEN_MAX + 1]; /* "" = none */
	cpu_set_t cpus; /* the process's CPUs, not worker 0's that starts the thread */
	bool cpus_known;
	int ring_fd[RC_INTEREST_WORKERS_MAX];
	_Atomic(view_ask *) ask[RC_INTEREST_WORKERS_MAX]; /* waiting for worker i */
	_Atomic uint32_t answers;                         /* futex word: answers given so far */
	_Atomic bool stopping;
	pthread_t thread;
	bool running;
	struct io_uring ring; /* the thread's own, for MSG_RING */
	bool ring_ok;
	view_ask *abandoned; /* asks a worker was writing when the wait ended, by ->next */
	/* each worker's connections and topics in its last answer: how much of the next ask to
	 * touch beforehand */
	uint32_t last_conns[RC_INTEREST_WORKERS_MAX], last_topics[RC_INTEREST_WORKERS_MAX];
	json_rates rates;
	json_out *out;
} g_admin = { .listen_fd = -1, .stop_fd = -1 };

/* ---- start and stop -------------------------------------------------------------------------- */

/* The listening socket of a (loopback by default, rc_cfg_validate), its address as text in text. */
static int admin_socket(const rc_cfg_addr *a, char *text, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = rc_listen_sockaddr(a, &ss);
	rc_cfg_addr_format(a, text, cap);
	/* non-blocking: an accept after poll never waits (a client gone meanwhile), so a stop is seen */
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 16) != 0) {
		int e = errno;
		rc_log(RC_LOG_ERROR, "admin_listen",
		       "addr=%s error=\"%s\" hint=\"another process listens there (ss -ltnp), or pick "
		       "another --admin-listen\"",
		       text, strerror(e));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rc_cfg_addr real = *a; /* with port 0 the kernel chose: tests read the real one */
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		real.port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                           : ((struct sockaddr_in *)&ss)->sin_port);
	rc_cfg_addr_format(&real, text, cap);
	return fd;
}

int rc_admin_open(const rc_cfg *cfg, uint32_t workers, uint32_t slots)
{
	if (cfg->admin_listen.family == RC_ADDR_NONE)
		return 0;
	if (workers == 0 || workers > RC_INTEREST_WORKERS_MAX)
		return -1;
	char text[RC_CFG_ADDR_TEXT_MAX];
	int fd = admin_socket(&cfg->admin_listen, text, sizeof text);
	if (fd < 0)
		return -1;
	int sfd = eventfd(0, EFD_CLOEXEC);
	json_out *out = malloc(sizeof *out);
	if (sfd < 0 || out == NULL) {
		rc_log(RC_LOG_ERROR, "admin_listen", "addr=%s error=\"%s\"", text,
		       sfd < 0 ? strerror(errno) : "out of memory");
		close(fd);
		if (sfd >= 0)
			close(sfd);
		free(out);
		return -1;
	}
	g_admin.listen_fd = fd;
	g_admin.stop_fd = sfd;
	g_admin.out = out;
	g_admin.n = workers;
	g_admin.conns_cap = slots < RC_ADMIN_CONNS_MAX ? slots : RC_ADMIN_CONNS_MAX;
	g_admin.topics_cap =
	        cfg->topics_max < RC_ADMIN_TOPICS_MAX ? cfg->topics_max : RC_ADMIN_TOPICS_MAX;
	snprintf(g_admin.token, sizeof g_admin.token, "%s", cfg->admin_token);
	g_admin.cpus_known = sched_getaffinity(0, sizeof g_admin.cpus, &g_admin.cpus) == 0;
	for (uint32_t i = 0; i < RC_INTEREST_WORKERS_MAX; i++)
		g_admin.ring_fd[i] = -1;
	rc_log(RC_LOG_INFO, "admin_listening", "addr=%s token=%s", text,
	       g_admin.token[0] != '\0' ? "yes" : "no");
	return 0;
}

void admin_ring(uint32_t index, int ring_fd)
{
	if (g_admin.listen_fd < 0 || index >= g_admin.n)
		return;
	g_admin.ring_fd[index] = fcntl(ring_fd, F_DUPFD_CLOEXEC, 0);
	if (g_admin.ring_fd[index] < 0)
		rc_log(RC_LOG_WARN, "admin_ring", "error=\"%s\" effect=\"the admin view cannot ask it\"",
		       strerror(errno));
}

static void *admin_main(void *arg);

void rc_admin_start(void)
{
	if (g_admin.listen_fd < 0 || g_admin.running)
		return;
	int e = pthread_create(&g_admin.thread, NULL, admin_main, NULL);
	if (e != 0) {
		rc_log(RC_LOG_ERROR, "admin_thread", "error=\"%s\" effect=\"no admin view\"", strerror(e));
		return;
	}
	g_admin.running = true;
}

/* The kernel's futex on an atomic word (the same 32 bits: the cast only drops the qualifier). */
static void futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	syscall(SYS_futex, (uint32_t *)(uintptr_t)word, op, val, ts, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word)
{
	futex(word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
}

void rc_admin_stop(void)
{
	if (g_admin.listen_fd < 0) /* admin-listen off, or it never opened */
		return;
	if (g_admin.running) {
		atomic_store(&g_admin.stopping, true);
		uint64_t one = 1;
		(void)!write(g_admin.stop_fd, &one, sizeof one);
		atomic_fetch_add(&g_admin.answers, 1); /* a wait for answers ends too */
		futex_wake_all(&g_admin.answers);
		pthread_join(g_admin.thread, NULL);
		g_admin.running = false;
	}
	/* No worker runs: whatever was asked of one is the admin's alone. */
	for (uint32_t i = 0; i < RC_INTEREST_WORKERS_MAX; i++) {
		view_ask_free(atomic_exchange(&g_admin.ask[i], NULL));
		if (g_admin.ring_fd[i] >= 0)
			close(g_admin.ring_fd[i]);
		g_admin.ring_fd[i] = -1;
	}
	while (g_admin.abandoned != NULL) {
		view_ask *a = g_admin.abandoned;
		g_admin.abandoned = a->next;
		view_ask_free(a);
	}
	json_rates_fini(&g_admin.rates);
	free(g_admin.out);
	g_admin.out = NULL;
	if (g_admin.listen_fd >= 0)
		close(g_admin.listen_fd);
	if (g_admin.stop_fd >= 0)
		close(g_admin.stop_fd);
	g_admin.listen_fd = g_admin.stop_fd = -1;
}

/* ---- the workers' side ----------------------------------------------------------------------- */

void admin_answer(rc_worker *w)
{
	if (w->index >= RC_INTEREST_WORKERS_MAX)
		return;
	/* Taken, so that a late MSG_RING (after a timeout) finds nothing, or the next ask. */
	view_ask *a = atomic_exchange(&g_admin.ask[w->index], NULL);
	if (a == NULL)
		return;
	uint32_t s = VIEW_POSTED;
	bool mine = atomic_compare_exchange_strong(&a->state, &s, VIEW_FILLING);
	if (mine) {
		view_fill(w, a);
		s = VIEW_FILLING;
		mine = atomic_compare_exchange_strong(&a->state, &s, VIEW_DONE);
	}
	if (!mine) /* abandoned meanwhile: the admin frees it once it sees this */
		atomic_store(&a->state, VIEW_RELEASED);
	/* a is not ours to touch any more */
	atomic_fetch_add(&g_admin.answers, 1);
	futex_wake_all(&g_admin.answers);
}

/* ---- asking the workers ---------------------------------------------------------------------- */

/* Abandoned asks that their worker has let go of. */
static void sweep_abandoned(void)
{
	for (view_ask **p = &g_admin.abandoned; *p != NULL;) {
		view_ask *a = *p;
		if (atomic_load(&a->state) == VIEW_RELEASED) {
			*p = a->next;
			view_ask_free(a);
		} else {
			p = &a->next;
		}
	}
}

/* The MSG_RING to every worker with an ask; one whose ring refused it is marked in failed (its
 * ask is taken back after the wait). A worker without a ring is not asked: why says so. */
static void post(view_ask **asks, bool *failed, const char **why)
{
	uint32_t sent = 0;
	io_uring_cq_advance(&g_admin.ring, io_uring_cq_ready(&g_admin.ring)); /* none, normally */
	for (uint32_t i = 0; i < g_admin.n; i++) {
		if (asks[i] != NULL && g_admin.ring_fd[i] < 0) {
			view_ask_free(asks[i]);
			asks[i] = NULL;
			why[i] = "could not be asked (its ring could not be shared)";
		}
		if (asks[i] == NULL) {
			failed[i] = true;
			continue;
		}
		atomic_store(&g_admin.ask[i], asks[i]);
		struct io_uring_sqe *sqe = io_uring_get_sqe(&g_admin.ring);
		if (sqe == NULL) { /* the ring has an entry per worker: cannot happen */
			failed[i] = true;
			continue;
		}
		io_uring_prep_msg_ring(sqe, g_admin.ring_fd[i], 0, rc_ud(RC_IO_ADMIN, 0, RC_UD_WORKER), 0);
		io_uring_sqe_set_data64(sqe, i);
		sent++;
	}
	if (sent > 0 && io_uring_submit(&g_admin.ring) < 0)
		sent = 0; /* nothing went: every wait times out and takes its ask back */
	for (uint32_t k = 0; k < sent; k++) {
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(&g_admin.ring, &cqe) < 0)
			break;
		if (cqe->res < 0 && cqe->user_data < g_admin.n)
			failed[cqe->user_data] = true; /* -EOWNERDEAD: the worker has gone */
		io_uring_cqe_seen(&g_admin.ring, cqe);
	}
}

static bool all_done(view_ask **asks, const bool *failed)
{
	for (uint32_t i = 0; i < g_admin.n; i++)
		if (!failed[i] && asks[i] != NULL && atomic_load(&asks[i]->state) != VIEW_DONE)
			return false;
	return true;
}

/* Until every worker answered, RC_ADMIN_ANSWER_MS passed, or the view stops. */
static void wait_answers(view_ask **asks, const bool *failed)
{
	uint64_t until = rc_now_ns() + (uint64_t)RC_ADMIN_ANSWER_MS * RC_NS_PER_MS;
	for (;;) {
		uint32_t seen = atomic_load(&g_admin.answers);
		uint64_t now = rc_now_ns();
		if (all_done(asks, failed) || now >= until || atomic_load(&g_admin.stopping))
			return;
		/* an answer given after `seen` was read changes the word: the wait returns at once */
		struct timespec ts = { .tv_sec = (time_t)((until - now) / RC_NS_PER_S),
			                   .tv_nsec = (long)((until - now) % RC_NS_PER_S) };
		futex(&g_admin.answers, FUTEX_WAIT_PRIVATE, seen, &ts);
	}
}

/* Worker i's ask after the wait: its answer, or NULL (then taken back, or left on the abandoned
 * list while the worker may still write it). */
static view_ask *take_back(uint32_t i, view_ask *a)
{
	view_ask *left = atomic_exchange(&g_admin.ask[i], NULL);
	if (left != NULL) { /* never taken by its worker */
		view_ask_free(left);
		return NULL;
	}
	uint32_t s = atomic_load(&a->state);
	while (s == VIEW_POSTED || s == VIEW_FILLING)
		if (atomic_compare_exchange_weak(&a->state, &s, VIEW_ABANDONED)) {
			a->next = g_admin.abandoned;
			g_admin.abandoned = a;
			return NULL;
		}
	if (s == VIEW_DONE)
		return a;
	view_ask_free(a); /* released: the worker let go of it */
	return NULL;
}

/* Every worker's answer into asks[] (NULL and a reason in why[] for those that gave none).
 * Returns how long the workers took, ns. */
static uint64_t gather(view_ask **asks, const char **why)
{
	bool failed[RC_INTEREST_WORKERS_MAX] = { false };
	sweep_abandoned();
	for (uint32_t i = 0; i < g_admin.n; i++) {
		asks[i] = g_admin.ring_ok ? view_ask_new(g_admin.conns_cap, g_admin.topics_cap) : NULL;
		/* room for twice what it had last time, faulted in here rather than on the worker */
		if (asks[i] != NULL)
			view_ask_touch(asks[i], 2 * g_admin.last_conns[i] + 1024,
			               2 * g_admin.last_topics[i] + 1024);
	}
	uint64_t t0 = rc_now_ns();
	post(asks, failed, why);
	wait_answers(asks, failed);
	uint64_t took = rc_now_ns() - t0;
	for (uint32_t i = 0; i < g_admin.n; i++) {
		if (asks[i] == NULL) {
			if (why[i] == NULL)
				why[i] = g_admin.ring_ok ? "could not be asked (out of memory)"
				                         : "could not be asked (the admin thread has no ring)";
			continue;
		}
		if (atomic_load(&asks[i]->state) == VIEW_DONE ||
		    (asks[i] = take_back(i, asks[i])) != NULL) {
			g_admin.last_conns[i] = asks[i]->conns_total;
			g_admin.last_topics[i] = asks[i]->topics_total;
			continue;
		}
		why[i] = "did not answer";
		rc_log(RC_LOG_WARN, "admin_no_answer", "worker=%u waited_ms=%llu", i,
		       (unsigned long long)(took / RC_NS_PER_MS));
	}
	return took;
}

/* ---- one request ----------------------------------------------------------------------------- */

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		p += k;
		n -= (size_t)k;
	}
}

static void refuse(int fd, int status, const char *extra, const char *reason)
{
	char resp[1024];
	size_t n = rc_http_error_response(resp, sizeof resp, status, extra, reason);
	send_all(fd, resp, n);
}

/* The request head into buf (ADMIN_HEAD_MAX + 1 bytes: one more than a head may have, so that
 * the parser sees it go over and says 431); returns its parse result (rc_http.h), 0 if it never
 * completed. */
static ssize_t read_head(int fd, uint8_t *buf, rc_http_parser *p)
{
	size_t len = 0;
	uint64_t until = rc_now_ns() + (uint64_t)ADMIN_HEAD_MS * RC_NS_PER_MS;
	ssize_t r = 0;
	while (r == 0 && len <= ADMIN_HEAD_MAX && rc_now_ns() < until) {
		ssize_t k = recv(fd, buf + len, ADMIN_HEAD_MAX + 1 - len, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return 0;
		len += (size_t)k;
		r = rc_http_parse(p, buf, len);
	}
	return r;
}

/* token= of a query, percent-decoded into out (RC_CFG_TOKEN_MAX + 1 bytes). Returns its length,
 * 0 if absent, or -1 if it is malformed or too long. */
static int query_token(rc_http_str q, char *out)
{
	for (uint32_t at = 0; at < q.len;) {
		const char *item = q.ptr + at;
		const char *amp = memchr(item, '&', q.len - at);
		uint32_t len = amp != NULL ? (uint32_t)(amp - item) : q.len - at;
		at += len + 1;
		if (len < 6 || memcmp(item, "token=", 6) != 0)
			continue;
		int n = 0;
		for (uint32_t i = 6; i < len; i++, n++) {
			if (n == RC_CFG_TOKEN_MAX)
				return -1;
			unsigned v;
			if (item[i] != '%') {
				out[n] = item[i];
			} else if (i + 2 < len && sscanf(item + i + 1, "%2x", &v) == 1 &&
			           strspn(item + i + 1, "0123456789abcdefABCDEF") >= 2) {
				out[n] = (char)v;
				i += 2;
			} else {
				return -1;
			}
		}
		out[n] = '\0';
		return n;
	}
	return 0;
}

/* Every byte compared: how far a guess matched does not show in the time taken. */
static bool token_equal(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	unsigned char d = alen != blen;
	for (size_t i = 0; i < blen; i++)
		d |= (unsigned char)(a[i < alen ? i : 0] ^ b[i]);
	return d == 0 && alen > 0;
}

/* The admin-token, from Authorization: Bearer or token=. */
static bool authorized(const rc_http_request *req)
{
	if (g_admin.token[0] == '\0')
		return true;
	const rc_http_header *h = rc_http_header_find(req, "Authorization", NULL);
	rc_app_slice bearer = { 0 };
	if (h != NULL &&
	    rc_app_bearer_parse((const uint8_t *)h->value.ptr, h->value.len, &bearer) ==
	            RC_APP_QUERY_OK &&
	    bearer.len > 0)
		return token_equal((const char *)bearer.ptr, bearer.len, g_admin.token);
	char tok[RC_CFG_TOKEN_MAX + 1];
	int n = query_token(req->query, tok);
	return n > 0 && token_equal(tok, (size_t)n, g_admin.token);
}

/* What a path asks for (enum json_part), 0 if nothing; its name for the log (the path is the
 * client's: not logged as it came). */
static unsigned route(rc_http_str path, const char **name)
{
	static const struct {
		const char *path;
		unsigned parts;
	} routes[] = { { "/", JSON_ALL },
		           { "/connections", JSON_CONNECTIONS },
		           { "/slow", JSON_SLOW },
		           { "/topics", JSON_TOPICS } };
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (path.len == strlen(routes[i].path) && memcmp(path.ptr, routes[i].path, path.len) == 0) {
			*name = routes[i].path;
			return routes[i].parts;
		}
	*name = "other";
	return 0;
}

/* The JSON of `parts` into fd. Returns how long the workers took to answer, ns. */
static uint64_t answer(int fd, unsigned parts)
{
	view_ask *asks[RC_INTEREST_WORKERS_MAX];
	const char *why[RC_INTEREST_WORKERS_MAX] = { NULL };
	uint64_t took = gather(asks, why);
	struct timespec real;
	clock_gettime(CLOCK_REALTIME, &real);
	json_answers a = { .n = g_admin.n,
		               .ask = asks,
		               .why = why,
		               .mono_ns = rc_now_ns(),
		               .real_ms = (int64_t)real.tv_sec * 1000 + real.tv_nsec / 1000000 };
	json_out *o = g_admin.out;
	json_out_init(o, fd);
	json_puts(o, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	             "Cache-Control: no-store\r\nConnection: close\r\n\r\n");
	json_answer(o, &a, parts, &g_admin.rates);
	json_flush(o);
	for (uint32_t i = 0; i < g_admin.n; i++)
		view_ask_free(asks[i]);
	return took;
}

static void serve(int fd)
{
	struct timeval tv = { .tv_sec = ADMIN_IO_TIMEOUT_S };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	uint8_t buf[ADMIN_HEAD_MAX + 1];
	rc_http_header fields[ADMIN_HEAD_FIELDS];
	rc_http_parser p;
	rc_http_parser_init(&p,
	                    &(rc_http_cfg){ .header_bytes_max = ADMIN_HEAD_MAX,
	                                    .header_fields_max = ADMIN_HEAD_FIELDS },
	                    fields);
	uint64_t t0 = rc_now_ns();
	ssize_t r = read_head(fd, buf, &p);
	int status = 200;
	uint64_t workers_ns = 0;
	const char *what = "none";
	unsigned parts = r > 0 ? route(p.req.path, &what) : 0;
	if (r <= 0) {
		status = r < 0 ? (int)-r : 0; /* 0: it never came whole, nobody to answer */
		if (status != 0)
			refuse(fd, status, NULL, p.reason);
	} else if (!authorized(&p.req)) { /* before the path: nothing shows without the token */
		status = 401;
		refuse(fd, status, "WWW-Authenticate: Bearer\r\n",
		       "the admin view needs the admin-token: Authorization: Bearer TOKEN, or ?token=");
	} else if (parts == 0) {
		status = 404;
		refuse(fd, status, NULL, "no such path: try /, /connections, /slow or /topics");
	} else {
		workers_ns = answer(fd, parts);
	}
	if (rc_log_enabled(RC_LOG_DEBUG))
		rc_log(RC_LOG_DEBUG, "admin_request", "path=%s status=%d ms=%llu workers_us=%llu", what,
		       status, (unsigned long long)((rc_now_ns() - t0) / RC_NS_PER_MS),
		       (unsigned long long)(workers_ns / 1000));
}

/* ---- the thread ------------------------------------------------------------------------------ */

static void *admin_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "ringcast-admin");
	/* started from worker 0's thread: take the process's CPUs back, not worker 0's alone */
	if (g_admin.cpus_known)
		pthread_setaffinity_np(pthread_self(), sizeof g_admin.cpus, &g_admin.cpus);
	int r = io_uring_queue_init(RC_INTEREST_WORKERS_MAX, &g_admin.ring, 0);
	g_admin.ring_ok = r == 0;
	if (r < 0)
		rc_log(RC_LOG_WARN, "admin_ring", "error=\"%s\" effect=\"no worker can be asked\"",
		       strerror(-r));
	while (!atomic_load(&g_admin.stopping)) {
		struct pollfd pfd[2] = { { .fd = g_admin.listen_fd, .events = POLLIN },
			                     { .fd = g_admin.stop_fd, .events = POLLIN } };
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents != 0)
			break;
		if (pfd[0].revents == 0)
			continue;
		int fd = accept4(g_admin.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
				rc_log(RC_LOG_WARN, "admin_accept", "error=\"%s\"", strerror(errno));
				nanosleep(&(struct timespec){ .tv_nsec = ADMIN_ACCEPT_PAUSE_MS * 1000000L }, NULL);
			}
			continue;
		}
		serve(fd);
		close(fd);
	}
	if (g_admin.ring_ok)
		io_uring_queue_exit(&g_admin.ring);
	g_admin.ring_ok = false;
	return NULL;
}
