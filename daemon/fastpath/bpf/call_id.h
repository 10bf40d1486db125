/* The engine's Call-ID finder (engine/parse/sip_header.cpp: find_sip_header
 * with kCallId, every occurrence compared) as a state machine that takes the
 * UDP payload byte by byte (a word at a time where no byte matters): the
 * same statuses and the same bytes, so that the fast path and NFQUEUE key a
 * template alike.
 *
 * The C++ code works line by line (memchr for the LF, then a look at the
 * line); here each byte moves the state along, and what the C++ code decides
 * once it has the line (is it a SIP start line? which header is it? is the
 * value empty?) is decided as the bytes come, or at the LF. Line ends are LF
 * (one CR before it dropped) and the end of the message (one CR before it
 * dropped): a CR anywhere else is an ordinary byte, and so is NUL. The walk
 * stops at the empty line that ends the header section: a body is never read.
 *
 * Most of a header section is lines that cannot be a Call-ID, and a request
 * line's URI: there the walk takes 8 bytes at a time, as one 64-bit word
 * tested for LF (and SP) at once, and looks at single bytes only where the
 * C++ code looks at them.
 *
 * bpf_loop drives it, CALL_ID_UNITS_PER_STEP units (a byte or a word) per
 * call of its callback.
 * For the verifier (Linux 6.1 and later): no loop but bpf_loop's; the
 * parser's state lives in a map value, never on the stack, so that each field
 * the callback loads is an unknown scalar (6.1 verifies a callback once, with
 * the state at the call: constants there would let it skip branches that
 * later bytes take); indexes into map-value buffers are masked or checked
 * against the buffer's size just before use. */
#ifndef SIPVSD_FAST_PATH_CALL_ID_H
#define SIPVSD_FAST_PATH_CALL_ID_H

#include <linux/types.h>
/* libbpf's headers after the kernel's, whose types they use. */
#include <bpf/bpf_helpers.h>

#include "../fast_path_abi.h"

#define CALL_ID_PAYLOAD_MASK (SIPVSD_FP_MAX_PAYLOAD - 1)
_Static_assert((SIPVSD_FP_MAX_PAYLOAD & CALL_ID_PAYLOAD_MASK) == 0, "the payload mask needs a power of two");

/* Units (a byte, or up to CALL_ID_SKIP_WORDS words) per call of the
 * bpf_loop callback (call_id_step): a call costs more than a unit's work,
 * while the verifier's work grows with the units. On Debian 12's 6.1 (no
 * CAP_PERFMON), sipvsd_ingress takes 4: 217 000 instructions of the
 * verifier's 1 000 000, 8: 645 000, 16: over the limit. */
#ifndef CALL_ID_UNITS_PER_STEP
#define CALL_ID_UNITS_PER_STEP 4
#endif
#define CALL_ID_WORD 8
/* Words a unit may pass over in a line that cannot be a Call-ID. */
#ifndef CALL_ID_SKIP_WORDS
#define CALL_ID_SKIP_WORDS 4
#endif

/* bpf_loop's callback: go on, or stop the walk. */
#define CALL_ID_CONTINUE 0
#define CALL_ID_STOP 1

/* No mismatch recorded (longer than any value). */
#define CALL_ID_NO_MISMATCH 0xffff

/* Where in the message the next byte falls. */
enum call_id_phase {
  PHASE_START_LINE,   /* the first line: a SIP request or status line? */
  PHASE_LINE_START,   /* nothing yet of this header line */
  PHASE_SKIP_LINE,    /* a line that is not a Call-ID: wait for its LF */
  PHASE_LONG_NAME,    /* "Call-ID" matched up to name_pos */
  PHASE_BEFORE_COLON, /* the name matched: SP/TAB, then ':' */
  PHASE_VALUE,        /* a piece of the value: the rest of its line */
};

