// Convenience header including every built-in backend: RawBackend, JsonBackend,
// MsgpackBackend and BoostBackend. It needs nlohmann-json, msgpack-cxx and
// Boost.Serialization; include only the backend header you use (bucketcache/backends/
// raw.hpp, json.hpp, msgpack.hpp or boost.hpp) to depend on that library alone.
#pragma once

#include "bucketcache/backends/boost.hpp"
#include "bucketcache/backends/json.hpp"
#include "bucketcache/backends/msgpack.hpp"
#include "bucketcache/backends/raw.hpp"
