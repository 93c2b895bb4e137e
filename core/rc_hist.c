/* rc_hist: power-of-two histograms and their Prometheus rendering. The contract is in rc_hist.h. */
#include "rc_hist.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int rc_hist_init(rc_hist *h, unsigned shift, unsigned finite)
{
	assert(h != NULL);
	memset(h, 0, sizeof *h);
	if (finite == 0 || finite > RC_HIST_FINITE_MAX || shift + finite > 64)
		return -EINVAL;
	h->shift = shift;
	h->finite = finite;
	return 0;
}

void rc_hist_add(rc_hist *dst, const rc_hist *src)
{
	assert(dst->shift == src->shift && dst->finite == src->finite);
	for (unsigned i = 0; i <= src->finite; i++)
		atomic_store_explicit(&dst->n[i],
		                      atomic_load_explicit(&dst->n[i], memory_order_relaxed) +
		                              atomic_load_explicit(&src->n[i], memory_order_relaxed),
		                      memory_order_relaxed);
	atomic_store_explicit(&dst->sum,
	                      atomic_load_explicit(&dst->sum, memory_order_relaxed) +
	                              atomic_load_explicit(&src->sum, memory_order_relaxed),
	                      memory_order_relaxed);
}

uint64_t rc_hist_count(const rc_hist *h)
{
	uint64_t total = 0;
	for (unsigned i = 0; i <= h->finite; i++)
		total += atomic_load_explicit(&h->n[i], memory_order_relaxed);
	return total;
}

/* Appends to a buffer that remembers whether anything did not fit. */
typedef struct out {
	char *p;
	size_t len, cap;
	bool full;
} out;

__attribute__((format(printf, 2, 3))) static void put(out *o, const char *fmt, ...)
{
	if (o->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->full = true;
	else
		o->len += (size_t)n;
}

/* `label="value",` or nothing. */
static void put_label(out *o, const char *label, const char *value)
{
	if (label != NULL)
		put(o, "%s=\"%s\",", label, value);
}

size_t rc_hist_render(const rc_hist *h, const char *name, const char *help, double scale,
                      const char *label, const char *value, char *out_buf, size_t cap)
{
	assert(h != NULL && name != NULL && out_buf != NULL && (label == NULL || value != NULL));
	if (cap == 0)
		return 0;
	out o = { .p = out_buf, .cap = cap };
	if (help != NULL)
		put(&o, "# HELP ringcast_%s %s\n# TYPE ringcast_%s histogram\n", name, help, name);
	/* One snapshot of the buckets, so that the count line equals the +Inf bucket. */
	uint64_t cum = 0;
	for (unsigned i = 0; i <= h->finite; i++) {
		cum += atomic_load_explicit(&h->n[i], memory_order_relaxed);
		put(&o, "ringcast_%s_bucket{", name);
		put_label(&o, label, value);
		if (i < h->finite)
			put(&o, "le=\"%.9g\"} %llu\n", (double)((uint64_t)1 << (h->shift + i)) * scale,
			    (unsigned long long)cum);
		else
			put(&o, "le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	}
	double sum = (double)atomic_load_explicit(&h->sum, memory_order_relaxed) * scale;
	if (label != NULL) {
		put(&o, "ringcast_%s_sum{%s=\"%s\"} %.9g\n", name, label, value, sum);
		put(&o, "ringcast_%s_count{%s=\"%s\"} %llu\n", name, label, value, (unsigned long long)cum);
	} else {
		put(&o, "ringcast_%s_sum %.9g\n", name, sum);
		put(&o, "ringcast_%s_count %llu\n", name, (unsigned long long)cum);
	}
	if (o.full) {
		out_buf[0] = '\0';
		return 0;
	}
	return o.len;
}