/* is_request_line's progress through "Method SP Request-URI SP SIP/2.0". */
enum request_line_part {
  REQUEST_METHOD,    /* token characters so far */
  REQUEST_URI_START, /* the SP after the method: the URI must not be empty */
  REQUEST_URI,       /* URI bytes (anything but SP) */
  REQUEST_VERSION,   /* after the SP that ends the URI: exactly "SIP/2.0" to the line's end */
  REQUEST_FAILED,
};

struct call_id_state {
  __u32 len;     /* payload bytes */
  __u32 pos;     /* the next byte to look at */
  __u8 phase;    /* enum call_id_phase */
  __u8 result;   /* enum sipvsd_fp_parse_status, once the walk stops */
  __u8 name_pos; /* bytes of "Call-ID" matched */

  /* The start line. */
  __u8 status_line_ok; /* the bytes so far fit "SIP/2.0 ddd SP" */
  __u8 request_part;   /* enum request_line_part */
  __u8 version_ok;     /* the bytes after the URI's SP so far begin "SIP/2.0" */
  __u8 version_len;    /* bytes after the URI's SP (at most 7, or it failed) */
  __u16 line_pos;      /* bytes of the start line so far */

  /* The Call-ID value being read: this occurrence's pieces, trimmed and
   * joined by one SP as read_value joins them. */
  __u8 in_value;       /* the lines so far are a Call-ID header: a continuation line extends it */
  __u8 piece_has_text; /* the current piece (line) has had a byte that is not SP/TAB */
  __u8 seen;           /* an occurrence is complete: it is in first_* */
  __u8 first_status;   /* SIPVSD_FP_FOUND or SIPVSD_FP_EMPTY */
  __u16 value_len;     /* bytes of this occurrence so far, trailing SP/TAB included */
  __u16 trimmed_len;   /* up to its last byte that is not SP/TAB */
  __u16 written_len;   /* bytes of `value` written so far (the first occurrence's) */
  __u16 first_len;     /* the first occurrence's length */
  __u16 mismatch_at;   /* a repeat: where it first differs from the first occurrence */
};

/* The parser's working memory: too big for the 512-byte stack. */
struct call_id_parser {
  /* The UDP header is copied along with the payload: the copy is then never
   * empty, which bpf_skb_load_bytes refuses (and 6.1's verifier cannot tell
   * a length checked against zero from one that may be zero). */
  __u8 udp_header[8];
  __u8 payload[SIPVSD_FP_MAX_PAYLOAD];
  __u8 word_overrun[CALL_ID_WORD]; /* where a word read at a masked index may reach */
  struct call_id_state state;
};

/* What the bpf_loop callback is given (on the caller's stack). */
struct call_id_walk {
  struct call_id_parser* parser;
  __u8* value;     /* SIPVSD_FP_MAX_CALL_ID bytes in a map value: the first occurrence */
  __u32 zero_from; /* zero_value_byte: the first byte to zero */
};

/* ---- Characters: sip_text.hpp and is_sip_token_char ---- */

