/* rc_activate.c: systemd socket activation (rc_activate.h). */
#define _GNU_SOURCE
#include "rc_activate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rc_log.h"

#define FIRST_FD 3 /* SD_LISTEN_FDS_START */

bool rc_activate_listener_addr(int fd, rc_cfg_addr *a)
{
	int type = 0, acc = 0;
	socklen_t l = sizeof type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0 || type != SOCK_STREAM)
		return false;
	l = sizeof acc;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) != 0 || !acc)
		return false;
	struct sockaddr_storage ss;
	l = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &l) != 0)
		return false;
	memset(a, 0, sizeof *a);
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&ss;
		a->family = RC_ADDR_IPV4;
		a->port = ntohs(s->sin_port);
		memcpy(a->addr, &s->sin_addr, 4);
		return true;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&ss;
		a->family = RC_ADDR_IPV6;
		a->port = ntohs(s->sin6_port);
		memcpy(a->addr, &s->sin6_addr, 16);
		return true;
	}
	return false;
}

bool rc_activate_addr_matches(const rc_cfg_addr *want, const rc_cfg_addr *got)
{
	return want->family == got->family && memcmp(want->addr, got->addr, 16) == 0 &&
	       (want->port == 0 || want->port == got->port);
}

/* The i-th name of LISTEN_FDNAMES into out ("" if there is none). */
static void name_of(const char *names, unsigned i, char *out, size_t cap)
{
	out[0] = '\0';
	for (const char *p = names; p != NULL && *p != '\0'; i--) {
		size_t n = strcspn(p, ":");
		if (i == 0) {
			if (n < cap) {
				memcpy(out, p, n);
				out[n] = '\0';
			}
			return;
		}
		p += n + (p[n] == ':');
	}
}

static int fail(rc_activated *out, int fd, const char *why, const char *detail)
{
	rc_log(RC_LOG_ERROR, "socket_activation", "fd=%d error=\"%s\" detail=\"%s\"", fd, why, detail);
	for (unsigned i = 0; i < out->ws_n; i++)
		close(out->ws_fd[i]);
	for (unsigned i = 0; i < out->tls_n; i++)
		close(out->tls_fd[i]);
	out->ws_n = out->tls_n = 0;
	return -1;
}

int rc_activate_take(const rc_cfg *cfg, rc_activated *out)
{
	memset(out, 0, sizeof *out);
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	char *end;
	long n = strtol(fds, &end, 10);
	char names[1024] = "";
	const char *nm = getenv("LISTEN_FDNAMES");
	if (nm != NULL && strlen(nm) < sizeof names)
		strcpy(names, nm);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (*end != '\0' || n < 1 || n > RC_ACTIVATE_MAX)
		return fail(out, -1, "LISTEN_FDS is not a count of 1 to 16", fds);
	out->count = (unsigned)n;
	for (unsigned i = 0; i < (unsigned)n; i++) {
		int fd = FIRST_FD + (int)i;
		rc_cfg_addr a;
		if (!rc_activate_listener_addr(fd, &a))
			return fail(out, fd, "not a listening TCP socket",
			            "systemd passes what the "
			            ".socket unit says");
		char name[64];
		name_of(names, i, name, sizeof name);
		bool ws = strcmp(name, "ws") == 0, wss = strcmp(name, "wss") == 0;
		if (!ws && !wss) { /* no name of ours: by address */
			ws = cfg->listen.family != RC_ADDR_NONE && rc_activate_addr_matches(&cfg->listen, &a);
			wss = !ws && cfg->tls_listen.family != RC_ADDR_NONE &&
			      rc_activate_addr_matches(&cfg->tls_listen, &a);
		}
		char text[RC_CFG_ADDR_TEXT_MAX];
		rc_cfg_addr_format(&a, text, sizeof text);
		if (!ws && !wss)
			return fail(out, fd, "matches neither listen nor tls-listen (name it ws or wss)", text);
		if ((ws && cfg->listen.family == RC_ADDR_NONE) ||
		    (wss && cfg->tls_listen.family == RC_ADDR_NONE))
			return fail(out, fd, "passed for a listener configured off", text);
		unsigned *k = ws ? &out->ws_n : &out->tls_n;
		char *seen = ws ? out->ws_text : out->tls_text;
		if (*k > 0 && strcmp(seen, text) != 0)
			return fail(out, fd, "another address than the listener's first socket", text);
		(ws ? out->ws_fd : out->tls_fd)[(*k)++] = fd;
		strcpy(seen, text);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	rc_log(RC_LOG_INFO, "socket_activation",
	       "fds=%ld listen=%s listen_sockets=%u tls_listen=%s tls_listen_sockets=%u", n,
	       out->ws_n ? out->ws_text : "not_passed", out->ws_n,
	       out->tls_n ? out->tls_text : "not_passed", out->tls_n);
	return 0;
}
