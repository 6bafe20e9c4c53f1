// Redis: the client through which a fleet of replicas shares keys, limits, budgets and usage
// (`cluster.redis`; docs/decisions/0004-shared-state-in-redis.md).
//
// The wire protocol is hiredis's (its command formatter and its reply reader, the well-kept part
// of the library); the connection is ours, on the gateway's own event loops: Asio sockets, TLS
// through asio::ssl with the server's certificate verified (host name and CA), timers for every
// wait. Debian 12's hiredis 0.14 has no TLS, and its own async API would need a second event
// library, so the transport stays with the loops the gateway already runs.
//
// Contract:
// - One connection per event loop, opened on first use; commands from coroutines of a loop are
//   pipelined on that loop's connection and answered in order. Command() must be awaited on one
//   of the loops given at construction.
// - Every command is bounded by command_timeout; a timeout or a broken connection fails every
//   command in flight on that connection and closes it (a late reply could not be matched to
//   its command any more).
// - After a failed connection, commands fail at once (no waiting on a dead server) until a
//   backoff passes (100 ms, doubling to 5 s); the next command then tries to connect again.
// - AUTH (ACL user and password) and SELECT run first on every new connection. Error messages
//   name the server and what failed, never a password or a command's arguments.
// - Blocking() is for threads that are not loop threads (the worker pool, the admin API, the
//   CLI): it runs the command on the first loop and waits.
// - Subscribe() keeps a subscriber connection (one per call) on the first loop, reconnecting
//   with the same backoff; on_reset runs each time the subscription (re)starts, because
//   messages published while it was down are lost. Both callbacks run on the first loop.
// - up(): whether the last connection attempt or command on any loop succeeded.
// Thread-safety: Command on its loop; Blocking, Subscribe, up and Stop from any thread.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace warden {

struct RedisValue {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  int64_t integer = 0;
  std::vector<RedisValue> elements = {};
  bool nil() const { return type == Type::kNil; }
  // The value as a decimal integer: an integer reply, or a string holding one (nil = 0).
  std::optional<int64_t> AsInt() const;
};

class Redis {
 public:
  Redis(const RedisConfig& config, std::vector<asio::io_context*> loops);
  ~Redis();
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  // A server error reply (e.g. WRONGTYPE) is a value of type kError, not a failed Result; a
  // failed Result is a connection that could not answer (503 shared_state_unavailable).
  asio::awaitable<Result<RedisValue>> Command(std::vector<std::string> args);
  Result<RedisValue> Blocking(std::vector<std::string> args);
  // Blocking(), with a server error reply (WRONGTYPE, NOSCRIPT, …) failing too: 503
  // shared_state_unavailable naming `what` ("the erasure request") and the server's words.
  Result<RedisValue> Call(std::vector<std::string> args, std::string_view what);
  // A SCAN-family command (SCAN, HSCAN) to its end, blocking: `args[cursor_at]` is the cursor
  // ("0" to start); `page` gets each page's items and may stop the walk with an error.
  Status Scan(std::vector<std::string> args, size_t cursor_at,
              const std::function<Status(const std::vector<RedisValue>& items)>& page);
  void Subscribe(std::string channel, std::function<void(std::string_view message)> on_message,
                 std::function<void()> on_reset);
  bool up() const;
  // Closes every connection and ends the subscriber; commands fail afterwards. Idempotent.
  void Stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// A client with an event loop of its own, for tools without loops (`warden keys`,
// `warden-audit forget`): Blocking() only.
class StandaloneRedis {
 public:
  explicit StandaloneRedis(const RedisConfig& config);
  ~StandaloneRedis();
  Redis& redis() { return *redis_; }

 private:
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::unique_ptr<Redis> redis_;
};

// "redis://host:port/db" (or rediss://) for messages: never a credential.
std::string RedisDisplayName(const RedisConfig& config);

}  // namespace warden
