# Install rules: the daemon, rule snippets, documentation, the manual page and
# the default configuration. Used by the Debian package (packaging/debian,
# built by packaging/build-deb.sh) and by `cmake --install`. Included from the
# top-level CMakeLists.txt after the subdirectories, so the target is known.
include(GNUInstallDirs)

if(TARGET sipvsd)
  install(TARGETS sipvsd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
endif()

set(_sipvsd_src ${PROJECT_SOURCE_DIR})

if(IS_DIRECTORY ${_sipvsd_src}/rules)
  install(DIRECTORY ${_sipvsd_src}/rules/ DESTINATION ${CMAKE_INSTALL_DATADIR}/sipvsd/rules
          USE_SOURCE_PERMISSIONS)
endif()

# The Prometheus alert rules and the Grafana dashboard (docs/monitoring.md),
# beside the rules: under share/doc they would be gzipped.
if(IS_DIRECTORY ${_sipvsd_src}/packaging/monitoring)
  install(DIRECTORY ${_sipvsd_src}/packaging/monitoring/ DESTINATION ${CMAKE_INSTALL_DATADIR}/sipvsd/monitoring)
endif()

# CMAKE_INSTALL_DOCDIR is share/doc/sipvsd (from the project name).
# The operator's guides (docs/*.md) too: the man page points to them.
file(GLOB _sipvsd_guides RELATIVE ${_sipvsd_src} ${_sipvsd_src}/docs/*.md)
foreach(_doc README.md api/openapi.yaml ${_sipvsd_guides})
  if(EXISTS ${_sipvsd_src}/${_doc})
    install(FILES ${_sipvsd_src}/${_doc} DESTINATION ${CMAKE_INSTALL_DOCDIR})
  endif()
endforeach()

install(FILES ${_sipvsd_src}/packaging/sipvsd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

# /etc/sipvsd with prefix /usr (GNUInstallDirs maps it there), a dpkg conffile.
install(FILES ${_sipvsd_src}/packaging/sipvsd.json DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/sipvsd)
