/* cli_state: the topics `ringcast-cli sub` follows, where each one is, and the --state file that
 * keeps it between runs (cli.h; the format is in docs/cli.md, "The state file").
 *
 * A topic's position is the pair the server numbers it with (docs/protocol.md 6.5): the epoch
 * (which numbering: a recreated topic or a restarted server starts a new one) and the number of
 * the last message delivered to the user. A subscribe can ask to resume from it, and the server
 * then replays what its history holds after it, or says it cannot (a reset notice).
 *
 * The file, one topic a line, sorted by name:
 *
 *     # ringcast-cli state: TOPIC EPOCH SEQ a line (docs/cli.md)
 *     BTC-USD 5f1c0a2e9b3d4c71 1042
 *     ETH-USD - 17
 *
 * EPOCH is 16 lowercase hex digits, or "-" when the server did not say (a server without
 * history: then SEQ is kept but cannot be resumed from). '#' lines and empty lines are ignored.
 * Topics of the file that the command line does not name are kept as they are, so a run on some
 * of the topics loses nothing of the others.
 *
 * Writing is atomic: the whole file goes to FILE.tmp, which is fsync'd and renamed over FILE (and
 * the folder fsync'd), so a crash leaves the old file or the new one, never half of one. The
 * topics are few (the command line's), so a sorted array with binary search is all the index
 * they need.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define STATE_LINE_MAX 512
#define STATE_HEADER "# ringcast-cli state: TOPIC EPOCH SEQ a line (docs/cli.md)\n"

/* ---- the topics ---- */

static int cmp_name(const uint8_t *a, size_t an, const struct cli_topic *t)
{
	size_t n = an < t->len ? an : t->len;
	int c = memcmp(a, t->name, n);
	if (c != 0)
		return c;
	return an < t->len ? -1 : an > t->len;
}

/* The index of name in ts, or of where it would go; *found says which. */
static size_t topics_search(const struct cli_topics *ts, const uint8_t *name, size_t len,
                            bool *found)
{
	size_t lo = 0, hi = ts->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_name(name, len, &ts->v[mid]);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*found = false;
	return lo;
}

struct cli_topic *cli_topics_find(const struct cli_topics *ts, const uint8_t *name, size_t len)
{
	bool found;
	size_t i = topics_search(ts, name, len, &found);
	return found ? &ts->v[i] : NULL;
}

struct cli_topic *cli_topics_add(struct cli_topics *ts, const char *name, size_t len, bool wanted)
{
	bool found;
	size_t i = topics_search(ts, (const uint8_t *)name, len, &found);
	if (found) {
		ts->v[i].wanted = ts->v[i].wanted || wanted;
		return &ts->v[i];
	}
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 16;
		struct cli_topic *v = realloc(ts->v, cap * sizeof *v);
		if (v == NULL)
			return NULL;
		ts->v = v;
		ts->cap = cap;
	}
	memmove(&ts->v[i + 1], &ts->v[i], (ts->n - i) * sizeof *ts->v);
	ts->n++;
	struct cli_topic *t = &ts->v[i];
	memset(t, 0, sizeof *t);
	memcpy(t->name, name, len);
	t->len = (uint8_t)len;
	t->wanted = wanted;
	return t;
}

void cli_topics_free(struct cli_topics *ts)
{
	free(ts->v);
	memset(ts, 0, sizeof *ts);
}

/* ---- reading ---- */

static bool parse_hex64(const char *s, size_t n, uint64_t *out)
{
	if (n != RC_APP_EPOCH_HEX)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

static bool parse_dec64(const char *s, size_t n, uint64_t *out)
{
	if (n == 0 || n > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* One line "TOPIC EPOCH SEQ" (no newline) into ts. Returns NULL, or what is wrong with it. */
static const char *state_line(struct cli_topics *ts, const char *line)
{
	const char *f[3];
	size_t fl[3], nf = 0;
	for (const char *p = line; *p != 0;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == 0)
			break;
		if (nf == 3)
			return "more than three fields (expected TOPIC EPOCH SEQ)";
		f[nf] = p;
		fl[nf] = strcspn(p, " \t");
		p += fl[nf++];
	}
	if (nf != 3)
		return "fewer than three fields (expected TOPIC EPOCH SEQ)";
	if (!rc_app_topic_valid((const uint8_t *)f[0], fl[0]))
		return "not a topic name (1-128 bytes of A-Z a-z 0-9 . _ - : / @)";
	uint64_t epoch = 0, seq;
	bool has_epoch = !(fl[1] == 1 && f[1][0] == '-');
	if (has_epoch && !parse_hex64(f[1], fl[1], &epoch))
		return "EPOCH is not 16 lowercase hex digits or '-'";
	if (!parse_dec64(f[2], fl[2], &seq))
		return "SEQ is not a decimal number below 2^64";
	const struct cli_topic *old = cli_topics_find(ts, (const uint8_t *)f[0], fl[0]);
	if (old != NULL && old->has_seq)
		return "a second line for this topic";
	struct cli_topic *t = cli_topics_add(ts, f[0], fl[0], false);
	if (t == NULL)
		return "out of memory";
	t->has_seq = true;
	t->seq = seq;
	t->has_epoch = has_epoch;
	t->epoch = epoch;
	return NULL;
}

int cli_state_load(struct cli_topics *ts, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0; /* the first run */
		snprintf(err, errlen, "--state %s: %s", path, strerror(errno));
		return -1;
	}
	char line[STATE_LINE_MAX];
	unsigned no = 0;
	const char *why = NULL;
	while (why == NULL && fgets(line, sizeof line, f) != NULL) {
		no++;
		size_t n = strlen(line);
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = 0;
		else if (!feof(f))
			why = "line too long";
		if (why == NULL && n > 0 && line[0] != '#')
			why = state_line(ts, line);
	}
	if (why == NULL && ferror(f))
		why = strerror(errno);
	fclose(f);
	if (why != NULL) {
		snprintf(err, errlen, "--state %s:%u: %s (fix or remove the file)", path, no, why);
		return -1;
	}
	return 0;
}

/* ---- writing ---- */

/* fsync the folder holding path, so that the rename is on disk too. */
static void sync_dir(const char *path)
{
	char copy[4096];
	snprintf(copy, sizeof copy, "%s", path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

static int write_topics(FILE *f, const struct cli_topics *ts)
{
	fputs(STATE_HEADER, f);
	for (size_t i = 0; i < ts->n; i++) {
		const struct cli_topic *t = &ts->v[i];
		if (!t->has_seq)
			continue;
		if (t->has_epoch)
			fprintf(f, "%s %016llx %llu\n", t->name, (unsigned long long)t->epoch,
			        (unsigned long long)t->seq);
		else
			fprintf(f, "%s - %llu\n", t->name, (unsigned long long)t->seq);
	}
	return fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0 ? 0 : -1;
}

int cli_state_save(struct cli_topics *ts, const char *path, char *err, size_t errlen)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
		snprintf(err, errlen, "--state: the path is too long");
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL) {
		snprintf(err, errlen, "--state: cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int r = write_topics(f, ts);
	int saved = errno;
	if (fclose(f) != 0 && r == 0) {
		r = -1;
		saved = errno;
	}
	if (r == 0 && rename(tmp, path) != 0) {
		r = -1;
		saved = errno;
	}
	if (r < 0) {
		snprintf(err, errlen, "--state: cannot write %s: %s", path, strerror(saved));
		(void)unlink(tmp);
		return -1;
	}
	sync_dir(path);
	ts->dirty = false;
	return 0;
}
