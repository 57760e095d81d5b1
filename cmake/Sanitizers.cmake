# BUCKETCACHE_SANITIZE="address;undefined" or "thread" instruments everything built here.
if(BUCKETCACHE_SANITIZE)
  string(REPLACE ";" "," _bc_san "${BUCKETCACHE_SANITIZE}")
  add_compile_options(-fsanitize=${_bc_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_bc_san})
endif()
