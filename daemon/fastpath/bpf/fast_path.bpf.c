// SPDX-License-Identifier: GPL-2.0
/* sipvsd's fast path on tc ingress: UDP to the VIP:port of a `sip` service
 * whose Call-ID names a template sipvsd already holds gets that template's
 * mark and passes; everything else passes unmarked, to NFQUEUE. Nothing is
 * ever dropped: the fast path only saves NFQUEUE work it can do as well. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
/* libbpf's headers after the kernel's, whose types they use. */
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "../fast_path_abi.h"
#include "call_id.h"

#define AF_INET 2
#define AF_INET6 10
#define IPV4_MORE_FRAGMENTS 0x2000
#define IPV4_FRAGMENT_OFFSET 0x1fff
/* Ethernet, IPv4 with the most options, UDP: what must be linear to read the headers. */
#define MAX_HEADERS (ETH_HLEN + 60 + sizeof(struct udphdr))
#define NS_PER_S 1000000000ULL

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, struct sipvsd_fp_service_key);
  __type(value, struct sipvsd_fp_service);
} services SEC(".maps");

/* The templates, by the length of their Call-ID (sipvsd_fp_key_is_short).
 * Each is sized by sipvsd from max_templates before loading; allocated per
 * entry. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, 1024);
  __type(key, struct sipvsd_fp_key);
  __type(value, struct sipvsd_fp_target);
} templates SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, 1024);
  __type(key, struct sipvsd_fp_short_key);
  __type(value, struct sipvsd_fp_target);
} templates_short SEC(".maps");

/* The short map is looked up with the long key: its key is the long one's
 * first bytes, and they are all a short Call-ID's key has. */
_Static_assert(__builtin_offsetof(struct sipvsd_fp_short_key, call_id) ==
                   __builtin_offsetof(struct sipvsd_fp_key, call_id),
               "the short key is a prefix of the long one");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SIPVSD_FP_COUNTERS);
  __type(key, __u32);
  __type(value, __u64);
} stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sipvsd_fp_parse_result);
} parse_result SEC(".maps");

/* The addresses and ports of a UDP frame, and where its payload is. */
struct datagram {
  struct sipvsd_fp_service_key service; /* the destination, as `services` keys it */
  __u8 client[16];                      /* the source address */
  __u32 payload_offset;                 /* from the Ethernet header; DATAGRAM_WHOLE only */
  __u32 payload_len;                    /* bounded by the UDP length field */
};

/* Per-CPU working memory of one packet: its addresses, the template key being
 * built (the parser writes its Call-ID in place) and the parser's payload
 * copy. Aligned so that clearing the key takes 8-byte stores. In a map value
 * rather than on the stack: without CAP_PERFMON, 6.1's verifier refuses a
 * store into part of a stack slot that holds a spilled register (as clearing
 * a struct, then setting its fields, makes). */
struct packet_scratch {
  struct datagram datagram;
  struct sipvsd_fp_key key __attribute__((aligned(8)));
  __u32 call_id_len;
  struct call_id_parser parser;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct packet_scratch);
} scratch SEC(".maps");

/* What a frame is to the fast path. */
enum datagram_kind {
  DATAGRAM_OTHER,    /* not IPv4/IPv6 UDP with a readable UDP header: none of our business */
  DATAGRAM_FRAGMENT, /* the first fragment of a UDP datagram: its ports are known */
  DATAGRAM_UNUSUAL,  /* UDP whose lengths do not add up */
  DATAGRAM_WHOLE,    /* a whole UDP datagram */
};


/* Drivers that leave headers in page fragments are rare; there, pull them
 * into the linear area that direct packet access reads. Packet pointers only
 * ever move by constants here: without CAP_PERFMON (sipvsd's unit has
 * CAP_BPF and CAP_NET_ADMIN alone) the verifier refuses a variable offset. */
static __always_inline void pull_headers(struct __sk_buff* skb) {
  if ((void*)(long)skb->data + MAX_HEADERS <= (void*)(long)skb->data_end) return;
  bpf_skb_pull_data(skb, skb->len < MAX_HEADERS ? skb->len : MAX_HEADERS);
}

/* The UDP length within the `available` bytes the IP header gives it, as
 * packet_view.cpp's parse_udp checks it. */
static __always_inline int udp_fits(struct datagram* d, const struct udphdr* udp, __u32 udp_offset, __u32 available) {
  const __u32 udp_len = bpf_ntohs(udp->len);
  if (available < sizeof(*udp) || udp_len < sizeof(*udp) || udp_len > available) return DATAGRAM_UNUSUAL;
  d->payload_offset = udp_offset + sizeof(*udp);
  d->payload_len = udp_len - sizeof(*udp);
  return DATAGRAM_WHOLE;
}

