// HTTPS upstream: certificate verification is on by default, a custom CA bundle is honoured,
// host names are checked, and TLS connections are pooled.
#include <gtest/gtest.h>

#include <Poco/Net/Context.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>

#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "support/fake_provider.h"
#include "config/config.h"
#include "providers/http_upstream.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

// A self-signed certificate for `name` made with the openssl CLI; returns false if it failed.
bool MakeCert(const TempDir& dir, const std::string& name, std::string* cert, std::string* key) {
  *cert = dir.path() + "/" + name + ".crt";
  *key = dir.path() + "/" + name + ".key";
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + name +
                    " -addext subjectAltName=DNS:" + name + " -keyout " + *key + " -out " + *cert +
                    " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

Json Chat() {
  return {{"model", "chat-alias"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(MakeCert(certs_, "localhost", &cert_, &key_)) << "openssl CLI failed";
    fake_ = std::make_unique<FakeProvider>(FakeProvider::DefaultHandler(), cert_, key_);
  }
  std::string Url(const std::string& host) const {
    return "https://" + host + ":" + std::to_string(fake_->port()) + "/v1";
  }
  TempDir certs_;
  std::string cert_, key_;
  std::unique_ptr<FakeProvider> fake_;
};

TEST_F(TlsTest, TrustedThroughTheConfiguredCaBundleAndPooled) {
  // Pooled connections belong to an event loop (as nginx's belong to a worker): one loop here.
  GatewayUnderTest gw(OneProviderYaml(Url("localhost")), "  event_loops: 1\n", "  ca_file: " + cert_ + "\n");
  for (int i = 0; i < 3; ++i) {
    HttpResult r = gw.Post("/v1/chat/completions", Chat());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["choices"][0]["message"]["content"], "fake answer");
  }
  EXPECT_EQ(fake_->requests().size(), 3u);
  EXPECT_EQ(gw.app().http().stats().connections_opened, 1u);  // one TLS handshake for three calls
}

TEST_F(TlsTest, UntrustedCertificateIsRefusedByDefault) {
  GatewayUnderTest gw(OneProviderYaml(Url("localhost")));  // system CAs only
  HttpResult r = gw.Post("/v1/chat/completions", Chat());
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(r.json()["error"]["code"], "upstream_unreachable");
  EXPECT_EQ(fake_->requests().size(), 0u);  // nothing was sent over the unverified channel
}

TEST_F(TlsTest, HostNameMismatchIsRefused) {
  std::string other_cert, other_key;
  ASSERT_TRUE(MakeCert(certs_, "other.example", &other_cert, &other_key));
  FakeProvider wrong_name(FakeProvider::DefaultHandler(), other_cert, other_key);
  GatewayUnderTest gw(OneProviderYaml("https://localhost:" + std::to_string(wrong_name.port()) + "/v1"),
                      "", "  ca_file: " + other_cert + "\n");
  HttpResult r = gw.Post("/v1/chat/completions", Chat());
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(wrong_name.requests().size(), 0u);
}

// A minimal HTTP CONNECT proxy on 127.0.0.1:0: records each CONNECT target and every byte it
// relays, then pumps bytes both ways until either side closes.
class ConnectProxy {
 public:
  ConnectProxy() : server_(Poco::Net::SocketAddress("127.0.0.1", 0)) {
    server_.setReceiveTimeout(Poco::Timespan(0, 200000));
    accept_ = std::thread([this] { AcceptLoop(); });
  }
  ~ConnectProxy() {
    stop_ = true;
    accept_.join();
    for (auto& t : pumps_) t.join();
  }
  uint16_t port() const { return server_.address().port(); }
  std::vector<std::string> targets() {
    std::lock_guard lock(mu_);
    return targets_;
  }
  std::string relayed() {
    std::lock_guard lock(mu_);
    return relayed_;
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      try {
        Poco::Net::StreamSocket client = server_.acceptConnection();
        std::lock_guard lock(mu_);
        pumps_.emplace_back([this, client]() mutable { Serve(client); });
      } catch (const Poco::Exception&) {
      }
    }
  }
  void Serve(Poco::Net::StreamSocket client) {
    try {
      std::string head;
      char c;
      while (head.find("\r\n\r\n") == std::string::npos && client.receiveBytes(&c, 1) == 1) head.push_back(c);
      if (head.rfind("CONNECT ", 0) != 0) return;
      std::string target = head.substr(8, head.find(' ', 8) - 8);
      {
        std::lock_guard lock(mu_);
        targets_.push_back(target);
      }
      Poco::Net::StreamSocket upstream(Poco::Net::SocketAddress("127.0.0.1", target.substr(target.rfind(':') + 1)));
      std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
      client.sendBytes(ok.data(), static_cast<int>(ok.size()));
      std::thread back([this, upstream, client]() mutable { Pump(upstream, client); });
      Pump(client, upstream);
      back.join();
    } catch (const Poco::Exception&) {
    }
  }
  void Pump(Poco::Net::StreamSocket from, Poco::Net::StreamSocket to) {
    char buf[16384];
    from.setReceiveTimeout(Poco::Timespan(0, 100000));
    try {
      while (!stop_) {
        int n = 0;
        try {
          n = from.receiveBytes(buf, sizeof buf);
        } catch (const Poco::TimeoutException&) {
          continue;
        }
        if (n <= 0) break;
        {
          std::lock_guard lock(mu_);
          relayed_.append(buf, static_cast<size_t>(n));
        }
        to.sendBytes(buf, n);
      }
      to.shutdownSend();
    } catch (const Poco::Exception&) {
    }
  }
  Poco::Net::ServerSocket server_;
  std::thread accept_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::thread> pumps_;
  std::vector<std::string> targets_;
  std::string relayed_;
};

