// The request-head checks and the strict chunked decoder (server/http_checks.h).
#include <gtest/gtest.h>

#include "server/http_checks.h"
#include "server/http_head.h"

namespace warden {
namespace {

std::optional<int> Status(const HeaderList& h, std::string_view version = "HTTP/1.1") {
  auto e = CheckRequestHead(version, h);
  return e ? std::optional<int>(e->status()) : std::nullopt;
}

TEST(HttpChecksTest, RequestHeads) {
  EXPECT_FALSE(Status({{"Host", "a"}, {"Content-Length", "12"}}));
  EXPECT_FALSE(Status({{"host", "a"}, {"transfer-encoding", " Chunked "}}));
  EXPECT_FALSE(Status({}, "HTTP/1.0"));  // HTTP/1.0 needs no Host
  EXPECT_EQ(Status({}), 400);
  EXPECT_EQ(Status({{"Host", "a"}, {"HOST", "b"}}), 400);
  EXPECT_EQ(Status({{"Host", "a"}, {"Content-Length", "1"}, {"content-length", "1"}}), 400);
  EXPECT_EQ(Status({{"Host", "a"}, {"Content-Length", "1"}, {"Transfer-Encoding", "chunked"}}), 400);
  EXPECT_EQ(Status({{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}), 400);
  EXPECT_EQ(Status({{"Host", "a"}, {"Transfer-Encoding", "gzip"}}), 501);
  EXPECT_EQ(Status({{"Host", "a"}, {"Transfer-Encoding", "chunked, gzip"}}), 501);
  for (const char* bad : {"", " ", "-1", "+1", "1 2", "0x10", "1,1", "1234567890123456789"})
    EXPECT_EQ(Status({{"Host", "a"}, {"Content-Length", bad}}), 400) << "'" << bad << "'";
  EXPECT_FALSE(Status({{"Host", "a"}, {"Content-Length", " 0 "}}));
  EXPECT_EQ(Status({{"Host", "a"}, {"Content-Length ", "1"}}), 400);
  EXPECT_EQ(Status({{"Host", "a"}, {"X(y)", "1"}}), 400);
  EXPECT_EQ(Status({{"Host", "a"}, {"X", std::string("a\0b", 3)}}), 400);
  EXPECT_EQ(Status({{"Host", "a"}, {"X", "a\x7f"}}), 400);
  EXPECT_FALSE(Status({{"Host", "a"}, {"X", "tab\tis fine, so is UTF-8: \xc3\xa9"}}));

  EXPECT_EQ(HeadParseError(HeadProblem::kFieldsTooLarge).status(), 431);
  EXPECT_EQ(HeadParseError(HeadProblem::kFieldsTooLarge).code, "request_header_fields_too_large");
  EXPECT_EQ(HeadParseError(HeadProblem::kUriTooLong).status(), 414);
  EXPECT_EQ(HeadParseError(HeadProblem::kUriTooLong).code, "uri_too_long");
  EXPECT_EQ(HeadParseError(HeadProblem::kMalformed).status(), 400);
}

struct Decoded {
  std::string data;
  size_t consumed = 0;
  bool done = false, failed = false, too_large = false;
};

// Feeds `in` in pieces of `step` bytes (0 = all at once).
Decoded Decode(const std::string& in, size_t step = 0, size_t limit = 1 << 20) {
  ChunkedDecoder d(limit);
  Decoded r;
  for (size_t at = 0; at < in.size() && !d.done() && !d.failed();) {
    const size_t n = step ? std::min(step, in.size() - at) : in.size() - at;
    const size_t used = d.Feed(std::string_view(in).substr(at, n), r.data);
    r.consumed += used;
    at += n;
    if (used < n) break;
  }
  r.done = d.done();
  r.failed = d.failed();
  r.too_large = d.too_large();
  return r;
}

TEST(HttpChecksTest, ChunkedDecoderAcceptsWellFormedBodiesInAnySplit) {
  const std::string body = "5\r\nhello\r\nA;ext=\"v\"\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
  for (size_t step : {0, 1, 2, 3, 7}) {
    Decoded r = Decode(body + "GET / HTTP/1.1\r\n", step);
    EXPECT_TRUE(r.done) << step;
    EXPECT_EQ(r.data, "hello0123456789") << step;
    if (step == 0) {
      EXPECT_EQ(r.consumed, body.size());  // stops at the end of the message
    }
  }
  EXPECT_TRUE(Decode("0\r\n\r\n").done);
  EXPECT_EQ(Decode("000a\r\n0123456789\r\n0\r\n\r\n").data, "0123456789");
  Decoded partial = Decode("5\r\nhel");
  EXPECT_FALSE(partial.done);
  EXPECT_FALSE(partial.failed);
}

TEST(HttpChecksTest, ChunkedDecoderRefusesBadFraming) {
  for (const char* bad : {"zz\r\nhello\r\n0\r\n\r\n", "-5\r\nhello\r\n0\r\n\r\n", "+5\r\nhello\r\n0\r\n\r\n",
                          " 5\r\nhello\r\n0\r\n\r\n", "\r\nhello\r\n0\r\n\r\n", "5\nhello\r\n0\r\n\r\n",
                          "5\r\nhelloX\r\n0\r\n\r\n", "5\r\nhello\n0\r\n\r\n", "0x5\r\nhello\r\n0\r\n\r\n",
                          "00000000000000005\r\nhello\r\n0\r\n\r\n", "5;a\nb\r\nhello\r\n0\r\n\r\n",
                          "0\r\nTrailer: x\n\r\n", "0\r\n\rX"}) {
    Decoded r = Decode(bad);
    EXPECT_TRUE(r.failed) << bad;
    EXPECT_FALSE(r.too_large) << bad;
    EXPECT_FALSE(r.done) << bad;
  }
  EXPECT_TRUE(Decode("6\r\nhello!\r\n0\r\n\r\n", 0, 5).too_large);
  EXPECT_TRUE(Decode("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", 1, 5).too_large);  // over the limit in total
  EXPECT_TRUE(Decode("FFFFFFFFFFFFFFFF\r\n").too_large);
  EXPECT_TRUE(Decode("5;" + std::string(5000, 'e') + "\r\nhello\r\n0\r\n\r\n").failed);
  EXPECT_TRUE(Decode("0\r\nT: " + std::string(9000, 't') + "\r\n\r\n").failed);
}


TEST(HttpChecksTest, HeadFramingRefusesBareCrAndObsoleteFolding) {
  EXPECT_FALSE(CheckHeadFraming("POST / HTTP/1.1\r\nHost: a\r\nX: b\r\n\r\n{body with \r alone}"));
  EXPECT_TRUE(CheckHeadFraming("POST / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n"));
  EXPECT_TRUE(CheckHeadFraming("POST / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"));
  EXPECT_TRUE(CheckHeadFraming("POST / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n"));
  // The body is not the head: indented JSON after either kind of empty line is fine.
  EXPECT_FALSE(CheckHeadFraming("POST / HTTP/1.1\r\nHost: a\r\n\r\n{\n  \"model\": \"m\"\r}"));
  EXPECT_FALSE(CheckHeadFraming("POST / HTTP/1.1\nHost: a\n\n{\n  \"model\": \"m\"\r}"));
  EXPECT_TRUE(CheckHeadFraming("POST / HTTP/1.1\nHost: a\n folded\n\n{}"));
  auto e = CheckRequestHead("HTTP/2.0", {{"Host", "a"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status(), 505);
  EXPECT_FALSE(CheckRequestHead("HTTP/1.0", {}));
}

TEST(HttpHeadTest, FindsTheEndOfAHeadWithEitherLineEnding) {
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY"), 27u);
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\nHost: a\n\nBODY"), 24u);
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\r\nHost: a\r\n"), std::string_view::npos);
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\r\nHost: a\r\n\r"), std::string_view::npos);
  // Empty lines before the request line are skipped, not taken for the end of the head.
  EXPECT_EQ(FindHeadEnd("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 31u);
  // Searching on from where the last search stopped finds a terminator split across reads.
  const std::string whole = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(FindHeadEnd(whole, whole.size() - 2), whole.size());
}

TEST(HttpHeadTest, SplitsTheRequestLineAndFields) {
  auto head = ParseRequestHead("POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: warden\r\nContent-Length:  12 \r\n"
                               "Connection: keep-alive, Upgrade\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(head->method, "POST");
  EXPECT_EQ(head->target, "/v1/chat/completions?x=1");
  EXPECT_EQ(head->version, "HTTP/1.1");
  ASSERT_EQ(head->headers.size(), 4u);
  EXPECT_EQ(*head->Find("content-length"), "12");  // values are trimmed, names found in any case
  EXPECT_EQ(head->content_length(), 12);
  EXPECT_TRUE(head->keep_alive());
  EXPECT_TRUE(head->expects_continue());
  EXPECT_FALSE(head->chunked());
  // HTTP/1.0 keeps the connection only when asked; HTTP/1.1 unless told to close.
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.0\r\n\r\n")->keep_alive());
  EXPECT_TRUE(ParseRequestHead("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")->keep_alive());
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")->keep_alive());
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n")->expects_continue());
  // A space before the colon stays in the name, for CheckRequestHead to refuse.
  auto spaced = ParseRequestHead("GET / HTTP/1.1\r\nHost : a\r\n\r\n");
  ASSERT_TRUE(spaced);
  EXPECT_EQ(spaced->headers[0].first, "Host ");
  EXPECT_TRUE(CheckRequestHead(spaced->version, spaced->headers));
}

TEST(HttpHeadTest, RefusesWhatNoRequestCanBe) {
  auto status = [](const std::string& raw) {
    auto r = ParseRequestHead(raw);
    return r ? 0 : r.error().status();
  };
  EXPECT_EQ(status("GET /\r\n\r\n"), 400);
  EXPECT_EQ(status("GET  / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1 extra\r\n\r\n"), 400);
  EXPECT_EQ(status(" / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nno colon here\r\n\r\n"), 400);
  EXPECT_EQ(status("GET /" + std::string(kMaxTargetBytes, 'a') + " HTTP/1.1\r\n\r\n"), 414);
  EXPECT_EQ(status("GET /" + std::string(kMaxTargetBytes, 'a') + "\r\n\r\n"), 414);
  std::string many = "GET / HTTP/1.1\r\n";
  for (size_t i = 0; i <= kMaxHeaderFields; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(status(many + "\r\n"), 431);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nX: " + std::string(kMaxFieldValueBytes + 1, 'v') + "\r\n\r\n"), 431);
  EXPECT_EQ(status("GET / HTTP/1.1\r\n" + std::string(kMaxFieldNameBytes + 1, 'n') + ": v\r\n\r\n"), 431);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nX: " + std::string(kMaxFieldValueBytes, 'v') + "\r\n\r\n"), 0);
}

}  // namespace
}  // namespace warden
