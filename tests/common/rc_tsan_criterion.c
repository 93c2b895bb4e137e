/* Only in the Tsan build (tests/CMakeLists.txt links it into every Criterion suite there).
 *
 * Criterion 2.4.1 cannot start under ThreadSanitizer as shipped ("Could not initialize inheritable
 * arena: Resource temporarily unavailable", Criterion issue #274). Its BoxFort arena, shared with
 * the forked test children at the same address, is placed by drawing r = rand_r() and trying
 * 0x200000000000 + (r & 0x3fffff) * 16 MiB, ten times, keeping the first range mincore() says is
 * unmapped. ThreadSanitizer reserves almost all of [0x100000000000, 0x7e8000000000) for its shadow
 * and metadata; the only application range in reach is [0x550000000000, 0x568000000000) (where PIE
 * binaries live), 2% of the draws, so start-up fails about four times in five.
 *
 * This definition of rand_r takes precedence over glibc's for libcriterion.so (the executable comes
 * first in symbol lookup) and keeps the draws inside that range; mincore still steers them away
 * from the binary itself. Nothing of ours calls rand_r. If a Criterion update changes the
 * placement, start-up fails loudly again, as before. */
#include <stdlib.h>

#define ARENA_R_FIRST 0x350000u /* (0x550000000000 - 0x200000000000) >> 24 */
#define ARENA_R_COUNT 0x018000u /* (0x568000000000 - 0x550000000000) >> 24 */

int rand_r(unsigned int *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (int)(ARENA_R_FIRST + (*seed >> 8) % (ARENA_R_COUNT - 16)); /* 16: the arena may grow */
}
