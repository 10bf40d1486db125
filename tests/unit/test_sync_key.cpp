// Key files: 64 hex digits, the owner's alone; every other file refused with
// its path and the reason. The MAC: the same key verifies, another does not.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <variant>

#include "temp_dir.hpp"
#include "sync/authenticator.hpp"

using namespace sipvs::sync;

namespace {

std::string write_key(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
  return path;
}

std::string error_of(const std::string& path) {
  auto loaded = load_key_file(path);
  return std::holds_alternative<std::string>(loaded) ? std::get<std::string>(loaded) : "";
}

const std::string kHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1F";

}  // namespace

TEST_CASE("a key file signs; the same key verifies, another does not") {
  test::TempDir dir;
  auto loaded = load_key_file(write_key(dir.file("key"), kHex + "\n"));
  REQUIRE(std::holds_alternative<Authenticator>(loaded));
  const Authenticator& auth = std::get<Authenticator>(loaded);
  const uint8_t data[] = {1, 2, 3};
  const Mac mac = auth.sign(data);
  CHECK(auth.verify(data, mac));
  Key key;
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  CHECK(Authenticator(key).verify(data, mac));  // the file's bytes
  key[31] ^= 1;
  CHECK_FALSE(Authenticator(key).verify(data, mac));
  const uint8_t other[] = {1, 2, 4};
  CHECK_FALSE(auth.verify(other, mac));
}

TEST_CASE("key files refused, with path and reason") {
  test::TempDir dir;
  const std::string p = dir.file("key");
  CHECK(error_of(dir.file("none")) == dir.file("none") + ": No such file or directory");
  CHECK(error_of(write_key(p, kHex, 0644)) == p + ": mode 0644 lets others read the key (chmod 600)");
  CHECK(error_of(write_key(p, kHex, 0640)) == p + ": mode 0640 lets others read the key (chmod 600)");
  CHECK(error_of(write_key(p, kHex, 0400)) == "");
  CHECK(error_of(write_key(p, kHex.substr(2))) ==
        p + ": line 1: the key is 64 hexadecimal digits (openssl rand -hex 32), not 62 characters");
  CHECK(error_of(write_key(p, kHex + "\n\n")) ==
        p + ": line 1: the key is 64 hexadecimal digits (openssl rand -hex 32), not 65 characters");
  CHECK(error_of(write_key(p, "g" + kHex.substr(1))) == p + ": line 1: column 1: not a hexadecimal digit");
  CHECK(error_of(write_key(p, kHex.substr(0, 9) + "x" + kHex.substr(10))) ==
        p + ": line 1: column 10: not a hexadecimal digit");
  CHECK(error_of(dir.path().string()) == dir.path().string() + ": not a regular file");
}
