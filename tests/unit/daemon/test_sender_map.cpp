#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <string>
#include <cstdint>
#include <vector>

#include "daemon/datapath/sender_map.hpp"

namespace {

sipvsd::Neighbour neighbour(std::string_view address, std::vector<uint8_t> lladdr) {
  sipvsd::Neighbour n;
  n.address = *sipvs::IpAddress::parse(address);
  std::copy(lladdr.begin(), lladdr.end(), n.lladdr.begin());
  n.lladdr_len = static_cast<uint8_t>(lladdr.size());
  return n;
}

sipvs::IpAddress ip(std::string_view a) { return *sipvs::IpAddress::parse(a); }

std::vector<std::string> texts(std::span<const sipvs::IpAddress> addresses) {
  std::vector<std::string> out;
  for (const auto& a : addresses) out.push_back(a.to_string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("a frame's link-layer address names the real servers' addresses of its host") {
  const std::vector<uint8_t> rs1{2, 0, 0, 0, 0, 1}, rs2{2, 0, 0, 0, 0, 2}, router{2, 0, 0, 0, 0, 0xfe};
  const sipvsd::SenderMap map(
      {neighbour("198.18.1.1", rs1), neighbour("2001:db8::1", rs1), neighbour("198.18.1.2", rs2),
       neighbour("198.18.0.254", router), neighbour("198.18.1.1", rs1)},
      {ip("198.18.1.1"), ip("198.18.1.2"), ip("2001:db8::1"), ip("198.18.1.3")});
  CHECK(map.hosts() == 2);
  CHECK(texts(map.addresses(rs1)) == std::vector<std::string>{"198.18.1.1", "2001:db8::1"});  // each once
  CHECK(texts(map.addresses(rs2)) == std::vector<std::string>{"198.18.1.2"});
  CHECK(map.addresses(router).empty());  // not a real server
  CHECK(map.addresses({}).empty());      // a frame without one (loopback, a tunnel)
  const std::vector<uint8_t> shorter{0, 0, 0, 0, 1};  // rs1's bytes but not its length
  CHECK(map.addresses(shorter).empty());
  const std::vector<uint8_t> too_long(9, 1);
  CHECK(map.addresses(too_long).empty());
}

TEST_CASE("workers take up a new map between batches; an equal one is not published") {
  sipvsd::SenderMaps maps;
  sipvsd::SenderMaps::View view(maps);
  const std::vector<uint8_t> rs1{2, 0, 0, 0, 0, 1};
  CHECK(view.get().hosts() == 0);
  CHECK(maps.publish(sipvsd::SenderMap({neighbour("198.18.1.1", rs1)}, {ip("198.18.1.1")})));
  CHECK(view.get().hosts() == 0);  // until refresh()
  view.refresh();
  CHECK(view.get().hosts() == 1);
  CHECK_FALSE(maps.publish(sipvsd::SenderMap({neighbour("198.18.1.1", rs1)}, {ip("198.18.1.1")})));
  CHECK(maps.publish(sipvsd::SenderMap()));
  view.refresh();
  CHECK(view.get().addresses(rs1).empty());
}
