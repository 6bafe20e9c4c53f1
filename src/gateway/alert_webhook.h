// AlertWebhook: posts alerts (budget thresholds crossed) as JSON to the operator's configured
// URL, `alerts.webhook` — never to a URL a client supplied (nothing of a request chooses it).
//
// Contract: Send() never blocks and never fails the request that caused the alert: the alert is
// queued (at most kMaxQueued waiting; beyond that it is dropped with a log line and a metric)
// and delivered in order by one coroutine on the given event loop, through the gateway's own
// upstream client (TLS verified, the configured CA and proxy), holding no thread while it waits.
// A delivery succeeds on a 2xx answer; a transport error, 408, 429 or 5xx is retried after
// `backoff` (doubling, at most 60 s) up to `attempts` times; any other status is final. The
// body is the alert only — key ids, config names, tag values, figures; never content, never a
// credential — and the log names the webhook's host, never its URL (chat webhooks carry a secret
// in the path). The target travels with each alert (from the request's snapshot), so a reload
// that changes it applies to the next alert. Thread-safe.
#pragma once

#include <asio/any_io_executor.hpp>

#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/mutex.h"
#include "config/config.h"
#include "metrics/gateway_metrics.h"
#include "providers/upstream.h"

namespace warden {

// "t=<unix_seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>": what a receiver recomputes to
// check an alert came from this gateway, unaltered (and, with t, recently).
std::string WebhookSignature(const Secret& secret, int64_t unix_seconds, std::string_view body);

class AlertWebhook {
 public:
  static constexpr size_t kMaxQueued = 1000;

  AlertWebhook(UpstreamClient& http, asio::any_io_executor executor, metrics::GatewayMetrics* metrics);
  ~AlertWebhook();
  void Send(const WebhookConfig& target, Json alert);

 private:
  struct Pending {
    WebhookConfig target;
    std::string body;
  };
  struct State {
    Mutex mu;
    std::deque<Pending> queue GUARDED_BY(mu);
    bool running GUARDED_BY(mu) = false;
    bool stopped GUARDED_BY(mu) = false;
  };
  static asio::awaitable<void> Run(std::shared_ptr<State> state, UpstreamClient& http,
                                   metrics::GatewayMetrics* metrics);
  static asio::awaitable<bool> Deliver(const Pending& p, UpstreamClient& http);

  UpstreamClient& http_;
  asio::any_io_executor executor_;
  metrics::GatewayMetrics* metrics_;
  std::shared_ptr<State> state_;
};

}  // namespace warden
