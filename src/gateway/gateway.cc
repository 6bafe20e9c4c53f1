#include "gateway/gateway.h"

#include "common/http1.h"
#include "common/log.h"
#include "common/util.h"
#include "gateway/audit_phase.h"
#include "gateway/offload.h"
#include "gateway/phases.h"

namespace warden {
namespace {

// A provider answer (not a stream) larger than this is refused with 502.
constexpr size_t kMaxUpstreamResponseBytes = 64u << 20;

// Request bodies up to this size are parsed and redacted on the loop (tens of microseconds);
// larger ones on the worker pool.
constexpr size_t kInlineBodyBytes = 64u << 10;

constexpr std::string_view kModelsPrefix = "/v1/models/";

Error WrongMethod(ClientExchange& client, std::string_view allow) {
  client.SetHeader("Allow", std::string(allow));
  return Error::MethodNotAllowed("Method " + std::string(client.method()) + " is not allowed on " +
                                 std::string(client.path()) + "; use " + std::string(allow) + ".");
}

bool IsJsonContentType(std::string_view ct) {
  // "application/json" with optional parameters ("; charset=utf-8").
  size_t semi = ct.find(';');
  std::string_view type = ct.substr(0, semi);
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return IEquals(type, "application/json");
}

std::string FormatUsd(double usd) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", usd);
  return buf;
}

Json ModelObject(const ModelAlias& alias) {
  return Json{{"id", alias.alias}, {"object", "model"}, {"created", 0}, {"owned_by", "warden"}};
}

void SendJson(RequestContext& ctx, ClientExchange& client, int status, const Json& body) {
  std::string text = Dump(body);
  ctx.status = status;
  ctx.bytes_out += text.size();
  client.Send(status, "application/json", text);
}

Error AuditUnavailable(const Policy& policy) {
  Error e = Error::ServiceUnavailable("The policy '" + policy.name +
                                          "' requires an audit record, which cannot be written "
                                          "right now; the request was not completed.",
                                      "audit_unavailable");
  e.retryable = false;  // another deployment would not help
  return e;
}

ForwarderOptions ForwarderOptionsFrom(const Config& config) {
  ForwarderOptions o;
  o.max_response_bytes = kMaxUpstreamResponseBytes;
  o.routing = config.routing;
  o.stream_timeout_ms = config.upstream.stream_timeout_ms;
  return o;
}

}  // namespace

Result<std::shared_ptr<const GatewaySnapshot>> MakeGatewaySnapshot(std::shared_ptr<const Config> config,
                                                                   std::shared_ptr<const PolicySet> policies,
                                                                   std::shared_ptr<const RuleSets> rule_sets) {
  auto snapshot = std::make_shared<GatewaySnapshot>();
  for (const auto& name : policies->Names()) {
    const Policy* p = policies->Find(name);
    if (p->redaction_rule_sets.empty()) continue;
    auto redactor = Redactor::ForPolicy(*p, *rule_sets);
    if (!redactor) return redactor.error();
    snapshot->redactors[name] = *redactor;
  }
  snapshot->config = std::move(config);
  snapshot->policies = std::move(policies);
  snapshot->rule_sets = std::move(rule_sets);
  return std::shared_ptr<const GatewaySnapshot>(std::move(snapshot));
}

Gateway::Gateway(GatewayDeps deps)
    : deps_(std::move(deps)),
      forwarder_(deps_.http, deps_.echo, ForwarderOptionsFrom(*deps_.snapshot->config)),
      snapshot_(std::move(deps_.snapshot)) {}  // after forwarder_: snapshot_ is the one current pointer

void Gateway::Reload(std::shared_ptr<const GatewaySnapshot> snapshot) { snapshot_.Store(std::move(snapshot)); }

std::shared_ptr<const GatewaySnapshot> Gateway::snapshot() const { return snapshot_.Load(); }

