/* rc_page: the page the server serves at / (net/page/index.html, compiled in by
 * net/page/embed.cmake): a live ticker of the server's topics in a plain browser WebSocket. */
#ifndef RC_PAGE_H
#define RC_PAGE_H

#include <stddef.h>

/* The most the page may weigh: its response goes out from one 64 KiB chunk (rc_route.c). */
#define RC_PAGE_MAX (48u << 10)

extern const unsigned char rc_page_html[];
extern const size_t rc_page_html_len;

#endif
