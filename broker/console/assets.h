// The web console's files (broker/console/web/), built into the binary: a CMake step
// (cmake/embed_assets.cmake) turns each file into a constant of a generated source, so the
// console needs no files on disk and no network. The HTTP server answers GET <path> with
// find_asset(path): "/" is index.html, every other file is "/<name>" ("/app.js", "/style.css").
#pragma once

#include <string_view>

namespace sluice::console {

struct Asset {
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view body;
};

// The asset served at `path` (the request target without its query), or null when there is none.
const Asset* find_asset(std::string_view path);

}  // namespace sluice::console
