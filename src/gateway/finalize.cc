#include "gateway/finalize.h"

#include <algorithm>

#include "common/cli.h"
#include "common/log.h"
#include "common/util.h"
#include "gateway/audit_phase.h"
#include "gateway/check_policy.h"

namespace warden {
namespace {

// The failure hooks, named by how far the request got.
void FailedBeforeUpstream(RequestContext& ctx, const Error& e) {
  // Nothing was sent: a refusal (the client's request or its policy) or the gateway's own fault.
  ctx.response.outcome = e.source == ErrorSource::kClient ? Outcome::kRejected : Outcome::kFailed;
}
void FailedWithoutAnswer(RequestContext& ctx) { ctx.response.outcome = Outcome::kFailed; }  // sent, no head
void FailedAfterAnswerHead(RequestContext& ctx) {
  // An error answer, or a 200 whose body failed before anything reached the client.
  ctx.response.outcome = Outcome::kFailed;
}
void FailedAfterFirstByte(RequestContext& ctx) { ctx.response.outcome = Outcome::kPartial; }  // an error event ends it

void OnFailure(RequestContext& ctx, const Error& e) {
  switch (ctx.response.stage) {
    case Stage::kBeforeUpstream: FailedBeforeUpstream(ctx, e); break;
    case Stage::kSentUpstream: FailedWithoutAnswer(ctx); break;
    case Stage::kAnswerHead: FailedAfterAnswerHead(ctx); break;
    case Stage::kClientStarted: FailedAfterFirstByte(ctx); break;
  }
  if (ctx.response.stage != Stage::kClientStarted) ctx.response.status = e.status();
  ctx.response.error_code = e.code.empty() ? e.type : e.code;
}

// The policy's alert percentages that this request's cost took a budget's spend across, for each
// budget period: one log line, one metric count and one webhook post each (the spend only grows
// within a period, so each threshold is crossed once per budget and period). Key ids, config
// names, tag values and figures only.
void AnnounceBudget(const Recorders& to, const RequestContext& ctx, const BudgetSubject& budget, const Spend& after,
                    Picos cost) {
  const Policy& policy = *ctx.policy();
  const std::string& key_id = ctx.identity->key_id;
  const struct {
    const char* period;
    Picos limit, spent;
  } periods[] = {{"day", budget.limits.per_day, after.day}, {"month", budget.limits.per_month, after.month}};
  for (const auto& p : periods) {
    if (p.limit <= 0) continue;
    for (int percent : policy.budget_alerts) {
      const Picos threshold = PercentOf(p.limit, percent);
      if (!(p.spent - cost < threshold && p.spent >= threshold)) continue;
      log::Fields f{{"key_id", key_id},   {"policy", policy.name},          {"period", p.period},
                    {"percent", percent}, {"limit_usd", FormatUsd(p.limit)}, {"spent_usd", FormatUsd(p.spent, 0)}};
      if (budget.id != key_id) f["budget"] = budget.id;  // a tag's budget, shared across keys
      const char* event = percent >= 100 ? "budget_exhausted" : "budget_threshold";
      if (to.alerts) {
        Json alert(f);
        alert["type"] = event;
        alert["time"] = cli::FormatTime(UnixSeconds());
        to.alerts->Send(ctx.snapshot->config->alerts.webhook, std::move(alert));
      }
      if (percent >= 100) log::Warn(event, std::move(f));
      else log::Info(event, std::move(f));
      if (to.metrics) to.metrics->BudgetAlert(policy.name, p.period, percent);
    }
  }
}

// Settles the request's usage (see Usage), then records it: the token correction of the rate
// limit, the budgets' spend (releasing what CheckLimits reserved, also for a request refused or
// failed before it was forwarded), and usage — in memory, or in the fleet's shared state.
asio::awaitable<void> Account(const Recorders& to, RequestContext& ctx) {
  Usage& u = ctx.usage;
  const Picos reserved = ctx.budget_reserved.value_or(0);
  if (!ctx.log.forwarded) {
    if (reserved > 0 && to.limits) co_await to.limits->Settle(BudgetsOf(*ctx.identity), reserved, 0);
    co_return;
  }
  const Policy& policy = *ctx.policy();
  const std::string& key_id = ctx.identity->key_id;
  // Something was served: the provider bills for it even when it reported no usage (a cut
  // stream). Then Warden estimates: the prompt from its bytes, the completion from the text
  // relayed (4 bytes per token), and marks the figures as estimated.
  const int64_t estimated_prompt = ctx.request->estimated_prompt_tokens;
  u.billed = (u.known || u.completion_bytes > 0 || ctx.response.status == 200) && ctx.log.serving != nullptr;
  if (!u.billed) u.prompt_tokens = u.completion_tokens = u.cached_prompt_tokens = 0;  // every attempt failed
  else if (!u.known) u.prompt_tokens = estimated_prompt, u.completion_tokens = (u.completion_bytes + 3) / 4;
  u.cached_prompt_tokens = std::clamp<int64_t>(u.cached_prompt_tokens, 0, u.prompt_tokens);
  if (to.limits && policy.tokens_per_minute > 0)
    co_await to.limits->Correct(key_id, {policy.requests_per_minute, policy.tokens_per_minute},
                                u.prompt_tokens + u.completion_tokens - estimated_prompt);
  if (u.billed) {
    const ProviderConfig& p = *ctx.log.serving->provider;
    const Price& price = PriceOf(p, *ctx.log.serving->deployment);  // the model's, else the provider's
    u.cost = price.Cost(u.prompt_tokens, u.cached_prompt_tokens, u.completion_tokens);
  }
  if (to.limits && (u.billed || reserved > 0)) {
    const std::vector<BudgetSubject> budgets = BudgetsOf(*ctx.identity);
    const std::vector<std::optional<Spend>> after = co_await to.limits->Settle(budgets, reserved, u.cost);
    for (size_t i = 0; i < budgets.size() && i < after.size(); ++i)
      if (after[i] && u.cost > 0) AnnounceBudget(to, ctx, budgets[i], *after[i], u.cost);
  }
  if (to.usage && u.billed) {
    UsageCell cell{key_id, policy.name, ctx.plan->alias->alias, ctx.log.serving->name, ctx.log.serving->provider->name,
                   TagsText(ctx.identity->tags)};
    UsageTotals t;
    t.requests = 1;
    t.prompt_tokens = u.prompt_tokens;
    t.completion_tokens = u.completion_tokens;
    t.cached_prompt_tokens = u.cached_prompt_tokens;
    t.cost = u.cost;
    t.estimated_requests = u.estimated() ? 1 : 0;
    to.usage->Record(cell, t);
  }
}

// Writes `error` to the client in its dialect: a JSON error answer if nothing was sent yet,
// else an error event (the OpenAI and Anthropic SDKs both raise it as an APIError).
asio::awaitable<void> SendError(RequestContext& ctx, ClientExchange& client, const Error& error) {
  if (!client.started()) {
    // An unread request body would be parsed as the next request on a keep-alive connection.
    if (ctx.response.bytes_in == 0 && client.has_body()) client.CloseAfterResponse();
    if ((error.status() == 429 || error.status() == 503) && !error.retry_after.empty())
      client.SetHeader("Retry-After", error.retry_after);
    std::string body = ClientErrorBody(ctx.ingress, error);
    ctx.response.bytes_out += body.size();
    client.Send(error.status(), "application/json", body);
    co_return;
  }
  std::string event = ClientErrorEvent(ctx.ingress, error);
  ctx.response.bytes_out += event.size();
  co_await client.AsyncWrite(event);
}

asio::awaitable<void> Deliver(RequestContext& ctx, ClientExchange& client, Result<Completion>& ending) {
  if (!ending) {
    co_await SendError(ctx, client, ending.error());
    co_return;
  }
  Completion& done = *ending;
  if (done.kind == Completion::Kind::kJson) {
    ctx.response.first_byte_ns = MonotonicNanos() - ctx.start_ns;
    client.Send(200, "application/json", done.bytes);
  } else if (done.kind == Completion::Kind::kStreamEnd) {
    if (!client.started()) {
      co_await client.AsyncStartStream(200, "text/event-stream");
      ctx.response.first_byte_ns = MonotonicNanos() - ctx.start_ns;
    }
    const bool written = co_await client.AsyncWrite(done.bytes);
    if (!written) ctx.response.outcome = Outcome::kClientGone;
  }
  if (done.upstream) co_await DrainAndRelease(*done.upstream);
}

void RecordMetrics(metrics::GatewayMetrics* metrics, const RequestContext& ctx) {
  if (!metrics || ctx.endpoint == Endpoint::kHealth || ctx.endpoint == Endpoint::kReady ||
      ctx.endpoint == Endpoint::kUnknown)
    return;
  const int64_t now = MonotonicNanos();
  metrics::RequestSample s;
  s.endpoint = EndpointName(ctx.endpoint);
  if (const ModelAlias* alias = ctx.alias()) s.model = alias->alias;  // configured, never free text
  if (ctx.log.serving) s.provider = ctx.log.serving->provider->name;
  s.status = ctx.response.status;
  s.total_s = static_cast<double>(now - ctx.start_ns) / 1e9;
  for (const auto& a : ctx.log.attempts) {
    s.upstream = s.upstream || !a.skipped;
    s.tries.push_back({a.deployment, a.error_code.empty() ? "" : metrics::GatewayMetrics::Reason(a.status, a.error_code)});
  }
  s.upstream_s = static_cast<double>(ctx.log.UpstreamNanos(now)) / 1e9;
  s.overhead_s = static_cast<double>(ctx.OverheadNanos(now)) / 1e9;
  s.first_byte_s = static_cast<double>(ctx.log.upstream_first_byte_ns) / 1e9;
  const Usage& u = ctx.usage;
  if (u.billed) {
    s.prompt_tokens = u.prompt_tokens;
    s.completion_tokens = u.completion_tokens;
    s.cached_tokens = u.cached_prompt_tokens;
    s.cost = u.cost;
  }
  if (ctx.response.outcome == Outcome::kRejected || ctx.response.status == 503) s.refusal = ctx.response.error_code;
  if (ctx.prompt && ctx.prompt->redaction)
    for (const auto& [entity, n] : ctx.prompt->redaction->counts()) s.redactions.emplace_back(entity, n);
  metrics->Record(s);
}

void AccessLog(const RequestContext& ctx, ClientExchange& client) {
  const Response& r = ctx.response;
  if ((ctx.endpoint == Endpoint::kHealth || ctx.endpoint == Endpoint::kReady) && r.status == 200)
    return;  // probes every few seconds would drown the access log
  const int64_t now = MonotonicNanos();
  log::Fields f;
  f["request_id"] = ctx.request_id;
  f["method"] = std::string(client.method());
  f["path"] = std::string(client.path().substr(0, 128));
  f["client"] = ctx.client_address;
  f["key_id"] = ctx.identity ? Json(ctx.identity->key_id) : Json();
  if (ctx.identity) f["policy"] = ctx.identity->policy->name;
  if (ctx.identity && !ctx.identity->tags.empty()) f["tags"] = TagsText(ctx.identity->tags);
  if (const ModelAlias* alias = ctx.alias()) f["model"] = alias->alias;  // only configured aliases
  if (ctx.log.serving) f["deployment"] = ctx.log.serving->name;
  f["stream"] = ctx.request && ctx.request->stream;
  f["status"] = r.status;
  f["outcome"] = OutcomeName(r.outcome);
  if (!r.error_code.empty()) f["error"] = r.error_code;
  f["latency_ms"] = static_cast<double>(now - ctx.start_ns) / 1e6;
  if (!ctx.log.attempts.empty()) {
    f["attempts"] = ctx.log.attempts.size();
    f["upstream_status"] = ctx.log.attempts.back().status;
    f["upstream_ttfb_ms"] = static_cast<double>(ctx.log.upstream_first_byte_ns) / 1e6;
  }
  if (r.first_byte_ns > 0) f["first_byte_ms"] = static_cast<double>(r.first_byte_ns) / 1e6;
  if (ctx.prompt && ctx.prompt->redaction && !ctx.prompt->redaction->counts().empty()) {
    // Entity types come from the rule sets (config), counts are numbers: no content.
    f["redactions"] = Json(ctx.prompt->redaction->counts());
  }
  const Usage& u = ctx.usage;
  if (u.billed) {
    f["prompt_tokens"] = u.prompt_tokens;
    f["completion_tokens"] = u.completion_tokens;
    f["cost_usd"] = UsdNumber(u.cost);
    if (u.estimated()) f["usage_estimated"] = true;
  }
  f["bytes_in"] = r.bytes_in;
  f["bytes_out"] = r.bytes_out;
  log::Info("access", std::move(f));
}

}  // namespace

asio::awaitable<void> Finalize(const Recorders& to, RequestContext& ctx, ClientExchange& client,
                               Result<Completion> ending) {
  if (!ending) OnFailure(ctx, ending.error());
  const bool completes = ending.ok() && ending->kind != Completion::Kind::kNone;
  if (completes) {
    ctx.response.status = 200;
    ctx.response.bytes_out += ending->bytes.size();  // counted in the record written before them
  }
  co_await Account(to, ctx);
  Status recorded = Status::Ok();
  if (AuditCloses(to.audit, ctx)) recorded = co_await UnderAuditMode(to.metrics, ctx, AuditClose(to.audit, ctx));
  if (completes && !recorded) {
    // Fail closed: the response is not completed without its record.
    ctx.response.bytes_out -= ending->bytes.size();
    ending = recorded.error();
    OnFailure(ctx, ending.error());
  }
  co_await Deliver(ctx, client, ending);
  RecordMetrics(to.metrics, ctx);
  AccessLog(ctx, client);
}

}  // namespace warden