asio::awaitable<void> Gateway::Handle(ClientExchange& client) {
  RequestContext ctx;
  ctx.start_ns = MonotonicNanos();
  ctx.snapshot = snapshot();
  bool crashed = false;
  try {
    ctx.request_id = NewRequestId();
    ctx.client_address = client.client_address();
    client.SetHeader("x-request-id", ctx.request_id);
    Status status = co_await Dispatch(ctx, client);
    if (!status) {
      const Error& e = status.error();
      ctx.outcome = e.source == ErrorSource::kClient ? Outcome::kRejected : Outcome::kFailed;
      // The record goes first: a client that saw this answer finds it in the audit log.
      ctx.status = e.status;
      if (ctx.error_code.empty()) ctx.error_code = e.code.empty() ? e.type : e.code;
      [[maybe_unused]] const Status recorded = co_await CloseAudit(ctx);  // (refusal stands either way)
      // An unread request body would be parsed as the next request on a keep-alive connection.
      if (ctx.bytes_in == 0 && client.has_body()) client.CloseAfterResponse();
      if ((e.status == 429 || e.status == 503) && !ctx.retry_after.empty())
        client.SetHeader("Retry-After", ctx.retry_after);
      co_await SendError(ctx, client, e);
    }
  } catch (const std::exception&) {
    crashed = true;  // (no co_await inside a handler)
  }
  if (crashed) {
    // A bug, not bad input: answer 500 if still possible; the log names no content.
    ctx.outcome = Outcome::kFailed;
    try {
      client.CloseAfterResponse();
      co_await SendError(ctx, client, Error::Internal("The server had an error while processing your request."));
    } catch (...) {
    }
  }
  try {
    [[maybe_unused]] const Status closed = co_await CloseAudit(ctx);  // streams cut or abandoned after their first byte
    Finalize(ctx, client);
    RecordMetrics(ctx);
  } catch (...) {
  }
}

asio::awaitable<Status> Gateway::Dispatch(RequestContext& ctx, ClientExchange& client) {
  const std::string_view path = client.path();
  const std::string_view method = client.method();
  const bool get = method == "GET" || method == "HEAD";

  if (path == "/healthz") {
    ctx.endpoint = Endpoint::kHealth;
    if (!get) co_return WrongMethod(client, "GET");
    SendJson(ctx, client, 200, Json{{"status", "ok"}});
    co_return Status::Ok();
  }
  if (path == "/readyz") {
    ctx.endpoint = Endpoint::kReady;
    if (!get) co_return WrongMethod(client, "GET");
    // Recovery probes the disk: on the pool.
    Status ready = co_await Offload(deps_.blocking, [this]() -> Status {
      if (!deps_.store->Healthy())
        return Error::ServiceUnavailable("the data store is not healthy", "store_unhealthy");
      if (deps_.audit && !deps_.audit->Healthy() && !deps_.audit->Recover().ok())
        return Error::ServiceUnavailable("the audit store is not writable: " + deps_.audit->Failure(),
                                         "audit_unhealthy");
      return Status::Ok();
    });
    if (!ready) co_return ready;
    SendJson(ctx, client, 200, Json{{"status", "ready"}});
    co_return Status::Ok();
  }
  if (path == "/v1/models" || path.starts_with(kModelsPrefix)) {
    ctx.endpoint = path == "/v1/models" ? Endpoint::kListModels : Endpoint::kGetModel;
    if (!get) co_return WrongMethod(client, "GET");
    const Status auth = co_await Authenticate(ctx, client);
    if (!auth) co_return auth;
    co_return HandleModels(ctx, client,
                           ctx.endpoint == Endpoint::kGetModel ? path.substr(kModelsPrefix.size()) : "");
  }
  if (path == "/v1/chat/completions" || path == "/v1/embeddings") {
    ctx.endpoint = path == "/v1/embeddings" ? Endpoint::kEmbeddings : Endpoint::kChatCompletions;
    if (method != "POST") co_return WrongMethod(client, "POST");
    co_return co_await HandleInference(ctx, client);
  }
  if (path == "/v1/messages") {
    // The Anthropic Messages API: answers and errors in its dialect, whatever the provider.
    ctx.endpoint = Endpoint::kMessages;
    ctx.ingress = Ingress::kAnthropic;
    if (method != "POST") co_return WrongMethod(client, "POST");
    co_return co_await HandleInference(ctx, client);
  }
  co_return Error::NotFound("Invalid URL (" + std::string(method) + " " + std::string(path.substr(0, 200)) + ")",
                         "unknown_url");
}

