#include "gateway/forward.h"

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <algorithm>
#include <chrono>
#include <random>

#include "common/awaitable.h"
#include "common/util.h"
#include "providers/adapter.h"

namespace warden {
namespace {

int64_t NowMs() { return MonotonicNanos() / 1000000; }

std::string Seconds(int64_t ms) { return std::to_string(std::max<int64_t>(1, (ms + 999) / 1000)); }

// The Prompt translated for `target`'s wire format (or why it cannot be).
Result<UpstreamRequest> BuildUpstream(const RequestContext& ctx, const RouteTarget& target) {
  const ProviderConfig& provider = *target.provider;
  Json upstream_body = ctx.prompt->body;
  upstream_body["model"] = target.deployment->model;
  // Zero retention: tell providers whose API has the switch not to store the exchange.
  if (ctx.policy()->zero_retention && provider.store_field) upstream_body["store"] = false;
  return AdapterFor(provider.kind).BuildRequest(provider, OperationOf(ctx.request->endpoint), upstream_body);
}

// An error of the attempt that got as far as `stage`.
Error AtStage(const Error& e, Stage stage) {
  Error out = e;
  out.stage = stage;
  return out;
}

}  // namespace

asio::awaitable<void> Backoff(int64_t delay_ms) {
  // (In its own frame: the timer is gone once the wait is over.)
  asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(delay_ms));
  co_await pause.async_wait(kTuple);
}

Forwarder::Forwarder(UpstreamClient* http, UpstreamClient* echo, size_t max_response_bytes)
    : http_(http), echo_(echo), max_response_bytes_(max_response_bytes) {}

asio::awaitable<Result<Completion>> Forwarder::Forward(RequestContext& ctx, ClientExchange& client) {
  ctx.log.forwarded = true;
  const RoutingConfig& routing = ctx.snapshot->config->routing;
  const std::vector<RouteTarget>& targets = ctx.plan->targets;
  RoutingRng rng(seed_.fetch_add(1, std::memory_order_relaxed) ^ static_cast<uint64_t>(MonotonicNanos()));
  const std::vector<size_t> order = Order(*ctx.plan, rng, routing);
  std::uniform_real_distribution<double> jitter(0, 1);

  const int64_t start_ms = NowMs();
  Status last;  // the last attempt's error (no allocation until there is one)
  for (size_t i : order) {
    const RouteTarget& target = targets[i];
    if (!health_.Admit(target.name, NowMs(), routing)) {
      Attempt& skipped = ctx.log.attempts.emplace_back();
      skipped.deployment = target.name;
      skipped.region = target.provider->region;
      skipped.error_code = "circuit_open";
      skipped.skipped = true;
      continue;
    }
    for (int tries = 1;; ++tries) {
      int64_t retry_after_ms = -1;
      Result<Completion> done = co_await TryDeployment(ctx, target, client, &retry_after_ms);
      const bool failed = !done.ok() && (done.error().retryable || done.error().stage == Stage::kClientStarted);
      health_.Report(target.name, failed, ctx.log.upstream_first_byte_ns, NowMs(), routing);
      if (done.ok()) co_return done;
      last = done.error();
      RetryDecision d = DecideRetry(routing, last.error(), tries, ctx.log.Sent(), NowMs() - start_ms,
                                    retry_after_ms >= 0 ? std::optional<int64_t>(retry_after_ms) : std::nullopt,
                                    jitter(rng));
      if (d.kind == RetryDecision::kGiveUp) {
        // A provider's answer to a bad request is the client's to see, as it is; so is a
        // failure after the first byte (it ends the stream).
        if (!last.error().retryable || last.error().stage == Stage::kClientStarted) co_return last.error();
        co_return FinalError(ctx, client, last.error());
      }
      if (d.kind == RetryDecision::kNextDeployment) break;
      const int64_t slept_from = MonotonicNanos();
      co_await Backoff(d.delay_ms);
      ctx.log.backoff_ns += MonotonicNanos() - slept_from;
    }
  }
  if (last.ok()) last = Error::Internal("no deployment to try");
  co_return FinalError(ctx, client, last.error());
}

std::vector<size_t> Forwarder::Order(const RoutePlan& plan, RoutingRng& rng, const RoutingConfig& routing) const {
  // (A plain function: these lists are gone before the first attempt, not kept in the frame
  // of a stream that relays for minutes.)
  std::vector<std::string> names;
  std::vector<int> weights;
  std::vector<double> prices;  // per token, for the order only
  for (const auto& t : plan.targets) {
    names.push_back(t.name);
    weights.push_back(t.deployment->weight);
    const Price& price = PriceOf(*t.provider, *t.deployment);
    prices.push_back(static_cast<double>(price.input) + static_cast<double>(price.output));
  }
  std::vector<size_t> order = OrderDeployments(plan.alias->strategy, names, weights, prices, health_, rng);
  const int64_t now = NowMs();
  std::stable_partition(order.begin(), order.end(), [&](size_t i) {
    return !health_.TooSlow(names[i], plan.targets[i].deployment->max_ttfb_ms, now, routing);
  });
  return order;
}

