#define _GNU_SOURCE
#include "rc_server.h"

#include <arpa/inet.h>
#include <sched.h>
#include <linux/filter.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rc_activate.h"
#include "rc_admin.h"
#include "rc_log.h"
#include "rc_reload.h"
#include "rc_interest.h"
#include "rc_threads.h"
#include "rc_tls.h"
#include "rc_worker.h"

#define RC_FDS_SPARE 64 /* plain descriptors kept for the process itself (ring, listener, logs) */

/* Raise RLIMIT_NOFILE to its hard limit and size the direct descriptor table from it: the kernel
 * refuses a table larger than RLIMIT_NOFILE. Returns the slots to register. */
static uint32_t descriptor_slots(rc_cfg *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		rl.rlim_cur = rl.rlim_max = 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl.rlim_cur = rl.rlim_max;
	}
	uint64_t limit = rl.rlim_cur;
	/* connections still in their handshake do not count against max-connections (rc_limit.h) */
	uint64_t want = (uint64_t)cfg->max_connections + cfg->handshakes_max + RC_SLOT_RESERVE;
	if (want + RC_FDS_SPARE > limit) {
		uint64_t fixed = RC_FDS_SPARE + RC_SLOT_RESERVE + (uint64_t)cfg->handshakes_max;
		uint64_t room = limit > fixed + 1 ? limit - fixed : 1;
		rc_log(RC_LOG_WARN, "nofile_limit",
		       "max_connections=%u rlimit_nofile=%llu "
		       "serving_at_most=%llu hint=\"raise the descriptor limit (ulimit -n, "
		       "LimitNOFILE=) or lower --max-connections\"",
		       cfg->max_connections, (unsigned long long)limit, (unsigned long long)room);
		cfg->max_connections = (uint32_t)room;
		want = room + cfg->handshakes_max + RC_SLOT_RESERVE;
	}
	return (uint32_t)want;
}

static void memlock_check(const rc_cfg *cfg, uint32_t workers)
{
	struct rlimit rl;
	uint64_t need =
	        ((uint64_t)cfg->recv_buffers + cfg->pool_buffers) * cfg->buffer_size_bytes * workers;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		rc_log(RC_LOG_INFO, "memlock_limit",
		       "rlimit_memlock=%llu registered_bytes=%llu "
		       "note=\"enough only with CAP_IPC_LOCK; otherwise registration fails with a hint\"",
		       (unsigned long long)rl.rlim_cur, (unsigned long long)need);
}

/* A listening socket on address a, or on `port` if it is not 0 (the port the first worker's
 * socket got): every worker has its own, SO_REUSEPORT spreads new connections over them. */
static int listen_socket(const rc_cfg_addr *a, uint16_t port, char *text, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof ss);
	if (a->family == RC_ADDR_IPV6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		memcpy(&s6->sin6_addr, a->addr, 16);
		len = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		memcpy(&s4->sin_addr, a->addr, 4);
		len = sizeof *s4;
	}
	rc_cfg_addr_format(a, text, cap);
	if (port != 0)
		((struct sockaddr_in *)&ss)->sin_port = htons(port); /* same offset in sockaddr_in6 */
	/* SO_REUSEPORT (below) would let this server share a port another process already listens
	 * on, silently splitting clients between the two: bind once without it first. */
	if (a->port != 0 && port == 0) {
		int probe = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int one = 1;
		if (probe >= 0) {
			setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
			if (bind(probe, (struct sockaddr *)&ss, len) != 0 && errno == EADDRINUSE) {
				rc_log(RC_LOG_ERROR, "listen",
				       "addr=%s error=\"address already in use\" "
				       "hint=\"another process listens there (ss -ltnp)\"",
				       text);
				close(probe);
				return -1;
			}
			close(probe);
		}
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc_log(RC_LOG_ERROR, "listen", "addr=%s error=\"socket: %s\"", text, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* Each worker has its own listener on the same port. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	/* No Nagle: accepted sockets inherit TCP_NODELAY from the listener (a direct descriptor takes
	 * no setsockopt). The server batches frames into one send per subscriber per loop turn
	 * itself; Nagle would hold a subscriber's next send until the client's delayed ACK (tens of
	 * milliseconds) whenever the previous one is unacknowledged. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 4096) != 0) {
		rc_log(RC_LOG_ERROR, "listen", "addr=%s error=\"%s\"", text, strerror(errno));
		close(fd);
		return -1;
	}
	/* With port 0 the kernel chose: log the real one (tests read it from this line). */
	struct rc_cfg_addr real = *a;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		real.port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                           : ((struct sockaddr_in *)&ss)->sin_port);
	rc_cfg_addr_format(&real, text, cap);
	return fd;
}

