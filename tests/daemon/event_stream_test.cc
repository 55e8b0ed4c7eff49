// The pure parts of the event stream: where a client resumes, the response head, the bounded
// per-connection queue.
#include "event_stream.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace needlewatch::daemon {
namespace {

SharedText Text(std::size_t n, char c = 'x') {
  return std::make_shared<const std::string>(n, c);
}

HttpRequest Request(std::string query, std::string last_event_id = "") {
  HttpRequest r;
  r.method = "GET";
  r.target = "/api/v1/events";
  r.query = std::move(query);
  if (!last_event_id.empty()) r.headers.emplace_back("last-event-id", std::move(last_event_id));
  return r;
}

TEST(ResumePointFor, TheHeaderWinsThenTheQueryThenLiveOnly) {
  std::string error;
  auto p = ResumePointFor(Request("last_event_id=10", "25"), &error);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->last_event_id, 25u);
  p = ResumePointFor(Request("a=1&last_event_id=10"), &error);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->last_event_id, 10u);
  p = ResumePointFor(Request(""), &error);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->last_event_id);
}

TEST(ResumePointFor, ABadHeaderResumesFromZeroAndABadQueryIsAnError) {
  std::string error;
  auto p = ResumePointFor(Request("", "not-an-id"), &error);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->last_event_id, 0u);  // older than any ring: the model answers with a reset
  EXPECT_FALSE(ResumePointFor(Request("last_event_id=-3"), &error));
  EXPECT_NE(error.find("last_event_id"), std::string::npos);
  EXPECT_FALSE(ResumePointFor(Request("last_event_id=99999999999999999999999"), &error));
}

TEST(EventStreamHead, IsAnEventStreamWithoutLengthAndCarriesTheConfiguredHeaders) {
  const std::string head = EventStreamHead({{"Strict-Transport-Security", "max-age=300"}});
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(head.find("\r\nContent-Type: text/event-stream; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nCache-Control: no-store\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nStrict-Transport-Security: max-age=300\r\n"), std::string::npos);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
  EXPECT_EQ(head.find("\r\n\r\n"), head.size() - 4);  // one head, nothing after it
}

TEST(FrameQueue, RefusesTheFrameBeyondItsFrameBound) {
  FrameQueue q(3, 1000);
  EXPECT_TRUE(q.Push(Text(1)));
  EXPECT_TRUE(q.Push(Text(1)));
  EXPECT_TRUE(q.Push(Text(1)));
  EXPECT_FALSE(q.Push(Text(1)));
  EXPECT_EQ(q.size(), 3u);
}

TEST(FrameQueue, RefusesTheFrameBeyondItsByteBoundButAlwaysTakesOneIntoAnEmptyQueue) {
  FrameQueue q(100, 10);
  EXPECT_TRUE(q.Push(Text(50)));  // empty: taken however large
  EXPECT_FALSE(q.Push(Text(1)));
  EXPECT_EQ(q.bytes(), 50u);
  q.TakeAll();
  EXPECT_TRUE(q.Push(Text(6)));
  EXPECT_TRUE(q.Push(Text(4)));  // exactly at the bound
  EXPECT_FALSE(q.Push(Text(1)));
}

TEST(FrameQueue, TakeAllHandsOverTheSharedFramesInOrderAndEmptiesIt) {
  FrameQueue q;
  SharedText a = Text(2, 'a');
  SharedText b = Text(3, 'b');
  ASSERT_TRUE(q.Push(a));
  ASSERT_TRUE(q.Push(b));
  EXPECT_EQ(q.bytes(), 5u);
  const std::vector<SharedText> all = q.TakeAll();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], a);  // the same string every connection shares, not a copy
  EXPECT_EQ(all[1], b);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

}  // namespace
}  // namespace needlewatch::daemon