#define PACK7(a, b, c, d, e, f, g)                                                                            \
  ((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | (__u64)(e) << 32 | (__u64)(f) << 40 | \
   (__u64)(g) << 48)
/* Lower-case patterns, one byte each, the first in the lowest byte. */
#define SIP_VERSION_LOWER PACK7('s', 'i', 'p', '/', '2', '.', '0')
#define CALL_ID_LOWER PACK7('c', 'a', 'l', 'l', '-', 'i', 'd')
#define PATTERN_LEN 7

static __always_inline __u8 pattern_at(__u64 pattern, __u32 i) { return (pattern >> ((i & 7) * 8)) & 0xff; }

static __always_inline int is_wsp(__u8 c) { return c == ' ' || c == '\t'; }

static __always_inline __u8 lower(__u8 c) { return c >= 'A' && c <= 'Z' ? c | 0x20 : c; }

static __always_inline int is_digit(__u8 c) { return c >= '0' && c <= '9'; }

/* RFC 3261 token characters as two 64-bit sets: alphanumerics and -.!%*_+`'~ */
#define BIT(n) (1ULL << (n))
#define TOKEN_CHARS_0_63 (BIT('!') | BIT('%') | BIT('\'') | BIT('*') | BIT('+') | BIT('-') | BIT('.') | 0x3ffULL << '0')
#define TOKEN_CHARS_64_127 \
  (0x3ffffffULL << ('A' - 64) | BIT('_' - 64) | BIT('`' - 64) | 0x3ffffffULL << ('a' - 64) | BIT('~' - 64))

static __always_inline int is_token_char(__u8 c) {
  if (c < 64) return (TOKEN_CHARS_0_63 >> c) & 1;
  if (c < 128) return (TOKEN_CHARS_64_127 >> (c - 64)) & 1;
  return 0;
}

static __always_inline int stop_with(struct call_id_state* st, __u8 status) {
  st->result = status;
  return CALL_ID_STOP;
}

/* ---- The start line: is_status_line || is_request_line ---- */

/* "SIP/2.0 ddd", then SP or the line's end. */
static __always_inline void status_line_byte(struct call_id_state* st, __u32 pos, __u8 c) {
  if (!st->status_line_ok || pos > 11) return;
  if (pos < PATTERN_LEN)
    st->status_line_ok = lower(c) == pattern_at(SIP_VERSION_LOWER, pos);
  else if (pos == 7 || pos == 11)
    st->status_line_ok = c == ' ';
  else
    st->status_line_ok = is_digit(c);
}

/* A token method, SP, a URI without SP, SP, "SIP/2.0" ending the line. */
static __always_inline void request_line_byte(struct call_id_state* st, __u8 c) {
  switch (st->request_part) {
    case REQUEST_METHOD:
      if (c == ' ' && st->line_pos > 0)
        st->request_part = REQUEST_URI_START;
      else if (!is_token_char(c))
        st->request_part = REQUEST_FAILED;
      return;
    case REQUEST_URI_START:
      st->request_part = c == ' ' ? REQUEST_FAILED : REQUEST_URI;
      return;
    case REQUEST_URI:
      if (c == ' ') {
        st->request_part = REQUEST_VERSION;
        st->version_len = 0;
        st->version_ok = 1;
      }
      return;
    case REQUEST_VERSION:
      /* A third SP, or an eighth byte: the line cannot end in " SIP/2.0" after one SP-free URI. */
      if (c == ' ' || st->version_len >= PATTERN_LEN) {
        st->request_part = REQUEST_FAILED;
        return;
      }
      st->version_ok = st->version_ok && lower(c) == pattern_at(SIP_VERSION_LOWER, st->version_len);
      st->version_len++;
      return;
  }
}

static __always_inline int start_line_byte(struct call_id_state* st, __u8 c) {
  status_line_byte(st, st->line_pos, c);
  request_line_byte(st, c);
  if (st->line_pos < 0xffff) st->line_pos++;
  /* Neither can match any more: not SIP (most non-SIP traffic stops at its first byte). */
  if (!st->status_line_ok && st->request_part == REQUEST_FAILED) return stop_with(st, SIPVSD_FP_NOT_SIP);
  return CALL_ID_CONTINUE;
}

static __always_inline int start_line_end(struct call_id_state* st) {
  const int status_line = st->status_line_ok && st->line_pos >= 11;
  const int request_line = st->request_part == REQUEST_VERSION && st->version_len == PATTERN_LEN && st->version_ok;
  if (!status_line && !request_line) return stop_with(st, SIPVSD_FP_NOT_SIP);
  st->phase = PHASE_LINE_START;
  return CALL_ID_CONTINUE;
}

/* ---- The value: read_value, and find_header's comparison of occurrences ---- */

static __always_inline void value_begin(struct call_id_state* st) {
  st->phase = PHASE_VALUE;
  st->in_value = 1;
  st->piece_has_text = 0;
  st->value_len = 0;
  st->trimmed_len = 0;
  st->mismatch_at = CALL_ID_NO_MISMATCH;
}

/* Appends a byte to this occurrence. The first occurrence is written to
 * `value`; a repeat is only compared with it (where the two differ first).
 * Bytes past the cap are not kept: such a value is too long, or they are
 * trailing SP/TAB that trimming drops. */
static __always_inline void value_put(struct call_id_state* st, __u8* value, __u8 c) {
  const __u32 pos = st->value_len;
  st->value_len = pos + 1;
  if (pos >= SIPVSD_FP_MAX_CALL_ID) return;
  if (!st->seen) {
    value[pos] = c;
    if (pos >= st->written_len) st->written_len = pos + 1;
  } else if (value[pos] != c && pos < st->mismatch_at) {
    st->mismatch_at = pos;
  }
}

static __always_inline int value_byte(struct call_id_state* st, __u8* value, __u8 c) {
  if (is_wsp(c)) {
    /* Leading SP/TAB are trimmed; others are kept unless trailing (value_piece_end). */
    if (st->piece_has_text) value_put(st, value, c);
    return CALL_ID_CONTINUE;
  }
  if (!st->piece_has_text) {
    st->piece_has_text = 1;
    /* Folding: a piece after a non-empty one is joined with one SP. */
    if (st->trimmed_len > 0) value_put(st, value, ' ');
  }
  if (st->value_len >= SIPVSD_FP_MAX_CALL_ID) return stop_with(st, SIPVSD_FP_TOO_LONG);
  value_put(st, value, c);
  st->trimmed_len = st->value_len;
  return CALL_ID_CONTINUE;
}

/* The end of a line of the value: its trailing SP/TAB are dropped. */
static __always_inline void value_piece_end(struct call_id_state* st) {
  st->value_len = st->trimmed_len;
  st->piece_has_text = 0;
  /* A repeat's bytes past here were dropped, and so are their differences. */
  if (st->mismatch_at >= st->trimmed_len) st->mismatch_at = CALL_ID_NO_MISMATCH;
  st->phase = PHASE_LINE_START;
}

/* A line that does not continue the value ends it: the first occurrence is
 * kept, a repeat must equal it (status and bytes). */
static __always_inline int value_end(struct call_id_state* st) {
  const __u8 status = st->trimmed_len > 0 ? SIPVSD_FP_FOUND : SIPVSD_FP_EMPTY;
  st->in_value = 0;
  if (!st->seen) {
    st->seen = 1;
    st->first_status = status;
    st->first_len = st->trimmed_len;
    return CALL_ID_CONTINUE;
  }
  if (status != st->first_status || st->trimmed_len != st->first_len || st->mismatch_at < st->trimmed_len)
    return stop_with(st, SIPVSD_FP_CONFLICTING);
  return CALL_ID_CONTINUE;
}

/* The empty line (or the message's end): what the header section said. */
static __always_inline int header_section_end(struct call_id_state* st) {
  if (st->in_value && value_end(st) == CALL_ID_STOP) return CALL_ID_STOP;
  return stop_with(st, st->seen ? st->first_status : SIPVSD_FP_ABSENT);
}

/* ---- Header lines: find_header's loop and NameMatcher ---- */

/* The first byte of a header line: a continuation (SP/TAB), or a new
 * header, which ends the value before it. */
static __always_inline int line_start_byte(struct call_id_state* st, __u8 c) {
  if (is_wsp(c)) {
    /* Leading SP/TAB of a piece: value_byte would drop it. */
    st->phase = st->in_value ? PHASE_VALUE : PHASE_SKIP_LINE;
    return CALL_ID_CONTINUE;
  }
  if (st->in_value && value_end(st) == CALL_ID_STOP) return CALL_ID_STOP;
  c = lower(c);
  if (c == 'c') {
    st->phase = PHASE_LONG_NAME;
    st->name_pos = 1;
  } else {
    st->phase = c == 'i' ? PHASE_BEFORE_COLON : PHASE_SKIP_LINE;
  }
  return CALL_ID_CONTINUE;
}

static __always_inline void long_name_byte(struct call_id_state* st, __u8 c) {
  if (st->name_pos >= PATTERN_LEN || lower(c) != pattern_at(CALL_ID_LOWER, st->name_pos)) {
    st->phase = PHASE_SKIP_LINE;
    return;
  }
  if (++st->name_pos == PATTERN_LEN) st->phase = PHASE_BEFORE_COLON;
}

static __always_inline void before_colon_byte(struct call_id_state* st, __u8 c) {
  if (c == ':')
    value_begin(st);
  else if (!is_wsp(c))
    st->phase = PHASE_SKIP_LINE;
}

/* A byte of a line's content (not its LF, nor the CR ending it). */
static __always_inline int content_byte(struct call_id_state* st, __u8* value, __u8 c) {
  switch (st->phase) {
    case PHASE_START_LINE:
      return start_line_byte(st, c);
    case PHASE_LINE_START:
      return line_start_byte(st, c);
    case PHASE_LONG_NAME:
      long_name_byte(st, c);
      return CALL_ID_CONTINUE;
    case PHASE_BEFORE_COLON:
      before_colon_byte(st, c);
      return CALL_ID_CONTINUE;
    case PHASE_VALUE:
      return value_byte(st, value, c);
  }
  return CALL_ID_CONTINUE; /* PHASE_SKIP_LINE */
}

static __always_inline int line_end(struct call_id_state* st) {
  switch (st->phase) {
    case PHASE_START_LINE:
      return start_line_end(st);
    case PHASE_LINE_START: /* the empty line */
      return header_section_end(st);
    case PHASE_VALUE:
      value_piece_end(st);
      return CALL_ID_CONTINUE;
  }
  st->phase = PHASE_LINE_START; /* a name that did not match */
  return CALL_ID_CONTINUE;
}

/* The message's end closes its last line (if it has one), then the header section. */
static __always_inline int message_end(struct call_id_state* st) {
  if (st->phase != PHASE_LINE_START && line_end(st) == CALL_ID_STOP) return CALL_ID_STOP;
  return header_section_end(st);
}

/* The CR of a CRLF, or the message's last byte: not part of the line. */
static __always_inline int cr_ends_line(const struct call_id_parser* p, __u32 i) {
  const __u32 next = i + 1;
  return next >= p->state.len || p->payload[next & CALL_ID_PAYLOAD_MASK] == '\n';
}

/* Byte i of the payload; i == len is the message's end. */
static __always_inline int call_id_byte(struct call_id_parser* p, __u8* value, __u32 i) {
  struct call_id_state* st = &p->state;
  if (i >= st->len) return message_end(st);
  const __u8 c = p->payload[i & CALL_ID_PAYLOAD_MASK];
  if (c == '\n') return line_end(st);
  if (st->phase == PHASE_SKIP_LINE) return CALL_ID_CONTINUE; /* the fast case: most header lines */
  if (c == '\r' && cr_ends_line(p, i)) return CALL_ID_CONTINUE;
  return content_byte(st, value, c);
}

/* ---- Words: 8 bytes the byte walk would pass over without a look ---- */

#define ONES_64 0x0101010101010101ULL
#define HIGHS_64 0x8080808080808080ULL

/* Whether any of the word's 8 bytes is c (a zero byte of w ^ c...c). */
static __always_inline int word_has(__u64 w, __u8 c) {
  const __u64 x = w ^ (ONES_64 * c);
  return ((x - ONES_64) & ~x & HIGHS_64) != 0;
}

/* Payload bytes i..i+7 (i + 8 <= len), little-endian. One unaligned 8-byte
 * load, in assembly: clang splits an unaligned load into 8 byte loads (the
 * JITs on x86-64 and arm64 do unaligned loads, and the verifier allows them
 * where the architecture does). The index is masked, and word_overrun keeps
 * the masked reach inside the parser. */
static __always_inline __u64 payload_word(const struct call_id_parser* p, __u32 i) {
  const __u8* at = &p->payload[i & CALL_ID_PAYLOAD_MASK];
  __u64 w;
  asm volatile("%[w] = *(u64 *)(%[at] + 0)" : [w] "=r"(w) : [at] "r"(at));
  return w;
}

/* The index of the first LF in a word that holds one: the lowest byte the
 * zero-byte test flags (higher ones may be false), found by a multiply. */
static __always_inline __u32 first_lf(__u64 w) {
  const __u64 x = w ^ (ONES_64 * '\n');
  const __u64 flags = (x - ONES_64) & ~x & HIGHS_64;
  return (((flags & -flags) >> 7) * 0x0001020304050607ULL) >> 56;
}

/* Whether a line starting with c cannot be a Call-ID, nor continue one,
 * nor be the empty line: what line_start_byte would send to PHASE_SKIP_LINE
 * (when no value is open, as in that phase). */
static __always_inline int skipped_line_start(__u8 c) {
  const __u8 l = lower(c);
  return l != 'c' && l != 'i' && !is_wsp(c) && c != '\r' && c != '\n';
}

/* Lines that cannot be a Call-ID (PHASE_SKIP_LINE) are passed over a word at
 * a time, up to their LF, and on through the next line when its first byte
 * says it cannot be one either; at most CALL_ID_SKIP_WORDS words per unit.
 * Returns where the byte walk must go on, or 0 when the unit is done (pos is
 * never 0 here: the start line comes first). */
static __always_inline __u32 skip_line(const struct call_id_parser* p, struct call_id_state* st, __u32 pos) {
#pragma unroll
  for (int k = 0; k < CALL_ID_SKIP_WORDS; k++) {
    if (pos + CALL_ID_WORD > st->len) return pos; /* the message's last bytes: one at a time */
    const __u64 w = payload_word(p, pos);
    if (!word_has(w, '\n')) {
      pos += CALL_ID_WORD;
      continue;
    }
    const __u32 next = pos + first_lf(w) + 1;
    if (next < st->len && skipped_line_start(p->payload[next & CALL_ID_PAYLOAD_MASK])) {
      pos = next + 1;
      continue;
    }
    /* What line_end does for a line that did not match. */
    st->pos = next;
    st->phase = PHASE_LINE_START;
    return 0;
  }
  st->pos = pos;
  return 0;
}

/* A piece of the first Call-ID value, once it has text: a word of 8 bytes
 * none of which is SP, TAB, CR or LF is 8 bytes value_byte would append one
 * by one (none trimmed, none past the cap), so they are appended at once.
 * Returns where the byte walk goes on. */
static __always_inline __u32 copy_value(const struct call_id_parser* p, struct call_id_state* st, __u8* value,
                                        __u32 pos) {
  __u32 at = st->value_len;
#pragma unroll
  for (int k = 0; k < CALL_ID_SKIP_WORDS; k++) {
    /* The 8 bytes end before the cap's last byte, which stays a byte's business. */
    if (pos + CALL_ID_WORD > st->len || at > SIPVSD_FP_MAX_CALL_ID - 1 - CALL_ID_WORD) return pos;
    barrier_var(at); /* the verifier bounds the store by this very register */
    const __u64 w = payload_word(p, pos);
    if (word_has(w, ' ') || word_has(w, '\t') || word_has(w, '\r') || word_has(w, '\n')) return pos;
    /* A no-op mask, for 6.1's verifier: it loses the bound of `at` when
     * clang spills it. */
    __u8* to = value + (at & 0xff);
    asm volatile("*(u64 *)(%[to] + 0) = %[w]" ::[to] "r"(to), [w] "r"(w) : "memory");
    at += CALL_ID_WORD;
    st->value_len = at;
    st->trimmed_len = at;
    if (at > st->written_len) st->written_len = at;
    pos += CALL_ID_WORD;
  }
  return pos;
}

/* A request line's URI (once the line cannot be a status line) is passed
 * over a word at a time while no byte is an SP or LF: a CR there is an
 * ordinary byte, as a CR not ending the line is, and one that ends the line
 * ends it before the SP the request line needs (not SIP, either way).
 * Returns where the byte walk goes on. */
static __always_inline __u32 skip_uri(const struct call_id_parser* p, const struct call_id_state* st, __u32 pos) {
#pragma unroll
  for (int k = 0; k < CALL_ID_SKIP_WORDS; k++) {
    if (pos + CALL_ID_WORD > st->len) return pos;
    const __u64 w = payload_word(p, pos);
    if (word_has(w, '\n') || word_has(w, ' ')) return pos;
    pos += CALL_ID_WORD;
  }
  return pos;
}

/* One unit of the walk: words passed over where the byte walk would only
 * wait for an LF (or an SP), then a byte (pos == len: the message's end). */
static __always_inline int call_id_unit(struct call_id_parser* p, __u8* value) {
  struct call_id_state* st = &p->state;
  __u32 pos = st->pos;
  if (st->phase == PHASE_SKIP_LINE) {
    pos = skip_line(p, st, pos);
    if (pos == 0) return CALL_ID_CONTINUE;
  } else if (st->phase == PHASE_START_LINE && st->request_part == REQUEST_URI && !st->status_line_ok) {
    pos = skip_uri(p, st, pos);
  } else if (st->phase == PHASE_VALUE && st->piece_has_text && !st->seen) {
    pos = copy_value(p, st, value, pos);
  }
  st->pos = pos + 1;
  return call_id_byte(p, value, pos);
}

/* bpf_loop's callback: CALL_ID_UNITS_PER_STEP units from state.pos on. A
 * call (and its return, expensive where the kernel mitigates return-stack
 * attacks) costs more than a unit's work, so each handles several. The
 * barrier makes each unit read the state from memory: what clang would
 * otherwise carry over in registers, as constants from the branch taken,
 * would keep the verifier from merging the branches' states unit after unit
 * (its work would multiply instead of add up). Unrolled: 6.1's verifier
 * gives up on the loop itself ("the sequence of 8193 jumps is too
 * complex"), where newer ones pass it. */
static long call_id_step(__u32 step, void* ctx) {
  struct call_id_walk* walk = ctx;
#pragma unroll
  for (__u32 k = 0; k < CALL_ID_UNITS_PER_STEP; k++) {
    if (call_id_unit(walk->parser, walk->value) == CALL_ID_STOP) return CALL_ID_STOP;
    asm volatile("" ::: "memory");
  }
  return CALL_ID_CONTINUE;
}

/* bpf_loop's callback: zeroes value byte zero_from + i. */
static long zero_value_byte(__u32 i, void* ctx) {
  struct call_id_walk* walk = ctx;
  const __u32 pos = walk->zero_from + i;
  if (pos < SIPVSD_FP_MAX_CALL_ID) walk->value[pos] = 0;
  return CALL_ID_CONTINUE;
}

/* Finds the Call-ID in the first `len` bytes of parser->payload (len <=
 * SIPVSD_FP_MAX_PAYLOAD). `value` (SIPVSD_FP_MAX_CALL_ID bytes in a map
 * value) must be zero on entry; when FOUND it holds the Call-ID's *value_len
 * bytes and zeros after them, ready to be hashed as part of a key. */
static __always_inline __u32 find_call_id(struct call_id_parser* parser, __u32 len, __u8* value, __u32* value_len) {
  struct call_id_state* st = &parser->state;
  __builtin_memset(st, 0, sizeof(*st));
  st->len = len;
  st->phase = PHASE_START_LINE;
  st->status_line_ok = 1;
  st->request_part = REQUEST_METHOD;
  st->result = SIPVSD_FP_NOT_PARSED; /* if the walk did not run to its end */

  struct call_id_walk walk = {.parser = parser, .value = value};
  /* Enough steps to reach pos == len, the message's end, a byte per unit. */
  bpf_loop(len / CALL_ID_UNITS_PER_STEP + 2, call_id_step, &walk, 0);
  if (st->result != SIPVSD_FP_FOUND) return st->result;

  *value_len = st->first_len;
  /* Trailing SP/TAB written then trimmed (rare): the key needs zeros there. */
  if (st->written_len > st->first_len) {
    walk.zero_from = st->first_len;
    bpf_loop(st->written_len - st->first_len, zero_value_byte, &walk, 0);
  }
  return SIPVSD_FP_FOUND;
}

#endif