/* --steer-by-cpu: a classic BPF program on the reuseport group that picks, for each new
 * connection, the listener of the worker pinned to the CPU handling it (SKF_AD_CPU: the CPU the
 * packet is processed on, the NIC queue's CPU with RSS, the client's CPU on loopback), so that a
 * connection's packets and its worker share a CPU. A CPU with no worker falls back to cpu % n.
 * The index is the listener's place in the group, i.e. the order they were created in. */
static int steer_by_cpu(int lfd, const int *cpu, uint32_t n)
{
	struct sock_filter code[2 * RC_INTEREST_WORKERS_MAX + 3];
	uint32_t k = 0;
	code[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	                                         (uint32_t)(SKF_AD_OFF + SKF_AD_CPU));
	for (uint32_t i = 0; i < n; i++) {
		/* if A == cpu[i] fall through to "return i", else skip it */
		code[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)cpu[i], 0, 1);
		code[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, i);
	}
	code[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n);
	code[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
	struct sock_fprog prog = { .len = (unsigned short)k, .filter = code };
	if (setsockopt(lfd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0) {
		rc_log(RC_LOG_ERROR, "steer_by_cpu",
		       "error=\"%s\" hint=\"needs Linux 4.6 or later; "
		       "run without --steer-by-cpu\"",
		       strerror(errno));
		return -1;
	}
	return 0;
}

/* The "listening" line, once every worker exists: tools and tests take it to mean the server is
 * set up (its buffer region registered and resident), not only bound. */
struct listening {
	const rc_cfg *cfg;
	const char *addr, *tls_addr;
	uint32_t workers;
	uint32_t slots;
};

static void say_listening(void *ctx)
{
	const struct listening *l = ctx;
	const rc_cfg *cfg = l->cfg;
	rc_admin_start(); /* the admin view asks workers that exist now (rc_admin.h) */
	rc_log(RC_LOG_INFO, "listening",
	       "addr=%s tls_addr=%s workers=%u steer_by_cpu=%d max_connections=%u "
	       "slots=%u slow_policy=%s buffers=%u+%u buffer_size=%u",
	       l->addr, l->tls_addr, l->workers, cfg->steer_by_cpu, cfg->max_connections, l->slots,
	       rc_outq_policy_name(cfg->slow_policy), cfg->recv_buffers, cfg->pool_buffers,
	       cfg->buffer_size_bytes);
}

/* n listening sockets on a, one per worker, into fd[] (all -1 if a is off); the address as text.
 * Returns how many were made: n, or fewer after an error (logged; the ones made stay in fd[]). */
static uint32_t listeners(const rc_cfg_addr *a, uint32_t n, int *fd, char *text, size_t cap)
{
	uint16_t port = 0;
	for (uint32_t i = 0; i < n; i++) {
		fd[i] = -1;
		if (a->family == RC_ADDR_NONE)
			continue;
		fd[i] = listen_socket(a, port, text, cap);
		if (fd[i] < 0)
			return i;
		if (i == 0) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof ss;
			getsockname(fd[0], (struct sockaddr *)&ss, &len);
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		}
	}
	return n;
}

/* An activated listener (rc_activate.h): worker i takes socket i modulo their number.
 * Returns n. */