TEST_F(TlsTest, HttpsGoesThroughTheConfiguredProxyAsAConnectTunnel) {
  ConnectProxy proxy;
  std::string yaml = OneProviderYaml(Url("localhost"), "chat-alias", "fake-model-1",
                                     "    api_key: sk-proxy-test-secret-123456\n");
  GatewayUnderTest gw(yaml, "",
                      "  ca_file: " + cert_ + "\n  proxy: http://127.0.0.1:" + std::to_string(proxy.port()) + "\n");
  HttpResult r = gw.Post("/v1/chat/completions", Chat());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(fake_->requests().size(), 1u);
  ASSERT_EQ(proxy.targets().size(), 1u);
  EXPECT_EQ(proxy.targets()[0], "localhost:" + std::to_string(fake_->port()));
  // TLS is end to end: the proxy relayed bytes but saw neither the key nor the prompt.
  EXPECT_FALSE(proxy.relayed().empty());
  EXPECT_EQ(proxy.relayed().find("sk-proxy-test-secret-123456"), std::string::npos);
  EXPECT_EQ(proxy.relayed().find("\"hi\""), std::string::npos);
}

TEST_F(TlsTest, NoProxyHostsAndTheEnvironmentAreHonoured) {
  ConnectProxy proxy;
  // HTTPS_PROXY from the environment when the file names no proxy; NO_PROXY exempts localhost.
  std::map<std::string, std::string> env = {{"HTTPS_PROXY", "127.0.0.1:" + std::to_string(proxy.port())},
                                            {"NO_PROXY", "example.org,localhost"}};
  auto lookup = [&](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto loaded = LoadConfigFromString(OneProviderYaml(Url("localhost")), "test.yaml", lookup);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.config->upstream.proxy_host, "127.0.0.1");
  EXPECT_EQ(loaded.config->upstream.proxy_port, proxy.port());
  EXPECT_TRUE(BypassesProxy("localhost", loaded.config->upstream.no_proxy));
  EXPECT_TRUE(BypassesProxy("api.example.org", loaded.config->upstream.no_proxy));
  EXPECT_FALSE(BypassesProxy("notexample.org", loaded.config->upstream.no_proxy));
  EXPECT_FALSE(BypassesProxy("api.openai.com", loaded.config->upstream.no_proxy));

  GatewayUnderTest gw(OneProviderYaml(Url("localhost")), "",
                      "  ca_file: " + cert_ + "\n  proxy: http://127.0.0.1:" + std::to_string(proxy.port()) +
                          "\n  no_proxy: [localhost]\n");
  ASSERT_EQ(gw.Post("/v1/chat/completions", Chat()).status, 200);
  EXPECT_TRUE(proxy.targets().empty());
}