asio::awaitable<Status> Gateway::Authenticate(RequestContext& ctx, ClientExchange& client) {
  std::string authorization(client.header("Authorization"));
  // Anthropic SDKs send the key as x-api-key.
  if (authorization.empty() && ctx.ingress == Ingress::kAnthropic && !client.header("x-api-key").empty())
    authorization = "Bearer " + std::string(client.header("x-api-key"));
  // A known key is checked in memory; only a key the cache has not seen reads the store (on
  // the pool).
  const auto token = BearerToken(authorization);
  std::optional<Result<KeyRecord>> key;
  if (!token) key = token.error();
  else key = deps_.keys->AuthenticateCached(*token);
  if (!key) key = co_await Offload(deps_.blocking, [&] { return deps_.keys->Authenticate(*token); });
  WipeString(authorization);
  if (!*key) co_return key->error();
  ctx.key = std::move(**key);
  auto policy = ResolvePolicyPhase(*ctx.snapshot->policies, *ctx.key);
  if (!policy) co_return policy.error();
  ctx.policy = *policy;
  co_return CheckOverridesPhase(*ctx.policy, client.header_names(), nullptr);
}

Status Gateway::HandleModels(RequestContext& ctx, ClientExchange& client, std::string_view id) {
  // A key sees only the models it may use: allowed by name and with an eligible deployment.
  auto usable = [&](const ModelAlias& alias) {
    RequestContext probe;
    probe.model = alias.alias;
    return RoutePhase(*ctx.snapshot->config, *ctx.policy, probe).ok();
  };
  if (ctx.endpoint == Endpoint::kGetModel) {
    const ModelAlias* alias = ctx.snapshot->config->FindModel(std::string(id));
    if (!alias || !usable(*alias))
      return Error::NotFound("The model '" + std::string(id) + "' does not exist", "model_not_found",
                             "model");
    SendJson(ctx, client, 200, ModelObject(*alias));
    return Status::Ok();
  }
  Json data = Json::array();
  for (const auto& alias : ctx.snapshot->config->models)
    if (usable(alias)) data.push_back(ModelObject(alias));
  SendJson(ctx, client, 200, Json{{"object", "list"}, {"data", std::move(data)}});
  return Status::Ok();
}

Status Gateway::ParseAndRedact(RequestContext& ctx, std::string_view body) {
  if (Status s = ParsePhase(ctx, body); !s) return s;
  if (Status s = CheckOverridesPhase(*ctx.policy, {}, &ctx.body); !s) return s;
  const Policy& policy = *ctx.policy;
  // content_logging: full keeps what the client sent, before redaction.
  if (policy.content_logging == ContentLogging::kFull && !policy.zero_retention) ctx.logged_request = ctx.body;
  if (!policy.redaction_rule_sets.empty()) {
    auto redactor = ctx.snapshot->redactors.find(policy.name);
    if (redactor == ctx.snapshot->redactors.end())
      return Error::ServiceUnavailable("The policy '" + policy.name +
                                           "' requires redaction, which is not available on this "
                                           "gateway; nothing was sent.",
                                       "redaction_unavailable");
    ctx.redaction = std::make_unique<RedactionSession>(redactor->second, policy.redaction_mode);
    if (Status s = ctx.redaction->RedactRequest(ctx.body); !s) return s;
  }
  return Status::Ok();
}

