# Build information for `--version`, written at configure time into
# ${CMAKE_BINARY_DIR}/generated/needlewatch/build_info.h (target needlewatch_build_info).
# The git commit is read when CMake configures; a new commit (HEAD, its reflog or its branch moves)
# makes the next build re-run the configure step, so the commit shown is the one built.
# A tree without git (a source tarball) says "unknown".

set(NEEDLEWATCH_GIT_COMMIT "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short=12 HEAD
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    OUTPUT_VARIABLE _nw_commit OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _nw_rc ERROR_QUIET)
  if(_nw_rc EQUAL 0 AND _nw_commit)
    set(NEEDLEWATCH_GIT_COMMIT ${_nw_commit})
    # Re-configure when HEAD moves: HEAD itself (a checkout), its reflog (every commit, reset or
    # checkout appends to it) and the branch it names (for a repository without reflogs).
    execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --symbolic-full-name HEAD
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
      OUTPUT_VARIABLE _nw_branch OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    foreach(_nw_name HEAD logs/HEAD ${_nw_branch})
      execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --path-format=absolute
                              --git-path ${_nw_name}
        WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
        OUTPUT_VARIABLE _nw_path OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(_nw_path AND EXISTS ${_nw_path})
        set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_nw_path})
      endif()
    endforeach()
  endif()
endif()

if(CMAKE_BUILD_TYPE)
  set(NEEDLEWATCH_BUILD_TYPE ${CMAKE_BUILD_TYPE})
else()
  set(NEEDLEWATCH_BUILD_TYPE "multi-config")
endif()
set(NEEDLEWATCH_COMPILER "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")

configure_file(${CMAKE_CURRENT_LIST_DIR}/build_info.h.in
  ${CMAKE_BINARY_DIR}/generated/needlewatch/build_info.h @ONLY)
add_library(needlewatch_build_info INTERFACE)
target_include_directories(needlewatch_build_info INTERFACE ${CMAKE_BINARY_DIR}/generated)
