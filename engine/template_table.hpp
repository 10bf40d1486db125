#pragma once
// The persistence templates: key = (protocol, VIP, VPORT or fwmark, client
// address under the persistence mask, client port for per-flow entries) plus
// the PE's data. Sharded, each shard with its own lock, nodes from a per-shard
// pool, so the per-packet path takes no global lock and, once the pool has
// grown to the working set, allocates nothing. Keyed SipHash resists flooding.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/ip_address.hpp"
#include "engine/pe/persistence_engine.hpp"
#include "engine/siphash.hpp"
#include "engine/template_key.hpp"
#include "engine/template_mirror.hpp"
#include "engine/thread_safety.hpp"

namespace sipvs {

// How a template came to name its server.
enum class TemplateOrigin : uint8_t {
  scheduled,  // a scheduler picked the server for a message that came in
  learned,    // the server sent a message of the call out (Engine::Decider::learn)
};

struct Template {
  Template* next;
  uint64_t hash;
  TemplateKey key;
  uint32_t server_ref;  // the engine's handle of the real server
  uint32_t expires;     // monotonic seconds
  uint32_t announced;   // when the change log last told the peers of it (0: never)
  TemplateOrigin origin;  // of its binding to server_ref
  char pe_data[kMaxSipValue];  // key.pe_len bytes used; room for the longest (see NodePool)

  std::string_view pe() const { return {pe_data, key.pe_len}; }
};
static_assert(sizeof(Template) == 328, "the memory bound documented at NodePool");

// The engine learns which server each template holds, for lc/wlc's counts,
// and which templates only their copy kept (template sync tells the peers).
class TemplateListener {
 public:
  virtual void bound(uint32_t server_ref) = 0;
  virtual void released(uint32_t server_ref) = 0;
  // t's mirror's copy (template_mirror.hpp) was used after the engine last
  // saw t; t.expires is now the copy's. Under t's shard lock.
  virtual void kept_by_copy(Template& t, uint32_t now) = 0;

 protected:
  ~TemplateListener() = default;
};

class TemplateTable {
 public:
  TemplateTable(uint64_t max_templates, const HashKey& secret, TemplateListener& listener);
  ~TemplateTable();
  TemplateTable(const TemplateTable&) = delete;
  TemplateTable& operator=(const TemplateTable&) = delete;

  uint64_t hash(const TemplateKey& key, const PersistenceEngine* pe, std::string_view pe_data) const;

  class Bucket;
  // The bucket of `key` (with its pe data), locked until the Bucket goes:
  // what IPVS's ip_vs_ct_in_get and ip_vs_conn_new do for one template.
  Bucket bucket(const TemplateKey& key, uint64_t hash, const PersistenceEngine* pe, std::string_view pe_data);

  // Stores a template as given (a restored one); false if one exists or no room.
  bool insert(const TemplateKey& key, uint64_t hash, std::string_view pe_data, uint32_t server_ref,
              TemplateOrigin origin, uint32_t expires);

  // Whether the peers (template sync) are due to hear of a live template if
  // its mirror's copy was used: expiry then looks at the copy.
  using CopyCheckDue = std::function<bool(const Template&)>;
  // Removes expired templates from up to `buckets` buckets, shard by shard,
  // each under its own lock for a short time; returns how many went. With
  // `copy_due`, also takes up the uses the copies of the live ones it names saw.
  std::size_t expire_step(uint32_t now, std::size_t buckets, const CopyCheckDue* copy_due = nullptr);

  // Calls f(const Template&) for every template, one shard locked at a time,
  // until f returns false.
  template <class F>
  void for_each(F&& f) const;
  // Where a walk in steps (for_some) stands: the next shard and bucket.
  struct Cursor {
    std::size_t shard = 0;
    std::size_t bucket = 0;
    bool done() const { return shard == SIZE_MAX; }
  };
  // Calls f(const Template&) for the templates of up to `buckets` buckets
  // from `cursor` on, one shard locked at a time, and moves the cursor past
  // them. A template is seen at least once over the whole walk: a shard that
  // grows meanwhile only moves templates to higher buckets, so some may be
  // seen twice, none missed.
  template <class F>
  void for_some(Cursor& cursor, std::size_t buckets, F&& f) const;
  // Removes every template for which pred(const Template&) is true.
  template <class Pred>
  std::size_t remove_if(Pred&& pred);

