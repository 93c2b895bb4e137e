#define _GNU_SOURCE
#include "rc_server.h"

#include <sched.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "rc_admin.h"
#include "rc_handover.h"
#include "rc_listen.h"
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
	rc_handover_ready(); /* a successor says READY now; successors may take over from us */
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
	/* drain as for a restart: stop accepting, then 1012 (net/rc_worker.c); raised by the takeover
	 * thread once a successor serves (rc_handover.h) */
	sigaddset(&set, SIGUSR2);
	/* accept again: the successor's last step of a takeover (rc_handover.h) */
	sigaddset(&set, SIGUSR1);
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
	rc_listeners l;
	if (rc_listen_open(&cfg, n, cpu, ncpus > 0, &l) < 0) {
		close(sfd);
		return 1;
	}
	rc_handover_offer offer = { .workers = n,
		                        .listen_fd = l.lfd,
		                        .tls_fd = l.tfd,
		                        .listen = l.addr,
		                        .tls_listen = l.tls_addr };
	int r = -1;
	bool ok = rc_admin_open(&cfg, n, slots) == 0; /* its own listener: a failure stops the start */
	if (!ok && l.handover >= 0)
		close(l.handover); /* the server we were taking over from sees EOF: it keeps serving */
	ok = ok && rc_handover_start(&cfg, &offer, l.handover, l.server_pid) == 0; /* takes it */
	if (ok) {
		if (cfg.publish_token[0] == '\0')
			rc_log(RC_LOG_WARN, "publish_open",
			       "note=\"no --publish-token: anyone may "
			       "publish\"");
		struct listening what = {
			.cfg = &cfg, .addr = l.addr, .tls_addr = l.tls_addr, .workers = n, .slots = slots
		};
		r = rc_threads_run(&cfg, n, l.lfd, l.tfd, cpu, sfd, slots, say_listening, &what);
	}
	/* a successor whose takeover failed after its start (no DONE) exits 1 */
	bool handover_failed = rc_handover_stop();
	rc_listen_close(&l);
	close(sfd);
	reload_release(); /* the JWT keys: no worker runs any more */
	rc_admin_stop();
	int status = r < 0 || handover_failed ? 1 : 0;
	rc_log(RC_LOG_INFO, "exit", "status=%d", status);
	return status;
}

int rc_server_reload_source(const rc_cfg *configured, int argc, char **argv, char *err,
                            size_t errlen)
{
	return reload_source(configured, argc, argv, err, errlen);
}
