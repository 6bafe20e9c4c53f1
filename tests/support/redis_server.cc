#include "support/redis_server.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace warden::testing {
namespace {


bool Accepts(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

RedisServer::RedisServer(Options options) : options_(std::move(options)), port_(FreePort()) { Start(); }

RedisServer::~RedisServer() {
  if (client_) client_->Stop();
  client_.reset();
  loops_.reset();
  Stop();
}

std::string RedisServer::url() const {
  return std::string(options_.tls_cert.empty() ? "redis://" : "rediss://") + "127.0.0.1:" + std::to_string(port_);
}

std::string RedisServer::ClusterYaml(const std::string& replica, const std::string& extra) const {
  return "cluster:\n  replica: " + replica + "\n  redis:\n    url: " + url() + "\n" + extra;
}

void RedisServer::Start() {
  std::vector<std::string> args = {"redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                   "--dir", dir_.path(), "--daemonize", "no", "--loglevel", "warning",
                                   "--logfile", dir_.path() + "/redis.log"};
  if (options_.tls_cert.empty()) {
    args.insert(args.end(), {"--port", std::to_string(port_)});
  } else {
    args.insert(args.end(), {"--port", "0", "--tls-port", std::to_string(port_), "--tls-cert-file", options_.tls_cert,
                             "--tls-key-file", options_.tls_key, "--tls-auth-clients", "no"});
  }
  if (!options_.password.empty()) args.insert(args.end(), {"--requirepass", options_.password});
  if (!options_.acl_user.empty())
    args.insert(args.end(), {"--user", options_.acl_user, "on", ">" + options_.acl_password, "~*", "&*", "+@all"});
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp("redis-server", argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!Accepts(port_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server did not start (is it installed? scripts/setup.sh --test)");
    }
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("redis-server did not answer");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void RedisServer::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

Result<RedisValue> RedisServer::Command(std::vector<std::string> args) {
  if (!client_) {
    loops_ = std::make_unique<EventLoops>(1);
    loops_->Start();
    RedisConfig c;
    c.host = "127.0.0.1";
    c.port = port_;
    c.tls = !options_.tls_cert.empty();
    c.ca_file = options_.tls_cert;
    c.username = options_.acl_user;
    c.password = Secret(options_.acl_user.empty() ? options_.password : options_.acl_password);
    client_ = std::make_unique<Redis>(c, std::vector<asio::io_context*>{&loops_->First()});
  }
  return client_->Blocking(std::move(args));
}

}  // namespace warden::testing
