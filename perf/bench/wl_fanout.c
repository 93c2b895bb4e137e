/* fanout, the default workload: N subscribers and P publishers on one topic; every subscriber
 * should receive every message. The fan-out engine as it is: no presets, no checks of its own. */
#include "bench.h"

const struct workload wl_fanout = {
	.name = "fanout",
	.help = "fanout (default): N subscribers, P publishers, one topic",
};