  // Set once, before the first packet: from then on expiry asks it whether
  // a template lives on, and every removal tells it.
  void set_mirror(TemplateMirror* mirror) { mirror_.store(mirror, std::memory_order_release); }
  TemplateMirror* mirror() const { return mirror_.load(std::memory_order_acquire); }

  uint64_t size() const;
  // The shards' caps added up, saturated: a cap near UINT64_MAX must not wrap.
  uint64_t max_size() const {
    return per_shard_max_ > UINT64_MAX / shards_.size() ? UINT64_MAX : per_shard_max_ * shards_.size();
  }
  uint64_t expired_total() const { return expired_.load(std::memory_order_relaxed); }
  // Bytes the node pools hold, in use or free (the buckets not counted).
  uint64_t bytes_reserved() const;

 private:
  // Nodes of one size, with room for the longest pe data, carved from 64 KiB
  // chunks and recycled through a free list: steady traffic reuses nodes
  // instead of calling malloc, and any freed node serves any later template,
  // so a shard never holds more nodes than its cap. Memory is thus at most
  // max_templates x sizeof(Template) (328 B) plus one partly carved chunk per
  // shard, whatever the mix of Call-ID lengths. Size classes would save memory
  // on short Call-IDs but let each class keep a cap's worth of free nodes:
  // cycling the lengths drove the 1 M default to 3.5 GB.
  class NodePool {
   public:
    Template* allocate();
    void free(Template* t);
    std::size_t bytes_reserved() const { return chunks_.size() * kNodesPerChunk * sizeof(Template); }

   private:
    static constexpr std::size_t kNodesPerChunk = 64 * 1024 / sizeof(Template);
    Template* free_list_ = nullptr;
    std::vector<std::unique_ptr<Template[]>> chunks_;
    std::size_t chunk_used_ = kNodesPerChunk;  // nodes carved from the last chunk
  };

  struct alignas(64) Shard {
    mutable Mutex mutex;
    std::vector<Template*> buckets SIPVS_GUARDED_BY(mutex);
    std::size_t sweep_cursor SIPVS_GUARDED_BY(mutex) = 0;
    std::atomic<uint64_t> count{0};
    NodePool pool SIPVS_GUARDED_BY(mutex);
  };

  Shard& shard_of(uint64_t hash) { return shards_[(hash >> 32) & (shards_.size() - 1)]; }
  // Doubles the shard's buckets when it holds more templates than buckets.
  void grow_if_loaded(Shard& s) SIPVS_REQUIRES(s.mutex);
  static std::size_t bucket_of(const Shard& s, uint64_t hash) SIPVS_REQUIRES(s.mutex) {
    return hash & (s.buckets.size() - 1);
  }
  // Unlinks and frees *link's node.
  void erase(Shard& s, Template** link) SIPVS_REQUIRES(s.mutex);
  std::size_t sweep(Shard& s, uint32_t now, std::size_t buckets, const CopyCheckDue* copy_due = nullptr)
      SIPVS_REQUIRES(s.mutex);
  Template* create(Shard& s, const TemplateKey& key, uint64_t hash, std::string_view pe_data, uint32_t server_ref,
                   TemplateOrigin origin, uint32_t expires) SIPVS_REQUIRES(s.mutex);

