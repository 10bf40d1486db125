/* The fast path's maps as the eBPF program (bpf/fast_path.bpf.c) and sipvsd
 * (fast_path.cpp) both see them: one layout, in C, so neither side can drift.
 * Fixed sizes, no implicit padding: the map keys are hashed as bytes. */
#ifndef SIPVSD_FAST_PATH_ABI_H
#define SIPVSD_FAST_PATH_ABI_H

#include <linux/types.h>

/* The engine's cap on a Call-ID (engine/parse/sip_header.hpp kMaxSipValue). */
#define SIPVSD_FP_MAX_CALL_ID 255
/* UDP payloads longer than this go to NFQUEUE unparsed. 2048 covers every
 * unfragmented datagram of a 1500-byte MTU; larger ones are fragmented, and
 * fragments always take the slow path. */
#define SIPVSD_FP_MAX_PAYLOAD 2048

/* A virtual service the fast path serves: UDP to VIP:port with the `sip` PE. */
struct sipvsd_fp_service_key {
  __u8 family;   /* AF_INET or AF_INET6 */
  __u8 protocol; /* IPPROTO_UDP */
  __be16 vport;
  __u8 vaddr[16]; /* IPv4 in the first 4 bytes, the rest zero */
};

struct sipvsd_fp_service {
  __u8 client_mask[16]; /* the persistence netmask, applied to the client's address */
  __u32 mark_mask;      /* the bits of skb->mark sipvsd owns */
  __u32 flags;          /* none yet: zero */
};

/* A template: the engine's TemplateKey for a persistent service with pe data. */
struct sipvsd_fp_key {
  struct sipvsd_fp_service_key service;
  __u8 client[16]; /* the client's address under client_mask */
  __u8 call_id_len;
  __u8 call_id[SIPVSD_FP_MAX_CALL_ID]; /* bytes past call_id_len are zero */
};

/* Templates whose Call-ID has at most SIPVSD_FP_SHORT_CALL_ID bytes live in
 * a second map (`templates_short`), keyed by the first bytes of their
 * sipvsd_fp_key. Most Call-IDs are that short (a UUID at an IPv4 address
 * takes 52), and a lookup hashes and compares the whole key: 96 bytes here
 * against 292. 59 makes the largest element that fits the kernel's 192-byte
 * slab (with the map's 48-byte header, the 40-byte value and the allocator's
 * 8 bytes); the long map's take 512. */
#define SIPVSD_FP_SHORT_CALL_ID 59

struct sipvsd_fp_short_key {
  struct sipvsd_fp_service_key service;
  __u8 client[16];
  __u8 call_id_len; /* at most SIPVSD_FP_SHORT_CALL_ID */
  __u8 call_id[SIPVSD_FP_SHORT_CALL_ID];
};

/* Which map holds the template a key names. */
static inline int sipvsd_fp_key_is_short(const struct sipvsd_fp_key* key) {
  return key->call_id_len <= SIPVSD_FP_SHORT_CALL_ID;
}

struct sipvsd_fp_target {
  __u32 mark;        /* the real server's mark (under mark_mask) */
  __u32 timeout_s;   /* the service's persistence timeout */
  __u8 server[16];   /* the real server, for people reading `bpftool map dump` */
  __u16 server_port; /* host order */
  __u8 server_family;
  __u8 pad;
  __u32 pad2;
  __u64 last_used_ns; /* CLOCK_MONOTONIC; the program writes it on each hit */
};

/* What the Call-ID parser found: the engine's SipStatus values first, in
 * its order, then the fast path's own reasons for leaving a packet alone. */
enum sipvsd_fp_parse_status {
  SIPVSD_FP_FOUND = 0,
  SIPVSD_FP_NOT_SIP = 1,
  SIPVSD_FP_ABSENT = 2,
  SIPVSD_FP_EMPTY = 3,
  SIPVSD_FP_TOO_LONG = 4,
  SIPVSD_FP_CONFLICTING = 5,
  SIPVSD_FP_OVERSIZE = 6,   /* the payload is longer than SIPVSD_FP_MAX_PAYLOAD */
  SIPVSD_FP_NOT_PARSED = 7, /* not a whole IPv4/IPv6 UDP datagram the fast path reads */
};

/* The test program's output (map `parse_result`, one entry). */
struct sipvsd_fp_parse_result {
  __u32 status; /* enum sipvsd_fp_parse_status */
  __u32 len;    /* of value, when FOUND */
  __u8 value[256];
};

/* Per-CPU counters (map `stats`), indexed by this enum. Only packets to a
 * service of the fast path are counted; IPv6 with extension headers (a
 * fragment header too) is not read, so it passes uncounted. */
enum sipvsd_fp_counter {
  SIPVSD_FP_HIT = 0,     /* marked and passed: it never reached NFQUEUE */
  SIPVSD_FP_MISS,        /* a Call-ID, no template: NFQUEUE decides */
  SIPVSD_FP_STALE,       /* a template older than its timeout: NFQUEUE decides */
  SIPVSD_FP_NO_CALL_ID,  /* not SIP, no Call-ID, empty, too long or conflicting */
  SIPVSD_FP_FRAGMENT,    /* the first fragment of an IPv4 datagram (the others carry no ports) */
  SIPVSD_FP_UNUSUAL,     /* oversize, GSO, lengths that do not add up */
  SIPVSD_FP_COUNTERS,
};

#endif