asio::awaitable<Status> Gateway::HandleInference(RequestContext& ctx, ClientExchange& client) {
  // Authenticate before reading a byte of the body: an anonymous client cannot make the
  // gateway buffer megabytes.
  const Status auth = co_await Authenticate(ctx, client);
  if (!auth) co_return auth;
  if (!IsJsonContentType(client.header("Content-Type")))
    co_return Error::UnsupportedMediaType("Content-Type must be application/json.");
  auto body = co_await client.AsyncReadBody(ctx.snapshot->config->server.max_body_bytes);
  if (!body) co_return body.error();
  ctx.bytes_in = body->size();
  // Parsing and redaction are CPU work: a large body is done on the pool, so one big prompt
  // does not hold up the other connections of this loop.
  Status prepared;
  if (body->size() > kInlineBodyBytes) prepared = co_await Offload(deps_.blocking, [&] { return ParseAndRedact(ctx, *body); });
  else prepared = ParseAndRedact(ctx, *body);
  if (!prepared) co_return prepared;
  const Policy& policy = *ctx.policy;
  if (Status s = RoutePhase(*ctx.snapshot->config, *ctx.policy, ctx); !s) co_return s;
  if (policy.audit == AuditMode::kRequired && !deps_.audit) co_return AuditUnavailable(policy);
  const Status limits = co_await CheckLimits(ctx, client);
  if (!limits) co_return limits;
  if (deps_.audit) {
    const int64_t audit_t0 = MonotonicNanos();
    const Status intent = co_await AuditIntent(deps_.audit, ctx);
    if (deps_.metrics) deps_.metrics->AuditAppend(static_cast<double>(MonotonicNanos() - audit_t0) / 1e9, intent.ok());
    if (!intent) {
      if (policy.audit == AuditMode::kRequired) co_return AuditUnavailable(policy);
      log::Warn("audit_write_failed", {{"request_id", ctx.request_id}, {"error", intent.error().code}});
    }
  }
  if (ctx.audit_intent_seq)
    ctx.before_complete = [this, &ctx]() -> asio::awaitable<Status> {
      ctx.status = 200;
      const Status closed = co_await CloseAudit(ctx, /*account=*/true);
      co_return closed;
    };
  Status result = co_await forwarder_.Forward(ctx, client);
  Account(ctx);  // in memory (the ledgers' flusher writes them)
  co_return result;
}

asio::awaitable<Status> Gateway::CloseAudit(RequestContext& ctx, bool account) {
  if (account) Account(ctx);  // in memory
  if (!AuditCloses(deps_.audit, ctx)) co_return Status::Ok();
  const int64_t t0 = MonotonicNanos();
  const Status s = co_await AuditClose(deps_.audit, ctx);
  if (deps_.metrics) deps_.metrics->AuditAppend(static_cast<double>(MonotonicNanos() - t0) / 1e9, s.ok());
  if (s) co_return s;
  if (ctx.policy->audit == AuditMode::kRequired) co_return AuditUnavailable(*ctx.policy);
  log::Warn("audit_write_failed", {{"request_id", ctx.request_id}, {"error", s.error().code}});
  co_return Status::Ok();
}

asio::awaitable<Status> Gateway::CheckLimits(RequestContext& ctx, ClientExchange& client) {
  const Policy& policy = *ctx.policy;
  ctx.estimated_prompt_tokens = EstimatePromptTokens(ctx.body);
  if ((policy.usd_per_day > 0 || policy.usd_per_month > 0) && deps_.spend) {
    // In memory once this period's figures are loaded; the first look reads storage, on the pool.
    std::optional<Spend> known = deps_.spend->Peek(ctx.key->id);
    if (!known) known = co_await Offload(deps_.blocking, [&] { return deps_.spend->Get(ctx.key->id); });
    const Spend spend = *known;
    const bool day = policy.usd_per_day > 0 && spend.day_usd >= policy.usd_per_day;
    const bool month = policy.usd_per_month > 0 && spend.month_usd >= policy.usd_per_month;
    if (day || month) {
      ctx.retry_after = std::to_string(month ? spend.seconds_to_next_month : spend.seconds_to_next_day);
      co_return Error::TooManyRequests(
          std::string("This key has used its ") + (month ? "monthly" : "daily") + " budget of $" +
              FormatUsd(month ? policy.usd_per_month : policy.usd_per_day) + ".",
          "budget_exceeded", "insufficient_quota");
    }
  }
  if (deps_.rate_limiter && (policy.requests_per_minute > 0 || policy.tokens_per_minute > 0)) {
    RateLimits limits{policy.requests_per_minute, policy.tokens_per_minute};
    RateState st = deps_.rate_limiter->Admit(ctx.key->id, limits, ctx.estimated_prompt_tokens);
    if (st.limit_requests > 0) {
      client.SetHeader("x-ratelimit-limit-requests", std::to_string(st.limit_requests));
      client.SetHeader("x-ratelimit-remaining-requests", std::to_string(st.remaining_requests));
      client.SetHeader("x-ratelimit-reset-requests", FormatResetDuration(st.reset_requests_ms));
    }
    if (st.limit_tokens > 0) {
      client.SetHeader("x-ratelimit-limit-tokens", std::to_string(st.limit_tokens));
      client.SetHeader("x-ratelimit-remaining-tokens", std::to_string(st.remaining_tokens));
      client.SetHeader("x-ratelimit-reset-tokens", FormatResetDuration(st.reset_tokens_ms));
    }
    if (!st.allowed) {
      ctx.retry_after = std::to_string((st.retry_after_ms + 999) / 1000);
      co_return Error::TooManyRequests("Rate limit reached for " + st.exceeded + " per minute on this key (policy '" +
                                        policy.name + "'). Retry after " + ctx.retry_after + "s.",
                                    "rate_limit_exceeded", "rate_limit_error");
    }
  }
  co_return Status::Ok();
}