Error Forwarder::FinalError(RequestContext& ctx, ClientExchange& client, const Error& last) {
  int sent = 0;
  std::string tried, deployments;
  int64_t cooldown = 0;
  for (const auto& a : ctx.log.attempts) {
    if (!a.skipped) {
      ++sent;
      if (deployments.find(a.deployment + ";") == std::string::npos) deployments += a.deployment + ";";
    } else {
      int64_t left = health_.CooldownLeftMs(a.deployment, NowMs());
      cooldown = cooldown == 0 ? left : std::min(cooldown, left);
    }
    std::string what = a.skipped ? "circuit open" : a.status ? "HTTP " + std::to_string(a.status) : "no response";
    tried += (tried.empty() ? "" : "; ") + a.deployment + " (" + what + (a.error_code.empty() || a.skipped ? "" : ", " + a.error_code) + ")";
  }
  client.SetHeader("x-warden-attempts", std::to_string(sent));
  if (sent == 0) {
    Error e = Error::ServiceUnavailable("Every deployment of '" + ctx.request->model +
                                            "' is resting after repeated failures: " + tried + ". Retry after " +
                                            Seconds(cooldown) + "s.",
                                        "circuit_open", ErrorSource::kUpstream);
    e.retry_after = Seconds(cooldown);
    return e;
  }
  const bool several = std::count(deployments.begin(), deployments.end(), ';') > 1;
  Error e = several ? Error::ServiceUnavailable("Every deployment this key may use failed. Attempts: " + tried + ".",
                                                "all_deployments_failed", ErrorSource::kUpstream)
                    : last;
  if (!several) e.message += " Attempts: " + tried + ".";
  e.stage = last.stage;
  return e;
}

asio::awaitable<Result<std::unique_ptr<UpstreamExchange>>> Forwarder::Open(RequestContext& ctx,
                                                                            const RouteTarget& target,
                                                                            ClientExchange& client) {
  // Its own coroutine so that the built request (credential included) and everything about
  // sending it are gone, frame and all, once the answer's head is in: a stream relays for
  // minutes.
  auto built = BuildUpstream(ctx, target);
  if (!built) co_return built.error();  // nothing sent: not an attempt
  const int64_t t0 = MonotonicNanos();
  // Listed from the start: the outcome record lists this attempt even while it relays.
  Attempt& listed = ctx.log.attempts.emplace_back();
  listed.deployment = target.name;
  listed.region = target.provider->region;
  listed.started_ns = t0;
  ctx.log.serving = &target;
  ctx.response.stage = Stage::kSentUpstream;
  UpstreamClient* transport = target.provider->kind == ProviderKind::kEcho ? echo_ : http_;
  auto sent = co_await transport->Send(*built);
  for (auto& h : built->headers) WipeString(h.value);  // one of them is the credential
  ctx.log.upstream_first_byte_ns = MonotonicNanos() - t0;
  Attempt& attempt = ctx.log.attempts.back();
  if (!sent.ok()) {
    attempt.error_code = sent.error().code;
    attempt.latency_ns = ctx.log.upstream_first_byte_ns;
    co_return AtStage(sent.error(), Stage::kSentUpstream);
  }
  const UpstreamHead& head = (*sent)->head();
  ctx.response.stage = Stage::kAnswerHead;
  attempt.status = head.status;
  client.SetHeader("x-warden-deployment", target.name);
  if (ctx.plan->rule) client.SetHeader("x-warden-route-rule", ctx.plan->rule->name);
  client.SetHeader("x-warden-attempts", std::to_string(ctx.log.Sent()));
  if (std::string upstream_id = head.Get("x-request-id"); !upstream_id.empty() && upstream_id.size() < 200)
    client.SetHeader("x-upstream-request-id", upstream_id);
  co_return sent;
}

asio::awaitable<Result<Completion>> Forwarder::TryDeployment(RequestContext& ctx, const RouteTarget& target,
                                                             ClientExchange& client, int64_t* retry_after_ms) {
  // Locals here live as long as a stream relays (the frame stays until it ends): what is only
  // needed for a moment is in the helpers (Open, UpstreamError) or in ctx.log.
  auto opened = co_await Open(ctx, target, client);
  if (!opened) co_return opened.error();
  std::unique_ptr<UpstreamExchange> up = std::move(*opened);
  const size_t index = ctx.log.attempts.size() - 1;
  const RelayLimits limits{max_response_bytes_, ctx.snapshot->config->upstream.stream_timeout_ms};
  Result<Completion> done = Completion{};
  if (up->head().status != 200) {
    const Status refused = co_await UpstreamError(target, *up, retry_after_ms);
    done = refused.error();
  } else if (ctx.request->stream) {
    done = co_await RelayStream(ctx, target, *up, client, limits);
    if (done.ok() && done->kind == Completion::Kind::kStreamEnd) done->upstream = std::move(up);
  } else {
    done = co_await RelayJson(ctx, target, *up, limits);
  }
  Attempt& finished = ctx.log.attempts[index];
  if (finished.latency_ns == 0) finished.latency_ns = MonotonicNanos() - finished.started_ns;
  if (!done.ok()) {
    finished.error_code = done.error().code;
    co_return AtStage(done.error(), ctx.response.stage);
  }
  co_return done;
}

asio::awaitable<Status> Forwarder::UpstreamError(const RouteTarget& target, UpstreamExchange& up,
                                                 int64_t* retry_after_ms) {
  const ProviderConfig& provider = *target.provider;
  auto body = co_await up.ReadAll(max_response_bytes_);
  up.Release();
  Error e = AdapterFor(provider.kind).TranslateError(provider, up.head().status, body.ok() ? *body : "");
  if (auto ra = ParseRetryAfterMs(up.head().Get("retry-after"), UnixSeconds())) {
    *retry_after_ms = *ra;
    if (e.status() == 429) e.retry_after = Seconds(*ra);
  }
  co_return e;
}

}  // namespace warden
