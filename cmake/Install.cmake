# install() rules and the two Debian packages, built by CPack (packaging/README.md):
#   needlewatch      component "daemon": the daemon, its systemd unit, /etc/needlewatch, the
#                    dashboards and alert rules, man page, bash completion, the system user
#   needlewatch-sim  component "sim": the fleet simulator
# For a package, configure with -DCMAKE_INSTALL_PREFIX=/usr (packaging/build-deb does); then
# /etc, /var and the unit directory are the system's, as GNUInstallDirs gives them for /usr.
# Included last from the top CMakeLists.txt, after the targets exist.

include(GNUInstallDirs)

set(_nw_pkg ${PROJECT_SOURCE_DIR}/packaging)
set(_nw_gen ${CMAKE_BINARY_DIR}/packaging)
set(_nw_etc ${CMAKE_INSTALL_FULL_SYSCONFDIR}/needlewatch)
set(_nw_share ${CMAKE_INSTALL_DATADIR}/needlewatch)
set(_nw_doc ${CMAKE_INSTALL_DATADIR}/doc)
set(_nw_completions ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)

# Where systemd looks for units (Debian 12: /lib/systemd/system).
set(NEEDLEWATCH_SYSTEMD_UNIT_DIR "" CACHE PATH "systemd system unit directory (empty: ask systemd.pc)")
if(NOT NEEDLEWATCH_SYSTEMD_UNIT_DIR)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_get_variable(_nw_unitdir systemd systemdsystemunitdir)
  endif()
  if(NOT _nw_unitdir)
    set(_nw_unitdir /lib/systemd/system)
  endif()
  set(NEEDLEWATCH_SYSTEMD_UNIT_DIR ${_nw_unitdir})
endif()

# ---- generated at configure time ------------------------------------------------------------

# The shipped configuration: config/needlewatch.yaml (every key, documented) with the keys that
# differ for a system service. Each replacement must match exactly once, so a change of that
# file that would silently drop one fails here instead.
function(_nw_replace_once var section from to)
  set(text "${${var}}")
  string(FIND "${text}" "\n${section}:\n" start)
  if(start EQUAL -1)
    message(FATAL_ERROR "config/needlewatch.yaml: no top-level `${section}:` (cmake/Install.cmake)")
  endif()
  string(SUBSTRING "${text}" 0 ${start} head)
  string(SUBSTRING "${text}" ${start} -1 body)
  # The section ends where the next top-level key starts.
  string(SUBSTRING "${body}" 1 -1 rest)
  string(REGEX MATCH "\n[a-z_#]" next "${rest}")
  if(next)
    string(FIND "${rest}" "${next}" end)
    math(EXPR end "${end} + 1")
  else()
    string(LENGTH "${body}" end)
  endif()
  string(SUBSTRING "${body}" 0 ${end} sec)
  string(SUBSTRING "${body}" ${end} -1 tail)
  string(REPLACE "\n${from}\n" "\n${to}\n" new "${sec}")
  string(REPLACE "\n${from}\n" "" probe "${sec}")
  string(LENGTH "${sec}" l0)
  string(LENGTH "${probe}" l1)
  string(LENGTH "\n${from}\n" lf)
  math(EXPR count "(${l0} - ${l1}) / ${lf}")
  if(NOT count EQUAL 1)
    message(FATAL_ERROR "config/needlewatch.yaml: expected the line `${from}` once in `${section}:`,"
                        " found it ${count} times (cmake/Install.cmake)")
  endif()
  set(${var} "${head}${new}${tail}" PARENT_SCOPE)
endfunction()

set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/config/needlewatch.yaml ${_nw_pkg}/needlewatch.yaml.head
  ${PROJECT_SOURCE_DIR}/deploy/systemd/needlewatch.service)
file(READ ${PROJECT_SOURCE_DIR}/config/needlewatch.yaml _nw_config)
set(_nw_config "\n${_nw_config}")
_nw_replace_once(_nw_config outputs "  audit_log: needlewatch-audit.jsonl"
                                    "  audit_log: /var/log/needlewatch/audit.jsonl")
_nw_replace_once(_nw_config record "  enabled: false" "  enabled: true")
_nw_replace_once(_nw_config record "  dir: recordings" "  dir: /var/lib/needlewatch/recordings")
_nw_replace_once(_nw_config state "  dir: \"\"" "  dir: /var/lib/needlewatch/state")
file(READ ${_nw_pkg}/needlewatch.yaml.head _nw_head)
string(SUBSTRING "${_nw_config}" 1 -1 _nw_config)
file(CONFIGURE OUTPUT ${_nw_gen}/etc/needlewatch.yaml CONTENT "${_nw_head}${_nw_config}" @ONLY)

