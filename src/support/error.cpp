#include "bucketcache/error.hpp"

#include <cstring>

BUCKETCACHE_NAMESPACE_BEGIN

const char* error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::ok:
      return "success";
    case ErrorCode::not_found:
      return "not found";
    case ErrorCode::invalid_argument:
      return "invalid argument";
    case ErrorCode::io:
      return "I/O error";
    case ErrorCode::corrupt:
      return "corrupt entry";
    case ErrorCode::serialize:
      return "serialization error";
    case ErrorCode::no_memory:
      return "out of memory";
    case ErrorCode::unsupported:
      return "unsupported";
    case ErrorCode::timeout:
      return "timed out";
    case ErrorCode::user:
      return "user callback failed";
    case ErrorCode::other:
      return "error";
    case ErrorCode::exists:
      return "entry exists";
  }
  return "unknown error code";
}

Error::Error(ErrorCode code, const std::string& message)
    : std::runtime_error(message), code_(code) {}

KeyError::KeyError(const std::string& message) : Error(ErrorCode::not_found, message) {}

InvalidArgument::InvalidArgument(const std::string& message)
    : Error(ErrorCode::invalid_argument, message) {}

IoError::IoError(const std::string& message, int errno_value)
    : Error(ErrorCode::io, message), errno_(errno_value) {}

SerializationError::SerializationError(const std::string& message)
    : Error(ErrorCode::serialize, message) {}

// Out-of-line destructors anchor each class's vtable and typeinfo in the library.
Error::~Error() = default;
KeyError::~KeyError() = default;
InvalidArgument::~InvalidArgument() = default;
IoError::~IoError() = default;
SerializationError::~SerializationError() = default;

BUCKETCACHE_NAMESPACE_END
