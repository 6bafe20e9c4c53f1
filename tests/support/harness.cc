#include "support/harness.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/StreamCopier.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "audit/reader.h"
#include "common/log.h"

namespace warden::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/warden-test-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name, const std::string& content) const {
  std::string p = path_ + "/" + name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

Json HttpResult::json() const {
  auto j = ParseJson(body);
  return j ? *j : Json();
}

std::string HttpResult::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

namespace {
std::map<std::string, std::string> LowerHeaders(const Poco::Net::HTTPResponse& r) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : r) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    out[lower] = value;
  }
  return out;
}

void SendRequest(Poco::Net::HTTPClientSession& s, const std::string& method, const std::string& path,
                 const std::string& body, const Headers& headers) {
  Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || method == "POST") req.setContentLength(static_cast<std::streamsize>(body.size()));
  s.sendRequest(req) << body;
}
}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> FilesContaining(const std::string& dir, const std::string& needle) {
  std::vector<std::string> hits;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file() && ReadFile(e.path().string()).find(needle) != std::string::npos)
      hits.push_back(e.path().string());
  return hits;
}

HttpResult Http(uint16_t port, const std::string& method, const std::string& path,
                const std::string& body, const Headers& headers) {
  Poco::Net::HTTPClientSession s("127.0.0.1", port);
  s.setTimeout(Poco::Timespan(20, 0));
  SendRequest(s, method, path, body, headers);
  Poco::Net::HTTPResponse resp;
  std::istream& in = s.receiveResponse(resp);
  HttpResult r;
  r.status = resp.getStatus();
  r.headers = LowerHeaders(resp);
  Poco::StreamCopier::copyToString(in, r.body);
  return r;
}

StreamingCall::StreamingCall(uint16_t port, const std::string& path, const std::string& body,
                             const Headers& headers)
    : session_("127.0.0.1", port) {
  session_.setTimeout(Poco::Timespan(20, 0));
  SendRequest(session_, "POST", path, body, headers);
  body_ = &session_.receiveResponse(response_);
  status_ = response_.getStatus();
}

std::string StreamingCall::ReadUntil(const std::string& needle) {
  char buf[4096];
  while (received_.find(needle) == std::string::npos) {
    if (body_->peek() == std::char_traits<char>::eof()) break;
    std::streamsize n = body_->readsome(buf, sizeof buf);
    received_.append(buf, static_cast<size_t>(n));
  }
  return received_;
}

std::string StreamingCall::ReadAll() {
  std::string rest;
  Poco::StreamCopier::copyToString(*body_, rest);
  received_ += rest;
  return received_;
}

