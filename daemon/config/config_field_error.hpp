#pragma once
// The error of a configuration value: what the configuration file, the state
// file and the REST API report for a field that is not taken.
#include <stdexcept>
#include <string>

#include "engine/engine_config.hpp"

namespace sipvsd {

// A configuration, or a change to it, that is not taken: a field missing,
// of the wrong type or with a bad value, a clash between objects, or a
// setting only a restart can change (the kinds of sipvs::ConfigError).
// `field` is a path like "services[1].servers[0].mark".
class ConfigFieldError : public std::runtime_error {
 public:
  using Kind = sipvs::ConfigError::Kind;
  ConfigFieldError(std::string field, std::string reason, Kind kind = Kind::invalid);
  explicit ConfigFieldError(sipvs::ConfigError error);
  const std::string& field() const { return error_.field; }
  const std::string& reason() const { return error_.reason; }
  Kind kind() const { return error_.kind; }

 private:
  sipvs::ConfigError error_;
};

}  // namespace sipvsd
