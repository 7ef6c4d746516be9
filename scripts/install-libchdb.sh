#!/usr/bin/env bash
# Installs libchdb.so (the ClickHouse engine as a library, used by the embedded
# mode) from the npm package @chdb/lib-linux-x64-gnu into a cache outside the
# repository, and checks its integrity. Idempotent: a verified install is kept.
# The tarball is fetched from the npm registry with curl (or wget), so a fresh
# machine needs neither Node.js nor npm; npm is used only when neither exists.
#
#   THROUGHLINE_CACHE   cache dir (default: ${XDG_CACHE_HOME:-~/.cache}/throughline)
#   NPM_REGISTRY        registry base URL (default: npm's configured one, else registry.npmjs.org)
set -euo pipefail

VERSION=26.5.3
PACKAGE=@chdb/lib-linux-x64-gnu
# sha512 of the npm tarball (npm's own integrity field) and sha256 of the library.
TARBALL_INTEGRITY="sha512-fPrLmRt5Moor9yGz4mazbrNje4t7X9KB2mTGkXFWRxRBs2iKy8yh6jx11xsa0Qr3iDFMU/yHqd+bVdYJXu3QaQ=="
LIB_SHA256=4330da79405733f7572f27c1442f46c03a08301f00859dce0368645731b1e1dc

cache="${THROUGHLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/throughline}"
dest="$cache/libchdb-$VERSION"
link="$cache/libchdb.so"

verify() { [ -f "$1" ] && echo "$LIB_SHA256  $1" | sha256sum --check --status; }

if verify "$dest/libchdb.so"; then
  ln -sfn "$dest/libchdb.so" "$link"
  echo "libchdb $VERSION already installed: $link"
  exit 0
fi

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "install-libchdb: only linux x86_64 is packaged as $PACKAGE; use the server mode (clickhouse-go) elsewhere" >&2
  exit 1
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/libchdb.XXXXXX")"
trap 'rm -rf "$work"' EXIT
tgz="$work/chdb-lib-linux-x64-gnu-$VERSION.tgz"
registry="${NPM_REGISTRY:-}"
if [ -z "$registry" ] && command -v npm >/dev/null; then
  registry="$(npm config get registry 2>/dev/null || true)"
fi
registry="${registry:-https://registry.npmjs.org/}"
url="${registry%/}/$PACKAGE/-/lib-linux-x64-gnu-$VERSION.tgz"
echo "fetching $PACKAGE@$VERSION (~170 MB) ..."
if command -v curl >/dev/null; then
  curl -fsSL --retry 3 -o "$tgz" "$url"
elif command -v wget >/dev/null; then
  wget -q -O "$tgz" "$url"
elif command -v npm >/dev/null; then
  (cd "$work" && npm pack --silent --json "$PACKAGE@$VERSION" > pack.json)
else
  echo "install-libchdb: need curl, wget or npm to fetch $url" >&2
  exit 1
fi
# npm's integrity is base64; compared as hex with coreutils alone (no openssl).
want_hex="$(printf '%s' "${TARBALL_INTEGRITY#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')"
got_hex="$(sha512sum "$tgz" | cut -d' ' -f1)"
if [ "$got_hex" != "$want_hex" ]; then
  echo "install-libchdb: tarball integrity mismatch: got sha512 $got_hex" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$work" package/libchdb.so
if ! verify "$work/package/libchdb.so"; then
  echo "install-libchdb: libchdb.so sha256 mismatch" >&2
  exit 1
fi
mkdir -p "$dest"
mv "$work/package/libchdb.so" "$dest/libchdb.so.tmp"
mv "$dest/libchdb.so.tmp" "$dest/libchdb.so"
ln -sfn "$dest/libchdb.so" "$link"
echo "installed libchdb $VERSION: $link"
