#include "rc_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	abort();
}

rc_guard rc_guard_copy(const void *src, size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (n + page - 1) / page * page;
	if (body == 0)
		body = page;
	size_t map_len = body + page;
	uint8_t *map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		die("rc_guard_copy: mmap");
	if (mprotect(map + body, page, PROT_NONE) != 0)
		die("rc_guard_copy: mprotect");
	rc_guard g = { .data = map + body - n, .len = n, .map = map, .map_len = map_len };
	if (n)
		memcpy(g.data, src, n);
	return g;
}

void rc_guard_free(rc_guard *g)
{
	if (g->map && munmap(g->map, g->map_len) != 0)
		die("rc_guard_free: munmap");
	g->map = NULL;
	g->data = NULL;
}
