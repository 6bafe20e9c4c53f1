// HttpUpstream: the UpstreamClient that speaks HTTP/1.1 and HTTPS to providers (Poco + OpenSSL).
//
// Contract: TLS certificates and host names are always verified (system CAs, or the configured
// CA bundle instead); TLS 1.2 is the minimum. Connections are kept alive and pooled per
// scheme://host:port, so a steady stream of requests does not pay a TCP or TLS handshake each
// time. A pooled connection that turns out to be stale (closed by the provider while idle) is
// replaced and the request resent once, only if no byte of a response was received.
// Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "providers/upstream.h"

namespace warden {

struct HttpUpstreamOptions {
  int connect_timeout_ms = 5000;
  int first_byte_timeout_ms = 60000;
  int idle_timeout_ms = 30000;
  int max_idle_per_host = 64;
  std::string ca_file;  // empty = the system's CA store
};

class HttpUpstream : public UpstreamClient {
 public:
  explicit HttpUpstream(const HttpUpstreamOptions& options);
  ~HttpUpstream() override;
  Result<std::unique_ptr<UpstreamExchange>> Send(const UpstreamRequest& request) override;

  struct Stats {
    uint64_t connections_opened = 0;  // TCP (+TLS) connections established
    uint64_t requests = 0;
  };
  Stats stats() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace warden
