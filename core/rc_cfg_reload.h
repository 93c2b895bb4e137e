/* rc_cfg_reload: the configuration read again at SIGHUP, and what of it may change without a
 * restart.
 *
 * The new configuration comes from the same sources as at start, in the same order (defaults <
 * config file < RINGCAST_* environment < command line), so a key given on the command line keeps
 * its value whatever the file now says: only the file can have changed. Of the keys whose value
 * differs, the reloadable ones (rc_cfg_reloadable: certificates, tokens and keys, limits,
 * timeouts, origins, the log level) take the new value; every other one (addresses, workers,
 * memory sizes, tables: what the server sized itself by at start) keeps the old value and is
 * named in the result, for a log line. A file that does not parse or validate changes nothing.
 */
#ifndef RC_CFG_RELOAD_H
#define RC_CFG_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_cfg.h"

#define RC_CFG_RELOAD_KEYS_MAX 1024 /* bytes of each list of key names in a result */

typedef struct rc_cfg_reload_result {
	uint32_t changed; /* reloadable keys whose value changed: out has the new value */
	uint32_t refused; /* keys whose value changed but needs a restart: out has the old value */
	char changed_keys[RC_CFG_RELOAD_KEYS_MAX]; /* their names, comma-separated ("" if none) */
	char refused_keys[RC_CFG_RELOAD_KEYS_MAX];
} rc_cfg_reload_result;

/* True if key may change while the server runs. */
bool rc_cfg_reloadable(const char *key);

/* The two configurations a server keeps: `configured`, what its sources said (at start, or at the
 * last reload), and `running`, what it runs with (the same, after start-up adjustments such as
 * max-connections lowered to the descriptor limit). The keys whose value the sources now give
 * differently from `configured`, the reloadable ones, are set in both: into *out_configured and
 * *out_running (copies of the two). argc/argv are the command line the server started with, envp
 * its environment. Returns 0 (res filled; both outputs valid), or -EINVAL if the sources do not
 * parse or validate (err says why, as at start; the outputs are the inputs unchanged). */
int rc_cfg_reload(const rc_cfg *configured, const rc_cfg *running, int argc, char **argv,
                  char *const *envp, rc_cfg *out_configured, rc_cfg *out_running,
                  rc_cfg_reload_result *res, char *err, size_t errlen);

#endif
