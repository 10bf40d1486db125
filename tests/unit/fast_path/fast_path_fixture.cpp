#include "fast_path_fixture.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "fast_path.skel.h"

namespace fp_test {
namespace {

uint32_t verified_insns(bpf_program* prog) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  REQUIRE(bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0);
  return info.verified_insns;
}

void run_test(int prog, bpf_test_run_opts& run) {
  const int err = bpf_prog_test_run_opts(prog, &run) == 0 ? 0 : errno;
  REQUIRE_MESSAGE(err == 0,
                  "BPF_PROG_TEST_RUN on a " << run.data_size_in << "-byte frame: " << std::string(std::strerror(err)));
}

void parse_address(const std::string& text, uint8_t (&out)[16]) {
  std::memset(out, 0, sizeof(out));
  const int family = text.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  REQUIRE_MESSAGE(inet_pton(family, text.c_str(), out) == 1, "not an address: " << text);
}

}  // namespace

FastPath::FastPath() {
  skel_ = sipvsd_fast_path__open_and_load();
  const int err = errno;
  if (!skel_) {
    FAIL("loading the fast path's BPF programs failed: " << std::string(std::strerror(err)) << " (errno " << err
                                                         << "). This test needs root (CAP_BPF and CAP_SYS_ADMIN); "
                                                            "for a verifier rejection, libbpf printed its log above.");
  }
}

FastPath::~FastPath() { sipvsd_fast_path__destroy(skel_); }

ParseOutcome FastPath::parse(const Bytes& frame) {
  LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame.data(), .data_size_in = static_cast<uint32_t>(frame.size()));
  const int prog = bpf_program__fd(skel_->progs.sipvsd_parse_test);
  run_test(prog, run);
  const uint32_t zero = 0;
  sipvsd_fp_parse_result result{};
  REQUIRE(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.parse_result), &zero, &result) == 0);
  ParseOutcome out{result.status, {}};
  if (result.status == SIPVSD_FP_FOUND) {
    REQUIRE(result.len <= SIPVSD_FP_MAX_CALL_ID);
    out.value.assign(reinterpret_cast<const char*>(result.value), result.len);
  }
  return out;
}

IngressOutcome FastPath::ingress(const Bytes& frame, uint32_t mark, uint32_t gso_segs) {
  __sk_buff ctx_in{};
  ctx_in.mark = mark;
  ctx_in.gso_segs = gso_segs;
  __sk_buff ctx_out{};
  LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame.data(), .data_size_in = static_cast<uint32_t>(frame.size()),
              .ctx_in = &ctx_in, .ctx_out = &ctx_out, .ctx_size_in = sizeof(ctx_in), .ctx_size_out = sizeof(ctx_out));
  const int prog = bpf_program__fd(skel_->progs.sipvsd_ingress);
  run_test(prog, run);
  return {run.retval, ctx_out.mark};
}

Counters FastPath::counters() {
  const int cpus = libbpf_num_possible_cpus();
  REQUIRE(cpus > 0);
  std::vector<uint64_t> per_cpu(static_cast<std::size_t>(cpus));
  Counters sums{};
  for (uint32_t i = 0; i < SIPVSD_FP_COUNTERS; ++i) {
    REQUIRE(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.stats), &i, per_cpu.data()) == 0);
    for (const uint64_t n : per_cpu) sums[i] += n;
  }
  return sums;
}

void FastPath::add_service(const sipvsd_fp_service_key& key, const sipvsd_fp_service& service) {
  REQUIRE(bpf_map_update_elem(bpf_map__fd(skel_->maps.services), &key, &service, BPF_ANY) == 0);
}

sipvsd::TemplateMaps FastPath::templates() const {
  return {bpf_map__fd(skel_->maps.templates), bpf_map__fd(skel_->maps.templates_short)};
}

void FastPath::add_template(const sipvsd_fp_key& key, const sipvsd_fp_target& target) {
  REQUIRE(templates().write_one(key, target) == 0);
}

std::optional<sipvsd_fp_target> FastPath::find_template(const sipvsd_fp_key& key) { return templates().find(key); }

void FastPath::add_template_one_map(const sipvsd_fp_key& key, const sipvsd_fp_target& target) {
  REQUIRE(bpf_map_update_elem(bpf_map__fd(skel_->maps.templates), &key, &target, BPF_ANY) == 0);
}

uint32_t FastPath::ingress_verified_insns() { return verified_insns(skel_->progs.sipvsd_ingress); }
uint32_t FastPath::parse_test_verified_insns() { return verified_insns(skel_->progs.sipvsd_parse_test); }

sipvsd_fp_service_key service_key(const std::string& vip, uint16_t port) {
  sipvsd_fp_service_key key{};
  key.family = vip.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  key.protocol = IPPROTO_UDP;
  key.vport = htons(port);
  parse_address(vip, key.vaddr);
  return key;
}

sipvsd_fp_service service(const std::string& client_mask, uint32_t mark_mask) {
  sipvsd_fp_service s{};
  parse_address(client_mask, s.client_mask);
  s.mark_mask = mark_mask;
  return s;
}

sipvsd_fp_key template_key(const sipvsd_fp_service_key& service, const std::string& masked_client,
                           std::string_view call_id) {
  REQUIRE(call_id.size() <= SIPVSD_FP_MAX_CALL_ID);
  sipvsd_fp_key key{};
  key.service = service;
  parse_address(masked_client, key.client);
  key.call_id_len = static_cast<uint8_t>(call_id.size());
  std::memcpy(key.call_id, call_id.data(), call_id.size());
  return key;
}

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace fp_test
