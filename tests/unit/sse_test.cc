#include "providers/sse.h"

#include <gtest/gtest.h>

#include <vector>

namespace warden {
namespace {

std::vector<SseEvent> FeedPieces(SseParser& p, const std::vector<std::string>& pieces) {
  std::vector<SseEvent> out;
  for (const auto& piece : pieces) {
    Status s = p.Feed(piece, [&](SseEvent& e) {
      out.push_back(e);
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok());
  }
  return out;
}

TEST(SseParserTest, WholeEvents) {
  SseParser p;
  auto ev = FeedPieces(p, {"data: {\"a\":1}\n\ndata: [DONE]\n\n"});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].data, "{\"a\":1}");
  EXPECT_EQ(ev[1].data, "[DONE]");
}

TEST(SseParserTest, EverySplitPointGivesTheSameEvents) {
  const std::string stream =
      ": keep-alive comment\r\nevent: message_start\r\ndata: {\"x\":\r\ndata: 2}\r\n\r\n"
      "data: second\n\nid: 7\ndata:no-space\n\n";
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    for (size_t cut2 = cut; cut2 <= stream.size(); cut2 += 7) {
      SseParser p;
      auto ev = FeedPieces(p, {stream.substr(0, cut), stream.substr(cut, cut2 - cut), stream.substr(cut2)});
      ASSERT_EQ(ev.size(), 3u) << cut << "/" << cut2;
      EXPECT_EQ(ev[0].event, "message_start");
      EXPECT_EQ(ev[0].data, "{\"x\":\n2}");
      EXPECT_EQ(ev[1].data, "second");
      EXPECT_EQ(ev[2].data, "no-space");
      EXPECT_EQ(ev[2].id, "7");
      EXPECT_FALSE(p.HasPartial());
    }
  }
}

TEST(SseParserTest, PartialEventIsReported) {
  SseParser p;
  auto ev = FeedPieces(p, {"data: complete\n\ndata: {\"cut"});
  EXPECT_EQ(ev.size(), 1u);
  EXPECT_TRUE(p.HasPartial());
}

TEST(SseParserTest, OversizedEventIsAnError) {
  SseParser p(64);
  Status s = p.Feed("data: " + std::string(100, 'x') + "\n\n", [](SseEvent&) { return Status::Ok(); });
  EXPECT_FALSE(s.ok());
  SseParser q(64);
  Status t = q.Feed("data: " + std::string(40, 'x') + "\n" + "data: " + std::string(40, 'x') + "\n\n",
                    [](SseEvent&) { return Status::Ok(); });
  EXPECT_FALSE(t.ok());
}

TEST(SseParserTest, CallbackErrorStopsParsing) {
  SseParser p;
  int calls = 0;
  Status s = p.Feed("data: 1\n\ndata: 2\n\n", [&](SseEvent&) -> Status {
    ++calls;
    return Error::BadGateway("stop");
  });
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(calls, 1);
}

TEST(SseFormatTest, MultilineDataAndEventName) {
  SseEvent e;
  e.event = "delta";
  e.data = "a\nb";
  EXPECT_EQ(FormatSseEvent(e), "event: delta\ndata: a\ndata: b\n\n");
  EXPECT_EQ(FormatSseData("[DONE]"), "data: [DONE]\n\n");
}

}  // namespace
}  // namespace warden
