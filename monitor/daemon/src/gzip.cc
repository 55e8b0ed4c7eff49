#include "gzip.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <new>
#include <stdexcept>

namespace needlewatch::daemon {
namespace {

constexpr std::string_view kSpace = " \t";

std::string_view Trim(std::string_view s) {
  const std::size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  const std::size_t e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ). True when it is above 0;
// a malformed one counts as 0 (refusing is the safe reading).
bool QAboveZero(std::string_view q) {
  if (q.empty() || (q[0] != '0' && q[0] != '1')) return false;
  if (q.size() == 1) return q[0] == '1';
  if (q[1] != '.' || q.size() > 5) return false;
  bool nonzero_fraction = false;
  for (char c : q.substr(2)) {
    if (c < '0' || c > '9') return false;
    if (c != '0') nonzero_fraction = true;
  }
  if (q[0] == '1') return !nonzero_fraction;  // "1.5" is malformed
  return nonzero_fraction;
}

}  // namespace

bool AcceptsGzip(std::string_view header) {
  enum class Seen { kNo, kRefused, kAccepted };
  Seen gzip = Seen::kNo;
  Seen star = Seen::kNo;
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);

    std::size_t semi = item.find(';');
    const std::string_view coding = Trim(item.substr(0, semi));
    bool accepted = true;  // no q parameter: q=1
    while (semi != std::string_view::npos) {
      item = item.substr(semi + 1);
      semi = item.find(';');
      const std::string_view param = Trim(item.substr(0, semi));
      const std::size_t eq = param.find('=');
      if (eq != std::string_view::npos && EqualsNoCase(Trim(param.substr(0, eq)), "q")) {
        accepted = QAboveZero(Trim(param.substr(eq + 1)));
      }
    }
    const Seen seen = accepted ? Seen::kAccepted : Seen::kRefused;
    if (EqualsNoCase(coding, "gzip") || EqualsNoCase(coding, "x-gzip")) {
      if (gzip != Seen::kAccepted) gzip = seen;
    } else if (coding == "*") {
      star = seen;
    }
  }
  if (gzip != Seen::kNo) return gzip == Seen::kAccepted;
  return star == Seen::kAccepted;
}

std::string GzipCompress(std::string_view data, int level) {
  if (level < 0 || level > 9) throw std::invalid_argument("gzip level outside 0..9");
  z_stream zs{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  const int init = deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  if (init == Z_MEM_ERROR) throw std::bad_alloc();
  if (init != Z_OK) throw std::invalid_argument("deflateInit2 failed");

  std::string out;
  try {
    out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
  } catch (...) {
    deflateEnd(&zs);
    throw;
  }
  // avail_in/avail_out are 32-bit: feed and drain in slices so any size works.
  constexpr std::size_t kSlice = UINT_MAX / 2;
  const auto* in = reinterpret_cast<const Bytef*>(data.data());
  std::size_t in_left = data.size();
  std::size_t written = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (zs.avail_in == 0 && in_left > 0) {
      const std::size_t n = std::min(in_left, kSlice);
      zs.next_in = const_cast<Bytef*>(in);  // zlib's API is not const-correct; it only reads
      zs.avail_in = static_cast<uInt>(n);
      in += n;
      in_left -= n;
    }
    if (written == out.size()) out.resize(out.size() * 2);
    const std::size_t room = std::min(out.size() - written, kSlice);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + written);
    zs.avail_out = static_cast<uInt>(room);
    rc = deflate(&zs, in_left == 0 ? Z_FINISH : Z_NO_FLUSH);
    written += room - zs.avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      deflateEnd(&zs);
      throw std::invalid_argument("deflate failed");
    }
  }
  deflateEnd(&zs);
  out.resize(written);
  return out;
}

}  // namespace needlewatch::daemon
