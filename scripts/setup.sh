#!/bin/sh
# Installs the Debian packages quire needs to build and test, only those that are missing.
set -eu
pkgs="meson ninja-build pkg-config gcc libsqlite3-dev libcurl4-openssl-dev libgit2-dev \
libjansson-dev libyaml-dev libssl-dev libcmocka-dev valgrind clang libclang-rt-14-dev clang-format \
python3 make git espeak-ng sox graphviz scdoc man-db nginx-core"
missing=""
for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "setup: installing:$missing" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >&2
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing >&2
