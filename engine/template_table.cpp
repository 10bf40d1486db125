#include "engine/template_table.hpp"

#include <bit>
#include <memory>

namespace sipvs {

Template* TemplateTable::NodePool::allocate() {
  if (Template* t = free_list_) {
    free_list_ = t->next;
    return t;
  }
  if (chunk_used_ == kNodesPerChunk) {
    chunks_.push_back(std::make_unique_for_overwrite<Template[]>(kNodesPerChunk));
    chunk_used_ = 0;
  }
  return &chunks_.back()[chunk_used_++];
}

void TemplateTable::NodePool::free(Template* t) {
  t->next = free_list_;
  free_list_ = t;
}

namespace {
// Small tables get one shard, so that a cap of a few hundred is not split
// into slivers; large ones get up to 64 so that workers rarely meet on a lock.
std::size_t shard_count(uint64_t max_templates) {
  const uint64_t wanted = std::max<uint64_t>(1, max_templates / 4096);
  return std::min<std::size_t>(64, std::bit_floor(wanted));
}
}  // namespace

TemplateTable::TemplateTable(uint64_t max_templates, const HashKey& secret, TemplateListener& listener)
    : secret_(secret), listener_(listener), shards_(shard_count(max_templates)) {
  // Rounded up without adding first: max_templates may be near UINT64_MAX.
  per_shard_max_ = max_templates / shards_.size() + (max_templates % shards_.size() != 0);
  max_buckets_ = std::bit_ceil(std::max<uint64_t>(16, per_shard_max_));
  // Buckets grow with the live count rather than being sized for the cap:
  // a small array stays in cache, where one sized for a million would make
  // every lookup miss even with a few thousand calls.
  for (Shard& s : shards_) s.buckets.assign(std::min<std::size_t>(max_buckets_, 1024), nullptr);
}

void TemplateTable::grow_if_loaded(Shard& s) {
  if (s.count.load(std::memory_order_relaxed) < s.buckets.size() || s.buckets.size() >= max_buckets_) return;
  std::vector<Template*> grown(s.buckets.size() * 2, nullptr);
  for (Template* head : s.buckets) {
    while (head) {
      Template* t = head;
      head = t->next;
      Template*& slot = grown[t->hash & (grown.size() - 1)];
      t->next = slot;
      slot = t;
    }
  }
  s.buckets.swap(grown);
}

TemplateTable::~TemplateTable() = default;

uint64_t TemplateTable::hash(const TemplateKey& key, const PersistenceEngine* pe, std::string_view pe_data) const {
  SipHasher h(secret_);
  h.update(&key, sizeof key);
  if (key.pe_len) {
    if (pe)
      pe->hash_key(h, pe_data);
    else
      h.update(pe_data);
  }
  return h.finish();
}

Template* TemplateTable::create(Shard& s, const TemplateKey& key, uint64_t hash, std::string_view pe_data,
                                uint32_t server_ref, TemplateOrigin origin, uint32_t expires) {
  Template* t = s.pool.allocate();
  Template** head = &s.buckets[bucket_of(s, hash)];
  t->next = *head;
  t->hash = hash;
  t->key = key;
  t->server_ref = server_ref;
  t->expires = expires;
  t->announced = 0;
  t->origin = origin;
  if (key.pe_len) std::memcpy(t->pe_data, pe_data.data(), key.pe_len);
  *head = t;
  s.count.fetch_add(1, std::memory_order_relaxed);
  listener_.bound(server_ref);
  return t;
}

void TemplateTable::erase(Shard& s, Template** link) {
  Template* t = *link;
  *link = t->next;
  if (TemplateMirror* m = mirror()) m->erased(*t);
  listener_.released(t->server_ref);
  s.pool.free(t);
  s.count.fetch_sub(1, std::memory_order_relaxed);
}

bool TemplateTable::take_up_copy(Template& t, uint32_t now) {
  TemplateMirror* m = mirror();
  if (!m) return false;
  const uint32_t copy = m->copy_expires(t);
  if (copy == 0 || static_cast<int32_t>(copy - t.expires) <= 0 || static_cast<int32_t>(copy - now) <= 0) return false;
  t.expires = copy;
  listener_.kept_by_copy(t, now);
  return true;
}

std::size_t TemplateTable::sweep(Shard& s, uint32_t now, std::size_t buckets, const CopyCheckDue* copy_due) {
  std::size_t removed = 0;
  for (std::size_t i = 0; i < buckets; ++i) {
    s.sweep_cursor = (s.sweep_cursor + 1) & (s.buckets.size() - 1);
    for (Template** link = &s.buckets[s.sweep_cursor]; *link;) {
      Template& t = **link;
      if (!expired(t, now)) {
        if (copy_due && (*copy_due)(t)) take_up_copy(t, now);
      } else if (!take_up_copy(t, now)) {
        erase(s, link);
        ++removed;
        continue;
      }
      link = &t.next;
    }
  }
  expired_.fetch_add(removed, std::memory_order_relaxed);
  return removed;
}

TemplateTable::Bucket TemplateTable::bucket(const TemplateKey& key, uint64_t hash, const PersistenceEngine* pe,
                                            std::string_view pe_data) {
  return Bucket(*this, shard_of(hash), key, hash, pe, pe_data);
}

TemplateTable::Bucket::Bucket(TemplateTable& table, Shard& shard, const TemplateKey& key, uint64_t hash,
                              const PersistenceEngine* pe, std::string_view pe_data)
    : table_(table), shard_(shard), lock_(shard.mutex), key_(key), hash_(hash), pe_(pe), pe_data_(pe_data) {}

Template* TemplateTable::Bucket::find(uint32_t now) {
  for (Template** link = &shard_.buckets[bucket_of(shard_, hash_)]; *link; link = &(*link)->next) {
    Template* t = *link;
    if (t->hash != hash_ || std::memcmp(&t->key, &key_, sizeof key_) != 0 ||
        (key_.pe_len && !(pe_ ? pe_->match(t->pe(), pe_data_) : t->pe() == pe_data_)))
      continue;
    if (!expired(*t, now) || table_.take_up_copy(*t, now)) return t;
    table_.erase(shard_, link);
    table_.expired_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  return nullptr;
}

Template** TemplateTable::Bucket::link_to(const Template& t) {
  Template** link = &shard_.buckets[bucket_of(shard_, hash_)];
  while (*link != &t) link = &(*link)->next;
  return link;
}

void TemplateTable::Bucket::rebind(Template& t, uint32_t server_ref, TemplateOrigin origin) {
  table_.listener_.released(t.server_ref);
  table_.listener_.bound(server_ref);
  t.server_ref = server_ref;
  t.origin = origin;
}

void TemplateTable::Bucket::erase(Template& t) { table_.erase(shard_, link_to(t)); }

bool TemplateTable::Bucket::full(uint32_t now) {
  if (shard_.count.load(std::memory_order_relaxed) >= table_.per_shard_max_) table_.sweep(shard_, now, 64);
  return shard_.count.load(std::memory_order_relaxed) >= table_.per_shard_max_;
}

Template& TemplateTable::Bucket::insert(uint32_t server_ref, TemplateOrigin origin, uint32_t expires, uint32_t now) {
  table_.grow_if_loaded(shard_);
  table_.sweep(shard_, now, 2);  // keeps up with expiry even without the housekeeping thread
  return *table_.create(shard_, key_, hash_, pe_data_, server_ref, origin, expires);
}

bool TemplateTable::insert(const TemplateKey& key, uint64_t hash, std::string_view pe_data, uint32_t server_ref,
                           TemplateOrigin origin, uint32_t expires) {
  Shard& s = shard_of(hash);
  MutexLock lock(s.mutex);
  if (s.count.load(std::memory_order_relaxed) >= per_shard_max_) return false;
  grow_if_loaded(s);
  for (const Template* t = s.buckets[bucket_of(s, hash)]; t; t = t->next)
    if (t->hash == hash && std::memcmp(&t->key, &key, sizeof key) == 0 && t->pe() == pe_data) return false;
  create(s, key, hash, pe_data, server_ref, origin, expires);
  return true;
}

std::size_t TemplateTable::expire_step(uint32_t now, std::size_t buckets, const CopyCheckDue* copy_due) {
  MutexLock cursor_lock(expire_mutex_);
  std::size_t removed = 0;
  // Each shard gets a slice of the budget, so one call touches them all and
  // holds each lock only for its slice.
  const std::size_t per_shard = std::max<std::size_t>(1, buckets / shards_.size());
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    Shard& s = shards_[expire_shard_];
    expire_shard_ = (expire_shard_ + 1) % shards_.size();
    MutexLock lock(s.mutex);
    removed += sweep(s, now, std::min(per_shard, s.buckets.size()), copy_due);
  }
  return removed;
}

uint64_t TemplateTable::bytes_reserved() const {
  uint64_t n = 0;
  for (const Shard& s : shards_) {
    MutexLock lock(s.mutex);
    n += s.pool.bytes_reserved();
  }
  return n;
}

uint64_t TemplateTable::size() const {
  uint64_t n = 0;
  for (const Shard& s : shards_) n += s.count.load(std::memory_order_relaxed);
  return n;
}

}  // namespace sipvs
