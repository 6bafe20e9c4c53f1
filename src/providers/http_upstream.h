// HttpUpstream: the UpstreamClient that speaks HTTP/1.1 and HTTPS to providers (Asio + OpenSSL),
// on the event loop of the request that calls it: a request waiting for a provider holds no thread.
//
// Contract: TLS certificates and host names are always verified (system CAs, or the configured
// CA bundle instead; SNI sent); TLS 1.2 is the minimum. DNS is resolved off the loop (Asio's
// resolver thread). Connections are kept alive and pooled per loop and scheme://host:port
// (reused only within 4 s of idleness and if nothing arrived on them meanwhile), so a steady stream of requests does not pay a TCP or TLS handshake each
// time. A pooled connection that turns out to be stale (closed by the provider while idle) is
// replaced and the request resent once, only if no byte of a response was received.
// With a proxy configured, https upstreams are reached through an HTTP CONNECT tunnel (TLS is
// end to end: the proxy sees the host name, never a credential or a prompt); plain-http
// upstreams (on-prem model servers) and hosts in no_proxy are reached directly, so a
// credential never crosses a proxy in the clear. Redirects are never followed.
// Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "providers/upstream.h"

namespace warden {

struct HttpUpstreamOptions {
  int connect_timeout_ms = 5000;
  int first_byte_timeout_ms = 60000;
  int idle_timeout_ms = 30000;
  int max_idle_per_host = 64;
  std::string ca_file;  // empty = the system's CA store
  std::string proxy_host;  // empty = no proxy
  uint16_t proxy_port = 0;
  std::vector<std::string> no_proxy;  // exact host names, ".suffix" / "suffix" domains, or "*"
};

// Does `host` bypass the proxy under `no_proxy` (curl's rules: an entry matches the host itself
// and its subdomains; "*" matches every host)?
bool BypassesProxy(const std::string& host, const std::vector<std::string>& no_proxy);

class HttpUpstream : public UpstreamClient {
 public:
  explicit HttpUpstream(const HttpUpstreamOptions& options);
  ~HttpUpstream() override;
  asio::awaitable<Result<std::unique_ptr<UpstreamExchange>>> Send(const UpstreamRequest& request) override;

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
