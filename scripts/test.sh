#!/usr/bin/env bash
# Runs every test: installs the dependencies (Debian 12, as root), configures a
# Debug build (ASan + UBSan) in build/, builds everything and runs CTest but
# for the long fuzz runs. The end-to-end tests need root (network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Debug
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure -LE fuzz-long
