#!/usr/bin/env bash
# Installs libchdb.so (the ClickHouse engine as a library, used by the embedded
# mode) from the npm package @chdb/lib-linux-x64-gnu into a cache outside the
# repository, and checks its integrity. Idempotent: a verified install is kept.
#
#   THROUGHLINE_CACHE   cache dir (default: ${XDG_CACHE_HOME:-~/.cache}/throughline)
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
command -v npm >/dev/null || { echo "install-libchdb: npm is needed to fetch $PACKAGE (apt-get install npm)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/libchdb.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "fetching $PACKAGE@$VERSION (~170 MB) ..."
(cd "$work" && npm pack --silent --json "$PACKAGE@$VERSION" > pack.json)
tgz="$work/chdb-lib-linux-x64-gnu-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$TARBALL_INTEGRITY" ]; then
  echo "install-libchdb: tarball integrity mismatch: got $got" >&2
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
