// Forward: sends the routed request to its deployments — retries, failover, circuit breaking —
// and relays the answer to the client in the client's dialect.
//
// Contract: the canonical request is translated for each deployment's provider kind by its
// adapter (the only place a provider credential is attached); the model alias is replaced by the
// deployment's model name upstream and put back in everything the client receives. Which
// deployment is tried next, and after how long, is decided by DecideRetry() alone; a
// deployment whose circuit is open is skipped. Streams are relayed as they arrive (every piece
// read is decoded and written before the next read), except that events carrying no content yet
// (a role-only first chunk) are held back: until the first content byte has gone to the client,
// any failure — including 200 followed by silence, by an error event or by a cut — fails over.
// After it, the stream ends with an explicit error event, never with what looks like a clean
// end. Every attempt is recorded in ctx.attempts; the answer's headers name the deployment that
// served (x-warden-deployment) and the number of attempts (x-warden-attempts). Everything that
// waits (the provider, the client, the backoff between attempts) is awaited on the request's
// event loop. Thread-safe: one Forwarder serves the requests of every loop.
#pragma once

#include <atomic>

#include "config/config.h"
#include "gateway/client_exchange.h"
#include "gateway/failover.h"
#include "gateway/request_context.h"
#include "providers/upstream.h"

namespace warden {

struct ForwarderOptions {
  size_t max_response_bytes = 64u << 20;  // a larger non-stream answer is a 502
  RoutingConfig routing;
  int stream_timeout_ms = 600000;        // total time one streamed attempt may take
};

class Forwarder {
 public:
  // `http` serves network providers, `echo` the built-in echo kind. Both outlive the Forwarder.
  Forwarder(UpstreamClient* http, UpstreamClient* echo, ForwarderOptions options = {});

  // Walks ctx.route in the alias's strategy order; nothing outside ctx.route is ever tried.
  // Returns the error to send when nothing has been sent to the client yet: a non-retryable
  // provider answer as it is (translated); after several attempts, 503 all_deployments_failed
  // (or the last error, when only one deployment was tried) listing every attempt; 503
  // circuit_open when every deployment is resting. Errors after the first byte are handled
  // inside (error event, ctx.outcome = kPartial).
  asio::awaitable<Status> Forward(RequestContext& ctx, ClientExchange& client);

  DeploymentHealth& health() { return health_; }

 private:
  asio::awaitable<Status> TryDeployment(RequestContext& ctx, ClientExchange& client, int64_t* retry_after_ms);
  // The request translated for ctx.provider's wire format (or why it cannot be).
  Result<UpstreamRequest> BuildUpstream(const RequestContext& ctx) const;
  // Sends it; the answer's head, or why not.
  asio::awaitable<Result<std::unique_ptr<UpstreamExchange>>> SendUpstream(const RequestContext& ctx,
                                                                         UpstreamRequest request);
  asio::awaitable<void> Backoff(int64_t delay_ms);
  // A provider's non-200 answer read and translated; its Retry-After into *retry_after_ms.
  asio::awaitable<Status> UpstreamError(RequestContext& ctx, UpstreamExchange& up, int64_t* retry_after_ms);
  asio::awaitable<Status> RelayJson(RequestContext& ctx, UpstreamExchange& up, ClientExchange& client);
  asio::awaitable<Status> RelayStream(RequestContext& ctx, UpstreamExchange& up, ClientExchange& client);
  Error FinalError(RequestContext& ctx, ClientExchange& client, const Error& last);
  UpstreamClient* http_;
  UpstreamClient* echo_;
  ForwarderOptions options_;
  DeploymentHealth health_;
  std::atomic<uint64_t> seed_{0};
};

// Writes `error` to the client in its dialect: a JSON error answer if nothing was sent yet,
// else an error event (the OpenAI and Anthropic SDKs both raise it as an APIError).
asio::awaitable<void> SendError(RequestContext& ctx, ClientExchange& client, const Error& error);

// "provider/model", the name of a deployment in headers, logs, audit records and health.
std::string DeploymentName(const ProviderConfig& provider, const Deployment& deployment);

}  // namespace warden