static uint32_t shared(const int *fd, uint32_t k, const char *fd_text, uint32_t n, int *out,
                       char *text, size_t cap)
{
	snprintf(text, cap, "%s", fd_text);
	if (k > n) {
		rc_log(RC_LOG_ERROR, "socket_activation",
		       "addr=%s sockets=%u workers=%u error=\"more sockets than workers: connections "
		       "the kernel gives the others would never be accepted\"",
		       fd_text, k, n);
		return 0;
	}
	for (uint32_t i = 0; i < n; i++)
		out[i] = fd[i % k];
	if (k < n)
		rc_log(RC_LOG_WARN, "socket_activation",
		       "addr=%s sockets=%u workers=%u note=\"workers share sockets, and the kernel does "
		       "not spread connections over the workers of one socket: pass one socket per "
		       "worker (ReusePort=yes)\"",
		       fd_text, k, n);
	return n;
}

#define TLS_EXPIRY_WARN_S (14 * 86400)

/* Start-up refusals about the listeners: at least one, and TLS with a certificate and key that
 * load (each worker loads its own later; this says what is wrong once, in one line). */
static bool listeners_usable(const rc_cfg *cfg)
{
	if (cfg->listen.family == RC_ADDR_NONE && cfg->tls_listen.family == RC_ADDR_NONE) {
		rc_log(RC_LOG_ERROR, "listen", "error=\"both listen and tls-listen are off\"");
		return false;
	}
	if (cfg->tls_listen.family == RC_ADDR_NONE) {
		if (cfg->tls_cert[0] != '\0' || cfg->tls_key[0] != '\0')
			rc_log(RC_LOG_WARN, "tls",
			       "note=\"tls-cert or tls-key is set but tls-listen is off: "
			       "no TLS\"");
		return true;
	}
	if (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0') {
		rc_log(RC_LOG_ERROR, "tls", "error=\"tls-listen needs tls-cert and tls-key\"");
		return false;
	}
	char err[RC_CFG_ERR_MAX + 2 * RC_CFG_PATH_MAX];
	int64_t left = 0;
	rc_tls_ctx_cfg tc = { .cert_file = cfg->tls_cert,
		                  .key_file = cfg->tls_key,
		                  .min_version = (enum rc_tls_version)cfg->tls_min_version,
		                  .now = time(NULL) };
	rc_tls_ctx *ctx = rc_tls_ctx_new(&tc, &left, err, sizeof err);
	if (ctx == NULL) {
		rc_log(RC_LOG_ERROR, "tls", "error=\"%s\"", err);
		return false;
	}
	rc_tls_ctx_free(ctx);
	rc_tls_thread_done();
	if (left < TLS_EXPIRY_WARN_S)
		rc_log(RC_LOG_WARN, "tls_cert_expiry", "cert=\"%s\" expires_in_days=%lld", cfg->tls_cert,
		       (long long)(left / 86400));
	return true;
}

/* The CPUs workers are pinned to, in order: --cpus, or the process's affinity mask. Returns how
 * many (0 if the mask could not be read). */
static uint32_t cpu_list(const rc_cfg *cfg, int *out, uint32_t cap)
{
	uint32_t n = 0;
	if (cfg->cpu_count > 0) {
		for (uint32_t c = 0; c < RC_CFG_CPUS_MAX && n < cap; c++)
			if (rc_cfg_cpu_isset(cfg, c))
				out[n++] = (int)c;
		return n;
	}
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE && n < cap; c++)
		if (CPU_ISSET(c, &set))
			out[n++] = c;
	return n;
}

