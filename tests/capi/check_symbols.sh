#!/bin/sh
# Every dynamic symbol libbucketcache.so defines is part of the C API (bc_*) or
# bucketcache's own C++ API; nothing from Boost, OpenSSL, spdlog, fmt, nlohmann, msgpack
# or std:: template instantiations leaks out.
set -eu
lib="$1"
nm -D --defined-only "$lib" | awk '{print $3}' | c++filt > /tmp/bc-symbols.$$
bad=$(grep -v -E '^(bc_[a-z_]+|bucketcache::.*|typeinfo for bucketcache::.*|typeinfo name for bucketcache::.*|vtable for bucketcache::.*|BUCKETCACHE_0)(@@BUCKETCACHE_0)?$' /tmp/bc-symbols.$$ || true)
count=$(wc -l < /tmp/bc-symbols.$$)
rm -f /tmp/bc-symbols.$$
if [ -n "$bad" ]; then
  echo "unexpected exported symbols:"
  echo "$bad"
  exit 1
fi
for s in bc_bucket_open bc_get_or_compute bc_strerror bc_last_error_message; do
  nm -D --defined-only "$lib" | grep -q " $s@@" || { echo "missing export $s"; exit 1; }
done
soname=$(readelf -d "$lib" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libbucketcache.so.0" ] || { echo "bad SONAME: $soname"; exit 1; }
echo "$count exported symbols, all allowed; SONAME $soname"
