/* send-bench: the command line, the matrices of configurations and the output (send.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "send.h"

const char *const mode_names[] = { "iovec", "staging", "send", "zc" };

/* --- output ----------------------------------------------------------------------------------- */

static double per(uint64_t n, double s)
{
	return s > 0 ? (double)n / s : 0;
}

static void print_human(const struct config *cfg, const struct result *r)
{
	double cpu = r->user_s + r->sys_s;
	char what[64];
	if (cfg->mode == MODE_IOVEC || cfg->mode == MODE_STAGING)
		snprintf(what, sizeof what, "%u B x %u", cfg->frame_bytes, cfg->batch);
	else
		snprintf(what, sizeof what, "%zu B", cfg->send_bytes);
	fprintf(stderr, "%-7s %-12s conns %u %s%s: ", mode_names[cfg->mode], what, cfg->conns,
	        cfg->fixed_files ? "direct-fds" : "plain-fds", cfg->fixed_buf ? " fixed-buf" : "");
	if (r->err) {
		fprintf(stderr, "FAILED in %s: %s\n", r->what ? r->what : "?", strerror(-r->err));
		return;
	}
	fprintf(stderr,
	        "%7.3fM frames/s, %7.3fM frames/CPU-s, %8.1f MB/s, %8.1f MB/CPU-s, "
	        "cpu %.2f/%.2f s, "
	        "cpu%d busy %.2f s, rx cpu %.2f s, %llu short%s\n",
	        per(r->ctr.frames, r->wall_s) / 1e6, per(r->ctr.frames, cpu) / 1e6,
	        per(r->ctr.bytes, r->wall_s) / 1e6, per(r->ctr.bytes, cpu) / 1e6, cpu, r->wall_s,
	        cfg->cpu, r->cpu_busy_s, r->rx_cpu_s, (unsigned long long)r->ctr.short_sends,
	        cfg->mode == MODE_ZC ? (r->ctr.zc_copied == r->ctr.notifs ? ", zc: all copied"
	                                                                  : ", zc: not all copied")
	                             : "");
}

static void print_json(const struct config *cfg, const struct result *r)
{
	double cpu = r->user_s + r->sys_s;
	printf("{\"mode\":\"%s\",\"frame_bytes\":%u,\"batch\":%u,\"send_bytes\":%zu,\"conns\":%u,"
	       "\"fixed_files\":%s,\"fixed_buf\":%s,\"ring\":\"%s\",\"cpu\":%d,\"rx_cpu\":%d,",
	       mode_names[cfg->mode], cfg->mode <= MODE_STAGING ? cfg->frame_bytes : 0,
	       cfg->mode <= MODE_STAGING ? cfg->batch : 1,
	       cfg->mode <= MODE_STAGING ? (size_t)cfg->batch * cfg->frame_bytes : cfg->send_bytes,
	       cfg->conns, cfg->fixed_files ? "true" : "false", cfg->fixed_buf ? "true" : "false",
	       r->ring_flags ? r->ring_flags : "", cfg->cpu, cfg->rx_cpu);
	if (r->err) {
		printf("\"error\":\"%s: %s\",\"errno\":%d}\n", r->what ? r->what : "?", strerror(-r->err),
		       -r->err);
		fflush(stdout);
		return;
	}
	printf("\"wall_s\":%.4f,\"sender_cpu_s\":%.4f,\"sender_user_s\":%.4f,\"sender_sys_s\":%.4f,"
	       "\"cpu_busy_s\":%.2f,\"rx_cpu_s\":%.4f,\"frames\":%llu,\"sends\":%llu,"
	       "\"short_sends\":%llu,\"bytes\":%llu,"
	       "\"rx_bytes\":%llu,\"zc_notifs\":%llu,\"zc_copied\":%llu,"
	       "\"frames_per_s\":%.0f,\"frames_per_cpu_s\":%.0f,\"bytes_per_s\":%.0f,"
	       "\"bytes_per_cpu_s\":%.0f,\"error\":null}\n",
	       r->wall_s, cpu, r->user_s, r->sys_s, r->cpu_busy_s, r->rx_cpu_s,
	       (unsigned long long)r->ctr.frames, (unsigned long long)r->ctr.sends,
	       (unsigned long long)r->ctr.short_sends, (unsigned long long)r->ctr.bytes,
	       (unsigned long long)r->rx_bytes, (unsigned long long)r->ctr.notifs,
	       (unsigned long long)r->ctr.zc_copied, per(r->ctr.frames, r->wall_s),
	       per(r->ctr.frames, cpu), per(r->ctr.bytes, r->wall_s), per(r->ctr.bytes, cpu));
	fflush(stdout);
}

/* --- the matrices ----------------------------------------------------------------------------- */

/* Runs cfg, prints it, and returns 1 if it failed. */
static int run_and_print(const struct config *cfg)
{
	struct result r;
	run_config(cfg, &r);
	print_human(cfg, &r);
	print_json(cfg, &r);
	return r.err != 0;
}

