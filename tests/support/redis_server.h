// RedisServer: a real redis-server (Debian's, from scripts/setup.sh --test) on 127.0.0.1 and a
// free port, with no persistence, for the fleet tests. It can be stopped and started again on the
// same port (Redis going away mid-run). Options: a password (requirepass), an ACL user, TLS.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cluster/redis.h"
#include "server/event_loops.h"
#include "support/harness.h"

namespace warden::testing {

class RedisServer {
 public:
  struct Options {
    std::string password;           // requirepass (the default user)
    std::string acl_user, acl_password;  // an ACL user with every permission
    std::string tls_cert, tls_key;  // set: TLS only, on port()
  };
  explicit RedisServer(Options options = {});
  ~RedisServer();
  void Start();  // throws if it does not answer within 10 s
  void Stop();   // SIGKILL: as abrupt as a crash
  uint16_t port() const { return port_; }
  // redis://127.0.0.1:<port> (rediss:// with TLS)
  std::string url() const;
  // The `cluster:` section for a replica named `replica` (YAML, top level).
  std::string ClusterYaml(const std::string& replica, const std::string& extra = "") const;
  // A command on a connection of the test's own (not a gateway's): to look and to tamper.
  Result<RedisValue> Command(std::vector<std::string> args);

 private:
  Options options_;
  TempDir dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::unique_ptr<EventLoops> loops_;
  std::unique_ptr<Redis> client_;
};

}  // namespace warden::testing
