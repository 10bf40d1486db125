#include <doctest/doctest.h>

#include "test_sched_util.hpp"

using namespace sipvs;
using namespace sipvs::test;

TEST_CASE("registry: the six schedulers, each built by its name") {
  const auto names = scheduler_names();
  CHECK(std::vector<std::string_view>(names.begin(), names.end()) ==
        std::vector<std::string_view>{"rr", "wrr", "lc", "wlc", "sh", "mh"});
  for (std::string_view name : names) {
    auto s = make_scheduler(name, equal_servers(3));
    REQUIRE(s);
    CHECK(s->name() == name);
    CHECK(s->pick({}).value() < 3);
  }
}

TEST_CASE("registry: unknown names give nullptr") {
  for (std::string_view name : {"", "RR", "dh", "wrr ", "lblc", "maglev"})
    CHECK(make_scheduler(name, equal_servers(3)) == nullptr);
}
