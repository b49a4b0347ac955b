// The web console's files built into the binary: every file of broker/console/web/ is served
// byte for byte under "/<name>" with its content type, "/" is the page, anything else is absent.
#include "broker/console/assets.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace sluice::console {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST_SUITE("console.assets") {
  TEST_CASE("\"/\" is index.html, served as HTML, and names the script and the style sheet") {
    const Asset* root = find_asset("/");
    const Asset* index = find_asset("/index.html");
    REQUIRE(root != nullptr);
    REQUIRE(index != nullptr);
    CHECK(root->content_type == "text/html; charset=utf-8");
    CHECK(index->content_type == "text/html; charset=utf-8");
    CHECK(root->body == index->body);
    CHECK(root->body.starts_with("<!doctype html>"));
    CHECK(root->body.find("src=\"/app.js\"") != std::string_view::npos);
    CHECK(root->body.find("href=\"/style.css\"") != std::string_view::npos);
  }

  TEST_CASE("the script and the style sheet carry their content types") {
    const Asset* js = find_asset("/app.js");
    const Asset* css = find_asset("/style.css");
    REQUIRE(js != nullptr);
    REQUIRE(css != nullptr);
    CHECK(js->content_type == "text/javascript; charset=utf-8");
    CHECK(css->content_type == "text/css; charset=utf-8");
    CHECK_FALSE(js->body.empty());
    CHECK_FALSE(css->body.empty());
  }

  TEST_CASE("unknown paths, paths without the leading slash and other spellings find nothing") {
    CHECK(find_asset("") == nullptr);
    CHECK(find_asset("index.html") == nullptr);
    CHECK(find_asset("/missing.js") == nullptr);
    CHECK(find_asset("/APP.JS") == nullptr);
    CHECK(find_asset("/app.js/") == nullptr);
    CHECK(find_asset("//app.js") == nullptr);
    CHECK(find_asset("/metrics") == nullptr);
    CHECK(find_asset("/api/overview") == nullptr);
  }

  TEST_CASE("every file of broker/console/web is embedded byte for byte") {
    const char* source = std::getenv("SLUICE_SOURCE_DIR");
    REQUIRE(source != nullptr);
    const std::filesystem::path web = std::filesystem::path(source) / "broker/console/web";
    int files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(web)) {
      if (!entry.is_regular_file()) continue;
      const std::string name = "/" + entry.path().filename().string();
      CAPTURE(name);
      const Asset* asset = find_asset(name);
      REQUIRE(asset != nullptr);
      CHECK(asset->body == read_file(entry.path()));
      ++files;
    }
    CHECK(files >= 3);
  }
}

}  // namespace
}  // namespace sluice::console
