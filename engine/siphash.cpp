#include "engine/siphash.hpp"

#include <sys/random.h>

#include <stdexcept>

namespace sipvs {

HashKey HashKey::random() {
  HashKey key;
  if (getrandom(&key, sizeof key, 0) != static_cast<ssize_t>(sizeof key))
    throw std::runtime_error("getrandom failed: cannot seed the template hash");
  return key;
}

}  // namespace sipvs