static __always_inline int read_ipv4(struct __sk_buff* skb, struct datagram* d) {
  void* const end = (void*)(long)skb->data_end;
  const struct iphdr* ip = (void*)(long)skb->data + ETH_HLEN;
  if ((void*)(ip + 1) > end) return DATAGRAM_OTHER;
  if (ip->version != 4 || ip->ihl < 5 || ip->protocol != IPPROTO_UDP) return DATAGRAM_OTHER;
  const __u32 header_len = ip->ihl * 4;
  const __u16 fragment = bpf_ntohs(ip->frag_off);
  /* Only a first fragment starts with the UDP header. */
  if (fragment & IPV4_FRAGMENT_OFFSET) return DATAGRAM_OTHER;
  /* After IP options: copied, since it sits at a variable offset (pull_headers). */
  struct udphdr udp_copy;
  if (bpf_skb_load_bytes(skb, ETH_HLEN + header_len, &udp_copy, sizeof(udp_copy)) < 0) return DATAGRAM_OTHER;
  const struct udphdr* udp = &udp_copy;

  d->service.family = AF_INET;
  d->service.vport = udp->dest;
  __builtin_memcpy(d->service.vaddr, &ip->daddr, 4);
  __builtin_memcpy(d->client, &ip->saddr, 4);
  if (fragment & IPV4_MORE_FRAGMENTS) return DATAGRAM_FRAGMENT;

  /* parse_ipv4: the datagram ends at the total length, within the frame. */
  const __u32 total_len = bpf_ntohs(ip->tot_len);
  if (total_len < header_len || total_len > skb->len - ETH_HLEN) return DATAGRAM_UNUSUAL;
  return udp_fits(d, udp, ETH_HLEN + header_len, total_len - header_len);
}

/* UDP right after the fixed header only: extension headers are left alone. */
static __always_inline int read_ipv6(struct __sk_buff* skb, struct datagram* d) {
  void* const end = (void*)(long)skb->data_end;
  const struct ipv6hdr* ip = (void*)(long)skb->data + ETH_HLEN;
  if ((void*)(ip + 1) > end) return DATAGRAM_OTHER;
  if (ip->version != 6 || ip->nexthdr != IPPROTO_UDP) return DATAGRAM_OTHER;
  const struct udphdr* udp = (void*)(ip + 1);
  if ((void*)(udp + 1) > end) return DATAGRAM_OTHER;

  d->service.family = AF_INET6;
  d->service.vport = udp->dest;
  __builtin_memcpy(d->service.vaddr, &ip->daddr, 16);
  __builtin_memcpy(d->client, &ip->saddr, 16);

  /* parse_ipv6: the payload length must fit the frame. */
  const __u32 payload_len = bpf_ntohs(ip->payload_len);
  if (sizeof(*ip) + payload_len > skb->len - ETH_HLEN) return DATAGRAM_UNUSUAL;
  return udp_fits(d, udp, ETH_HLEN + sizeof(*ip), payload_len);
}

/* Ethernet, then IPv4 or IPv6, then UDP. `d` is filled as far as the kind says. */
static __always_inline int read_datagram(struct __sk_buff* skb, struct datagram* d) {
  __builtin_memset(d, 0, sizeof(*d));
  d->service.protocol = IPPROTO_UDP;
  if (skb->len < ETH_HLEN) return DATAGRAM_OTHER;
  pull_headers(skb);
  const struct ethhdr* eth = (void*)(long)skb->data;
  if ((void*)(eth + 1) > (void*)(long)skb->data_end) return DATAGRAM_OTHER;
  if (eth->h_proto == bpf_htons(ETH_P_IP)) return read_ipv4(skb, d);
  if (eth->h_proto == bpf_htons(ETH_P_IPV6)) return read_ipv6(skb, d);
  return DATAGRAM_OTHER;
}

/* Copies a whole datagram's payload (at most SIPVSD_FP_MAX_PAYLOAD bytes)
 * and finds its Call-ID into `value` (zero on entry). */
static __always_inline __u32 datagram_call_id(struct __sk_buff* skb, const struct datagram* d,
                                              struct call_id_parser* parser, __u8* value, __u32* value_len) {
  __u32 len = d->payload_len;
  if (len > SIPVSD_FP_MAX_PAYLOAD) return SIPVSD_FP_OVERSIZE;
  /* Keeps clang from folding header_len + len back into the UDP length
   * field, a register the verifier knows no upper bound of. */
  barrier_var(len);
  const __u32 header_len = sizeof(parser->udp_header);
  if (bpf_skb_load_bytes(skb, d->payload_offset - header_len, parser->udp_header, header_len + len) < 0)
    return SIPVSD_FP_NOT_PARSED;
  return find_call_id(parser, len, value, value_len);
}

