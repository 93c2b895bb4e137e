/* rc_listen.c: the workers' listening sockets (rc_listen.h). */
#define _GNU_SOURCE
#include "rc_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rc_handover.h"
#include "rc_log.h"

/* A listening socket on address a, or on `port` if it is not 0 (the port the first worker's
 * socket got): every worker has its own, SO_REUSEPORT spreads new connections over them. */
socklen_t rc_listen_sockaddr(const rc_cfg_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (a->family == RC_ADDR_IPV6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		memcpy(&s6->sin6_addr, a->addr, 16);
		return sizeof *s6;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(a->port);
	memcpy(&s4->sin_addr, a->addr, 4);
	return sizeof *s4;
}

static int listen_socket(const rc_cfg_addr *a, uint16_t port, char *text, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = rc_listen_sockaddr(a, &ss);
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
 * The index is the listener's place in the group, i.e. the order they were created in (a
 * takeover keeps it: worker i gets the old worker i's socket). */
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

/* Passed by systemd, or bound. Returns 0 or -1 (logged; what was made stays in l). */
static int activate_or_bind(rc_cfg *cfg, rc_listeners *l)
{
	if (rc_activate_take(cfg, &l->act) < 0)
		return -1;
	uint32_t n = l->n;
	uint32_t nl = l->act.ws_n > 0 ? shared(l->act.ws_fd, l->act.ws_n, l->act.ws_text, n, l->lfd,
	                                       l->addr, sizeof l->addr)
	                              : listeners(&cfg->listen, n, l->lfd, l->addr, sizeof l->addr);
	if (nl != n)
		return -1;
	uint32_t nt = l->act.tls_n > 0
	                      ? shared(l->act.tls_fd, l->act.tls_n, l->act.tls_text, n, l->tfd,
	                               l->tls_addr, sizeof l->tls_addr)
	                      : listeners(&cfg->tls_listen, n, l->tfd, l->tls_addr, sizeof l->tls_addr);
	if (nt != n)
		return -1;
	if (cfg->steer_by_cpu && (l->act.ws_n > 0 || l->act.tls_n > 0)) {
		rc_log(RC_LOG_WARN, "steer_by_cpu",
		       "note=\"activated listeners come from systemd: not steered\"");
		cfg->steer_by_cpu = false;
	}
	return 0;
}

int rc_listen_open(rc_cfg *cfg, uint32_t n, const int *cpu, bool pinned, rc_listeners *l)
{
	memset(l, 0, sizeof *l);
	l->n = n;
	l->handover = -1;
	snprintf(l->addr, sizeof l->addr, "off");
	snprintf(l->tls_addr, sizeof l->tls_addr, "off");
	for (uint32_t i = 0; i < RC_INTEREST_WORKERS_MAX; i++)
		l->lfd[i] = l->tfd[i] = -1;
	int taken = 0;
	if (cfg->takeover) {
		rc_handover_taken t;
		taken = rc_handover_take(cfg, n, &t);
		if (taken < 0)
			return -1;
		if (taken > 0) {
			memcpy(l->lfd, t.listen_fd, sizeof l->lfd);
			memcpy(l->tfd, t.tls_fd, sizeof l->tfd);
			snprintf(l->addr, sizeof l->addr, "%s", t.listen);
			snprintf(l->tls_addr, sizeof l->tls_addr, "%s", t.tls_listen);
			l->handover = t.conn;
			l->server_pid = t.server_pid;
		}
	}
	if (taken == 0 && activate_or_bind(cfg, l) < 0) {
		rc_listen_close(l);
		return -1;
	}
	bool ok = true;
	if (cfg->steer_by_cpu && !pinned) {
		rc_log(RC_LOG_ERROR, "steer_by_cpu",
		       "error=\"the workers are not pinned (the "
		       "affinity mask could not be read)\"");
		ok = false;
	} else if (cfg->steer_by_cpu) {
		/* taken over: the same program again (or another CPU list), for the same group */
		ok = (l->lfd[0] < 0 || steer_by_cpu(l->lfd[0], cpu, n) == 0) &&
		     (l->tfd[0] < 0 || steer_by_cpu(l->tfd[0], cpu, n) == 0);
	} else if (taken > 0) {
		/* the old server steered and this one does not: spread by hash again */
		int zero = 0;
		for (int i = 0; i < 2; i++) {
			int fd = i == 0 ? l->lfd[0] : l->tfd[0];
			if (fd >= 0)
				setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &zero, sizeof zero);
		}
	}
	if (!ok) {
		rc_listen_close(l);
		if (l->handover >= 0) /* the old server sees EOF and keeps serving */
			close(l->handover);
		l->handover = -1;
		return -1;
	}
	return 0;
}

void rc_listen_close(rc_listeners *l)
{
	/* an activated socket may be in several slots: each closed once, from act */
	for (uint32_t i = 0; l->act.ws_n == 0 && i < l->n; i++)
		if (l->lfd[i] >= 0)
			close(l->lfd[i]);
	for (uint32_t i = 0; l->act.tls_n == 0 && i < l->n; i++)
		if (l->tfd[i] >= 0)
			close(l->tfd[i]);
	for (uint32_t i = 0; i < l->act.ws_n; i++)
		close(l->act.ws_fd[i]);
	for (uint32_t i = 0; i < l->act.tls_n; i++)
		close(l->act.tls_fd[i]);
	for (uint32_t i = 0; i < RC_INTEREST_WORKERS_MAX; i++)
		l->lfd[i] = l->tfd[i] = -1;
	l->act.ws_n = l->act.tls_n = 0;
}
