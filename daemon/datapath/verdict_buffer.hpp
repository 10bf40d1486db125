#pragma once
// The verdicts of a batch of queued packets: netlink messages back to back,
// sent to the kernel with one sendmsg. A verdict is never dropped: a packet
// without one stays queued until the queue is unbound, taking a place of
// queue_maxlen. If the batch cannot be sent, each message is sent on its own
// (a small message may get through where the batch did not, e.g. under memory
// pressure); those that still fail stay buffered, first in line for the next
// flush. Fixed capacity: nothing is allocated per packet.
#include <linux/netlink.h>

#include <cstddef>
#include <cstring>
#include <memory>

namespace sipvsd {

class VerdictBuffer {
 public:
  // A verdict message with a mark is 40 bytes.
  static constexpr std::size_t kMessageSpace = 64;
  // How often one sendmsg (of the batch or of one message) is tried per flush.
  static constexpr int kAttempts = 3;

  explicit VerdictBuffer(std::size_t messages)
      : data_(new char[messages * kMessageSpace]), capacity_(messages * kMessageSpace) {}

  bool empty() const { return len_ == 0; }
  bool has_room(std::size_t messages = 1) const { return len_ + messages * kMessageSpace <= capacity_; }
  // Where the next message is written (kMessageSpace bytes, has_room() first);
  // commit() then adds it.
  char* next() { return data_.get() + len_; }
  void commit() { len_ += NLMSG_ALIGN(reinterpret_cast<const nlmsghdr*>(next())->nlmsg_len); }

  struct FlushResult {
    bool batch_failed = false;  // the batch's sendmsg failed every attempt
    std::size_t failed_sends = 0;  // sendmsg calls that failed
    std::size_t unsent = 0;        // messages still buffered
  };
  // `send(data, len)` makes one sendmsg and says whether the kernel took it.
  template <class Send>
  FlushResult flush(Send&& send) {
    FlushResult r;
    if (len_ == 0) return r;
    for (int i = 0; i < kAttempts; ++i) {
      if (send(data_.get(), len_)) {
        len_ = 0;
        return r;
      }
      ++r.failed_sends;
    }
    r.batch_failed = true;
    std::size_t kept = 0;
    for (std::size_t at = 0; at < len_;) {
      const auto* h = reinterpret_cast<const nlmsghdr*>(data_.get() + at);
      const std::size_t size = NLMSG_ALIGN(h->nlmsg_len);
      bool sent = false;
      for (int i = 0; i < kAttempts && !sent; ++i) {
        sent = send(data_.get() + at, static_cast<std::size_t>(h->nlmsg_len));
        if (!sent) ++r.failed_sends;
      }
      if (!sent) {
        std::memmove(data_.get() + kept, data_.get() + at, size);  // kept <= at
        kept += size;
        ++r.unsent;
      }
      at += size;
    }
    len_ = kept;
    return r;
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::size_t len_ = 0;
};

}  // namespace sipvsd
