/* ringcast: the server. `ringcast --help` lists every setting; docs/operations.md explains them. */
#include <stdio.h>
#include <stdlib.h>

#include "rc_cfg.h"
#include "rc_log.h"
#include "rc_server.h"

#ifndef RC_VERSION
#define RC_VERSION "0.1.0"
#endif

int main(int argc, char **argv)
{
	rc_cfg cfg;
	char err[RC_CFG_ERR_MAX];
	rc_cfg_defaults(&cfg);
	int r = rc_cfg_parse_args(&cfg, argc, argv, err, sizeof err);
	if (r < 0) {
		fprintf(stderr, "ringcast: %s\n(try ringcast --help)\n", err);
		return 2;
	}
	if (r == RC_CFG_HELP) {
		rc_cfg_usage(stdout, "ringcast");
		return 0;
	}
	if (r == RC_CFG_VERSION) {
		printf("ringcast %s\n", RC_VERSION);
		return 0;
	}
	rc_log_init(stderr, cfg.log_level);
	rc_log(RC_LOG_INFO, "start", "version=%s", RC_VERSION);
	/* SIGHUP reads the same sources again; the JWT keys are loaded here */
	char kerr[RC_CFG_ERR_MAX + RC_CFG_PATH_MAX];
	if (rc_server_reload_source(&cfg, argc, argv, kerr, sizeof kerr) < 0) {
		rc_log(RC_LOG_ERROR, "jwt_keys", "error=\"%s\"", kerr);
		return 1;
	}
	return rc_server_run(&cfg);
}
