#include "gateway/audit_phase.h"

#include <asio/async_result.hpp>
#include <asio/associated_executor.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <memory>

#include "common/util.h"
#include "gateway/forward.h"

namespace warden {
namespace {

bool LogsContent(const Policy& p) {
  return p.content_logging != ContentLogging::kNone && !p.zero_retention;
}

audit::Entry BaseEntry(const RequestContext& ctx, audit::RecordType type) {
  audit::Entry e;
  e.type = type;
  e.key_id = ctx.key->id;
  e.meta_days = static_cast<uint32_t>(ctx.policy->metadata_retention_days);
  e.content_days = static_cast<uint32_t>(ctx.policy->content_retention_days);
  e.meta = Json{{"request_id", ctx.request_id},
                {"endpoint", EndpointName(ctx.endpoint)},
                {"policy", ctx.policy->name},
                {"policy_hash", ctx.policy->hash}};
  // The model only when it names a configured alias: a client's free text is not metadata.
  if (ctx.alias) e.meta["model"] = ctx.model;
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

const char* EndpointName(Endpoint e) {
  switch (e) {
    case Endpoint::kChatCompletions: return "chat.completions";
    case Endpoint::kMessages: return "messages";
    case Endpoint::kEmbeddings: return "embeddings";
    case Endpoint::kListModels: return "models.list";
    case Endpoint::kGetModel: return "models.get";
    case Endpoint::kHealth: return "healthz";
    case Endpoint::kReady: return "readyz";
    case Endpoint::kUnknown: break;
  }
  return "unknown";
}

asio::awaitable<Status> AuditIntent(audit::AuditLog* log, RequestContext& ctx) {
  if (!log) co_return Status::Ok();
  audit::Entry e = BaseEntry(ctx, audit::RecordType::kIntent);
  e.meta["stream"] = ctx.stream;
  e.meta["client"] = ctx.client_address;
  e.meta["key_env"] = KeyEnvName(ctx.key->env);
  Json route = Json::array();
  for (const auto& t : ctx.route)
    route.push_back(Json{{"deployment", t.provider->name + "/" + t.deployment->model},
                         {"region", t.provider->region}});
  e.meta["route"] = std::move(route);
  e.meta["estimated_prompt_tokens"] = ctx.estimated_prompt_tokens;
  if (ctx.redaction) {
    Json counts = Json::object();  // entity types from the rule sets; numbers only
    for (const auto& [entity, n] : ctx.redaction->counts()) counts[entity] = n;
    e.meta["redactions"] = std::move(counts);
  }
  if (LogsContent(*ctx.policy)) {
    e.content = Json{{"request", ctx.logged_request.is_null() ? ctx.body : ctx.logged_request},
                     {"logging", ContentLoggingName(ctx.policy->content_logging)}};
    ctx.log_response = ctx.endpoint == Endpoint::kChatCompletions;  // not embedding vectors
    ctx.log_restored = ctx.policy->content_logging == ContentLogging::kFull;
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
  return log && !ctx.audit_closed && ctx.key && ctx.policy &&
         (ctx.endpoint == Endpoint::kChatCompletions || ctx.endpoint == Endpoint::kEmbeddings);
}

asio::awaitable<Status> AuditClose(audit::AuditLog* log, RequestContext& ctx) {
  if (!AuditCloses(log, ctx)) co_return Status::Ok();
  ctx.audit_closed = true;
  const bool opened = ctx.audit_intent_seq != 0;
  // Sent upstream (attempts) without an intent happens only when a best_effort intent failed:
  // still an outcome, not a refusal.
  const bool sent = opened || !ctx.attempts.empty();
  audit::Entry e = BaseEntry(ctx, sent ? audit::RecordType::kOutcome : audit::RecordType::kRejected);
  e.closes = ctx.audit_intent_seq;
  if (opened) e.meta["intent_seq"] = ctx.audit_intent_seq;
  e.meta["outcome"] = OutcomeName(ctx.outcome);
  e.meta["status"] = ctx.status;
  if (!ctx.error_code.empty()) e.meta["error"] = ctx.error_code;
  Json attempts = Json::array();
  const int64_t now = MonotonicNanos();
  for (const auto& a : ctx.attempts) {
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
    if (ctx.deployment) {
      e.meta["deployment"] = DeploymentName(*ctx.provider, *ctx.deployment);
      e.meta["region"] = ctx.provider->region;
    }
    e.meta["prompt_tokens"] = ctx.usage_known ? ctx.prompt_tokens : ctx.estimated_prompt_tokens;
    e.meta["completion_tokens"] = ctx.usage_known ? ctx.completion_tokens : ctx.estimated_completion_tokens;
    e.meta["usage_estimated"] = !ctx.usage_known;
    e.meta["cost_usd"] = ctx.cost_usd;
    e.meta["upstream_ms"] = static_cast<double>(ctx.UpstreamNanos(now)) / 1e6;
    e.meta["overhead_ms"] = static_cast<double>(ctx.OverheadNanos(now)) / 1e6;
    if (ctx.log_response) {
      e.content = ctx.stream ? Json{{"response_text", ctx.logged_stream_text}}
                             : Json{{"response", ctx.logged_response}};
    }
  }
  e.meta["latency_ms"] = static_cast<double>(now - ctx.start_ns) / 1e6;
  e.meta["bytes_in"] = ctx.bytes_in;
  e.meta["bytes_out"] = ctx.bytes_out;
  auto seq = co_await AwaitAppend(*log, std::move(e), audit::AuditLog::Durability::kSynced);
  co_return seq ? Status::Ok() : Status(seq.error());
}

}  // namespace warden
