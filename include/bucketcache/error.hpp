// Errors thrown by bucketcache's C++ API.
//
// Every exception the library throws derives from bucketcache::Error and carries an
// ErrorCode. A missing, expired, corrupt or foreign entry is a miss: KeyError from get(),
// an empty optional from try_get().
#pragma once

#include <stdexcept>
#include <string>

#include "bucketcache/export.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

// Values match the C API's BC_* codes (bucketcache.h) and never change.
enum class ErrorCode : int {
  ok = 0,
  not_found = -1,         // BC_ENOTFOUND: no usable entry for the key
  invalid_argument = -2,  // BC_EINVAL: bad key, bad option value, negative lifetime...
  io = -3,                // BC_EIO: the file system refused (permission, EIO, disk full)
  corrupt = -4,           // BC_ECORRUPT: an entry failed its checks
  serialize = -5,         // BC_ESERIALIZE: a value could not be (de)serialized
  no_memory = -6,         // BC_ENOMEM
  unsupported = -7,       // BC_EUNSUPPORTED: unknown option or feature
  timeout = -8,           // BC_ETIMEOUT
  user = -9,              // BC_EUSER: user code (callback) failed
  other = -10,            // BC_ERROR: anything else
  exists = -11,           // BC_EEXISTS: the key already has a usable entry (add)
};

// Short, stable description of a code ("not found", "I/O error", ...).
BUCKETCACHE_API const char* error_code_name(ErrorCode code) noexcept;

class BUCKETCACHE_API Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message);
  ~Error() override;
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// No usable entry for the key (absent, expired, corrupt, foreign or unreadable).
class BUCKETCACHE_API KeyError : public Error {
 public:
  explicit KeyError(const std::string& message);
  ~KeyError() override;
};

// A bad argument: an invalid key, a negative lifetime, a bad option value.
class BUCKETCACHE_API InvalidArgument : public Error {
 public:
  explicit InvalidArgument(const std::string& message);
  ~InvalidArgument() override;
};

// The file system failed in a way that is not "entry absent"; message has path and errno.
class BUCKETCACHE_API IoError : public Error {
 public:
  IoError(const std::string& message, int errno_value);
  ~IoError() override;
  int errno_value() const noexcept { return errno_; }

 private:
  int errno_;
};

// A value could not be serialized (on set). Deserialization failures on get are misses.
class BUCKETCACHE_API SerializationError : public Error {
 public:
  explicit SerializationError(const std::string& message);
  ~SerializationError() override;
};

BUCKETCACHE_NAMESPACE_END
