# ShellTest.cmake: exportq_add_shell_test() for integration tests written in
# bash against the real test servers (tests/harness/servers.sh).
# Included by the top-level CMakeLists.txt (and by tests/harness/CMakeLists.txt).
include_guard(GLOBAL)

set(EXPORTQ_TEST_STATE "/tmp/exportq-test" CACHE PATH
    "State directory of the test servers started by tests/harness/servers.sh (removed by harness.down, so it must be under /tmp)")

# exportq_add_shell_test(NAME SCRIPT)
#   Registers `bash SCRIPT` (relative to the calling directory) as test NAME.
#   It needs the `servers` fixture (harness.up / harness.down) and gets:
#     EXPORTQ_TEST_ENV    <state>/servers.env, which tests/harness/lib.sh loads
#     EXPORTQ_BIN         the built exportq binary
#     EXPORTQ_SOURCE_DIR  the source tree (to source tests/harness/lib.sh)
function(exportq_add_shell_test name script)
  if(NOT IS_ABSOLUTE "${script}")
    set(script "${CMAKE_CURRENT_SOURCE_DIR}/${script}")
  endif()
  add_test(NAME ${name} COMMAND bash "${script}")
  set_tests_properties(${name} PROPERTIES
    FIXTURES_REQUIRED servers
    TIMEOUT 900
    SKIP_RETURN_CODE 77
    LABELS integration
    ENVIRONMENT "EXPORTQ_TEST_ENV=${EXPORTQ_TEST_STATE}/servers.env;EXPORTQ_BIN=$<TARGET_FILE:exportq>;EXPORTQ_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
