#include "gateway/alert_webhook.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include <sodium.h>

#include <algorithm>

#include "common/log.h"
#include "common/util.h"
#include "gateway/forward.h"

namespace warden {

std::string WebhookSignature(const Secret& secret, int64_t unix_seconds, std::string_view body) {
  const std::string t = std::to_string(unix_seconds);
  const std::string signed_text = t + "." + std::string(body);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  const std::string_view key = secret.Reveal();
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size());
  crypto_auth_hmacsha256_final(&st, mac);
  sodium_memzero(&st, sizeof st);
  return "t=" + t + ",v1=" + ToHex(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac));
}

AlertWebhook::AlertWebhook(UpstreamClient& http, asio::any_io_executor executor, metrics::GatewayMetrics* metrics)
    : http_(http), executor_(std::move(executor)), metrics_(metrics), state_(std::make_shared<State>()) {}

AlertWebhook::~AlertWebhook() {
  MutexLock lock(state_->mu);
  state_->stopped = true;  // a delivery in flight finishes its attempt; nothing more is sent
}

void AlertWebhook::Send(const WebhookConfig& target, Json alert) {
  if (target.url.empty()) return;
  bool start = false;
  {
    MutexLock lock(state_->mu);
    if (state_->stopped) return;
    if (state_->queue.size() >= kMaxQueued) {
      log::Warn("alert_webhook_dropped", {{"host", target.host}, {"queued", state_->queue.size()}});
      if (metrics_) metrics_->AlertWebhook("dropped");
      return;
    }
    state_->queue.push_back({target, Dump(alert)});
    start = !state_->running;
    state_->running = true;
  }
  if (start) asio::co_spawn(executor_, Run(state_, http_, metrics_), asio::detached);
}

asio::awaitable<void> AlertWebhook::Run(std::shared_ptr<State> state, UpstreamClient& http,
                                        metrics::GatewayMetrics* metrics) {
  while (true) {
    Pending p;
    {
      MutexLock lock(state->mu);
      if (state->queue.empty() || state->stopped) {
        state->running = false;
        co_return;
      }
      p = std::move(state->queue.front());
      state->queue.pop_front();
    }
    const bool delivered = co_await Deliver(p, http);
    if (metrics) metrics->AlertWebhook(delivered ? "delivered" : "failed");
  }
}

asio::awaitable<bool> AlertWebhook::Deliver(const Pending& p, UpstreamClient& http) {
  const WebhookConfig& t = p.target;
  UpstreamRequest req;
  req.scheme = t.scheme;
  req.host = t.host;
  req.port = t.port;
  req.method = "POST";
  req.path = t.path;
  req.headers.push_back({"Content-Type", "application/json"});
  req.headers.push_back({"User-Agent", "warden-alerts"});
  for (const auto& h : t.headers) req.headers.push_back({h.name, h.value});
  if (!t.secret.Reveal().empty()) req.headers.push_back({"X-Warden-Signature", WebhookSignature(t.secret, UnixSeconds(), p.body)});
  req.body = p.body;
  int64_t backoff = t.backoff_ms;
  for (int attempt = 1; attempt <= t.attempts; ++attempt) {
    if (attempt > 1) {
      co_await Backoff(backoff);
      backoff = std::min<int64_t>(backoff * 2, 60'000);
    }
    int status = 0;
    std::string error;
    auto exchange = co_await http.Send(req);
    if (exchange) {
      status = (*exchange)->head().status;
      (void)co_await (*exchange)->ReadAll(64 * 1024);  // read to the end: the connection can be reused
      if (status >= 200 && status < 300) co_return true;
    } else {
      error = exchange.error().code.empty() ? exchange.error().type : exchange.error().code;
    }
    const bool retryable = status == 0 || status == 408 || status == 429 || status >= 500;
    log::Fields f{{"host", t.host}, {"attempt", attempt}, {"attempts", t.attempts}};
    if (status) f["status"] = status;
    else f["error"] = error;
    log::Warn(retryable && attempt < t.attempts ? "alert_webhook_retry" : "alert_webhook_failed", std::move(f));
    if (!retryable) break;
  }
  co_return false;
}

}  // namespace warden
