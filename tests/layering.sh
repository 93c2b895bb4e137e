#!/bin/sh
# The dependency direction of DESIGN.md for what include directories cannot catch: system and
# third-party headers. proto is pure (wolfCrypt's hash and base64 only); core makes no I/O of its own.
# Usage: layering.sh SOURCE_DIR. Prints each offending line; exits 1 if there is any.
top=${1:-.}
bad=0
check() { # check DIR REGEX WHY
  hits=$(grep -nE "$2" "$top/$1"/*.[ch] 2>/dev/null)
  if [ -n "$hits" ]; then
    printf '%s\n' "$hits"
    printf 'layering: %s/ %s\n' "$1" "$3"
    bad=1
  fi
}
check proto '#include *[<"](liburing[^>"]*|sys/socket|netinet/[^>"]*|arpa/[^>"]*|pthread|wolfssl/ssl|wolfssl/openssl/[^>"]*)\.h' \
  'must stay pure: no io_uring, sockets, threads or TLS'
check core '#include *[<"](liburing[^>"]*|sys/socket|netinet/[^>"]*|wolfssl/[^>"]*)\.h' \
  'must not touch the kernel or TLS: that is net/'
[ "$bad" = 0 ] && echo "layering: ok"
exit $bad
