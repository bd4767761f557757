#!/bin/sh
# Configures (once) and builds quire in build/ (or the directory given), warnings as errors.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
shift 2>/dev/null || true
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" -Dwerror=true "$@" >/dev/null
fi
ninja -C "$dir" >&2
