// The kernel's per-queue counters, parsed from /proc/net/netfilter/nfnetlink_queue.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <string>

#include "daemon/datapath/kernel_queue_stats.hpp"

using sipvsd::KernelQueueStats;

TEST_CASE("kernel queue stats: every column of seq_show, one entry per queue") {
  // As nfnetlink_queue.c prints it: "%5u %6u %5u %1u %5u %5u %5u %8u %2d\n".
  const char* text =
      "    0 3218473921     2 2 65535     0     0     3000  1\n"
      "    1  12345     0 2 65535     7    11 4294967295  1\n";
  const auto q = sipvsd::parse_kernel_queue_stats(text);
  REQUIRE(q.size() == 2);
  CHECK(q[0].queue == 0);
  CHECK(q[0].portid == 3218473921u);
  CHECK(q[0].queue_total == 2);
  CHECK(q[0].queue_dropped == 0);
  CHECK(q[0].user_dropped == 0);
  CHECK(q[0].id_sequence == 3000);
  CHECK(q[1].queue == 1);
  CHECK(q[1].portid == 12345);
  CHECK(q[1].queue_total == 0);
  CHECK(q[1].queue_dropped == 7);
  CHECK(q[1].user_dropped == 11);
  CHECK(q[1].id_sequence == 4294967295u);
}

TEST_CASE("kernel queue stats: nothing bound, short or foreign lines give no entry") {
  CHECK(sipvsd::parse_kernel_queue_stats("").empty());
  const auto q = sipvsd::parse_kernel_queue_stats(
      "    0  1 2 3\n"                                  // too few columns
      "queue portid total\n"                            // not numbers
      "70000     1     0 2 65535     0     0     5  1\n"  // no such queue number
      "    3     1     0 2 65535     0     0 4294967296  1\n"  // past 32 bits
      "    5    42     1 2 65535     0     0       9  1\n");
  REQUIRE(q.size() == 1);
  CHECK(q[0].queue == 5);
  CHECK(q[0].id_sequence == 9);
}

TEST_CASE("kernel queue stats: read from a file; a missing file is no queue") {
  const std::string path = "/tmp/sipvsd-test-nfnetlink_queue-" + std::to_string(::getpid());
  {
    FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f);
    std::fputs("    2    99     4 2 65535     0     1      123  1\n", f);
    std::fclose(f);
  }
  const auto q = sipvsd::read_kernel_queue_stats(path.c_str());
  std::remove(path.c_str());
  REQUIRE(q.size() == 1);
  CHECK(q[0].queue == 2);
  CHECK(q[0].queue_total == 4);
  CHECK(q[0].user_dropped == 1);
  CHECK(sipvsd::read_kernel_queue_stats(path.c_str()).empty());
}
