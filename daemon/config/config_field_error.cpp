#include "daemon/config/config_field_error.hpp"

#include <utility>

namespace sipvsd {

ConfigFieldError::ConfigFieldError(std::string field, std::string reason, Kind kind)
    : ConfigFieldError(sipvs::ConfigError{std::move(field), std::move(reason), kind}) {}

ConfigFieldError::ConfigFieldError(sipvs::ConfigError error)
    : std::runtime_error(error.message()), error_(std::move(error)) {}

}  // namespace sipvsd
