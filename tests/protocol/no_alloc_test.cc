// Decode and ParseTopic promise never to allocate: count global operator new calls around them.
// (Replacing operator new here affects this whole test binary; it only counts.)
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "needlewatch/protocol/message.h"
#include "needlewatch/protocol/topic.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace needlewatch::protocol {
namespace {

TEST(NoAllocation, DecodeAndParseTopicNeverAllocate) {
  const std::string payloads[] = {
      R"({"v":1,"seq":1,"ts":1,"session":"S\u002d1","zone":"upper \"lip\"","depth_mm":1,"speed_hz":1,"x":{"a":[1,{"b":"\ud83d\ude00"}]}})",
      R"({"v":1,"seq":1,"ts":1,"session":"s","zone":"z","depth_mm":1,"depth_mm":1})",
      R"({"v":1,"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})",
      R"({"v":1,"seq":-1})",
      std::string(5000, ' '),
      "",
  };
  auto decoded = std::make_unique<Decoded>();
  const long before = g_allocations.load();
  int rejected = 0;
  for (const std::string& p : payloads) {
    for (Channel c : {Channel::kTelemetry, Channel::kEvent, Channel::kStatus}) {
      rejected += Decode(c, p, *decoded) != Reject::kNone;
    }
  }
  const Topic t = ParseTopic("clinic/c017/device/d00042/telemetry");
  EXPECT_EQ(g_allocations.load(), before);
  EXPECT_EQ(t.kind, TopicKind::kDevice);
  EXPECT_GT(rejected, 0);
  // The counter works: an allocation is seen.
  auto probe = std::make_unique<int>(1);
  EXPECT_GT(g_allocations.load(), before);
}

}  // namespace
}  // namespace needlewatch::protocol
