#!/usr/bin/env bash
# Installs every build, test and benchmark dependency on Debian 12 (bookworm). Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential cmake g++ pkg-config ca-certificates \
  clang clang-tidy libclang-rt-14-dev \
  libnetfilter-queue-dev libmnl-dev libsystemd-dev libnl-3-dev libnl-genl-3-dev libnl-route-3-dev \
  libbpf-dev bpftool libboost-dev libboost-system-dev nlohmann-json3-dev libsodium-dev doctest-dev libbenchmark-dev libpcap-dev \
  sip-tester kamailio keepalived bird2 iptables nftables iproute2 iputils-ping tcpdump curl jq procps psmisc kmod ethtool \
  debhelper dpkg-dev lintian systemd systemd-container prometheus \
  >/dev/null
# Debian starts the kamailio package's SIP server on the host's port 5060; the
# bench runs its own kamailio in a namespace and wants none on the host.
# Likewise keepalived and BIRD: the HA tests (tests/e2e/e2e_ha.sh,
# e2e_ecmp.sh) run their own, one per namespace.
if [ -d /run/systemd/system ]; then
  systemctl disable --now kamailio.service keepalived.service bird.service prometheus.service >/dev/null 2>&1 || true
fi
# The VM test (ctest -L vm, tests/vm/): qemu boots Debian's kernel (real IPVS).
# Its guest packages (linux-image-*-amd64, busybox-static, ipvsadm, libnl-3-200,
# libnl-genl-3-200, libpopt0) are fetched by tests/vm/build-image.sh with
# `apt-get download`, not installed; that needs only the apt lists updated above.
apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
# The OpenAPI linter (ctest -R api_openapi_lint): swagger-cli from npm, every
# package pinned with its checksum by scripts/openapi-lint/package-lock.json,
# under /opt/sipvsd-dev. Node and npm come from Debian unless npm is there.
command -v npm >/dev/null || apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
lint_src=$(dirname "$(readlink -f "$0")")/openapi-lint
lint_dir=/opt/sipvsd-dev/openapi-lint
if ! cmp -s "$lint_src/package-lock.json" "$lint_dir/package-lock.json" ||
   [ ! -x "$lint_dir/node_modules/.bin/swagger-cli" ]; then
  mkdir -p "$lint_dir"
  cp "$lint_src/package.json" "$lint_src/package-lock.json" "$lint_dir/"
  (cd "$lint_dir" && npm ci --ignore-scripts --no-audit --no-fund --no-update-notifier --loglevel=error >/dev/null)
fi
