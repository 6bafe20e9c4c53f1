// Integration: slow and greedy clients against the real server — slowloris (heads trickled a
// byte at a time) while legitimate requests keep succeeding, slow POST bodies, oversized heads,
// and a burst far above server.max_connections answered with fast 503s and bounded memory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <Poco/Net/StreamSocket.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "common/util.h"
#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// Resident set size of this process (the server runs in it), in MiB.
double RssMiB() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

Json Chat() { return {{"model", "chat-alias"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}; }

// Reads whatever the server sends until it closes or `timeout_s` passes.
std::string Drain(Poco::Net::StreamSocket& s, double timeout_s) {
  s.setReceiveTimeout(Poco::Timespan(static_cast<long>(timeout_s * 1e6)));
  std::string out;
  char buf[4096];
  try {
    for (int n; (n = s.receiveBytes(buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  } catch (const Poco::Exception&) {
  }
  return out;
}

TEST(OverloadTest, SlowlorisDoesNotStarveLegitimateRequests) {
  FakeProvider fake;
  // 48 slow heads: under the old thread-per-connection server they held every worker (16) and
  // half the queue; on the event loops they hold no thread at all.
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()),
                      "  worker_threads: 16\n  max_queued_connections: 64\n  header_timeout: 1s\n");
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: warden\r\nAuthorization: Bearer " +
                           gw.key() + "\r\nContent-Type: application/json\r\nX-Padding: ";
  std::atomic<bool> stop{false};
  std::atomic<int> timed_out{0}, slow_done{0};
  std::vector<std::thread> slow;
  for (int i = 0; i < 48; ++i) {
    slow.emplace_back([&] {
      try {
        Poco::Net::StreamSocket s(Poco::Net::SocketAddress("127.0.0.1", gw.port()));
        // A byte every 100 ms, forever: the head never completes.
        for (size_t at = 0; !stop; at = (at + 1) % head.size()) {
          s.sendBytes(head.data() + at, 1);
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          if (s.poll(Poco::Timespan(0), Poco::Net::Socket::SELECT_READ)) break;  // the server answered
        }
        const std::string answer = Drain(s, 2);
        if (answer.rfind("HTTP/1.1 408", 0) == 0 || answer.rfind("HTTP/1.0 408", 0) == 0) ++timed_out;
      } catch (const Poco::Exception&) {
      }
      ++slow_done;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let them take the workers
  double worst = 0;
  for (int i = 0; i < 20; ++i) {
    const auto t0 = Clock::now();
    HttpResult r;
    try {
      r = gw.Post("/v1/chat/completions", Chat());
    } catch (const std::exception& e) {  // a client timeout: starved
      r.body = e.what();
    }
    worst = std::max(worst, Seconds(t0));
    EXPECT_EQ(r.status, 200) << r.body;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // A legitimate request waits at most for a slow connection's head deadline (1 s) — without
  // it, the slow connections held every worker for read_timeout per byte, i.e. for ever.
  EXPECT_LT(worst, 3.0);
  stop = true;
  for (auto& t : slow) t.join();
  EXPECT_GE(timed_out.load(), 16) << "the slow heads that reached a worker were answered 408";
}

TEST(OverloadTest, SlowBodiesAndOversizedHeadsAreCutShort) {
  FakeProvider fake;
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()), "  header_timeout: 1s\n  max_header_size: 16KiB\n");
  // A body announced as 2000 bytes arriving at ~10 bytes/s: 408 soon after the 1 s grace.
  Poco::Net::StreamSocket s(Poco::Net::SocketAddress("127.0.0.1", gw.port()));
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: warden\r\nAuthorization: Bearer " +
                           gw.key() + "\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n";
  s.sendBytes(head.data(), static_cast<int>(head.size()));
  const auto t0 = Clock::now();
  std::string answer;
  for (int i = 0; i < 60 && answer.empty(); ++i) {
    s.sendBytes(" ", 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (s.poll(Poco::Timespan(0), Poco::Net::Socket::SELECT_READ)) answer = Drain(s, 1);
  }
  EXPECT_EQ(answer.rfind("HTTP/1.1 408", 0), 0u) << answer;
  EXPECT_NE(answer.find("min_body_rate"), std::string::npos) << answer;
  EXPECT_LT(Seconds(t0), 4.0);

  // A head over max_header_size, in fields that are each small: 431 without waiting.
  std::string big = "GET /v1/models HTTP/1.1\r\nHost: warden\r\n";
  for (int i = 0; i < 40; ++i) big += "X-Field-" + std::to_string(i) + ": " + std::string(500, 'v') + "\r\n";
  big += "\r\n";
  Poco::Net::StreamSocket b(Poco::Net::SocketAddress("127.0.0.1", gw.port()));
  b.sendBytes(big.data(), static_cast<int>(big.size()));
  answer = Drain(b, 3);
  EXPECT_NE(answer.find(" 431 "), std::string::npos) << answer.substr(0, 200);
  EXPECT_NE(answer.find("request_header_fields_too_large"), std::string::npos);

  // A connection that sends nothing at all is closed after header_timeout.
  Poco::Net::StreamSocket idle(Poco::Net::SocketAddress("127.0.0.1", gw.port()));
  const auto t1 = Clock::now();
  Drain(idle, 5);
  EXPECT_LT(Seconds(t1), 3.0);
  EXPECT_EQ(gw.Post("/v1/chat/completions", Chat()).status, 200);
}

TEST(OverloadTest, ABurstBeyondTheCapsGetsFast503sAndMemoryStaysBounded) {
  // The provider takes 1.5 s to answer, so every admitted request holds its worker.
  FakeProvider slow([](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ReplyJson(resp, 200, {{"id", "x"}, {"object", "chat.completion"}, {"created", 1}, {"model", "m"},
                          {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", "ok"}}}, {"finish_reason", "stop"}}}},
                          {"usage", {{"prompt_tokens", 1}, {"completion_tokens", 1}, {"total_tokens", 2}}}});
  });
  GatewayUnderTest gw(OneProviderYaml(slow.base_url()), "  worker_threads: 4\n  max_connections: 8\n");
  const double rss_before = RssMiB();
  constexpr int kBurst = 150;
  std::vector<int> status(kBurst, 0);
  std::vector<double> took(kBurst, 0);
  std::vector<std::string> retry_after(kBurst), code(kBurst);
  std::vector<std::thread> clients;
  for (int i = 0; i < kBurst; ++i) {
    clients.emplace_back([&, i] {
      const auto t0 = Clock::now();
      HttpResult r = Http(gw.port(), "POST", "/v1/chat/completions", Dump(Chat()),
                          {{"Authorization", "Bearer " + gw.key()}, {"Content-Type", "application/json"}});
      took[i] = Seconds(t0);
      status[i] = r.status;
      retry_after[i] = r.header("retry-after");
      if (r.status == 503 && ParseJson(r.body)) code[i] = (*ParseJson(r.body))["error"]["code"];
    });
  }
  for (auto& t : clients) t.join();
  const double rss_after = RssMiB();
  int ok = 0, refused = 0;
  double slowest_refusal = 0;
  for (int i = 0; i < kBurst; ++i) {
    if (status[i] == 200) {
      ++ok;
    } else {
      EXPECT_EQ(status[i], 503) << "request " << i;
      EXPECT_EQ(retry_after[i], "1");
      EXPECT_EQ(code[i], "overloaded");
      ++refused;
      slowest_refusal = std::max(slowest_refusal, took[i]);
    }
  }
  // 8 connections at once (a few more may be admitted as the first ones finish).
  EXPECT_GE(ok, 4);
  EXPECT_LE(ok, 24);
  EXPECT_EQ(ok + refused, kBurst) << "every connection got an answer";
  EXPECT_LT(slowest_refusal, 1.4) << "503s come at once, not after waiting for a worker";
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer keeps megabytes of state per thread (150 client threads here): the bound
  // that matters is the normal build's; under TSan this run is about races.
  constexpr double kMaxGrowthMiB = 512.0;
#else
  constexpr double kMaxGrowthMiB = 64.0;
#endif
  EXPECT_LT(rss_after - rss_before, kMaxGrowthMiB) << "memory grew by " << rss_after - rss_before << " MiB";
  // Still serving afterwards.
  EXPECT_EQ(gw.Post("/v1/chat/completions", Chat()).status, 200);
}

}  // namespace
}  // namespace warden::testing