/* Array keys are stored as whole 8-byte stack slots (the map reads the first
 * 4 bytes, little-endian): without CAP_PERFMON the verifier refuses a 4-byte
 * store into a slot where the compiler had spilled a register. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "array keys are the low half of a u64");

static __always_inline struct packet_scratch* packet_scratch(void) {
  const __u64 zero = 0;
  return bpf_map_lookup_elem(&scratch, &zero);
}

static __always_inline void count(__u32 counter) {
  const __u64 key = counter;
  __u64* n = bpf_map_lookup_elem(&stats, &key);
  if (n) *n += 1;
}

/* The template the key names, if it is still alive: then the packet gets
 * its mark (under the service's mask) and the template is used now. */
static __always_inline __u32 apply_template(struct __sk_buff* skb, const struct sipvsd_fp_service* service,
                                            const struct sipvsd_fp_key* key) {
  struct sipvsd_fp_target* target =
      sipvsd_fp_key_is_short(key) ? bpf_map_lookup_elem(&templates_short, key) : bpf_map_lookup_elem(&templates, key);
  if (!target) return SIPVSD_FP_MISS;
  const __u64 now = bpf_ktime_get_ns();
  const __u64 last_used = target->last_used_ns;
  /* A last use ahead of now (sipvsd's clock read a moment later) is fresh. */
  if (now > last_used && now - last_used > target->timeout_s * NS_PER_S) return SIPVSD_FP_STALE;
  skb->mark = (skb->mark & ~service->mark_mask) | (target->mark & service->mark_mask);
  target->last_used_ns = now;
  return SIPVSD_FP_HIT;
}

/* A packet to a service of the fast path: what became of it. */
static __always_inline __u32 serve(struct __sk_buff* skb, struct packet_scratch* s,
                                   const struct sipvsd_fp_service* service, int kind) {
  const struct datagram* d = &s->datagram;
  if (kind == DATAGRAM_FRAGMENT) return SIPVSD_FP_FRAGMENT;
  if (kind != DATAGRAM_WHOLE || skb->gso_segs > 1 || d->payload_len > SIPVSD_FP_MAX_PAYLOAD) return SIPVSD_FP_UNUSUAL;

  /* Hashed as bytes: all that is not set below must be zero. */
  struct sipvsd_fp_key* key = &s->key;
  __builtin_memset(key, 0, sizeof(*key));
  s->call_id_len = 0;
  if (datagram_call_id(skb, d, &s->parser, key->call_id, &s->call_id_len) != SIPVSD_FP_FOUND)
    return SIPVSD_FP_NO_CALL_ID;
  key->service = d->service;
  for (int i = 0; i < 16; i++) key->client[i] = d->client[i] & service->client_mask[i];
  key->call_id_len = s->call_id_len;
  return apply_template(skb, service, key);
}

SEC("tc")
int sipvsd_ingress(struct __sk_buff* skb) {
  struct packet_scratch* s = packet_scratch();
  if (!s) return TC_ACT_OK;
  const int kind = read_datagram(skb, &s->datagram);
  if (kind == DATAGRAM_OTHER) return TC_ACT_OK;
  const struct sipvsd_fp_service* service = bpf_map_lookup_elem(&services, &s->datagram.service);
  if (!service) return TC_ACT_OK;
  count(serve(skb, s, service, kind));
  return TC_ACT_OK;
}

/* For the tests: the same frame reading, any UDP port, the same parser; the
 * outcome goes to parse_result[0]. */
SEC("tc")
int sipvsd_parse_test(struct __sk_buff* skb) {
  const __u64 zero = 0;
  struct sipvsd_fp_parse_result* result = bpf_map_lookup_elem(&parse_result, &zero);
  struct packet_scratch* s = packet_scratch();
  if (!result || !s) return TC_ACT_OK;
  __builtin_memset(result, 0, sizeof(*result));

  if (read_datagram(skb, &s->datagram) != DATAGRAM_WHOLE || skb->gso_segs > 1) {
    result->status = SIPVSD_FP_NOT_PARSED;
    return TC_ACT_OK;
  }
  /* Into the key, as sipvsd_ingress parses (the parser's word stores are
   * verified against the scratch value's bounds), then out. */
  __builtin_memset(&s->key, 0, sizeof(s->key));
  result->status = datagram_call_id(skb, &s->datagram, &s->parser, s->key.call_id, &result->len);
  __builtin_memcpy(result->value, s->key.call_id, sizeof(s->key.call_id));
  return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