static const unsigned batching_sizes[] = { 32, 64, 128, 256, 512 };
static const unsigned batching_batches[] = { 1, 8, 32, 128 };
static const size_t zc_sizes[] = { 1024, 4096, 16384, 65536, 262144, 1048576 };
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Question 1. For each point the two modes run back to back, so drifting load hits both. */
static int matrix_batching(struct config base)
{
	int failed = 0;
	for (size_t i = 0; i < COUNT(batching_sizes); i++) {
		for (size_t j = 0; j < COUNT(batching_batches); j++) {
			struct config c = base;
			c.frame_bytes = batching_sizes[i];
			c.batch = batching_batches[j];
			c.mode = MODE_STAGING;
			failed += run_and_print(&c);
			c.mode = MODE_IOVEC;
			failed += run_and_print(&c);
		}
	}
	return failed;
}

/* Question 2. */
static int matrix_zc(struct config base)
{
	int failed = 0;
	for (size_t i = 0; i < COUNT(zc_sizes); i++) {
		struct config c = base;
		c.send_bytes = zc_sizes[i];
		c.mode = MODE_SEND;
		failed += run_and_print(&c);
		c.mode = MODE_ZC;
		failed += run_and_print(&c);
	}
	return failed;
}

/* Question 3: each point with and without the registered resource, back to back. */
static int matrix_registered(struct config base)
{
	static const struct {
		enum mode mode;
		unsigned frame_bytes, batch;
		size_t send_bytes;
		bool buf; /* also compare registered buffers */
	} points[] = {
		{ MODE_STAGING, 64, 1, 0, false },  { MODE_STAGING, 64, 32, 0, true },
		{ MODE_SEND, 0, 0, 4096, true },    { MODE_SEND, 0, 0, 65536, true },
		{ MODE_SEND, 0, 0, 1048576, true }, { MODE_ZC, 0, 0, 4096, true },
		{ MODE_ZC, 0, 0, 65536, true },     { MODE_ZC, 0, 0, 1048576, true },
	};
	int failed = 0;
	for (size_t i = 0; i < COUNT(points); i++) {
		struct config c = base;
		c.mode = points[i].mode;
		if (points[i].batch) {
			c.frame_bytes = points[i].frame_bytes;
			c.batch = points[i].batch;
		} else {
			c.send_bytes = points[i].send_bytes;
		}
		c.fixed_buf = false;
		c.fixed_files = true;
		failed += run_and_print(&c);
		c.fixed_files = false;
		failed += run_and_print(&c);
		if (points[i].buf) {
			c.fixed_files = true;
			c.fixed_buf = true;
			failed += run_and_print(&c);
		}
	}
	return failed;
}

/* --- command line ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: send-bench [options]\n"
	        "  --mode iovec|staging|send|zc  what one send is (default staging)\n"
	        "  --frame-size N    bytes per frame, iovec and staging (default 64, at most %u)\n"
	        "  --batch N         frames per send, iovec and staging (default 32, at most %u)\n"
	        "  --size N[k|m]     bytes per send, send and zc (default 64k, at most 16m)\n"
	        "  -c, --conns N     loopback TCP connections (default 64)\n"
	        "  -d, --duration S  measured seconds (default 3)\n"
	        "  --warmup S        seconds before measuring (default 0.5)\n"
	        "  --cpu N           CPU of the sender (default 0)\n"
	        "  --rx-cpu N        CPU of the receiver (default 1)\n"
	        "  --plain-fds       plain fds instead of direct descriptors\n"
	        "  --fixed-buf       registered buffers (RECVSEND_FIXED_BUF), not with iovec\n"
	        "  --matrix batching|zc|registered|all   run a question's whole matrix\n"
	        "  --all             the same as --matrix all\n"
	        "One line per configuration on stderr, one JSON object per configuration on\n"
	        "stdout.\n",
	        FRAME_SLOT_BYTES / 2, BATCH_MAX);
}

/* Parses an unsigned number with an optional k or m suffix (powers of 1024) into *out, if it is
 * within [min, max]. Returns 0 or -EINVAL. */
static int parse_size(const char *arg, size_t min, size_t max, size_t *out)
{
	char *end;
	unsigned long long v;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg)
		return -EINVAL;
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	if (*end || v < min || v > max)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

static int parse_unsigned(const char *arg, unsigned min, unsigned max, unsigned *out)
{
	size_t v;
	int err = parse_size(arg, min, max, &v);
	if (!err)
		*out = (unsigned)v;
	return err;
}

