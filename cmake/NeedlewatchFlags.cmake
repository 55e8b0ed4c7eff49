# Warning and sanitizer flags, applied per target through needlewatch_target_defaults().
# No global CMAKE_CXX_FLAGS edits.

set(NEEDLEWATCH_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough)
# GCC 12 (Debian 12's) at -O2/-O3 warns -Wrestrict inside libstdc++'s std::string operator+ when
# a short literal is prepended (GCC bugs 105329, 105651): a false positive in the library's own
# code that every Release build (./scripts/demo, the package) printed six times.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND NEEDLEWATCH_WARNINGS $<$<NOT:$<CONFIG:Debug>>:-Wno-restrict>)  # optimised builds
endif()
if(NEEDLEWATCH_WERROR)
  list(APPEND NEEDLEWATCH_WARNINGS -Werror)
endif()

if(NEEDLEWATCH_SANITIZE)
  set(NEEDLEWATCH_SAN_FLAGS -fsanitize=${NEEDLEWATCH_SANITIZE} -fno-omit-frame-pointer
      -fno-sanitize-recover=all)
  # Sanitizers must reach every object that is linked together, third-party test mains included.
  add_compile_options(${NEEDLEWATCH_SAN_FLAGS})
  add_link_options(${NEEDLEWATCH_SAN_FLAGS})
endif()

# needlewatch_target_defaults(<target>): our warnings on our own code only.
function(needlewatch_target_defaults target)
  target_compile_options(${target} PRIVATE ${NEEDLEWATCH_WARNINGS})
endfunction()

# needlewatch_add_test(<name> LABELS <labels...> SOURCES <srcs...> LIBS <libs...>)
# One gtest binary; its tests are discovered into ctest with the given labels.
function(needlewatch_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "LABELS;SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  needlewatch_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gmock GTest::gtest_main)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()
