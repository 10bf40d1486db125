#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>

#include "api/auth.hpp"
#include "fixtures.hpp"

using sipvsd::api::authorized;
using sipvsd::api::load_token;

TEST_CASE("the token file must be private to its owner") {
  test::TempDir dir;
  const std::string path = dir.file("token");
  std::ofstream(path) << "  abc123 \nsecond line ignored\n";
  ::chmod(path.c_str(), 0600);
  CHECK(load_token(path) == "abc123");
  ::chmod(path.c_str(), 0400);
  CHECK(load_token(path) == "abc123");
  for (mode_t mode : {0640, 0604, 0660, 0644, 0620}) {
    CAPTURE(mode);
    ::chmod(path.c_str(), mode);
    CHECK_THROWS_WITH_AS(load_token(path), doctest::Contains("chmod 600"), std::runtime_error);
  }
  std::ofstream(path, std::ios::trunc) << " \n";
  ::chmod(path.c_str(), 0600);
  CHECK_THROWS_WITH_AS(load_token(path), doctest::Contains("empty"), std::runtime_error);
  CHECK_THROWS_AS(load_token(dir.file("missing")), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_token(dir.path().string()), doctest::Contains("not a regular file"), std::runtime_error);
}

TEST_CASE("Authorization: Bearer, scheme case-insensitive, token exact") {
  CHECK(authorized("Bearer abc", "abc"));
  CHECK(authorized("bearer abc", "abc"));
  CHECK_FALSE(authorized("Bearer ab", "abc"));
  CHECK_FALSE(authorized("Bearer abcd", "abc"));
  CHECK_FALSE(authorized("Bearer  abc", "abc"));
  CHECK_FALSE(authorized("Basic abc", "abc"));
  CHECK_FALSE(authorized("", "abc"));
  CHECK_FALSE(authorized("Bearer ", "abc"));
}
