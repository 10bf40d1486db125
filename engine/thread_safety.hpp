#pragma once
// Clang's thread safety analysis (-Wthread-safety): members say which mutex
// guards them, functions which mutex they need, and clang checks every access
// at compile time. std::mutex carries no annotations in libstdc++, hence this
// thin wrapper. Other compilers see plain attributes-free code.
#include <mutex>

#if defined(__clang__)
#define SIPVS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define SIPVS_THREAD_ANNOTATION(x)
#endif

#define SIPVS_CAPABILITY(name) SIPVS_THREAD_ANNOTATION(capability(name))
#define SIPVS_SCOPED_CAPABILITY SIPVS_THREAD_ANNOTATION(scoped_lockable)
#define SIPVS_GUARDED_BY(m) SIPVS_THREAD_ANNOTATION(guarded_by(m))
#define SIPVS_PT_GUARDED_BY(m) SIPVS_THREAD_ANNOTATION(pt_guarded_by(m))
#define SIPVS_REQUIRES(...) SIPVS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define SIPVS_EXCLUDES(...) SIPVS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define SIPVS_ACQUIRE(...) SIPVS_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define SIPVS_RELEASE(...) SIPVS_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define SIPVS_ACQUIRED_AFTER(...) SIPVS_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
// For the few functions whose locking the analysis cannot follow; say why at each.
#define SIPVS_NO_THREAD_SAFETY_ANALYSIS SIPVS_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace sipvs {

class SIPVS_CAPABILITY("mutex") Mutex {
 public:
  void lock() SIPVS_ACQUIRE() { m_.lock(); }
  void unlock() SIPVS_RELEASE() { m_.unlock(); }

 private:
  std::mutex m_;
};

// std::lock_guard for a Mutex, which the analysis understands. Meets
// BasicLockable, so std::condition_variable_any can wait on it.
class SIPVS_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& m) SIPVS_ACQUIRE(m) : m_(m) { m_.lock(); }
  ~MutexLock() SIPVS_RELEASE() { m_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;
  // For std::condition_variable_any::wait, which unlocks while it sleeps.
  void lock() SIPVS_ACQUIRE() { m_.lock(); }
  void unlock() SIPVS_RELEASE() { m_.unlock(); }

 private:
  Mutex& m_;
};

}  // namespace sipvs
