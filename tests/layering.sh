#!/bin/sh
# The dependency direction tools, perf -> net -> core -> proto, for what include directories cannot
# catch: system and third-party headers. proto is pure (wolfCrypt's hash and base64 only); core
# makes no I/O of its own: sockets, io_uring and TLS are net/'s.
# Usage: layering.sh SOURCE_DIR. Prints each offending line; exits 1 if there is any.
top=${1:-.}
bad=0
check() { # check DIR REGEX WHY [ALLOWED]: ALLOWED matches the "file:line:text" hits that may stay
  hits=$(grep -nE "$2" "$top/$1"/*.[ch] 2>/dev/null)
  if [ -n "$4" ]; then
    hits=$(printf '%s\n' "$hits" | grep -vE "$4")
  fi
  if [ -n "$hits" ]; then
    printf '%s\n' "$hits"
    printf 'layering: %s/ %s\n' "$1" "$3"
    bad=1
  fi
}
check proto '#include *[<"](liburing[^>"]*|sys/socket|netinet/[^>"]*|arpa/[^>"]*|pthread|wolfssl/ssl|wolfssl/openssl/[^>"]*)\.h' \
  'must stay pure: no io_uring, sockets, threads or TLS'
# The one exception: rc_cfg_value.c reads and writes listen addresses with inet_pton and
# inet_ntop, pure conversions (no lookup, no socket, no system call).
check core '#include *[<"](liburing[^>"]*|sys/socket|netinet/[^>"]*|arpa/[^>"]*|netdb|wolfssl/[^>"]*)\.h' \
  'must not touch the kernel or TLS: that is net/' \
  '/core/rc_cfg_value\.c:[0-9]+:#include <arpa/inet\.h>$'
[ "$bad" = 0 ] && echo "layering: ok"
exit $bad