# The unit names the binary and the configuration by their installed paths.
file(READ ${PROJECT_SOURCE_DIR}/deploy/systemd/needlewatch.service _nw_unit)
string(REPLACE "/usr/bin/needlewatch" "${CMAKE_INSTALL_FULL_BINDIR}/needlewatch" _nw_unit "${_nw_unit}")
string(REPLACE "/etc/needlewatch/" "${_nw_etc}/" _nw_unit "${_nw_unit}")
string(REPLACE "/usr/share/doc/" "${CMAKE_INSTALL_FULL_DATADIR}/doc/" _nw_unit "${_nw_unit}")
file(CONFIGURE OUTPUT ${_nw_gen}/needlewatch.service CONTENT "${_nw_unit}")

# conffiles: every file the daemon package installs under /etc.
file(CONFIGURE OUTPUT ${_nw_gen}/control/conffiles
  CONTENT "${_nw_etc}/limits.yaml\n${_nw_etc}/needlewatch.yaml\n")
foreach(_nw_script postinst prerm postrm)
  configure_file(${_nw_pkg}/debian/needlewatch.${_nw_script} ${_nw_gen}/control/${_nw_script}
    COPYONLY FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
    WORLD_READ WORLD_EXECUTE)
endforeach()

# ---- generated at build time: man pages and the compressed changelog -------------------------

find_program(NEEDLEWATCH_HELP2MAN help2man)
find_program(NEEDLEWATCH_GZIP gzip)
find_program(NEEDLEWATCH_PYTHON3 python3)
set(_nw_docs_outputs)
if(NEEDLEWATCH_HELP2MAN AND NEEDLEWATCH_GZIP AND NEEDLEWATCH_PYTHON3)
  # help2man runs each binary's --help (and, for needlewatch, every command's --help through
  # packaging/man/commands.py), so the pages are exactly what the binaries say. The version is
  # the project's, not --version's build lines, so a page does not change with each commit.
  add_custom_command(OUTPUT ${_nw_gen}/man/needlewatch.1.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${_nw_gen}/man
    COMMAND ${NEEDLEWATCH_PYTHON3} ${_nw_pkg}/man/commands.py $<TARGET_FILE:needlewatch>
            > ${_nw_gen}/man/commands.h2m
    COMMAND ${NEEDLEWATCH_HELP2MAN} --no-info --section=1 --no-discard-stderr
            --version-string=${PROJECT_VERSION}
            "--name=real-time safety monitor for microneedling devices"
            --include=${_nw_pkg}/man/needlewatch.h2m --include=${_nw_gen}/man/commands.h2m
            --output=${_nw_gen}/man/needlewatch.1 $<TARGET_FILE:needlewatch>
    COMMAND ${NEEDLEWATCH_GZIP} -9nf ${_nw_gen}/man/needlewatch.1
    DEPENDS needlewatch ${_nw_pkg}/man/needlewatch.h2m ${_nw_pkg}/man/commands.py
    COMMENT "Generating the needlewatch(1) man page" VERBATIM)
  add_custom_command(OUTPUT ${_nw_gen}/man/needlewatch-sim.1.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${_nw_gen}/man
    COMMAND ${NEEDLEWATCH_HELP2MAN} --no-info --section=1 --no-discard-stderr
            --version-string=${PROJECT_VERSION}
            "--name=simulated fleet of microneedling pens for needlewatch"
            --include=${_nw_pkg}/man/needlewatch-sim.h2m
            --output=${_nw_gen}/man/needlewatch-sim.1 $<TARGET_FILE:needlewatch-sim>
    COMMAND ${NEEDLEWATCH_GZIP} -9nf ${_nw_gen}/man/needlewatch-sim.1
    DEPENDS needlewatch-sim ${_nw_pkg}/man/needlewatch-sim.h2m
    COMMENT "Generating the needlewatch-sim(1) man page" VERBATIM)
  list(APPEND _nw_docs_outputs ${_nw_gen}/man/needlewatch.1.gz ${_nw_gen}/man/needlewatch-sim.1.gz)
else()
  message(STATUS "help2man, gzip or python3 missing: no man pages (run scripts/setup)")
endif()
if(NEEDLEWATCH_GZIP)
  configure_file(${_nw_pkg}/debian/changelog.in ${_nw_gen}/changelog @ONLY)
  add_custom_command(OUTPUT ${_nw_gen}/changelog.gz
    COMMAND ${NEEDLEWATCH_GZIP} -9nc ${_nw_gen}/changelog > ${_nw_gen}/changelog.gz
    DEPENDS ${_nw_gen}/changelog VERBATIM)
  list(APPEND _nw_docs_outputs ${_nw_gen}/changelog.gz)
endif()
# Built with `all`: cheap (a few --help runs), and `cmake --install` finds them in place.
add_custom_target(needlewatch_package_docs ALL DEPENDS ${_nw_docs_outputs})

# ---- component daemon: the needlewatch package ----------------------------------------------

