#!/usr/bin/env bash
# Runs every test: installs the dependencies (Debian 12, as root), configures a
# Debug build (ASan + UBSan) in build/, builds everything and runs CTest but
# for the long fuzz runs; first, the concurrency tests under ThreadSanitizer,
# clang's check of the locking annotations and a Release build of everything.
# The end-to-end tests need root (network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The engine's concurrency tests, two directors' sync threads with the
# deciders' change logs, and the fast path's held-back copies, again under
# ThreadSanitizer, in a build of their own (TSan cannot share a build with ASan).
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIPVSD_TSAN=ON
cmake --build build-tsan -j"$(nproc)" --target unit_engine unit_sched unit_daemon
build-tsan/tests/unit/unit_engine --test-case='concurrent*'
build-tsan/tests/unit/unit_sched
build-tsan/tests/unit/daemon/unit_daemon --test-case='*director*,concurrent*'
# The daemon built with clang, whose -Wthread-safety checks the locking
# annotations (only built; "Analysis" is a build type with no optimization and
# no sanitizers, so it builds fast).
cmake -S . -B build-clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Analysis
cmake --build build-clang -j"$(nproc)" --target sipvsd
# Everything in Release too, as a user who builds from source does (only built:
# the package test runs an optimized sipvsd).
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release
cmake --build build-release -j"$(nproc)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Debug
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure -LE fuzz-long
