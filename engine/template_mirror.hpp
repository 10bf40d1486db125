#pragma once
// A copy of the templates kept outside the engine that sees packets the
// engine does not: the daemon's eBPF fast path places the packets of calls it
// knows in the kernel. The engine stays the authority: a template whose time
// ran out lives on while its copy is still used, and every template that
// goes takes its copy with it.
#include <cstdint>

namespace sipvs {

struct Template;

class TemplateMirror {
 public:
  // When the copy of `t` runs out (monotonic seconds: its last use plus its
  // timeout), or 0 if there is none. Called under t's shard lock, only for a
  // template whose own time has run out.
  virtual uint32_t copy_expires(const Template& t) = 0;
  // `t` leaves the table (expired, flushed, its server removed or down): so
  // must its copy. Called under t's shard lock.
  virtual void erased(const Template& t) = 0;

 protected:
  ~TemplateMirror() = default;
};

}  // namespace sipvs
