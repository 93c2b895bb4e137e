#!/bin/sh
# gen-cert.sh DIR [--rsa] [--days N] [--name HOST]: a self-signed certificate for trying wss://
# on one machine, written as DIR/cert.pem and DIR/key.pem (the key readable by its owner only).
#
# The certificate names localhost and 127.0.0.1 (and HOST, if given) as subjectAltName, so that
# browsers, curl, Python and Node accept it for those names once told to trust it (it is its own
# CA: pass DIR/cert.pem as the CA file). The key is ECDSA P-256 (the faster handshake), or
# RSA-2048 with --rsa. Valid for --days days from now (default 30).
#
#   sh tools/gen-cert.sh /tmp/rc-tls
#   ringcast --tls-listen 127.0.0.1:8443 --tls-cert /tmp/rc-tls/cert.pem --tls-key /tmp/rc-tls/key.pem
#   curl --cacert /tmp/rc-tls/cert.pem https://127.0.0.1:8443/healthz
#
# Needs the openssl command (Debian package openssl). Not for production: use a certificate from
# a CA your clients trust (docs/operations.md, "TLS").
set -eu

usage() {
	echo "usage: gen-cert.sh DIR [--rsa] [--days N] [--name HOST]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
dir=$1
shift
kind=ec
days=30
name=
while [ $# -gt 0 ]; do
	case $1 in
	--rsa) kind=rsa ;;
	--days)
		[ $# -ge 2 ] || usage
		days=$2
		shift
		;;
	--name)
		[ $# -ge 2 ] || usage
		name=$2
		shift
		;;
	*) usage ;;
	esac
	shift
done
case $days in
'' | *[!0-9]* | 0) echo "gen-cert.sh: --days must be a positive number of days" >&2 && exit 2 ;;
esac
command -v openssl >/dev/null 2>&1 || {
	echo "gen-cert.sh: the openssl command is missing (apt-get install openssl)" >&2
	exit 1
}

mkdir -p "$dir"
san="DNS:localhost,IP:127.0.0.1"
[ -n "$name" ] && san="$san,DNS:$name"
if [ $kind = ec ]; then
	newkey="-newkey ec -pkeyopt ec_paramgen_curve:P-256"
else
	newkey="-newkey rsa:2048"
fi
umask 077
# shellcheck disable=SC2086 # $newkey is two or three words on purpose
openssl req -x509 $newkey -nodes -sha256 -days "$days" -subj "/CN=${name:-localhost}" \
	-addext "subjectAltName=$san" -addext "basicConstraints=critical,CA:TRUE" \
	-keyout "$dir/key.pem" -out "$dir/cert.pem" 2>"$dir/openssl.log" || {
	cat "$dir/openssl.log" >&2
	exit 1
}
rm -f "$dir/openssl.log"
chmod 644 "$dir/cert.pem"
echo "gen-cert.sh: $dir/cert.pem and $dir/key.pem ($kind, $days days, $san)"
