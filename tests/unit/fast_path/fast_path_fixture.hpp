#pragma once
// The fast path's BPF object loaded for a test (the libbpf skeleton), and
// its two programs run on frames with BPF_PROG_TEST_RUN. Loading needs root
// (CAP_BPF and CAP_SYS_ADMIN); a refusal fails the test with the reason.
#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "daemon/fastpath/fast_path_abi.h"
#include "daemon/fastpath/template_maps.hpp"
#include "frames.hpp"

struct sipvsd_fast_path;
struct bpf_program;

namespace fp_test {

struct ParseOutcome {
  uint32_t status;    // enum sipvsd_fp_parse_status
  std::string value;  // when SIPVSD_FP_FOUND
};

struct IngressOutcome {
  uint32_t verdict;  // the program's return value
  uint32_t mark;     // skb->mark after the program
};

using Counters = std::array<uint64_t, SIPVSD_FP_COUNTERS>;

class FastPath {
 public:
  FastPath();
  ~FastPath();
  FastPath(const FastPath&) = delete;
  FastPath& operator=(const FastPath&) = delete;

  // sipvsd_parse_test on the frame, then parse_result[0].
  ParseOutcome parse(const Bytes& frame);
  // sipvsd_ingress on the frame, with skb->mark and skb->gso_segs set first.
  IngressOutcome ingress(const Bytes& frame, uint32_t mark = 0, uint32_t gso_segs = 0);

  // `stats`, each counter summed over the CPUs.
  Counters counters();
  void add_service(const sipvsd_fp_service_key& key, const sipvsd_fp_service& service);
  // Templates through sipvsd's own TemplateMaps: the map it picks is the
  // map the program must look in.
  sipvsd::TemplateMaps templates() const;
  void add_template(const sipvsd_fp_key& key, const sipvsd_fp_target& target);
  std::optional<sipvsd_fp_target> find_template(const sipvsd_fp_key& key);
  // Into `templates` whatever the Call-ID's length, as a sipvsd with one map wrote it.
  void add_template_one_map(const sipvsd_fp_key& key, const sipvsd_fp_target& target);

  // What the kernel's verifier reports for each program.
  uint32_t ingress_verified_insns();
  uint32_t parse_test_verified_insns();

 private:
  sipvsd_fast_path* skel_ = nullptr;
};

// Keys as sipvsd writes them: addresses in network order, IPv4 in the
// first four bytes, everything else zero.
sipvsd_fp_service_key service_key(const std::string& vip, uint16_t port);
sipvsd_fp_service service(const std::string& client_mask, uint32_t mark_mask);
sipvsd_fp_key template_key(const sipvsd_fp_service_key& service, const std::string& masked_client,
                           std::string_view call_id);

// CLOCK_MONOTONIC in ns, bpf_ktime_get_ns's clock.
uint64_t monotonic_ns();

}  // namespace fp_test
