#!/bin/sh
# Quick start 1: installs what is missing, builds quire, and builds the example story offline on
# the mock provider with make (examples/short-story).
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
sh scripts/build.sh build
make -C examples/short-story QUIRE="$PWD/build/cli/quire"
echo
echo "The book is examples/short-story/out/Book.md. Run this again: nothing is regenerated."