// --- TLS on Warden's own listeners ---------------------------------------------------------

struct Curl {
  int exit_code = -1;
  std::string status, body;
};

// curl against https://localhost:PORT (resolved to 127.0.0.1), trusting `ca`; `extra` adds
// options (client certificate, protocol bounds). The body goes to a file, the status to stdout.
Curl CurlTls(const TempDir& dir, uint16_t port, const std::string& path, const std::string& ca,
             const std::string& extra) {
  const std::string out = dir.path() + "/curl.body", st = dir.path() + "/curl.status";
  std::string cmd = "curl -s -o " + out + " -w '%{http_code}' --max-time 10 --resolve localhost:" +
                    std::to_string(port) + ":127.0.0.1 --cacert " + ca + " " + extra + " https://localhost:" +
                    std::to_string(port) + path + " >" + st + " 2>/dev/null";
  Curl c;
  int rc = std::system(cmd.c_str());
  c.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  c.status = ReadFile(st);
  c.body = ReadFile(out);
  return c;
}

TEST(TlsListenerTest, ClientListenerServesTls12And13AndRefusesOlderAndPlainHttp) {
  TempDir certs;
  std::string cert, key;
  ASSERT_TRUE(MakeCert(certs, "localhost", &cert, &key));
  FakeProvider fake;
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()),
                      "  tls:\n    cert_file: " + cert + "\n    key_file: " + key + "\n");
  const std::string chat = "-H 'Authorization: Bearer " + gw.key() +
                           "' -H 'Content-Type: application/json' -d '{\"model\":\"chat-alias\",\"messages\":"
                           "[{\"role\":\"user\",\"content\":\"hi\"}]}'";
  Curl tls13 = CurlTls(certs, gw.port(), "/v1/chat/completions", cert, chat + " --tlsv1.3");
  EXPECT_EQ(tls13.status, "200") << tls13.body;
  EXPECT_NE(tls13.body.find("fake answer"), std::string::npos) << tls13.body;
  Curl tls12 = CurlTls(certs, gw.port(), "/healthz", cert, "--tlsv1.2 --tls-max 1.2");
  EXPECT_EQ(tls12.status, "200");
  // TLS 1.1, even from a client that allows it (security level 0), gets no session.
  Curl tls11 = CurlTls(certs, gw.port(), "/healthz", cert, "--tlsv1.1 --tls-max 1.1 --ciphers DEFAULT@SECLEVEL=0");
  EXPECT_NE(tls11.exit_code, 0);
  EXPECT_NE(tls11.status, "200");
  // Plain HTTP on the TLS port gets no HTTP answer, and the listener keeps serving.
  EXPECT_ANY_THROW(Http(gw.port(), "GET", "/healthz"));
  EXPECT_EQ(CurlTls(certs, gw.port(), "/healthz", cert, "").status, "200");
}

