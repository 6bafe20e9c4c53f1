// Integration: stopping the server (what SIGTERM does) — a stream in flight finishes within
// server.drain_timeout and completes normally; one that would outlast it is cut at the deadline
// (never made to look complete) and Stop() returns.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

using Clock = std::chrono::steady_clock;

// A provider that streams `chunks` chunks `gap_ms` apart, then [DONE].
FakeHandler SlowStream(int chunks, int gap_ms) {
  return [=](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) {
    std::ostream& out = StartEventStream(resp);
    for (int i = 0; i < chunks && out.good(); ++i) {
      SendEvent(out, Dump(ChatChunk(r.json()["model"], "part" + std::to_string(i) + " ")));
      std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
    }
    SendEvent(out, Dump(ChatChunk(r.json()["model"], "", true)));
    SendEvent(out, "[DONE]");
  };
}

std::string StreamBody() {
  return Dump(Json{{"model", "chat-alias"}, {"stream", true}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}});
}

TEST(DrainTest, AStreamInFlightFinishesWithinTheDrainTime) {
  FakeProvider fake(SlowStream(5, 200));
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()), "  drain_timeout: 10s\n");
  StreamingCall call(gw.port(), "/v1/chat/completions", StreamBody(), gw.Auth());
  ASSERT_EQ(call.status(), 200);
  ASSERT_NE(call.ReadUntil("part0").find("part0"), std::string::npos);
  const auto t0 = Clock::now();
  std::thread stopper([&] { gw.app().Stop(); });
  const std::string rest = call.ReadAll();
  stopper.join();
  const double stop_s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_NE(rest.find("part4"), std::string::npos) << rest;
  EXPECT_NE(rest.find("data: [DONE]"), std::string::npos) << rest;
  EXPECT_GE(stop_s, 0.5);  // Stop() waited for the stream
  EXPECT_LT(stop_s, 5.0);
  // No new connections once stopping.
  EXPECT_ANY_THROW(Http(gw.port(), "GET", "/healthz"));
}

TEST(DrainTest, AStreamOutlastingTheDrainTimeIsCutAtTheDeadline) {
  FakeProvider fake(SlowStream(300, 100));  // 30 s of stream
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()), "  drain_timeout: 1s\n");
  StreamingCall call(gw.port(), "/v1/chat/completions", StreamBody(), gw.Auth());
  ASSERT_EQ(call.status(), 200);
  ASSERT_NE(call.ReadUntil("part1").find("part1"), std::string::npos);
  const auto t0 = Clock::now();
  std::thread stopper([&] { gw.app().Stop(); });
  std::string rest;
  try {
    rest = call.ReadAll();
  } catch (const std::exception&) {  // the connection was shut down under the reader
  }
  stopper.join();
  const double stop_s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_GE(stop_s, 0.9);
  EXPECT_LT(stop_s, 4.0) << "Stop() must not wait for the whole stream";
  EXPECT_EQ(rest.find("[DONE]"), std::string::npos) << "a cut stream never looks complete";
  EXPECT_NE(gw.ReadLog().find("drain_deadline"), std::string::npos);
}

}  // namespace
}  // namespace warden::testing
