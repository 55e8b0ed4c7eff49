// The embedded floor page: every file is there with its type and a strong ETag, the page is
// self-contained (nothing from another origin), and If-None-Match is understood.
#include "web_assets.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace needlewatch::daemon::web {
namespace {

TEST(WebAssets, RootIsTheIndexPageAndItsScriptsAndStylesAreThere) {
  const auto root = FindAsset("/");
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->path, "/index.html");
  EXPECT_EQ(root->content_type, "text/html; charset=utf-8");
  EXPECT_NE(root->content.find("<!doctype html>"), std::string_view::npos);
  const auto js = FindAsset("/floor.js");
  ASSERT_TRUE(js.has_value());
  EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
  const auto css = FindAsset("/floor.css");
  ASSERT_TRUE(css.has_value());
  EXPECT_EQ(css->content_type, "text/css; charset=utf-8");
  EXPECT_NE(root->content.find("src=\"floor.js\""), std::string_view::npos);
  EXPECT_NE(root->content.find("href=\"floor.css\""), std::string_view::npos);
  EXPECT_FALSE(FindAsset("/nope.js").has_value());
  EXPECT_FALSE(FindAsset("/api/v1/alarms").has_value());
  EXPECT_FALSE(FindAsset("").has_value());
}

TEST(WebAssets, EveryFileHasADistinctStrongEtagAndTheTotalIsSmall) {
  std::set<std::string_view> etags;
  std::size_t total = 0;
  for (std::size_t i = 0; i < AssetCount(); ++i) {
    const Asset& a = AssetAt(i);
    EXPECT_EQ(a.etag.substr(0, 8), "\"sha256-") << a.path;
    EXPECT_EQ(a.etag.size(), 8U + 32U + 1U) << a.path;
    EXPECT_EQ(a.etag.back(), '"') << a.path;
    etags.insert(a.etag);
    total += a.content.size();
  }
  EXPECT_EQ(etags.size(), AssetCount());
  EXPECT_EQ(total, AssetBytes());
  EXPECT_LE(total, 100U * 1024U);  // the build fails above this too (cmake/EmbedFiles.cmake)
}

TEST(WebAssets, SelfContainedNothingFromAnotherOrigin) {
  for (std::size_t i = 0; i < AssetCount(); ++i) {
    const Asset& a = AssetAt(i);
    std::size_t pos = 0;
    while ((pos = a.content.find("//", pos)) != std::string_view::npos) {
      // "//" only as a comment or in the SVG namespace name (not fetched).
      const std::string_view before = a.content.substr(pos >= 6 ? pos - 6 : 0, pos >= 6 ? 6 : pos);
      EXPECT_TRUE(before.find("http:") == std::string_view::npos || a.content.substr(pos, 13) == "//www.w3.org/")
          << a.path << ": " << a.content.substr(pos >= 20 ? pos - 20 : 0, 60);
      EXPECT_EQ(before.find("https:"), std::string_view::npos)
          << a.path << ": " << a.content.substr(pos >= 20 ? pos - 20 : 0, 60);
      pos += 2;
    }
  }
}

TEST(WebAssets, EtagMatchesIfNoneMatchForms) {
  const std::string_view tag = "\"sha256-abc\"";
  EXPECT_TRUE(EtagMatches("\"sha256-abc\"", tag));
  EXPECT_TRUE(EtagMatches("W/\"sha256-abc\"", tag));
  EXPECT_TRUE(EtagMatches("\"x\", \"sha256-abc\"", tag));
  EXPECT_TRUE(EtagMatches("*", tag));
  EXPECT_FALSE(EtagMatches("", tag));
  EXPECT_FALSE(EtagMatches("\"sha256-abd\"", tag));
  EXPECT_FALSE(EtagMatches("sha256-abc", tag));
}

}  // namespace
}  // namespace needlewatch::daemon::web
