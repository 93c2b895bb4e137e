/* Tests of rc_cfg_reload: reloadable keys changed in the file take their new value in both the
 * configured and the running configuration; keys that need a restart keep the old value and are
 * named; a key on the command line keeps its value whatever the file says; start-up adjustments
 * of the running configuration survive; a file that does not parse, or a value that does not
 * validate, changes nothing and says why. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rc_cfg.h"
#include "rc_cfg_reload.h"

static char path[64];
static char *noenv[] = { NULL };

static void write_conf(const char *text)
{
	if (path[0] == '\0') {
		strcpy(path, "/tmp/rc-reload-XXXXXX");
		int fd = mkstemp(path);
		cr_assert_geq(fd, 0);
		close(fd);
	}
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static void start(rc_cfg *c, int argc, char **argv)
{
	char err[RC_CFG_ERR_MAX];
	rc_cfg_defaults(c);
	cr_assert_eq(rc_cfg_load(c, argc, argv, noenv, err, sizeof err), RC_CFG_RUN, "%s", err);
}

static void value(const rc_cfg *c, const char *key, const char *want)
{
	char out[4096];
	cr_assert_geq(rc_cfg_get(c, key, out, sizeof out), 0);
	cr_assert_str_eq(out, want, "%s", key);
}

Test(cfg_reload, reloadable_keys_change_others_are_named)
{
	write_conf("rate-msgs-per-s = 500\nlog-level = info\nworkers = 2\n");
	char *argv[] = { "ringcast", "--config", path, NULL };
	rc_cfg configured, running, c2, r2;
	start(&configured, 3, argv);
	running = configured;
	running.max_connections = 77; /* as if lowered to the descriptor limit at start */
	write_conf("rate-msgs-per-s = 900\nlog-level = debug\nworkers = 4\n"
	           "publish-token = s3cret\nbuffer-size-bytes = 32K\n");
	rc_cfg_reload_result res;
	char err[RC_CFG_ERR_MAX];
	cr_assert_eq(
	        rc_cfg_reload(&configured, &running, 3, argv, noenv, &c2, &r2, &res, err, sizeof err),
	        0, "%s", err);
	cr_assert_eq(res.changed, 3);
	cr_assert_str_eq(res.changed_keys, "publish-token,rate-msgs-per-s,log-level"); /* table order */
	cr_assert_eq(res.refused, 2);
	cr_assert_str_eq(res.refused_keys, "buffer-size-bytes,workers");
	value(&r2, "rate-msgs-per-s", "900");
	value(&c2, "rate-msgs-per-s", "900");
	value(&r2, "log-level", "debug");
	value(&r2, "publish-token", "s3cret");
	value(&r2, "workers", "2");
	value(&c2, "workers", "2");
	value(&r2, "buffer-size-bytes", "65536");
	cr_assert_eq(r2.max_connections, 77, "start-up adjustments stay");
	/* reloading the same file again changes nothing more, and names the same refusals */
	rc_cfg c3, r3;
	cr_assert_eq(rc_cfg_reload(&c2, &r2, 3, argv, noenv, &c3, &r3, &res, err, sizeof err), 0);
	cr_assert_eq(res.changed, 0);
	cr_assert_eq(res.refused, 2);
	unlink(path);
}

Test(cfg_reload, the_command_line_still_wins)
{
	write_conf("idle-timeout-ms = 1000\n");
	char *argv[] = { "ringcast", "--config", path, "--idle-timeout-ms", "5000", NULL };
	rc_cfg configured, c2, r2;
	start(&configured, 5, argv);
	write_conf("idle-timeout-ms = 2000\n");
	rc_cfg_reload_result res;
	char err[RC_CFG_ERR_MAX];
	cr_assert_eq(rc_cfg_reload(&configured, &configured, 5, argv, noenv, &c2, &r2, &res, err,
	                           sizeof err),
	             0);
	cr_assert_eq(res.changed, 0);
	value(&r2, "idle-timeout-ms", "5000");
	unlink(path);
}

Test(cfg_reload, a_bad_file_changes_nothing)
{
	write_conf("rate-msgs-per-s = 500\n");
	char *argv[] = { "ringcast", "--config", path, NULL };
	rc_cfg configured, c2, r2;
	start(&configured, 3, argv);
	rc_cfg_reload_result res;
	char err[RC_CFG_ERR_MAX];
	const char *bad[] = { "rate-msgs-per-s = 700\nrate-msgs-per-s = 800\n",
		                  "rate-msgs-per-s = many\n", "no-such-key = 1\n",
		                  "rate-msgs-per-s = 700\nlog-level = loud\n" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_conf(bad[i]);
		err[0] = '\0';
		cr_assert_eq(rc_cfg_reload(&configured, &configured, 3, argv, noenv, &c2, &r2, &res, err,
		                           sizeof err),
		             -EINVAL, "%s", bad[i]);
		cr_assert_neq(err[0], '\0', "a reason for %s", bad[i]);
		cr_assert_str_neq(strstr(err, path) ? "" : "x", "x", "the file is named: %s", err);
		value(&r2, "rate-msgs-per-s", "500");
		cr_assert_eq(res.changed + res.refused, 0);
	}
	unlink(path);
	/* a file that is gone */
	cr_assert_eq(rc_cfg_reload(&configured, &configured, 3, argv, noenv, &c2, &r2, &res, err,
	                           sizeof err),
	             -EINVAL);
	cr_assert(strstr(err, path) != NULL, "%s", err);
}

Test(cfg_reload, reloadable_names)
{
	cr_assert(rc_cfg_reloadable("tls-cert"));
	cr_assert(rc_cfg_reloadable("ip-connections-max"));
	cr_assert_not(rc_cfg_reloadable("listen"));
	cr_assert_not(rc_cfg_reloadable("pool-buffers"));
	cr_assert_not(rc_cfg_reloadable("handshakes-max"));
	cr_assert_not(rc_cfg_reloadable("nonsense"));
	for (size_t i = 0; i < rc_cfg_key_count(); i++)
		(void)rc_cfg_reloadable(rc_cfg_key_name(i));
}