# A stripped install (cpack, `cmake --install --strip`) also drops the compiler's .comment and
# .note sections, as Debian's dh_strip does.
function(_nw_strip_sections target component)
  install(CODE "
    if(CMAKE_INSTALL_DO_STRIP)
      execute_process(COMMAND \"${CMAKE_STRIP}\" --remove-section=.comment --remove-section=.note
        \"\$ENV{DESTDIR}${CMAKE_INSTALL_FULL_BINDIR}/$<TARGET_FILE_NAME:${target}>\"
        COMMAND_ERROR_IS_FATAL ANY)
    endif()" COMPONENT ${component})
endfunction()

install(TARGETS needlewatch RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT daemon)
_nw_strip_sections(needlewatch daemon)
install(FILES ${_nw_gen}/etc/needlewatch.yaml ${PROJECT_SOURCE_DIR}/config/limits.yaml
  DESTINATION ${_nw_etc} PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
  COMPONENT daemon)
install(FILES ${_nw_gen}/needlewatch.service DESTINATION ${NEEDLEWATCH_SYSTEMD_UNIT_DIR}
  COMPONENT daemon)
# Dashboards, alert rules and example Prometheus/Alertmanager/Grafana configuration.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/dashboards/ DESTINATION ${_nw_share}
  COMPONENT daemon
  FILES_MATCHING PATTERN "*.json" PATTERN "*.yml" PATTERN "*.yaml"
  PATTERN "rules_test.yml" EXCLUDE)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/ARCHITECTURE.md
  ${_nw_pkg}/debian/copyright ${_nw_gen}/changelog.gz
  DESTINATION ${_nw_doc}/needlewatch COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/dashboards/README.md
  DESTINATION ${_nw_doc}/needlewatch/dashboards COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/protocol/README.md
  DESTINATION ${_nw_doc}/needlewatch/protocol COMPONENT daemon)
install(FILES ${_nw_pkg}/bash-completion/needlewatch DESTINATION ${_nw_completions}
  COMPONENT daemon)
install(FILES ${_nw_pkg}/lintian/needlewatch
  DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides COMPONENT daemon)
install(FILES ${_nw_gen}/man/needlewatch.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
  COMPONENT daemon OPTIONAL)

# ---- component sim: the needlewatch-sim package ---------------------------------------------

install(TARGETS needlewatch-sim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT sim)
_nw_strip_sections(needlewatch-sim sim)
install(FILES ${_nw_pkg}/lintian/needlewatch-sim
  DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides COMPONENT sim)
install(FILES ${PROJECT_SOURCE_DIR}/tools/sim/README.md ${_nw_pkg}/debian/copyright
  ${_nw_gen}/changelog.gz DESTINATION ${_nw_doc}/needlewatch-sim COMPONENT sim)
install(FILES ${_nw_pkg}/bash-completion/needlewatch DESTINATION ${_nw_completions}
  RENAME needlewatch-sim COMPONENT sim)
install(FILES ${_nw_gen}/man/needlewatch-sim.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
  COMPONENT sim OPTIONAL)

# ---- CPack: one .deb per component ----------------------------------------------------------

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME needlewatch)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "needlewatch maintainers <maintainers@needlewatch.example>")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_COMPONENTS_ALL daemon sim)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # needlewatch_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SOURCE needlewatch)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: from dpkg-shlibdeps on the binaries
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

set(CPACK_DEBIAN_DAEMON_PACKAGE_NAME needlewatch)
set(CPACK_DEBIAN_DAEMON_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_DAEMON_PACKAGE_SUGGESTS "mosquitto, prometheus, prometheus-alertmanager, needlewatch-sim")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_EXTRA
  "${_nw_gen}/control/conffiles;${_nw_gen}/control/postinst;${_nw_gen}/control/prerm;${_nw_gen}/control/postrm")
# The first line is the synopsis; CPack indents the rest and turns empty lines into " .".
set(CPACK_COMPONENT_DAEMON_DESCRIPTION [=[real-time safety monitor for microneedling devices
needlewatch watches the telemetry that microneedling pens publish over MQTT
and checks needle depth, speed, session time, staleness and presence against
per-zone limits. It raises, clears and latches alarms, publishes them as
retained MQTT topics, exports Prometheus metrics, writes an audit log and can
record every message for deterministic replay.

This package runs it as a hardened systemd service under the system user
needlewatch, configured in /etc/needlewatch, and ships Grafana dashboards,
Prometheus alert rules and an Alertmanager example in /usr/share/needlewatch.]=])

set(CPACK_DEBIAN_SIM_PACKAGE_NAME needlewatch-sim)
set(CPACK_DEBIAN_SIM_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_SIM_DESCRIPTION [=[simulated fleet of microneedling pens for needlewatch
needlewatch-sim plays clinics full of microneedling pens that publish
telemetry, session events and status over MQTT, as real pens do, with
injected faults (too deep, too fast, overtime, dropouts, malformed messages)
and a report of what it injected. It is meant for testing a needlewatch
deployment and for load tests, never for a broker that real pens use.]=])

include(CPack)
