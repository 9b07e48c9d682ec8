# ctest driver: install the build tree into WORK_DIR/prefix, build tests/c/consumer against it with
# find_package(ijkonet), run its programs, and compile once more through pkg-config.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  message("${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
run("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
# The installed layout: the versioned file, its SONAME link and the development link.
file(GLOB installed RELATIVE "${prefix}/lib" "${prefix}/lib/libijkonet.so*")
list(SORT installed)
list(LENGTH installed count)
if(NOT count EQUAL 3 OR NOT IS_SYMLINK "${prefix}/lib/libijkonet.so" OR NOT IS_SYMLINK "${prefix}/lib/${SONAME}")
  message(FATAL_ERROR "expected libijkonet.so -> ${SONAME} -> libijkonet.so.X.Y.Z, found: ${installed}")
endif()
run("${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}/build" "-DCMAKE_PREFIX_PATH=${prefix}")
run("${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/consumer_shared")
run("${WORK_DIR}/build/consumer_static")

find_program(PKG_CONFIG pkg-config)
if(PKG_CONFIG)
  set(ENV{PKG_CONFIG_PATH} "${prefix}/lib/pkgconfig")
  execute_process(COMMAND "${PKG_CONFIG}" --cflags --libs ijkonet OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE
                  COMMAND_ERROR_IS_FATAL ANY)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(cc -std=c11 -Wall -Wextra -Werror "${SOURCE_DIR}/main.c" -o "${WORK_DIR}/consumer_pkgconfig" ${flags}
      "-Wl,-rpath,${prefix}/lib" -lm)
  run("${WORK_DIR}/consumer_pkgconfig")
endif()