TEST(TlsListenerTest, AdminListenerCanRequireAClientCertificate) {
  TempDir certs;
  std::string cert, key;
  ASSERT_TRUE(MakeCert(certs, "localhost", &cert, &key));
  // A client CA and a client certificate it signed.
  const std::string d = certs.path();
  ASSERT_EQ(std::system(("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ops-ca "
                         "-keyout ca.key -out ca.crt >/dev/null 2>&1 && openssl req -newkey rsa:2048 -nodes "
                         "-subj /CN=operator -keyout client.key -out client.csr >/dev/null 2>&1 && openssl x509 "
                         "-req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out client.crt "
                         ">/dev/null 2>&1")
                            .c_str()),
            0);
  const std::string token = "admin-token-0123456789abcdef";
  FakeProvider fake;
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()) + "admin:\n  listen: 127.0.0.1:0\n  token: " + token +
                      "\n  tls:\n    cert_file: " + cert + "\n    key_file: " + key + "\n    client_ca_file: " +
                      d + "/ca.crt\n");
  ASSERT_NE(gw.app().admin_port(), 0);
  const std::string bearer = "-H 'Authorization: Bearer " + token + "'";
  Curl with_cert = CurlTls(certs, gw.app().admin_port(), "/admin/policies", cert,
                           bearer + " --cert " + d + "/client.crt --key " + d + "/client.key");
  EXPECT_EQ(with_cert.status, "200") << with_cert.body;
  EXPECT_NE(with_cert.body.find("\"default\""), std::string::npos) << with_cert.body;
  // The token alone is not enough; a certificate from another CA is not either.
  Curl no_cert = CurlTls(certs, gw.app().admin_port(), "/admin/policies", cert, bearer);
  EXPECT_NE(no_cert.status, "200");
  EXPECT_NE(no_cert.exit_code, 0);
  Curl wrong_ca = CurlTls(certs, gw.app().admin_port(), "/admin/policies", cert,
                          bearer + " --cert " + cert + " --key " + key);
  EXPECT_NE(wrong_ca.status, "200");
  // The client listener stays plain HTTP: TLS on one listener does not leak to the other.
  EXPECT_EQ(Http(gw.port(), "GET", "/healthz").status, 200);
}


TEST(TlsListenerTest, SlowlorisOverTlsIsCutAtTheHeaderDeadlineInTotal) {
  TempDir certs;
  std::string cert, key;
  ASSERT_TRUE(MakeCert(certs, "localhost", &cert, &key));
  FakeProvider fake;
  // Each read would be within read_timeout: only a deadline on the whole head can end this.
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()), "  header_timeout: 1s\n  read_timeout: 30s\n  tls:\n    cert_file: " +
                                                            cert + "\n    key_file: " + key + "\n");
  Poco::Net::Context::Ptr client = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", "",
                                                          Poco::Net::Context::VERIFY_NONE);
  auto trickle = [&] {
    Poco::Net::SecureStreamSocket s(Poco::Net::SocketAddress("127.0.0.1", gw.port()), client);
    s.completeHandshake();
    s.setReceiveTimeout(Poco::Timespan(0, 200000));
    const std::string head = "GET /healthz HTTP/1.1\r\nHost: warden\r\n";
    const auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    try {
      // A header line every 200 ms, for up to 6 s: the head never completes.
      for (int i = 0; elapsed() < 6.0; ++i) {
        const std::string piece = i == 0 ? head : "X-Slow-" + std::to_string(i) + ": y\r\n";
        s.sendBytes(piece.data(), static_cast<int>(piece.size()));
        char buf[256];
        try {
          if (s.receiveBytes(buf, sizeof buf) <= 0) break;  // closed by the server
        } catch (const Poco::TimeoutException&) {
        }
      }
    } catch (const Poco::Exception&) {  // reset by the server
    }
    return elapsed();
  };
  const double cut = trickle();
  EXPECT_GE(cut, 0.9);
  EXPECT_LT(cut, 3.0) << "a trickling TLS client kept its connection for " << cut << " s";
  // The listener keeps serving TLS clients normally.
  EXPECT_EQ(CurlTls(certs, gw.port(), "/healthz", cert, "").status, "200");
}

}  // namespace
}  // namespace warden::testing
