# Embeds dashboard.html into usher_admin: the header admin/dashboard/dashboard_html.hpp
# (usher::admin::kDashboardHtml) is generated into the build tree at build time, so the .html is
# the only source and an edit to it rebuilds what serves it. Included from src/CMakeLists.txt after
# usher_admin is defined. The header has its own target (usher_dashboard_html) so generating it
# waits for nothing else; usher_admin, and so whoever links it, is built after it.
if(NOT TARGET usher_admin)
  return()
endif()

set(usher_dashboard_dir ${CMAKE_CURRENT_LIST_DIR})
set(usher_dashboard_gen ${CMAKE_CURRENT_BINARY_DIR}/generated)
set(usher_dashboard_hpp ${usher_dashboard_gen}/admin/dashboard/dashboard_html.hpp)
add_custom_command(
  OUTPUT ${usher_dashboard_hpp}
  COMMAND ${CMAKE_COMMAND} -DINPUT=${usher_dashboard_dir}/dashboard.html
          -DOUTPUT=${usher_dashboard_hpp} -DNAME=kDashboardHtml
          -P ${usher_dashboard_dir}/embed_html.cmake
  DEPENDS ${usher_dashboard_dir}/dashboard.html ${usher_dashboard_dir}/embed_html.cmake
  COMMENT "Embedding the admin dashboard (dashboard.html -> dashboard_html.hpp)"
  VERBATIM)
add_custom_target(usher_dashboard_html DEPENDS ${usher_dashboard_hpp})
add_dependencies(usher_admin usher_dashboard_html)
# BEFORE: the generated header wins over any stale copy under src/admin/dashboard/.
target_include_directories(usher_admin BEFORE PUBLIC ${usher_dashboard_gen})
