#pragma once
// While one of these lives, every allocation by operator new on its thread
// throws std::bad_alloc (see refused_allocations.cpp).

namespace test {

class RefusedAllocations {
 public:
  RefusedAllocations();
  ~RefusedAllocations();
  RefusedAllocations(const RefusedAllocations&) = delete;
  RefusedAllocations& operator=(const RefusedAllocations&) = delete;
};

}  // namespace test
