#include "gzip.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <stdexcept>
#include <string>

namespace needlewatch::daemon {
namespace {

// Inflates one gzip member with zlib; throws when it is not one (bad header, CRC or length).
std::string Gunzip(const std::string& gz) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw std::runtime_error("inflateInit2");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  zs.avail_in = static_cast<uInt>(gz.size());
  std::string out;
  char buf[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      throw std::runtime_error("inflate: " + std::to_string(rc));
    }
    out.append(buf, sizeof buf - zs.avail_out);
  }
  const bool trailing = zs.avail_in != 0;
  inflateEnd(&zs);
  if (trailing) throw std::runtime_error("bytes after the gzip member");
  return out;
}

TEST(AcceptsGzip, PrometheusHeaderAndPlainForms) {
  // What Prometheus 2.x sends.
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("gzip, deflate, br"));
  EXPECT_TRUE(AcceptsGzip("deflate,gzip"));
  EXPECT_TRUE(AcceptsGzip("  GZip  "));
  EXPECT_TRUE(AcceptsGzip("x-gzip"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_TRUE(AcceptsGzip("identity;q=0.5, *;q=0.1"));
}

TEST(AcceptsGzip, NothingOrOtherCodingsOnly) {
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("identity"));
  EXPECT_FALSE(AcceptsGzip("deflate, br"));
  EXPECT_FALSE(AcceptsGzip("gzipx"));
  EXPECT_FALSE(AcceptsGzip("xgzip"));
  EXPECT_FALSE(AcceptsGzip(",,,"));
}

TEST(AcceptsGzip, QValues) {
  EXPECT_TRUE(AcceptsGzip("gzip;q=1"));
  EXPECT_TRUE(AcceptsGzip("gzip;q=1.000"));
  EXPECT_TRUE(AcceptsGzip("gzip ; Q=0.001"));
  EXPECT_TRUE(AcceptsGzip("gzip;level=9;q=0.5"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0.000"));
  EXPECT_FALSE(AcceptsGzip("gzip; q=0.0, deflate"));
  // gzip refused explicitly wins over a wildcard, whatever the order.
  EXPECT_FALSE(AcceptsGzip("*, gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0, *"));
  EXPECT_FALSE(AcceptsGzip("*;q=0"));
  // Either spelling accepted is enough.
  EXPECT_TRUE(AcceptsGzip("x-gzip;q=0, gzip"));
}

TEST(AcceptsGzip, MalformedQValueRefuses) {
  EXPECT_FALSE(AcceptsGzip("gzip;q="));
  EXPECT_FALSE(AcceptsGzip("gzip;q=abc"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=2"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=1.5"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0.0001"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=-1"));
}

TEST(GzipCompress, RoundTripsAndIsAGzipMember) {
  std::string text;
  for (int i = 0; i < 20000; ++i) {
    text += "needlewatch_needle_depth_meters{clinic=\"c" + std::to_string(i % 100) +
            "\",device=\"d" + std::to_string(i) + "\"} 0.0005\n";
  }
  const std::string gz = GzipCompress(text);
  ASSERT_GE(gz.size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  EXPECT_EQ(gz[2], 8);  // deflate
  EXPECT_LT(gz.size() * 10, text.size());  // repetitive exposition text shrinks a lot
  EXPECT_EQ(Gunzip(gz), text);
  // Every level yields the same text back; a higher level is no larger here.
  const std::string small = GzipCompress(text, 9);
  EXPECT_EQ(Gunzip(small), text);
  EXPECT_LE(small.size(), gz.size());
  EXPECT_EQ(Gunzip(GzipCompress(text, 0)), text);  // stored blocks
}

TEST(GzipCompress, EmptyAndIncompressibleInput) {
  EXPECT_EQ(Gunzip(GzipCompress("")), "");
  std::string noise(100000, '\0');
  unsigned x = 12345;
  for (char& c : noise) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  const std::string gz = GzipCompress(noise);
  EXPECT_EQ(Gunzip(gz), noise);
}

TEST(GzipCompress, LevelOutOfRangeIsRejected) {
  EXPECT_THROW(GzipCompress("x", 10), std::invalid_argument);
  EXPECT_THROW(GzipCompress("x", -2), std::invalid_argument);
}

}  // namespace
}  // namespace needlewatch::daemon