GatewayUnderTest::GatewayUnderTest(const std::string& providers_and_models,
                                   const std::string& server_extra, const std::string& upstream_extra,
                                   const std::map<std::string, std::string>& policies,
                                   const AppOptions& options) {
  // Hermetic: a developer's proxy settings must not send loopback fakes through their proxy
  // (tests that want a proxy name it in the config).
  for (const char* name : {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"})
    unsetenv(name);
  std::filesystem::create_directories(dir_.path() + "/policies");
  // The shipped redaction rule sets, so test policies can name them.
  std::filesystem::copy(std::string(WARDEN_SOURCE_DIR) + "/policies/redaction",
                        dir_.path() + "/policies/redaction");
  std::map<std::string, std::string> policy_files = policies;
  if (!policy_files.count("default")) policy_files["default"] = "models: [\"*\"]\n";
  for (const auto& [name, yaml] : policy_files) dir_.Write("policies/" + name + ".yaml", "name: " + name + "\n" + yaml);
  std::string yaml = "server:\n  listen: 127.0.0.1:0\n  worker_threads: 16\n  access_log: " +
                     log_path() + "\n" + server_extra + "upstream:\n  connect_timeout: 2s\n" +
                     upstream_extra + "data_dir: " + dir_.path() + "/data\n" +
                     "policies_dir: " + dir_.path() + "/policies\n" +
                     providers_and_models;
  std::string path = dir_.Write("warden.yaml", yaml);
  Loaded loaded = LoadAll(path);
  if (!loaded.ok()) {
    std::string all;
    for (const auto& p : loaded.problems) all += p.ToString() + "\n";
    throw std::runtime_error("test config invalid:\n" + all);
  }
  log::SetSink(loaded.config->server.access_log);
  auto app = App::Create(loaded, options);
  if (!app) throw std::runtime_error(app.error().message);
  app_ = std::move(*app);
  auto created = app_->keys().Create("test", "default");
  if (!created) throw std::runtime_error(created.error().message);
  key_ = std::string(created->key.Reveal());
  if (Status s = app_->Start(); !s) throw std::runtime_error(s.error().message);
}

GatewayUnderTest::~GatewayUnderTest() {
  if (app_) app_->Stop();
  log::SetSink("-");
}

void GatewayUnderTest::Close() {
  if (app_) app_->Stop();
  app_.reset();
}

void GatewayUnderTest::Restart() {
  Close();
  Loaded loaded = LoadAll(dir_.path() + "/warden.yaml");
  if (!loaded.ok()) throw std::runtime_error("test config no longer loads");
  log::SetSink(loaded.config->server.access_log);
  auto app = App::Create(loaded);
  if (!app) throw std::runtime_error(app.error().message);
  app_ = std::move(*app);
  if (Status s = app_->Start(); !s) throw std::runtime_error(s.error().message);
}

std::string GatewayUnderTest::ReadLog() {
  app_->Stop();
  return ReadFile(log_path());
}

std::string GatewayUnderTest::CreateKey(const std::string& policy) {
  auto created = app_->keys().Create("test-" + policy, policy);
  if (!created) throw std::runtime_error(created.error().message);
  return std::string(created->key.Reveal());
}

Headers GatewayUnderTest::AuthWith(const std::string& key, const std::string& content_type) {
  Headers h{{"Authorization", "Bearer " + key}};
  if (!content_type.empty()) h["Content-Type"] = content_type;
  return h;
}

Headers GatewayUnderTest::Auth(const std::string& content_type) const {
  return AuthWith(key_, content_type);
}

HttpResult GatewayUnderTest::Post(const std::string& path, const Json& body) const {
  return Http(port(), "POST", path, Dump(body), Auth());
}

HttpResult GatewayUnderTest::PostAs(const std::string& key, const std::string& path,
                                    const Json& body) const {
  return Http(port(), "POST", path, Dump(body), AuthWith(key));
}

std::string OneProviderYaml(const std::string& base_url, const std::string& alias,
                            const std::string& upstream_model, const std::string& provider_extra) {
  return "providers:\n"
         "  - name: fake\n"
         "    kind: openai\n"
         "    base_url: " + base_url + "\n" + provider_extra +
         "models:\n"
         "  - alias: " + alias + "\n"
         "    deployments:\n"
         "      - provider: fake\n"
         "        model: " + upstream_model + "\n";
}

std::string KeyId(const std::string& key) {
  const size_t a = key.find('_', 4);
  return key.substr(a + 1, key.find('_', a + 1) - a - 1);
}

uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("no free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::vector<Json> AuditRecords(GatewayUnderTest& gw) {
  // The master key the gateway's config names (its data directory's by default).
  const LoadResult config = LoadConfig(gw.dir().path() + "/warden.yaml");
  auto master = audit::MasterKey::Load(config.ok() ? config.config->audit.master_key_file
                                                   : gw.dir().path() + "/data/audit-master.key");
  EXPECT_TRUE(master.ok());
  audit::AuditReader& reader = gw.app().audit()->reader();
  audit::Decryptor d(reader, *master);
  std::vector<Json> out;
  (void)reader.ForEachRaw(1, [&](uint64_t, std::string_view raw) {
    auto r = audit::Decode(raw);
    EXPECT_TRUE(r.ok());
    auto opened = d.Open(*r);
    out.push_back(Json{{"type", audit::RecordTypeName(r->header.type)},
                       {"key_id", r->header.key_id},
                       {"meta_state", audit::StateName(opened.meta_state)},
                       {"meta", opened.meta},
                       {"content", opened.content}});
    return true;
  });
  return out;
}

}  // namespace warden::testing
