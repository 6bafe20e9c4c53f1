#include "gateway/audit_phase.h"

#include <asio/async_result.hpp>
#include <asio/associated_executor.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <memory>

#include "common/log.h"
#include "common/util.h"

namespace warden {
namespace {

bool LogsContent(const Policy& p) {
  return p.content_logging != ContentLogging::kNone && !p.zero_retention;
}

audit::Entry BaseEntry(const RequestContext& ctx, audit::RecordType type) {
  const Policy& policy = *ctx.policy();
  audit::Entry e;
  e.type = type;
  e.key_id = ctx.identity->key_id;
  e.meta_days = static_cast<uint32_t>(policy.metadata_retention_days);
  e.content_days = static_cast<uint32_t>(policy.content_retention_days);
  e.meta = Json{{"request_id", ctx.request_id},
                {"endpoint", EndpointName(ctx.endpoint)},
                {"policy", policy.name},
                {"policy_hash", policy.hash}};
  // The model only when it names a configured alias: a client's free text is not metadata.
  if (const ModelAlias* alias = ctx.alias()) e.meta["model"] = alias->alias;
  // Attribution tags: labels the policy allows, validated (common/tags.h), never content.
  if (!ctx.identity->tags.empty()) {
    Json tags = Json::object();
    for (const auto& [name, value] : ctx.identity->tags) tags[name] = value;
    e.meta["tags"] = std::move(tags);
  }
  return e;
}

// Appends through the log's appender thread and resumes on the coroutine's own executor.
asio::awaitable<Result<uint64_t>> AwaitAppend(audit::AuditLog& log, audit::Entry entry,
                                              audit::AuditLog::Durability durability) {
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(Result<uint64_t>)>(
      [&log, &entry, durability](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        log.AppendAsync(std::move(entry), durability, [shared](Result<uint64_t> seq) {
          auto ex = asio::get_associated_executor(*shared);
          asio::post(ex, [shared, seq = std::move(seq)]() mutable { (*shared)(std::move(seq)); });
        });
      },
      asio::use_awaitable);
}

}  // namespace

asio::awaitable<Status> AuditIntent(audit::AuditLog* log, RequestContext& ctx) {
  if (!log) co_return Status::Ok();
  const Policy& policy = *ctx.policy();
  audit::Entry e = BaseEntry(ctx, audit::RecordType::kIntent);
  e.meta["stream"] = ctx.request->stream;
  e.meta["client"] = ctx.client_address;
  e.meta["key_env"] = KeyEnvName(ctx.identity->key_env);
  Json route = Json::array();
  for (const auto& t : ctx.plan->targets) route.push_back(Json{{"deployment", t.name}, {"region", t.provider->region}});
  e.meta["route"] = std::move(route);
  if (ctx.plan->rule) e.meta["route_rule"] = ctx.plan->rule->name;
  e.meta["estimated_prompt_tokens"] = ctx.request->estimated_prompt_tokens;
  if (ctx.prompt->redaction) {
    e.meta["redactions"] = Json(ctx.prompt->redaction->counts());  // entity types from the rule sets; numbers
  }
  if (LogsContent(policy)) {
    e.content = Json{{"request", ctx.prompt->logged.is_null() ? ctx.prompt->body : ctx.prompt->logged},
                     {"logging", ContentLoggingName(policy.content_logging)}};
    ctx.capture.wanted = ctx.endpoint != Endpoint::kEmbeddings;  // answers, not embedding vectors
    ctx.capture.restored = policy.content_logging == ContentLogging::kFull;
  }
  e.request_id = ctx.request_id;
  e.opens = true;
  // Not synced here: the outcome's sync covers it (one WAL, written in order), and a process
  // crash keeps it (page cache). A failed write refuses the request before anything is sent.
  auto seq = co_await AwaitAppend(*log, std::move(e), audit::AuditLog::Durability::kWritten);
  if (!seq) co_return seq.error();
  ctx.audit_intent_seq = *seq;
  co_return Status::Ok();
}

bool AuditCloses(const audit::AuditLog* log, const RequestContext& ctx) {
  return log && !ctx.audit_closed && ctx.identity && IsInference(ctx.endpoint);
}

asio::awaitable<Status> AuditClose(audit::AuditLog* log, RequestContext& ctx) {
  if (!AuditCloses(log, ctx)) co_return Status::Ok();
  ctx.audit_closed = true;
  const bool opened = ctx.audit_intent_seq != 0;
  // Sent upstream (attempts) without an intent happens only when a best_effort intent failed:
  // still an outcome, not a refusal.
  const bool sent = opened || !ctx.log.attempts.empty();
  audit::Entry e = BaseEntry(ctx, sent ? audit::RecordType::kOutcome : audit::RecordType::kRejected);
  e.closes = ctx.audit_intent_seq;
  if (opened) e.meta["intent_seq"] = ctx.audit_intent_seq;
  e.meta["outcome"] = OutcomeName(ctx.response.outcome);
  e.meta["status"] = ctx.response.status;
  if (!ctx.response.error_code.empty()) e.meta["error"] = ctx.response.error_code;
  Json attempts = Json::array();
  const int64_t now = MonotonicNanos();
  for (const auto& a : ctx.log.attempts) {
    // The attempt still relaying (latency 0) is the one completing now.
    const int64_t latency = a.Latency(now);
    Json j{{"deployment", a.deployment}, {"region", a.region}, {"status", a.status},
           {"latency_ms", static_cast<double>(latency) / 1e6}};
    if (!a.error_code.empty()) j["error"] = a.error_code;
    if (a.skipped) j["skipped"] = true;
    attempts.push_back(std::move(j));
  }
  if (sent) {
    e.meta["attempts"] = std::move(attempts);
    if (const RouteTarget* serving = ctx.log.serving) {
      e.meta["deployment"] = serving->name;
      e.meta["provider"] = serving->provider->name;
      e.meta["region"] = serving->provider->region;
    }
    const Usage& u = ctx.usage;
    e.meta["prompt_tokens"] = u.prompt_tokens;
    e.meta["completion_tokens"] = u.completion_tokens;
    e.meta["cached_prompt_tokens"] = u.cached_prompt_tokens;
    e.meta["usage_estimated"] = u.estimated();
    e.meta["cost_usd"] = UsdNumber(u.cost);
    e.meta["cost_picos"] = u.cost;
    e.meta["upstream_ms"] = static_cast<double>(ctx.log.UpstreamNanos(now)) / 1e6;
    e.meta["overhead_ms"] = static_cast<double>(ctx.OverheadNanos(now)) / 1e6;
    if (ctx.capture.wanted) {
      e.content = ctx.request->stream ? Json{{"response_text", ctx.capture.stream_text}}
                                      : Json{{"response", ctx.capture.response}};
    }
  }
  e.meta["latency_ms"] = static_cast<double>(now - ctx.start_ns) / 1e6;
  e.meta["bytes_in"] = ctx.response.bytes_in;
  e.meta["bytes_out"] = ctx.response.bytes_out;
  auto seq = co_await AwaitAppend(*log, std::move(e), audit::AuditLog::Durability::kSynced);
  co_return seq ? Status::Ok() : Status(seq.error());
}

Error AuditUnavailable(const Policy& policy) {
  return Error::ServiceUnavailable("The policy '" + policy.name +
                                       "' requires an audit record, which cannot be written "
                                       "right now; the request was not completed.",
                                   "audit_unavailable");
}

asio::awaitable<Status> UnderAuditMode(metrics::GatewayMetrics* metrics, const RequestContext& ctx,
                                       asio::awaitable<Status> append) {
  const int64_t t0 = MonotonicNanos();
  const Status s = co_await std::move(append);
  if (metrics) metrics->AuditAppend(static_cast<double>(MonotonicNanos() - t0) / 1e9, s.ok());
  if (s) co_return s;
  if (ctx.policy()->audit == AuditMode::kRequired) co_return AuditUnavailable(*ctx.policy());
  log::Warn("audit_write_failed", {{"request_id", ctx.request_id}, {"error", s.error().code}});
  co_return Status::Ok();
}

}  // namespace warden
