#pragma once
// A copy of the templates kept outside the engine that sees packets the
// engine does not: the daemon's eBPF fast path places the packets of calls it
// knows in the kernel. The engine stays the authority: a template whose time
// ran out lives on while its copy is still used, the peers hear of those uses
// as of a packet's, and every template that goes takes its copy with it.
#include <cstdint>

namespace sipvs {

struct Template;
struct ServiceConfig;
struct RealServerConfig;

class TemplateMirror {
 public:
  // When the copy of `t` runs out (monotonic seconds: its last use plus its
  // timeout), or 0 if there is none. Called under t's shard lock, for a
  // template whose own time has run out, or (template sync) whose peers are
  // due to hear of it again.
  virtual uint32_t copy_expires(const Template& t) = 0;
  // A packet was decided with `t` (new, found, moved or learned), which names
  // `server` of `service`, by the decider in slot `decider`: its copy
  // follows, so that the call's next packets take the fast path; the mirror
  // may hold it back until flush(decider). Called under t's shard lock, so
  // that it and erased() reach the copy in the table's order; on the data
  // path: no waiting.
  virtual void used(const Template& t, const ServiceConfig& service, const RealServerConfig& server,
                    unsigned decider) = 0;
  // What used() held back for the decider in slot `decider` is copied now:
  // the decider calls it before its worker waits for more packets.
  virtual void flush(unsigned decider) = 0;
  // A peer's template `t` (template sync) was stored for `server` of
  // `service`: its copy follows, in place of any held back, so that the fast
  // path places the call without the engine, here as on the peer. Called
  // under t's shard lock.
  virtual void stored(const Template& t, const ServiceConfig& service, const RealServerConfig& server) = 0;
  // `t` leaves the table (expired, flushed, its server removed or down): so
  // must its copy, held back or not. Called under t's shard lock.
  virtual void erased(const Template& t) = 0;

 protected:
  ~TemplateMirror() = default;
};

}  // namespace sipvs