  HashKey secret_;
  TemplateListener& listener_;
  std::vector<Shard> shards_;
  uint64_t per_shard_max_;
  std::size_t max_buckets_;  // per shard: a load factor of one at the cap
  Mutex expire_mutex_;  // one housekeeping caller at a time owns the cursor
  std::size_t expire_shard_ SIPVS_GUARDED_BY(expire_mutex_) = 0;
  std::atomic<uint64_t> expired_{0};
  std::atomic<TemplateMirror*> mirror_{nullptr};
  // Takes up the uses t's mirror's copy saw since the engine last saw t: t's
  // expiry moves to the copy's, and the listener hears of it. False when
  // there were none (or there is no mirror). Under t's shard lock.
  bool take_up_copy(Template& t, uint32_t now) SIPVS_NO_THREAD_SAFETY_ANALYSIS;
};

// One key's bucket under its shard's lock. Pointers to templates it returns
// are valid while it lives. Its members touch the shard's guarded state
// without naming the lock: the analysis cannot follow a lock held by an
// object that bucket() returns, so they are not analysed.
class TemplateTable::Bucket {
 public:
  // The live template with the key; an expired one is removed (and counted).
  Template* find(uint32_t now) SIPVS_NO_THREAD_SAFETY_ANALYSIS;
  // Points the call's template at another server (its own is gone, or the
  // other one sent a message of the call).
  void rebind(Template& t, uint32_t server_ref, TemplateOrigin origin);
  void erase(Template& t) SIPVS_NO_THREAD_SAFETY_ANALYSIS;
  // Whether the shard is at its cap, after removing a few expired templates
  // to make room (a bounded number of buckets, so a flood at the cap costs little).
  bool full(uint32_t now) SIPVS_NO_THREAD_SAFETY_ANALYSIS;
  // Stores the key's template, not yet announced; the caller checked full() first.
  Template& insert(uint32_t server_ref, TemplateOrigin origin, uint32_t expires, uint32_t now)
      SIPVS_NO_THREAD_SAFETY_ANALYSIS;

 private:
  friend class TemplateTable;
  Bucket(TemplateTable& table, Shard& shard, const TemplateKey& key, uint64_t hash, const PersistenceEngine* pe,
         std::string_view pe_data);
  Template** link_to(const Template& t) SIPVS_NO_THREAD_SAFETY_ANALYSIS;

  TemplateTable& table_;
  Shard& shard_;
  std::unique_lock<Mutex> lock_;
  const TemplateKey key_;
  const uint64_t hash_;
  const PersistenceEngine* const pe_;
  const std::string_view pe_data_;
};

inline bool expired(const Template& t, uint32_t now) { return static_cast<int32_t>(t.expires - now) <= 0; }

template <class F>
void TemplateTable::for_each(F&& f) const {
  for (const Shard& s : shards_) {
    MutexLock lock(s.mutex);
    for (const Template* head : s.buckets)
      for (const Template* t = head; t; t = t->next)
        if (!f(*t)) return;
  }
}

template <class F>
void TemplateTable::for_some(Cursor& cursor, std::size_t buckets, F&& f) const {
  while (buckets > 0 && !cursor.done()) {
    const Shard& s = shards_[cursor.shard];
    {
      MutexLock lock(s.mutex);
      for (; buckets > 0 && cursor.bucket < s.buckets.size(); ++cursor.bucket, --buckets)
        for (const Template* t = s.buckets[cursor.bucket]; t; t = t->next) f(*t);
      if (cursor.bucket < s.buckets.size()) return;
    }
    cursor.bucket = 0;
    cursor.shard = cursor.shard + 1 < shards_.size() ? cursor.shard + 1 : SIZE_MAX;
  }
}

template <class Pred>
std::size_t TemplateTable::remove_if(Pred&& pred) {
  std::size_t removed = 0;
  for (Shard& s : shards_) {
    MutexLock lock(s.mutex);
    for (Template*& head : s.buckets) {
      for (Template** link = &head; *link;) {
        if (pred(static_cast<const Template&>(**link))) {
          erase(s, link);
          ++removed;
        } else {
          link = &(*link)->next;
        }
      }
    }
  }
  return removed;
}

}  // namespace sipvs
