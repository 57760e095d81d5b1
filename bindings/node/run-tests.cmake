# Runs the Node binding's tests (called by ctest; see CMakeLists.txt):
#   cmake -DNODE=... -DNPM=... -DSOURCE_DIR=bindings/node -DWORK_DIR=<build>/npm -P run-tests.cmake
# 1. `npm ci` into WORK_DIR when its node_modules is missing or older than the lockfile;
# 2. `node --test` on SOURCE_DIR/test/*.test.js with NODE_PATH=WORK_DIR/node_modules.

foreach(var NODE NPM SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run-tests.cmake: -D${var}=... is required")
  endif()
endforeach()

file(SHA256 ${SOURCE_DIR}/package.json package_hash)
file(SHA256 ${SOURCE_DIR}/package-lock.json lock_hash)
set(wanted "${package_hash} ${lock_hash}")
set(stamp ${WORK_DIR}/npm-ci.stamp)
set(installed "")
if(EXISTS ${stamp} AND EXISTS ${WORK_DIR}/node_modules/koffi/package.json)
  file(READ ${stamp} installed)
endif()

if(NOT installed STREQUAL wanted)
  message(STATUS "npm ci in ${WORK_DIR}")
  file(REMOVE_RECURSE ${WORK_DIR})
  file(MAKE_DIRECTORY ${WORK_DIR})
  file(COPY ${SOURCE_DIR}/package.json ${SOURCE_DIR}/package-lock.json DESTINATION ${WORK_DIR})
  execute_process(COMMAND ${NPM} ci --no-audit --no-fund
    WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "npm ci failed (${rc}) in ${WORK_DIR}")
  endif()
  file(WRITE ${stamp} "${wanted}")
endif()

file(GLOB tests ${SOURCE_DIR}/test/*.test.js)
list(SORT tests)
if(NOT tests)
  message(FATAL_ERROR "no tests in ${SOURCE_DIR}/test")
endif()
set(ENV{NODE_PATH} ${WORK_DIR}/node_modules)
execute_process(COMMAND ${NODE} --test ${tests}
  WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "node --test failed (${rc})")
endif()
