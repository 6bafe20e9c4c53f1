// Integration: HTTP/1.1 strictness on the client listener, in the spirit of HAProxy's and Envoy's
// message tests — ambiguous framing, bad chunk sizes, oversized heads and bodies — sent as raw
// bytes to the real server. Each gets an OpenAI-shaped error and a closed connection; nothing
// smuggled behind a bad request is ever served; the server keeps serving.
#include <gtest/gtest.h>

#include <Poco/Net/StreamSocket.h>

#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

// Sends `raw` on a fresh connection and reads until the server closes it (or 5 s pass).
std::string Exchange(uint16_t port, const std::string& raw) {
  Poco::Net::StreamSocket s(Poco::Net::SocketAddress("127.0.0.1", port));
  s.setReceiveTimeout(Poco::Timespan(5, 0));
  s.sendBytes(raw.data(), static_cast<int>(raw.size()));
  std::string out;
  char buf[4096];
  try {
    for (int n; (n = s.receiveBytes(buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  } catch (const Poco::Exception&) {
    out += "<timeout: the connection stayed open>";
  }
  return out;
}

int StatusOf(const std::string& response) {
  return response.size() > 12 && response.rfind("HTTP/1.", 0) == 0 ? std::stoi(response.substr(9, 3)) : 0;
}

int CountResponses(const std::string& response) {
  int n = 0;
  for (size_t at = 0; (at = response.find("HTTP/1.", at)) != std::string::npos; at += 7) ++n;
  return n;
}

class HttpStrictnessTest : public ::testing::Test {
 protected:
  HttpStrictnessTest() : gw_(OneProviderYaml(fake_.base_url()), "  max_body_size: 64KiB\n") {}
  std::string Head(const std::string& extra) {
    return "POST /v1/chat/completions HTTP/1.1\r\nHost: warden\r\nAuthorization: Bearer " + gw_.key() +
           "\r\nContent-Type: application/json\r\n" + extra;
  }
  const std::string body_ = R"({"model":"chat-alias","messages":[{"role":"user","content":"hi"}]})";
  std::string Len() const { return std::to_string(body_.size()); }
  FakeProvider fake_;
  GatewayUnderTest gw_;
};

TEST_F(HttpStrictnessTest, AmbiguousOrMalformedRequestsAreRefusedAndClosed) {
  struct Case {
    const char* name;
    std::string raw;
    int status;
    std::string code;
  };
  const std::string big(9000, 'a');
  const std::string bad_utf8 = R"({"model":"chat-alias","messages":[{"role":"user","content":"h)" + std::string("\xff\xfe") + R"("}]})";
  std::string many;
  for (int i = 0; i < 150; ++i) many += "X-Field-" + std::to_string(i) + ": 1\r\n";
  const std::vector<Case> cases = {
      {"CL and TE", Head("Content-Length: " + Len() + "\r\nTransfer-Encoding: chunked\r\n\r\n") + body_, 400, "bad_http_request"},
      {"TE and CL", Head("Transfer-Encoding: chunked\r\nContent-Length: " + Len() + "\r\n\r\n") + body_, 400, "bad_http_request"},
      {"duplicate CL, equal", Head("Content-Length: " + Len() + "\r\nContent-Length: " + Len() + "\r\n\r\n") + body_, 400, "bad_http_request"},
      {"duplicate CL, different", Head("Content-Length: " + Len() + "\r\nContent-Length: 5\r\n\r\n") + body_, 400, "bad_http_request"},
      {"empty CL", Head("Content-Length: \r\n\r\n") + body_, 400, "bad_http_request"},
      {"signed CL", Head("Content-Length: +" + Len() + "\r\n\r\n") + body_, 400, "bad_http_request"},
      {"CL list", Head("Content-Length: " + Len() + ", " + Len() + "\r\n\r\n") + body_, 400, "bad_http_request"},
      {"two TE", Head("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400, "bad_http_request"},
      {"TE other than chunked", Head("Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"), 501, "unsupported_transfer_encoding"},
      {"space before colon", Head("Content-Length : " + Len() + "\r\n\r\n") + body_, 400, "bad_http_request"},
      {"control byte in a value", Head(std::string("X-A: a\x01z\r\nContent-Length: ") + Len() + "\r\n\r\n") + body_, 400, "bad_http_request"},
      {"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "bad_http_request"},
      {"two Hosts", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad_http_request"},
      {"chunk size not hex", Head("Transfer-Encoding: chunked\r\n\r\nzz\r\n") + body_ + "\r\n0\r\n\r\n", 400, "invalid_body"},
      {"negative chunk size", Head("Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"), 400, "invalid_body"},
      {"chunk size with a space inside", Head("Transfer-Encoding: chunked\r\n\r\n1 0\r\n") + std::string(16, 'x') + "\r\n0\r\n\r\n", 400, "invalid_body"},
      {"chunk data longer than its size", Head("Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n"), 400, "invalid_body"},
      {"bare LF after a chunk size", Head("Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"), 400, "invalid_body"},
      {"chunk size over 16 digits", Head("Transfer-Encoding: chunked\r\n\r\n00000000000000005\r\nhello\r\n0\r\n\r\n"), 400, "invalid_body"},
      {"huge chunk size", Head("Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nhello"), 413, "request_too_large"},
      {"body over the limit by CL", Head("Content-Length: 100000000\r\n\r\n") + body_, 413, "request_too_large"},
      {"a header value over 8 KiB", Head("X-Big: " + big + "\r\nContent-Length: " + Len() + "\r\n\r\n") + body_, 431, "request_header_fields_too_large"},
      {"too many header fields", Head(many + "Content-Length: " + Len() + "\r\n\r\n") + body_, 431, "request_header_fields_too_large"},
      {"URI over 16 KiB", "GET /" + std::string(17000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, "uri_too_long"},
      {"invalid UTF-8 in JSON", Head("Connection: close\r\nContent-Length: " + std::to_string(bad_utf8.size()) + "\r\n\r\n") + bad_utf8, 400, "invalid_json"},
      {"bare CR in a header line", Head("X-A: a\rb\r\nContent-Length: " + Len() + "\r\n\r\n") + body_, 400, "bad_http_request"},
      {"obsolete line folding", Head("X-A: a\r\n b\r\nContent-Length: " + Len() + "\r\n\r\n") + body_, 400, "bad_http_request"},
      {"folding with a tab", Head("Content-Length: " + Len() + "\r\nX-A: a\r\n\tb\r\n\r\n") + body_, 400, "bad_http_request"},
      {"HTTP/9.9", "GET /healthz HTTP/9.9\r\nHost: a\r\n\r\n", 505, "http_version_not_supported"},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "http_version_not_supported"},
  };
  for (const Case& c : cases) {
    const std::string response = Exchange(gw_.port(), c.raw);
    EXPECT_EQ(StatusOf(response), c.status) << c.name << "\n" << response.substr(0, 300);
    // The status line never echoes a client's version.
    EXPECT_TRUE(response.rfind("HTTP/1.1 ", 0) == 0 || response.rfind("HTTP/1.0 ", 0) == 0)
        << c.name << ": " << response.substr(0, 40);
    const size_t body_at = response.find("\r\n\r\n");
    ASSERT_NE(body_at, std::string::npos) << c.name;
    auto json = ParseJson(response.substr(body_at + 4));
    ASSERT_TRUE(json && json->contains("error")) << c.name << ": not an OpenAI-shaped error\n" << response;
    EXPECT_EQ((*json)["error"]["code"], c.code) << c.name;
    // Read to the end above: the server closed the connection (no timeout marker). (The body of
    // the invalid-JSON case was read in full, so only its `Connection: close` ends it.)
    EXPECT_EQ(response.find("<timeout"), std::string::npos) << c.name << ": the connection was kept open";
  }
  EXPECT_TRUE(fake_.requests().empty()) << "a refused request reached the provider";
  // Still serving.
  EXPECT_EQ(gw_.Post("/v1/chat/completions", *ParseJson(body_)).status, 200);
}

TEST_F(HttpStrictnessTest, NothingSmuggledBehindABadChunkIsServed) {
  // A complete chunk, a bad chunk size, then a complete second request in the same bytes:
  // Poco's own chunked reader took the bad size for the end of the body, served the first
  // request and then the smuggled one.
  char size[16];
  snprintf(size, sizeof size, "%zx", body_.size());
  const std::string smuggled = Head("Content-Length: " + Len() + "\r\n\r\n") + body_;
  std::string raw = Head("Transfer-Encoding: chunked\r\n\r\n") + size + "\r\n" + body_ + "\r\nzz\r\n" + smuggled;
  std::string response = Exchange(gw_.port(), raw);
  EXPECT_EQ(StatusOf(response), 400) << response;
  EXPECT_EQ(CountResponses(response), 1) << response;
  EXPECT_TRUE(fake_.requests().empty());
  // And behind a well-formed chunked request: served, then the connection closes.
  raw = Head("Transfer-Encoding: chunked\r\n\r\n") + size + ";ext=1\r\n" + body_ + "\r\n0\r\nX-Trailer: t\r\n\r\n" + smuggled;
  response = Exchange(gw_.port(), raw);
  EXPECT_EQ(StatusOf(response), 200) << response;
  EXPECT_EQ(CountResponses(response), 1) << response;
  EXPECT_EQ(fake_.requests().size(), 1u);
}

TEST_F(HttpStrictnessTest, WellFormedChunkedBodiesAreServed) {
  // Split into several chunks, upper-case hex, an extension and a trailer.
  std::string chunked;
  for (size_t at = 0; at < body_.size(); at += 10) {
    const std::string piece = body_.substr(at, 10);
    char size[16];
    snprintf(size, sizeof size, "%zX", piece.size());
    chunked += std::string(size) + (at == 0 ? ";name=value" : "") + "\r\n" + piece + "\r\n";
  }
  chunked += "0\r\nX-Checksum: 1\r\n\r\n";
  const std::string response = Exchange(gw_.port(), Head("Transfer-Encoding: Chunked\r\n\r\n") + chunked);
  EXPECT_EQ(StatusOf(response), 200) << response;
  ASSERT_EQ(fake_.requests().size(), 1u);
  EXPECT_NE(fake_.requests()[0].body.find("\"hi\""), std::string::npos);
}

TEST_F(HttpStrictnessTest, LargeButAllowedHeadsAreServed) {
  // 40 KiB of headers (under the 64 KiB default), in fields under 8 KiB: read in full.
  std::string fields;
  for (int i = 0; i < 8; ++i) fields += "X-Large-" + std::to_string(i) + ": " + std::string(5000, 'a' + i) + "\r\n";
  const std::string response =
      Exchange(gw_.port(), Head(fields + "Connection: close\r\nContent-Length: " + Len() + "\r\n\r\n") + body_);
  EXPECT_EQ(StatusOf(response), 200) << response.substr(0, 300);
}

}  // namespace
}  // namespace warden::testing
