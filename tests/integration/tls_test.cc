// HTTPS upstream: certificate verification is on by default, a custom CA bundle is honoured,
// host names are checked, and TLS connections are pooled.
#include <gtest/gtest.h>

#include <cstdlib>

#include "support/fake_provider.h"
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
  GatewayUnderTest gw(OneProviderYaml(Url("localhost")), "", "  ca_file: " + cert_ + "\n");
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

}  // namespace
}  // namespace warden::testing