void Gateway::Account(RequestContext& ctx) {
  if (ctx.accounted || !ctx.provider) return;
  ctx.accounted = true;
  const Policy& policy = *ctx.policy;
  // Something was served: the provider bills for it even when it reported no usage (a cut
  // stream). Then Warden estimates: the prompt from its bytes, the completion from the text
  // relayed (4 bytes per token), and marks the figures as estimated.
  const bool served = ctx.usage_known || ctx.completion_bytes > 0 || ctx.status == 200;
  if (!ctx.usage_known) ctx.estimated_completion_tokens = (ctx.completion_bytes + 3) / 4;
  const int64_t prompt = ctx.usage_known ? ctx.prompt_tokens : ctx.estimated_prompt_tokens;
  const int64_t completion = ctx.usage_known ? ctx.completion_tokens : ctx.estimated_completion_tokens;
  if (deps_.rate_limiter && policy.tokens_per_minute > 0)
    deps_.rate_limiter->Correct(ctx.key->id, {policy.requests_per_minute, policy.tokens_per_minute},
                                (served ? prompt + completion : 0) - ctx.estimated_prompt_tokens);
  if (!served) return;  // every attempt failed: nothing to pay for
  const ProviderConfig& p = *ctx.provider;
  const int64_t cached = std::min(ctx.cached_prompt_tokens, prompt);
  const double cached_price = p.cached_input_price_per_million >= 0 ? p.cached_input_price_per_million
                                                                    : p.input_price_per_million;
  ctx.cost_usd = static_cast<double>(prompt - cached) * p.input_price_per_million / 1e6 +
                 static_cast<double>(cached) * cached_price / 1e6 +
                 static_cast<double>(completion) * p.output_price_per_million / 1e6;
  if (deps_.spend) deps_.spend->Add(ctx.key->id, ctx.cost_usd);
  if (deps_.usage) {
    UsageCell cell{ctx.key->id, policy.name, ctx.alias ? ctx.alias->alias : "", DeploymentName(p, *ctx.deployment), p.name};
    UsageTotals t;
    t.requests = 1;
    t.prompt_tokens = prompt;
    t.completion_tokens = completion;
    t.cached_prompt_tokens = cached;
    t.cost_micro_usd = static_cast<int64_t>(ctx.cost_usd * 1e6 + 0.5);
    t.estimated_requests = ctx.usage_known ? 0 : 1;
    deps_.usage->Record(cell, t);
  }
}

