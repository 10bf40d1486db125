// forwarding: route asks the kernel for its own tables only. In a network
// namespace of its own (root), with thousands of routes in a foreign table,
// the dump sipvsd makes receives only the routes of the tables it asks for.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "daemon/forwarding/route_netlink.hpp"
#include "fwd_fixtures.hpp"

using namespace sipvsd::fwd;
using fwdtest::ip;

namespace {

constexpr int kForeignRoutes4 = 3000, kForeignRoutes6 = 1000;

bool sh(const std::string& command) {
  if (std::system(command.c_str()) == 0) return true;
  std::fprintf(stderr, "failed: %s\n", command.c_str());
  return false;
}

long routes_in_table(const char* family, uint32_t table) {
  const std::string command = std::string("ip ") + family + " route show table " + std::to_string(table) + " | wc -l";
  FILE* p = popen(command.c_str(), "r");
  long n = -1;
  if (p) {
    if (std::fscanf(p, "%ld", &n) != 1) n = -1;
    pclose(p);
  }
  return n;
}

// The foreign table 500 and a few routes in sipvsd's range (before the
// tests: plain checks, no doctest assertions).
bool set_up_namespace() {
  if (!sh("ip link set lo up && ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up && "
     "ip addr add 198.18.1.254/24 dev v0 && ip addr add 2001:2:0:1::fe/64 dev v0 nodad"))
    return false;
  const std::string batch = "/tmp/sipvsd-route-dump." + std::to_string(getpid());
  {
    std::ofstream f(batch);
    for (int i = 0; i < kForeignRoutes4; ++i)
      f << "route add 198.19." << i / 250 << "." << i % 250 << "/32 via 198.18.1.9 table 500\n";
    for (int i = 0; i < kForeignRoutes6; ++i)
      f << "route add 2001:2:0:9::" << std::hex << i + 1 << std::dec << "/128 via 2001:2:0:1::9 table 500\n";
  }
  const int rc = std::system(("ip -batch " + batch).c_str());
  std::remove(batch.c_str());
  if (rc != 0 || !sh("ip route add 198.18.2.100/32 via 198.18.1.1 table 20000 proto 245 && "
     "ip -6 route add 2001:2:0:2::100/128 via 2001:2:0:1::1 table 20001 proto 245 && "
     "ip route add 198.18.2.101/32 via 198.18.1.2 table 20100 proto 245"))
    return false;
  return routes_in_table("-4", 500) == kForeignRoutes4 && routes_in_table("-6", 500) == kForeignRoutes6;
}

}  // namespace

TEST_CASE("route: the dump carries the table filter and the kernel sends only those tables") {
  const sipvsd::ForwardingOptions o;
  const sipvsd::RouteDump d = sipvsd::dump_routes(o, {20000, 20001, 20002});
  CHECK(d.strict);  // Linux 4.20 and later
  CHECK(d.messages == 2);  // not the 4000 of table 500, nor table 20100
  REQUIRE(d.routes.size() == 2);
  CHECK(d.routes[0].table == 20000);
  CHECK(d.routes[0].dst == ip("198.18.2.100"));
  CHECK(d.routes[1].table == 20001);
  CHECK(d.routes[1].gateway == ip("2001:2:0:1::1"));
}

TEST_CASE("route: a reconcile next to a full foreign table leaves it alone") {
  sipvsd::DaemonConfig c = fwdtest::three_servers("route");
  c.engine.services[0].servers = {fwdtest::server("198.18.1.1", 1), fwdtest::server("198.18.1.2", 2)};
  auto backend = sipvsd::make_forwarding(c);
  sipvsd::ReconcileResult r = backend->reconcile(c);
  CHECK(r.ok());
  r = backend->reconcile(c);
  CHECK(r.ok());
  CHECK(r.created + r.changed + r.removed == 0);
  CHECK(routes_in_table("-4", 500) == kForeignRoutes4);
  CHECK(routes_in_table("-6", 500) == kForeignRoutes6);
}

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    std::puts("SKIP: needs root (a network namespace of its own)");
    return 77;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET)");
    return 1;
  }
  if (!set_up_namespace()) {
    std::fputs("cannot set up the namespace's routes\n", stderr);
    return 1;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
