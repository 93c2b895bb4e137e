/* rc_mask: the RFC 6455 §5.3 masking transform, in place.
 *
 * Masking is an XOR with the 4-byte key repeated; applying it twice gives back the input, so the
 * same function masks (client side) and unmasks (server side). It runs a machine word at a time from
 * any alignment of p and any starting phase, which is what lets the frame parser unmask a payload in
 * place inside a receive buffer chunk by chunk, however the payload was split. */
#ifndef RC_MASK_H
#define RC_MASK_H

#include <stddef.h>
#include <stdint.h>

/* XOR p[0..n) with key, starting at byte `phase` (0..3) of the key, i.e. as if p began at payload
 * offset `phase` (mod 4). Returns the phase for the byte after p[n-1]: (phase + n) % 4. */
unsigned rc_mask_apply(uint8_t *p, size_t n, const uint8_t key[4], unsigned phase);

#endif