int rc_server_run(const rc_cfg *cfg_in)
{
	rc_cfg cfg = *cfg_in;
	int cpus[RC_INTEREST_WORKERS_MAX];
	uint32_t ncpus = cpu_list(&cfg, cpus, RC_INTEREST_WORKERS_MAX);
	uint32_t n = cfg.workers != 0 ? cfg.workers : ncpus;
	if (n == 0)
		n = 1;
	if (n > RC_INTEREST_WORKERS_MAX) {
		rc_log(RC_LOG_ERROR, "workers",
		       "workers=%u error=\"at most %u workers\" hint=\"pass "
		       "--workers or a shorter --cpus list\"",
		       n, RC_INTEREST_WORKERS_MAX);
		return 1;
	}
	int cpu[RC_INTEREST_WORKERS_MAX];
	for (uint32_t i = 0; i < n; i++)
		cpu[i] = ncpus > 0 ? cpus[i % ncpus] : -1;
	if (ncpus > 0 && n > ncpus)
		rc_log(RC_LOG_WARN, "workers",
		       "workers=%u cpus=%u note=\"more workers than CPUs: "
		       "they share CPUs round-robin\"",
		       n, ncpus);
	uint32_t slots = descriptor_slots(&cfg);
	memlock_check(&cfg, n);
	if (!listeners_usable(&cfg))
		return 1;

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP); /* reload the TLS certificate (rc_wss.h) */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
		rc_log(RC_LOG_ERROR, "signals", "error=\"%s\"", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		rc_log(RC_LOG_ERROR, "signals", "error=\"signalfd: %s\"", strerror(errno));
		return 1;
	}
	char addr[RC_CFG_ADDR_TEXT_MAX] = "off", tls_addr[RC_CFG_ADDR_TEXT_MAX] = "off";
	int lfd[RC_INTEREST_WORKERS_MAX], tfd[RC_INTEREST_WORKERS_MAX];
	rc_activated act;
	if (rc_activate_take(&cfg, &act) < 0) {
		close(sfd);
		return 1;
	}
	uint32_t nl = act.ws_n > 0 ? shared(act.ws_fd, act.ws_n, act.ws_text, n, lfd, addr, sizeof addr)
	                           : listeners(&cfg.listen, n, lfd, addr, sizeof addr);
	uint32_t nt = 0;
	if (nl == n)
		nt = act.tls_n > 0 ? shared(act.tls_fd, act.tls_n, act.tls_text, n, tfd, tls_addr,
		                            sizeof tls_addr)
		                   : listeners(&cfg.tls_listen, n, tfd, tls_addr, sizeof tls_addr);
	int r = -1;
	bool ok = nl == n && nt == n;
	if (ok && cfg.steer_by_cpu && (act.ws_n > 0 || act.tls_n > 0)) {
		rc_log(RC_LOG_WARN, "steer_by_cpu",
		       "note=\"activated listeners come from systemd: not steered\"");
		cfg.steer_by_cpu = false;
	}
	if (ok && cfg.steer_by_cpu) {
		if (ncpus == 0) {
			rc_log(RC_LOG_ERROR, "steer_by_cpu",
			       "error=\"the workers are not pinned (the "
			       "affinity mask could not be read)\"");
			ok = false;
		} else {
			ok = (lfd[0] < 0 || steer_by_cpu(lfd[0], cpu, n) == 0) &&
			     (tfd[0] < 0 || steer_by_cpu(tfd[0], cpu, n) == 0);
		}
	}
	ok = ok && rc_admin_open(&cfg, n, slots) == 0; /* its own listener: a failure stops the start */
	if (ok) {
		if (cfg.publish_token[0] == '\0')
			rc_log(RC_LOG_WARN, "publish_open",
			       "note=\"no --publish-token: anyone may "
			       "publish\"");
		struct listening what = {
			.cfg = &cfg, .addr = addr, .tls_addr = tls_addr, .workers = n, .slots = slots
		};
		r = rc_threads_run(&cfg, n, lfd, tfd, cpu, sfd, slots, say_listening, &what);
	}
	/* an activated socket may be in several slots: each closed once, from act */
	for (uint32_t i = 0; act.ws_n == 0 && i < nl; i++)
		if (lfd[i] >= 0)
			close(lfd[i]);
	for (uint32_t i = 0; act.tls_n == 0 && i < nt; i++)
		if (tfd[i] >= 0)
			close(tfd[i]);
	for (uint32_t i = 0; i < act.ws_n; i++)
		close(act.ws_fd[i]);
	for (uint32_t i = 0; i < act.tls_n; i++)
		close(act.tls_fd[i]);
	close(sfd);
	reload_release(); /* the JWT keys: no worker runs any more */
	rc_admin_stop();
	rc_log(RC_LOG_INFO, "exit", "status=%d", r < 0 ? 1 : 0);
	return r < 0 ? 1 : 0;
}

int rc_server_reload_source(const rc_cfg *configured, int argc, char **argv, char *err,
                            size_t errlen)
{
	return reload_source(configured, argc, argv, err, errlen);
}
