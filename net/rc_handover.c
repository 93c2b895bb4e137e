/* rc_handover.c: takeover of the listening sockets over a Unix socket (rc_handover.h). */
#define _GNU_SOURCE
#include "rc_handover.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rc_activate.h"
#include "rc_log.h"

static_assert(sizeof(rc_handover_msg) == 264, "the size test_takeover.py packs");
static_assert(offsetof(rc_handover_msg, listen) == 24, "the layout test_takeover.py packs");
static_assert(RC_CFG_UNIX_PATH_MAX < sizeof(((struct sockaddr_un *)0)->sun_path),
              "a takeover-socket fits sun_path");
/* SCM_MAX_FD is 253: every descriptor of a SOCKETS message goes in one. */
static_assert(2 * RC_INTEREST_WORKERS_MAX <= 253, "one SCM_RIGHTS message holds them all");

#define FDS_MAX (2 * RC_INTEREST_WORKERS_MAX)
#define NO_DEADLINE UINT64_MAX

/* ---- the wire -------------------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Text from the peer, made safe for a log line and a message: printable ASCII but the quote and
 * the backslash (a value a peer writes must not close its quotes and forge a key), NUL-terminated
 * within cap. */
static void clean(char *s, size_t cap)
{
	s[cap - 1] = '\0';
	for (char *p = s; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
			*p = '?';
}

static void msg_init(rc_handover_msg *m, enum rc_handover_kind kind, uint32_t workers)
{
	memset(m, 0, sizeof *m);
	m->magic = RC_HANDOVER_MAGIC;
	m->version = RC_HANDOVER_VERSION;
	m->kind = (uint16_t)kind;
	m->pid = (uint32_t)getpid();
	m->workers = workers;
}

/* Send m, with fds[0..nfds) as SCM_RIGHTS if nfds > 0. Returns 0 or -errno. */
static int send_msg(int fd, const rc_handover_msg *m, const int *fds, uint32_t nfds)
{
	assert(nfds <= FDS_MAX);
	union {
		char buf[CMSG_SPACE(FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	rc_handover_msg out = *m; /* iov_base is not const */
	struct iovec iov = { .iov_base = &out, .iov_len = sizeof out };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds > 0) {
		memset(&ctl, 0, sizeof ctl);
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	/* 264 bytes into an idle Unix socket go whole; SO_SNDTIMEO bounds a peer that stopped
	 * reading with a full buffer */
	ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof *m ? 0 : -EMSGSIZE;
}

/* Wait until fd is readable, deadline (now_ms) passes, or wake_fd says stop (*stop). Returns 0,
 * -ETIMEDOUT or -ECANCELED. */
static int wait_readable(int fd, uint64_t deadline, int wake_fd, atomic_bool *stop)
{
	for (;;) {
		if (stop != NULL && atomic_load(stop))
			return -ECANCELED;
		uint64_t now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		uint64_t left = deadline - now;
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			                   { .fd = wake_fd, .events = POLLIN } };
		int r = poll(p, 2, left > INT_MAX ? -1 : (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (p[1].revents & POLLIN) {
			uint64_t v;
			if (read(wake_fd, &v, sizeof v) < 0) { /* a flag says what it was */
			}
		}
		if (r > 0 && p[0].revents != 0)
			return 0;
	}
}

/* Read one message, and the descriptors that come with it into fds (*nfds of them, at most cap;
 * more is an error and closes them all). Returns 0; -ETIMEDOUT, -ECANCELED; -ECONNRESET at EOF (or
 * a reset); -EPROTO if it is not a message of ours, -EPROTONOSUPPORT if it is of another version
 * (m->version says which); -errno. On error no descriptor is left. */
static int recv_msg(int fd, rc_handover_msg *m, int *fds, uint32_t *nfds, uint32_t cap,
                    uint64_t deadline, int wake_fd, atomic_bool *stop)
{
	size_t got = 0;
	*nfds = 0;
	int r = 0;
	while (got < sizeof *m) {
		r = wait_readable(fd, deadline, wake_fd, stop);
		if (r < 0)
			break;
		union {
			char buf[CMSG_SPACE(FDS_MAX * sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { .iov_base = (char *)m + got, .iov_len = sizeof *m - got };
		struct msghdr mh = { .msg_iov = &iov,
			                 .msg_iovlen = 1,
			                 .msg_control = ctl.buf,
			                 .msg_controllen = sizeof ctl.buf };
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0 && errno != ECONNRESET) {
			r = -errno;
			break;
		}
		for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; c != NULL;
		     c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			uint32_t k = (uint32_t)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			const unsigned char *d = CMSG_DATA(c);
			for (uint32_t i = 0; i < k; i++) {
				int one;
				memcpy(&one, d + i * sizeof(int), sizeof one);
				if (*nfds < cap) {
					fds[(*nfds)++] = one;
				} else {
					close(one);
					r = -EPROTO;
				}
			}
		}
		if (n > 0 && (mh.msg_flags & MSG_CTRUNC))
			r = -EPROTO;
		if (n <= 0) {
			r = -ECONNRESET;
			break;
		}
		if (r < 0)
			break;
		got += (size_t)n;
	}
	if (r == 0 && m->magic != RC_HANDOVER_MAGIC)
		r = -EPROTO;
	else if (r == 0 && m->version != RC_HANDOVER_VERSION)
		r = -EPROTONOSUPPORT;
	if (r < 0) {
		for (uint32_t i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		return r;
	}
	clean(m->listen, sizeof m->listen);
	clean(m->tls_listen, sizeof m->tls_listen);
	clean(m->why, sizeof m->why);
	return 0;
}

/* A failed read as a reason for the log. */
static const char *read_error(int r)
{
	switch (r) {
	case -ETIMEDOUT:
		return "timeout";
	case -ECANCELED:
		return "shutting_down";
	case -ECONNRESET:
		return "hung_up";
	case -EPROTO:
		return "not_a_takeover_message";
	case -EPROTONOSUPPORT:
		return "version";
	default:
		return "read_error";
	}
}

static void set_timeouts(int fd, uint32_t ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa->sun_path) /* rc_cfg_validate keeps it shorter */
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* ---- the successor: taking the sockets ------------------------------------------------------- */

/* n descriptors for one listener, all listening TCP sockets at the configured address want.
 * Returns NULL, or what is wrong, with the address found into text. */
static const char *check_listener(const rc_cfg_addr *want, const int *fd, uint32_t n, char *text,
                                  size_t cap)
{
	snprintf(text, cap, "off");
	for (uint32_t i = 0; i < n; i++) {
		rc_cfg_addr a;
		if (!rc_activate_listener_addr(fd[i], &a))
			return "a descriptor passed is not a listening TCP socket";
		rc_cfg_addr_format(&a, text, cap);
		if (!rc_activate_addr_matches(want, &a))
			return "the server listens on another address than this configuration";
	}
	return NULL;
}

/* The SOCKETS answer against this configuration. Returns NULL, or why it does not fit. */
static const char *check_answer(const rc_cfg *cfg, uint32_t workers, const rc_handover_msg *m,
                                uint32_t nfds, const int *fds, rc_handover_taken *out)
{
	if (m->workers != workers)
		return "the server runs another number of workers";
	if (m->plain != 0 && m->plain != workers)
		return "not one plain listening socket per worker";
	if (m->tls != 0 && m->tls != workers)
		return "not one TLS listening socket per worker";
	if (nfds != m->plain + m->tls)
		return "fewer descriptors came than the message says";
	if ((m->plain != 0) != (cfg->listen.family != RC_ADDR_NONE))
		return m->plain ? "the server listens (listen), this configuration has listen off"
		                : "this configuration has a listen the server does not have";
	if ((m->tls != 0) != (cfg->tls_listen.family != RC_ADDR_NONE))
		return m->tls ? "the server listens for TLS, this configuration has tls-listen off"
		              : "this configuration has a tls-listen the server does not have";
	const char *bad = check_listener(&cfg->listen, fds, m->plain, out->listen, sizeof out->listen);
	if (bad == NULL)
		bad = check_listener(&cfg->tls_listen, fds + m->plain, m->tls, out->tls_listen,
		                     sizeof out->tls_listen);
	return bad;
}

static void take_failed(const char *reason, const char *path, const char *detail)
{
	rc_log(RC_LOG_ERROR, "takeover_failed",
	       "role=successor reason=%s path=\"%s\" detail=\"%s\" note=\"the running server keeps "
	       "serving; this one exits\"",
	       reason, path, detail);
}

/* Connect to the server. Returns the connection, -ENOENT if nobody is there, or -1 (logged). */
static int take_connect(const rc_cfg *cfg)
{
	struct sockaddr_un sa;
	if (unix_addr(cfg->takeover_socket, &sa) < 0) {
		take_failed("path", cfg->takeover_socket, "too long for a Unix socket");
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		take_failed("socket", cfg->takeover_socket, strerror(errno));
		return -1;
	}
	set_timeouts(fd, cfg->takeover_timeout_ms); /* a connect to a full backlog waits that long */
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
		return fd;
	int e = errno;
	close(fd);
	if (e == ENOENT || e == ECONNREFUSED) {
		rc_log(RC_LOG_WARN, "takeover_failed",
		       "role=successor reason=no_server path=\"%s\" error=\"%s\" note=\"no server to "
		       "take over: binding the listeners as usual\"",
		       cfg->takeover_socket, strerror(e));
		return -ENOENT;
	}
	take_failed(e == EAGAIN ? "timeout" : "connect", cfg->takeover_socket, strerror(e));
	return -1;
}

int rc_handover_take(const rc_cfg *cfg, uint32_t workers, rc_handover_taken *out)
{
	assert(cfg->takeover && workers >= 1 && workers <= RC_INTEREST_WORKERS_MAX);
	memset(out, 0, sizeof *out);
	out->conn = -1;
	int fd = take_connect(cfg);
	if (fd < 0)
		return fd == -ENOENT ? 0 : -1;
	rc_handover_msg m;
	msg_init(&m, RC_HANDOVER_REQUEST, workers);
	int r = send_msg(fd, &m, NULL, 0);
	int fds[FDS_MAX];
	uint32_t nfds = 0;
	if (r == 0)
		r = recv_msg(fd, &m, fds, &nfds, FDS_MAX, now_ms() + cfg->takeover_timeout_ms, -1, NULL);
	if (r < 0) {
		take_failed(read_error(r), cfg->takeover_socket, strerror(-r));
		close(fd);
		return -1;
	}
	if (m.kind == RC_HANDOVER_REFUSED) {
		take_failed("refused", cfg->takeover_socket, m.why);
		for (uint32_t i = 0; i < nfds; i++)
			close(fds[i]);
		close(fd);
		return -1;
	}
	const char *bad = m.kind != RC_HANDOVER_SOCKETS
	                          ? "the server did not answer with its sockets"
	                          : check_answer(cfg, workers, &m, nfds, fds, out);
	if (bad != NULL) {
		char detail[RC_HANDOVER_WHY_MAX + 160];
		snprintf(detail, sizeof detail,
		         "%s (server: workers=%u listen=%s tls_listen=%s; here: workers=%u)", bad,
		         m.workers, m.listen, m.tls_listen, workers);
		rc_handover_msg no;
		msg_init(&no, RC_HANDOVER_ABANDON, workers);
		snprintf(no.why, sizeof no.why, "%s", bad);
		send_msg(fd, &no, NULL, 0); /* the server logs why; it keeps serving either way */
		take_failed("mismatch", cfg->takeover_socket, detail);
		for (uint32_t i = 0; i < nfds; i++)
			close(fds[i]);
		close(fd);
		return -1;
	}
	for (uint32_t i = 0; i < workers; i++) {
		out->listen_fd[i] = m.plain ? fds[i] : -1;
		out->tls_fd[i] = m.tls ? fds[m.plain + i] : -1;
	}
	out->conn = fd;
	out->server_pid = m.pid;
	rc_log(RC_LOG_INFO, "takeover_offered",
	       "role=successor server_pid=%u path=\"%s\" workers=%u listen=%s listen_sockets=%u "
	       "tls_listen=%s tls_listen_sockets=%u",
	       m.pid, cfg->takeover_socket, workers, out->listen, m.plain, out->tls_listen, m.tls);
	return 1;
}

/* ---- the thread ------------------------------------------------------------------------------ */

static struct handover {
	pthread_t thread;
	bool started, threaded;
	int wake_fd; /* eventfd: ready or stop (the flags say which) */
	atomic_bool ready, stop, failed;
	atomic_uint stopped; /* workers that stopped accepting (a restart drain) */
	int conn;            /* a successor's connection to the server it took over from, until DONE */
	uint32_t server_pid; /* that server */
	int listen_fd;       /* takeover-socket, for successors */
	bool handed;         /* the sockets went to a successor: the path is its now */
	dev_t dev;           /* what we bound there, to remove only our own */
	ino_t ino;
	char path[RC_CFG_PATH_MAX + 1];
	uint32_t timeout_ms;
	uint32_t workers, plain, tls;
	int fds[FDS_MAX]; /* plain ones, then TLS ones, in worker order */
	char listen[RC_CFG_ADDR_TEXT_MAX], tls_listen[RC_CFG_ADDR_TEXT_MAX];
} g_ho = { .wake_fd = -1, .conn = -1, .listen_fd = -1 };

static void wake(void)
{
	uint64_t one = 1;
	if (write(g_ho.wake_fd, &one, sizeof one) < 0) { /* a full counter wakes anyway */
	}
}

/* Is a server listening on sa? (A connection that closes at once: it logs a takeover_probe.) */
static bool someone_answers(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool yes = fd >= 0 && (connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 ||
	                       errno == EAGAIN); /* a full backlog: someone listens */
	if (fd >= 0)
		close(fd);
	return yes;
}

static void socket_failed(const char *what, const char *hint)
{
	rc_log(RC_LOG_ERROR, "takeover_socket", "path=\"%s\" error=\"%s\" hint=\"%s\"", g_ho.path, what,
	       hint);
}

/* Listen on takeover-socket, mode 0600, replacing what is there. probe: first refuse if a server
 * answers there (a successor knows it is its predecessor's, whose listener goes away). Returns 0
 * or -1 (logged). */
static int bind_socket(bool probe)
{
	struct sockaddr_un sa;
	struct stat st;
	if (unix_addr(g_ho.path, &sa) < 0) {
		socket_failed("too long for a Unix socket", "a shorter path");
		return -1;
	}
	if (lstat(g_ho.path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			socket_failed("something else than a socket is there", "remove it, or another path");
			return -1;
		}
		if (probe && someone_answers(&sa)) {
			socket_failed("a server answers there",
			              "to take over from it, start with --takeover=true; else another path");
			return -1;
		}
		unlink(g_ho.path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* The mode before bind (the file is created with it, less the umask), and again after, in
	 * case the umask took the owner's bits: nobody else may hand us sockets or take ours. */
	if (fd < 0 || fchmod(fd, 0600) != 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    chmod(g_ho.path, 0600) != 0 || listen(fd, 8) != 0 || stat(g_ho.path, &st) != 0) {
		socket_failed(strerror(errno), "does the directory exist and may this user write it?");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	g_ho.listen_fd = fd;
	g_ho.dev = st.st_dev;
	g_ho.ino = st.st_ino;
	rc_log(RC_LOG_INFO, "takeover_socket", "path=\"%s\" mode=0600", g_ho.path);
	return 0;
}

static void offer_failed(uint32_t pid, const char *reason, const char *detail)
{
	rc_log(RC_LOG_WARN, "takeover_failed",
	       "role=server successor_pid=%u reason=%s detail=\"%s\" note=\"still serving\"", pid,
	       reason, detail);
}

/* After DONE: until every worker has stopped accepting (rc_handover_accepts_stopped), at most
 * takeover-timeout-ms. Closing the connection then tells the successor to re-arm its accepts:
 * none of ours is left to take a wake-up with it (rc_handover.h). */
static void wait_accepts_stopped(void)
{
	uint64_t deadline = now_ms() + g_ho.timeout_ms;
	while (atomic_load(&g_ho.stopped) < g_ho.workers && !atomic_load(&g_ho.stop)) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return;
		struct pollfd p = { .fd = g_ho.wake_fd, .events = POLLIN };
		uint64_t v;
		if (poll(&p, 1, (int)(deadline - now)) > 0 && read(g_ho.wake_fd, &v, sizeof v) < 0) {
		}
	}
}

/* The SO_PEERCRED check: our uid or root. Returns the peer's pid, or 0 if refused (logged). */
static uint32_t peer_allowed(int c)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		offer_failed(0, "peer_credentials", strerror(errno));
		return 0;
	}
	if (cred.uid != geteuid() && cred.uid != 0) {
		char d[96];
		snprintf(d, sizeof d, "peer uid %u is neither this server's (%u) nor root", cred.uid,
		         geteuid());
		offer_failed((uint32_t)cred.pid, "peer_uid", d);
		return 0;
	}
	return cred.pid > 0 ? (uint32_t)cred.pid : 1;
}

/* One successor on connection c: returns true once it is ready and told DONE (the caller
 * stops offering), false after a refusal or a failure (logged; we keep serving). */
static bool offer(int c)
{
	uint32_t pid = peer_allowed(c);
	if (pid == 0)
		return false;
	set_timeouts(c, g_ho.timeout_ms);
	rc_handover_msg m;
	int none[1];
	uint32_t n = 0;
	int r = recv_msg(c, &m, none, &n, 0, now_ms() + g_ho.timeout_ms, g_ho.wake_fd, &g_ho.stop);
	if (r == -ECONNRESET) { /* nothing said: someone looking whether we listen */
		rc_log(RC_LOG_DEBUG, "takeover_probe", "peer_pid=%u", pid);
		return false;
	}
	if (r == -EPROTONOSUPPORT) { /* told, so that it can say why it stops */
		rc_handover_msg no;
		msg_init(&no, RC_HANDOVER_REFUSED, g_ho.workers);
		snprintf(no.why, sizeof no.why, "protocol version %u: this server speaks %u", m.version,
		         RC_HANDOVER_VERSION);
		send_msg(c, &no, NULL, 0);
		offer_failed(pid, "version", no.why);
		return false;
	}
	if (r < 0 || m.kind != RC_HANDOVER_REQUEST) {
		offer_failed(pid, r < 0 ? read_error(r) : "not_a_request", r < 0 ? strerror(-r) : "");
		return false;
	}
	pid = m.pid; /* the successor's own word; SO_PEERCRED's may be a launcher's */
	rc_log(RC_LOG_INFO, "takeover_offered", "role=server successor_pid=%u workers=%u", pid,
	       m.workers);
	if (m.workers != g_ho.workers) {
		rc_handover_msg no;
		msg_init(&no, RC_HANDOVER_REFUSED, g_ho.workers);
		snprintf(no.why, sizeof no.why,
		         "this server runs %u workers, the successor %u: both must run as many",
		         g_ho.workers, m.workers);
		send_msg(c, &no, NULL, 0);
		offer_failed(pid, "workers", no.why);
		return false;
	}
	rc_handover_msg yes;
	msg_init(&yes, RC_HANDOVER_SOCKETS, g_ho.workers);
	yes.plain = g_ho.plain;
	yes.tls = g_ho.tls;
	memcpy(yes.listen, g_ho.listen, sizeof yes.listen);
	memcpy(yes.tls_listen, g_ho.tls_listen, sizeof yes.tls_listen);
	r = send_msg(c, &yes, g_ho.fds, g_ho.plain + g_ho.tls);
	if (r == 0) /* the successor's start: its buffers, its workers, until its "listening" */
		r = recv_msg(c, &m, none, &n, 0, now_ms() + g_ho.timeout_ms, g_ho.wake_fd, &g_ho.stop);
	if (r < 0) {
		offer_failed(pid, r == -ETIMEDOUT ? "not_ready" : read_error(r), strerror(-r));
		return false;
	}
	if (m.kind != RC_HANDOVER_READY) {
		offer_failed(pid, m.kind == RC_HANDOVER_ABANDON ? "successor_refused" : "not_ready", m.why);
		return false;
	}
	rc_handover_msg done;
	msg_init(&done, RC_HANDOVER_DONE, g_ho.workers);
	r = send_msg(c, &done, NULL, 0);
	if (r < 0) {
		offer_failed(pid, "hung_up", strerror(-r));
		return false;
	}
	rc_log(RC_LOG_INFO, "takeover_done",
	       "role=server successor_pid=%u note=\"stop accepting, drain with 1012\"", pid);
	/* The restart drain, by the signal worker 0 reads (net/rc_worker.c, SIGUSR2). */
	kill(getpid(), SIGUSR2);
	wait_accepts_stopped(); /* then the caller closes c: the successor's cue */
	return true;
}

/* Offer the sockets to one successor after another until one takes them or we stop. */
static void serve(void)
{
	while (!atomic_load(&g_ho.stop)) {
		if (wait_readable(g_ho.listen_fd, NO_DEADLINE, g_ho.wake_fd, &g_ho.stop) < 0)
			return;
		int c = accept4(g_ho.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				rc_log(RC_LOG_WARN, "takeover_accept", "error=\"%s\"", strerror(errno));
				usleep(100000); /* out of descriptors, say: not a spin */
			}
			continue;
		}
		bool handed = offer(c);
		close(c);
		if (handed) {
			g_ho.handed = true; /* the successor replaces takeover-socket with its own */
			close(g_ho.listen_fd);
			g_ho.listen_fd = -1;
			return;
		}
	}
}

/* A successor's last step: READY, then DONE from the server. Returns true if it came. */
static bool say_ready(void)
{
	rc_handover_msg m;
	msg_init(&m, RC_HANDOVER_READY, g_ho.workers);
	int r = send_msg(g_ho.conn, &m, NULL, 0);
	int none[1];
	uint32_t n = 0;
	if (r == 0)
		r = recv_msg(g_ho.conn, &m, none, &n, 0, now_ms() + g_ho.timeout_ms, g_ho.wake_fd,
		             &g_ho.stop);
	if (r == 0 && m.kind == RC_HANDOVER_DONE) {
		rc_log(RC_LOG_INFO, "takeover_done", "role=successor server_pid=%u", g_ho.server_pid);
		return true; /* g_ho.conn stays open for settle */
	}
	close(g_ho.conn);
	g_ho.conn = -1;
	atomic_store(&g_ho.failed, true);
	rc_log(RC_LOG_ERROR, "takeover_failed",
	       "role=successor server_pid=%u reason=%s detail=\"%s\" note=\"no DONE from the server: "
	       "it keeps serving; this one stops\"",
	       g_ho.server_pid, r < 0 ? read_error(r) : "not_done", r < 0 ? strerror(-r) : m.why);
	if (r != -ECANCELED)
		kill(getpid(), SIGTERM); /* drain what we accepted meanwhile, then exit 1 */
	return false;
}

/* A successor after DONE: wait for the server to close the connection (none of its workers accepts
 * any more), then re-arm our accepts: a wake-up one of its cancelled accepts took is not lost. */
static void settle(void)
{
	uint64_t t0 = now_ms();
	int r = wait_readable(g_ho.conn, t0 + g_ho.timeout_ms, g_ho.wake_fd, &g_ho.stop);
	close(g_ho.conn);
	g_ho.conn = -1;
	if (r == -ECANCELED)
		return;
	kill(getpid(), SIGUSR1); /* net/rc_worker.c: every worker re-arms its accepts */
	rc_log(RC_LOG_INFO, "takeover_settled",
	       "role=successor server_pid=%u waited_ms=%llu timed_out=%d note=\"the server accepts no "
	       "more: accepts re-armed\"",
	       g_ho.server_pid, (unsigned long long)(now_ms() - t0), r == -ETIMEDOUT);
}

static void *handover_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "ringcast-ho");
	while (!atomic_load(&g_ho.ready) && !atomic_load(&g_ho.stop)) {
		struct pollfd p = { .fd = g_ho.wake_fd, .events = POLLIN };
		uint64_t v;
		if (poll(&p, 1, -1) > 0 && read(g_ho.wake_fd, &v, sizeof v) < 0) { /* flags say */
		}
	}
	if (atomic_load(&g_ho.stop))
		return NULL;
	bool successor = g_ho.conn >= 0;
	if (successor && !say_ready())
		return NULL;
	/* bound before settling: a next successor may already ask (it waits in the backlog) */
	bool bound = g_ho.listen_fd >= 0 || bind_socket(false) == 0;
	if (successor)
		settle();
	if (bound) /* else serving, but no successor can take over from us (logged) */
		serve();
	return NULL;
}

int rc_handover_start(const rc_cfg *cfg, const rc_handover_offer *what, int conn,
                      uint32_t server_pid)
{
	assert(!g_ho.started && what->workers >= 1 && what->workers <= RC_INTEREST_WORKERS_MAX);
	if (cfg->takeover_socket[0] == '\0') {
		assert(conn < 0);
		return 0;
	}
	snprintf(g_ho.path, sizeof g_ho.path, "%s", cfg->takeover_socket);
	g_ho.conn = conn;
	g_ho.server_pid = server_pid;
	g_ho.timeout_ms = cfg->takeover_timeout_ms;
	g_ho.workers = what->workers;
	g_ho.plain = what->listen_fd[0] >= 0 ? what->workers : 0;
	g_ho.tls = what->tls_fd[0] >= 0 ? what->workers : 0;
	for (uint32_t i = 0; i < g_ho.plain; i++)
		g_ho.fds[i] = what->listen_fd[i];
	for (uint32_t i = 0; i < g_ho.tls; i++)
		g_ho.fds[g_ho.plain + i] = what->tls_fd[i];
	snprintf(g_ho.listen, sizeof g_ho.listen, "%s", what->listen);
	snprintf(g_ho.tls_listen, sizeof g_ho.tls_listen, "%s", what->tls_listen);
	g_ho.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int e = 0;
	if (g_ho.wake_fd < 0 || (conn < 0 && bind_socket(true) < 0) ||
	    (e = pthread_create(&g_ho.thread, NULL, handover_main, NULL)) != 0) {
		if (e != 0)
			rc_log(RC_LOG_ERROR, "takeover_socket", "error=\"pthread_create: %s\"", strerror(e));
		else if (g_ho.wake_fd < 0)
			rc_log(RC_LOG_ERROR, "takeover_socket", "error=\"eventfd: %s\"", strerror(errno));
		g_ho.started = true; /* rc_handover_stop cleans up what there is */
		rc_handover_stop();
		return -1;
	}
	g_ho.started = g_ho.threaded = true;
	return 0;
}

void rc_handover_accepts_stopped(void)
{
	if (!g_ho.started)
		return;
	atomic_fetch_add(&g_ho.stopped, 1);
	wake();
}

void rc_handover_ready(void)
{
	if (!g_ho.started)
		return;
	atomic_store(&g_ho.ready, true);
	wake();
}

bool rc_handover_stop(void)
{
	if (!g_ho.started)
		return false;
	g_ho.started = false;
	if (g_ho.wake_fd >= 0) {
		atomic_store(&g_ho.stop, true);
		wake();
	}
	if (g_ho.threaded)
		pthread_join(g_ho.thread, NULL);
	g_ho.threaded = false;
	struct stat st;
	if (g_ho.listen_fd >= 0) {
		/* Remove the path only if it is still the socket we bound: after a takeover it is the
		 * successor's. */
		if (!g_ho.handed && stat(g_ho.path, &st) == 0 && st.st_dev == g_ho.dev &&
		    st.st_ino == g_ho.ino)
			unlink(g_ho.path);
		close(g_ho.listen_fd);
		g_ho.listen_fd = -1;
	}
	if (g_ho.conn >= 0) { /* the server we took over from sees EOF: it keeps serving */
		close(g_ho.conn);
		g_ho.conn = -1;
		atomic_store(&g_ho.failed, true);
	}
	if (g_ho.wake_fd >= 0)
		close(g_ho.wake_fd);
	g_ho.wake_fd = -1;
	return atomic_load(&g_ho.failed);
}
