// The verdicts of a batch: sent at once, one by one if that fails, never dropped.
#include <doctest/doctest.h>

#include <linux/netlink.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <cstring>
#include <vector>

#include "daemon/datapath/verdict_buffer.hpp"

using sipvsd::VerdictBuffer;

namespace {

// A verdict-sized message (40 bytes, as one with a mark) told apart by its sequence number.
void add(VerdictBuffer& b, uint32_t seq) {
  REQUIRE(b.has_room());
  auto* h = reinterpret_cast<nlmsghdr*>(b.next());
  std::memset(h, 0, 40);
  h->nlmsg_len = 40;
  h->nlmsg_seq = seq;
  b.commit();
}

// The kernel's side: each sendmsg, the sequence numbers it carried, and whether it was taken.
struct Kernel {
  std::vector<std::vector<uint32_t>> calls;
  std::vector<uint32_t> received;
  bool take_batches = true;
  uint32_t refuse_seq = 0;  // a message the kernel never takes (0: none)
  bool operator()(const char* data, std::size_t len) {
    std::vector<uint32_t> seqs;
    for (std::size_t at = 0; at < len;) {
      const auto* h = reinterpret_cast<const nlmsghdr*>(data + at);
      seqs.push_back(h->nlmsg_seq);
      at += NLMSG_ALIGN(h->nlmsg_len);
    }
    calls.push_back(seqs);
    const bool taken = (seqs.size() == 1 || take_batches) &&
                       std::find(seqs.begin(), seqs.end(), refuse_seq) == seqs.end();
    if (taken) received.insert(received.end(), seqs.begin(), seqs.end());
    return taken;
  }
};

}  // namespace

TEST_CASE("verdicts: a batch the kernel takes goes in one sendmsg") {
  VerdictBuffer b(8);
  for (uint32_t s = 1; s <= 3; ++s) add(b, s);
  Kernel k;
  const auto r = b.flush(std::ref(k));
  CHECK_FALSE(r.batch_failed);
  CHECK(r.failed_sends == 0);
  CHECK(r.unsent == 0);
  CHECK(b.empty());
  REQUIRE(k.calls.size() == 1);
  CHECK(k.calls[0] == std::vector<uint32_t>{1, 2, 3});
}

TEST_CASE("verdicts: a batch the kernel refuses is sent one verdict per sendmsg, none lost") {
  VerdictBuffer b(8);
  for (uint32_t s = 1; s <= 3; ++s) add(b, s);
  Kernel k;
  k.take_batches = false;
  const auto r = b.flush(std::ref(k));
  CHECK(r.batch_failed);
  CHECK(r.failed_sends == VerdictBuffer::kAttempts);
  CHECK(r.unsent == 0);
  CHECK(b.empty());
  CHECK(k.calls.size() == VerdictBuffer::kAttempts + 3);
  CHECK(k.received == std::vector<uint32_t>{1, 2, 3});
}

TEST_CASE("verdicts: one that cannot be sent stays, first in line for the next flush") {
  VerdictBuffer b(8);
  for (uint32_t s = 1; s <= 3; ++s) add(b, s);
  Kernel k;
  k.refuse_seq = 2;
  auto r = b.flush(std::ref(k));
  CHECK(r.batch_failed);
  CHECK(r.unsent == 1);
  CHECK(r.failed_sends == 2 * VerdictBuffer::kAttempts);
  CHECK_FALSE(b.empty());
  CHECK(k.received == std::vector<uint32_t>{1, 3});

  add(b, 4);
  k.refuse_seq = 0;
  k.calls.clear();
  r = b.flush(std::ref(k));
  CHECK_FALSE(r.batch_failed);
  CHECK(r.unsent == 0);
  CHECK(b.empty());
  REQUIRE(k.calls.size() == 1);
  CHECK(k.calls[0] == std::vector<uint32_t>{2, 4});
  CHECK(k.received == std::vector<uint32_t>{1, 3, 2, 4});
}

TEST_CASE("verdicts: room is counted in messages") {
  VerdictBuffer b(2);
  CHECK(b.has_room(2));
  CHECK_FALSE(b.has_room(3));
  add(b, 1);
  CHECK(b.has_room(1));
  CHECK_FALSE(b.has_room(2));
  add(b, 2);
  CHECK_FALSE(b.has_room());
}