void Gateway::RecordMetrics(const RequestContext& ctx) {
  if (!deps_.metrics || ctx.endpoint == Endpoint::kHealth || ctx.endpoint == Endpoint::kReady ||
      ctx.endpoint == Endpoint::kUnknown)
    return;
  const int64_t now = MonotonicNanos();
  metrics::RequestSample s;
  s.endpoint = EndpointName(ctx.endpoint);
  if (ctx.alias) s.model = ctx.alias->alias;  // a configured alias, never what a client typed
  if (ctx.provider && !ctx.attempts.empty()) s.provider = ctx.provider->name;
  s.status = ctx.status;
  s.total_s = static_cast<double>(now - ctx.start_ns) / 1e9;
  for (const auto& a : ctx.attempts) {
    s.upstream = s.upstream || !a.skipped;
    s.tries.push_back({a.deployment, a.error_code.empty() ? "" : metrics::GatewayMetrics::Reason(a.status, a.error_code)});
  }
  s.upstream_s = static_cast<double>(ctx.UpstreamNanos(now)) / 1e9;
  s.overhead_s = static_cast<double>(ctx.OverheadNanos(now)) / 1e9;
  s.first_byte_s = static_cast<double>(ctx.upstream_first_byte_ns) / 1e9;
  if (ctx.accounted && ctx.cost_usd >= 0) {
    s.prompt_tokens = ctx.usage_known ? ctx.prompt_tokens : (ctx.cost_usd > 0 || ctx.estimated_completion_tokens > 0 ? ctx.estimated_prompt_tokens : 0);
    s.completion_tokens = ctx.usage_known ? ctx.completion_tokens : ctx.estimated_completion_tokens;
    s.cached_tokens = ctx.usage_known ? ctx.cached_prompt_tokens : 0;
    s.cost_usd = ctx.cost_usd;
  }
  if (ctx.outcome == Outcome::kRejected || ctx.status == 503) s.refusal = ctx.error_code;
  if (ctx.redaction)
    for (const auto& [entity, n] : ctx.redaction->counts()) s.redactions.emplace_back(entity, n);
  deps_.metrics->Record(s);
}

void Gateway::Finalize(const RequestContext& ctx, ClientExchange& client) {
  if (ctx.endpoint == Endpoint::kHealth || ctx.endpoint == Endpoint::kReady) {
    if (ctx.status == 200) return;  // probes every few seconds would drown the access log
  }
  const int64_t now = MonotonicNanos();
  log::Fields f;
  f["request_id"] = ctx.request_id;
  f["method"] = std::string(client.method());
  f["path"] = std::string(client.path().substr(0, 128));
  f["client"] = ctx.client_address;
  f["key_id"] = ctx.key ? Json(ctx.key->id) : Json();
  if (ctx.policy) f["policy"] = ctx.policy->name;
  if (!ctx.model.empty() && ctx.alias) f["model"] = ctx.model;  // only configured aliases
  if (ctx.deployment) f["deployment"] = ctx.provider->name + "/" + ctx.deployment->model;
  f["stream"] = ctx.stream;
  f["status"] = ctx.status;
  f["outcome"] = OutcomeName(ctx.outcome);
  if (!ctx.error_code.empty()) f["error"] = ctx.error_code;
  f["latency_ms"] = static_cast<double>(now - ctx.start_ns) / 1e6;
  if (!ctx.attempts.empty()) {
    f["attempts"] = ctx.attempts.size();
    f["upstream_status"] = ctx.attempts.back().status;
    f["upstream_ttfb_ms"] = static_cast<double>(ctx.upstream_first_byte_ns) / 1e6;
  }
  if (ctx.client_first_byte_ns > 0)
    f["first_byte_ms"] = static_cast<double>(ctx.client_first_byte_ns) / 1e6;
  if (ctx.redaction && !ctx.redaction->counts().empty()) {
    // Entity types come from the rule sets (config), counts are numbers: no content.
    Json counts = Json::object();
    for (const auto& [entity, n] : ctx.redaction->counts()) counts[entity] = n;
    f["redactions"] = std::move(counts);
  }
  if (ctx.usage_known) {
    f["prompt_tokens"] = ctx.prompt_tokens;
    f["completion_tokens"] = ctx.completion_tokens;
    f["cost_usd"] = ctx.cost_usd;
  } else if (ctx.cost_usd > 0 || ctx.estimated_completion_tokens > 0) {
    f["prompt_tokens"] = ctx.estimated_prompt_tokens;
    f["completion_tokens"] = ctx.estimated_completion_tokens;
    f["cost_usd"] = ctx.cost_usd;
    f["usage_estimated"] = true;
  }
  f["bytes_in"] = ctx.bytes_in;
  f["bytes_out"] = ctx.bytes_out;
  log::Info("access", std::move(f));
}

}  // namespace warden
