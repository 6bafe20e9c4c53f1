// Forward: sends the Prompt to the RoutePlan's deployments — retries, failover, circuit
// breaking — and has the relay (relay.h) bring the answer to the client in its dialect.
//
// Contract: the Prompt is translated for each deployment's provider kind by its adapter (the only
// place a provider credential is attached); the model alias is replaced by the deployment's
// model name upstream and put back in everything the client receives. Which deployment is tried
// next, and after how long, is decided by DecideRetry() alone, from the request's snapshot's
// routing settings (a reload changes them for the requests that start after it); a deployment
// whose circuit is open is skipped. Every attempt is recorded in ctx.log, pushed before it is
// sent; ctx.response.stage says how far the request got, and every error Forward returns carries
// that stage. The answer's headers name the deployment that served (x-warden-deployment) and
// the number of attempts (x-warden-attempts). Everything that waits (the provider, the client,
// the backoff between attempts) is awaited on the request's event loop. Forward reads ctx's
// products (identity, request, plan, prompt) and writes ctx.log, ctx.usage, ctx.capture and
// ctx.response. Thread-safe: one Forwarder serves the requests of every loop.
#pragma once

#include <atomic>

#include "gateway/client_exchange.h"
#include "gateway/failover.h"
#include "gateway/relay.h"
#include "gateway/request.h"
#include "providers/upstream.h"

namespace warden {

class Forwarder {
 public:
  // `http` serves network providers, `echo` the built-in echo kind. Both outlive the Forwarder.
  // A non-stream answer larger than `max_response_bytes` is a 502.
  Forwarder(UpstreamClient* http, UpstreamClient* echo, size_t max_response_bytes = 64u << 20);

  // Walks ctx.plan in the alias's strategy order; nothing outside it is ever tried. On success,
  // the bytes that complete the response, for Finalize to write once the outcome is durable. On
  // failure, the error to answer with: a provider's non-retryable answer as it is (translated);
  // after several deployments, 503 all_deployments_failed listing every attempt (one deployment:
  // its last error with the attempts appended); 503 circuit_open when every deployment is
  // resting; after the first byte (stage kClientStarted) the relay's error as it is.
  asio::awaitable<Result<Completion>> Forward(RequestContext& ctx, ClientExchange& client);

  DeploymentHealth& health() { return health_; }

 private:
  // The plan's targets in the alias's strategy order (indices into plan.targets), those too
  // slow for their max_ttfb moved to the end (DeploymentHealth::TooSlow).
  std::vector<size_t> Order(const RoutePlan& plan, RoutingRng& rng, const RoutingConfig& routing) const;
  asio::awaitable<Result<Completion>> TryDeployment(RequestContext& ctx, const RouteTarget& target,
                                                    ClientExchange& client, int64_t* retry_after_ms);
  // Translates the Prompt for `target`, sends it and lists the attempt in ctx.log: the
  // answer's head, or why not (a build failure is not an attempt).
  asio::awaitable<Result<std::unique_ptr<UpstreamExchange>>> Open(RequestContext& ctx, const RouteTarget& target,
                                                                 ClientExchange& client);
  // A provider's non-200 answer read and translated; its Retry-After into *retry_after_ms.
  asio::awaitable<Status> UpstreamError(const RouteTarget& target, UpstreamExchange& up, int64_t* retry_after_ms);
  Error FinalError(RequestContext& ctx, ClientExchange& client, const Error& last);

  UpstreamClient* http_;
  UpstreamClient* echo_;
  const size_t max_response_bytes_;
  DeploymentHealth health_;
  std::atomic<uint64_t> seed_{0};
};

// Sleeps `delay_ms` on the loop's timer: a request waiting to retry holds no thread.
asio::awaitable<void> Backoff(int64_t delay_ms);

}  // namespace warden