static int parse_seconds(const char *arg, double min, double *out)
{
	char *end;
	double v = strtod(arg, &end);
	if (end == arg || *end || !(v >= min) || v > 3600)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_mode(const char *arg, enum mode *out)
{
	for (size_t i = 0; i < COUNT(mode_names); i++) {
		if (!strcmp(arg, mode_names[i])) {
			*out = (enum mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Checks what a single configuration needs. Returns NULL or what is wrong. */
static const char *config_check(const struct config *cfg)
{
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (cfg->cpu >= ncpu || cfg->rx_cpu >= ncpu)
		return "--cpu and --rx-cpu must name online CPUs";
	if (cfg->mode <= MODE_STAGING && (size_t)cfg->batch * cfg->frame_bytes > STAGING_BYTES)
		return "--batch x --frame-size must fit the 64 KiB staging buffer";
	if (cfg->mode == MODE_IOVEC && cfg->fixed_buf)
		return "--fixed-buf does not apply to sendmsg (--mode iovec)";
	return NULL;
}

enum {
	OPT_MODE = 256,
	OPT_FRAME,
	OPT_BATCH,
	OPT_SIZE,
	OPT_CONNS,
	OPT_DURATION,
	OPT_WARMUP,
	OPT_CPU,
	OPT_RX_CPU,
	OPT_PLAIN_FDS,
	OPT_FIXED_BUF,
	OPT_MATRIX,
	OPT_ALL,
	OPT_HELP
};

static const struct option long_opts[] = {
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "frame-size", required_argument, NULL, OPT_FRAME },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "conns", required_argument, NULL, OPT_CONNS },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "cpu", required_argument, NULL, OPT_CPU },
	{ "rx-cpu", required_argument, NULL, OPT_RX_CPU },
	{ "plain-fds", no_argument, NULL, OPT_PLAIN_FDS },
	{ "fixed-buf", no_argument, NULL, OPT_FIXED_BUF },
	{ "matrix", required_argument, NULL, OPT_MATRIX },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static int parse_cpu(const char *arg, int *out)
{
	unsigned v;
	int err = parse_unsigned(arg, 0, CPU_SETSIZE - 1, &v);
	if (!err)
		*out = (int)v;
	return err;
}

static const char *option_name(int opt)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

/* Applies one option to cfg (or *matrix). Returns 0 or -EINVAL. */
static int apply_option(int opt, const char *arg, struct config *cfg, const char **matrix)
{
	switch (opt) {
	case OPT_MODE:
		return parse_mode(arg, &cfg->mode);
	case OPT_FRAME:
		return parse_unsigned(arg, 1, FRAME_SLOT_BYTES / 2, &cfg->frame_bytes);
	case OPT_BATCH:
		return parse_unsigned(arg, 1, BATCH_MAX, &cfg->batch);
	case OPT_SIZE:
		return parse_size(arg, 1, SEND_BYTES_MAX, &cfg->send_bytes);
	case OPT_CONNS:
		return parse_unsigned(arg, 1, CONNS_MAX, &cfg->conns);
	case OPT_DURATION:
		return parse_seconds(arg, 0.1, &cfg->duration_s);
	case OPT_WARMUP:
		return parse_seconds(arg, 0, &cfg->warmup_s);
	case OPT_CPU:
		return parse_cpu(arg, &cfg->cpu);
	case OPT_RX_CPU:
		return parse_cpu(arg, &cfg->rx_cpu);
	case OPT_PLAIN_FDS:
		cfg->fixed_files = false;
		return 0;
	case OPT_FIXED_BUF:
		cfg->fixed_buf = true;
		return 0;
	case OPT_MATRIX:
		*matrix = arg;
		return 0;
	case OPT_ALL:
		*matrix = "all";
		return 0;
	default:
		return -EINVAL;
	}
}

static int run_matrix(const char *name, const struct config *base)
{
	bool all = !strcmp(name, "all");
	int failed = 0;
	if (all || !strcmp(name, "batching"))
		failed += matrix_batching(*base);
	if (all || !strcmp(name, "zc"))
		failed += matrix_zc(*base);
	if (all || !strcmp(name, "registered"))
		failed += matrix_registered(*base);
	return failed;
}

int main(int argc, char **argv)
{
	struct config cfg = { .mode = MODE_STAGING,
		                  .frame_bytes = 64,
		                  .batch = 32,
		                  .send_bytes = 64 * 1024,
		                  .conns = 64,
		                  .duration_s = 3.0,
		                  .warmup_s = 0.5,
		                  .cpu = 0,
		                  .rx_cpu = 1,
		                  .fixed_files = true };
	const char *matrix = NULL, *bad;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:d:", long_opts, NULL)) != -1) {
		opt = opt == 'c' ? OPT_CONNS : opt == 'd' ? OPT_DURATION : opt;
		if (opt == OPT_HELP) {
			usage(stdout);
			return 0;
		}
		if (opt == '?' || apply_option(opt, optarg, &cfg, &matrix)) {
			if (opt != '?')
				fprintf(stderr, "send-bench: bad value '%s' for --%s\n", optarg, option_name(opt));
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || (matrix && strcmp(matrix, "all") && strcmp(matrix, "batching") &&
	                      strcmp(matrix, "zc") && strcmp(matrix, "registered"))) {
		usage(stderr);
		return 2;
	}
	if ((bad = config_check(&cfg))) {
		fprintf(stderr, "send-bench: %s\n", bad);
		return 2;
	}
	/* The sender is this thread: pin it before any ring is made, so its owner never moves. */
	if (pin_thread(pthread_self(), cfg.cpu) < 0)
		fprintf(stderr, "send-bench: cannot pin the sender to CPU %d\n", cfg.cpu);
	if (matrix)
		return run_matrix(matrix, &cfg) ? 1 : 0;
	return run_and_print(&cfg);
}
