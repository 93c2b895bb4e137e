/* rc_cfg_reload.c: what SIGHUP may change (rc_cfg_reload.h). */
#include "rc_cfg_reload.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* What a worker can take at the next loop turn: what it reads from the configuration each time
 * it uses it, or derives again on reload (net/rc_reload.c). Everything else sized something at
 * start: listeners, workers and CPUs, buffers and pools, tables, queues, history, mailboxes. */
static const char *const reloadable[] = {
	"tls-cert",
	"tls-key",
	"tls-min-version",
	"handshake-timeout-ms",
	"idle-timeout-ms",
	"write-timeout-ms",
	"close-timeout-ms",
	"drain-timeout-ms",
	"publish-token",
	"origins",
	"allow-no-origin",
	"log-level",
	"rate-msgs-per-s",
	"rate-bytes-per-s",
	"rate-commands-per-s",
	"rate-burst-ms",
	"rate-close-after-ms",
	"max-lifetime-ms",
	"accept-per-s",
	"ip-connections-max",
	"ip-connects-per-s",
	"ip-limits-loopback",
	"jwt-keys",
	"subscribe-token-topics",
};

bool rc_cfg_reloadable(const char *key)
{
	for (size_t i = 0; i < sizeof reloadable / sizeof reloadable[0]; i++)
		if (strcmp(reloadable[i], key) == 0)
			return true;
	return false;
}

/* Append name to a comma-separated list, as much of it as fits. */
static void list_add(char *list, const char *name)
{
	size_t n = strlen(list);
	snprintf(list + n, RC_CFG_RELOAD_KEYS_MAX - n, "%s%s", n > 0 ? "," : "", name);
}

int rc_cfg_reload(const rc_cfg *configured, const rc_cfg *running, int argc, char **argv,
                  char *const *envp, rc_cfg *out_configured, rc_cfg *out_running,
                  rc_cfg_reload_result *res, char *err, size_t errlen)
{
	assert(res != NULL && out_configured != configured && out_running != running);
	*res = (rc_cfg_reload_result){ 0 };
	*out_configured = *configured;
	*out_running = *running;
	rc_cfg fresh;
	rc_cfg_defaults(&fresh);
	int r = rc_cfg_load(&fresh, argc, argv, envp, err, errlen);
	if (r < 0)
		return -EINVAL;
	if (r != RC_CFG_RUN) { /* --help or --version: cannot be, the server started without */
		snprintf(err, errlen, "the command line no longer asks to serve");
		return -EINVAL;
	}
	char a[2 * RC_CFG_ORIGINS_BYTES], b[2 * RC_CFG_ORIGINS_BYTES];
	for (size_t i = 0; i < rc_cfg_key_count(); i++) {
		const char *key = rc_cfg_key_name(i);
		if (rc_cfg_get(configured, key, a, sizeof a) < 0 ||
		    rc_cfg_get(&fresh, key, b, sizeof b) < 0 || strcmp(a, b) == 0)
			continue;
		if (!rc_cfg_reloadable(key)) {
			res->refused++;
			list_add(res->refused_keys, key);
			continue;
		}
		if (rc_cfg_set(out_configured, key, b, err, errlen) < 0 ||
		    rc_cfg_set(out_running, key, b, err, errlen) < 0)
			goto bad;
		res->changed++;
		list_add(res->changed_keys, key);
	}
	if (rc_cfg_validate(out_configured, err, errlen) < 0 ||
	    rc_cfg_validate(out_running, err, errlen) < 0)
		goto bad;
	return 0;
bad:
	*out_configured = *configured;
	*out_running = *running;
	*res = (rc_cfg_reload_result){ 0 };
	return -EINVAL;
}
