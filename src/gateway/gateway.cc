#include "gateway/gateway.h"

#include "common/http1.h"
#include "common/log.h"
#include "common/util.h"
#include "gateway/audit_phase.h"
#include "gateway/authenticate.h"
#include "gateway/check_policy.h"
#include "common/offload.h"
#include "gateway/parse.h"
#include "gateway/redact.h"

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

Json ModelObject(const ModelAlias& alias) {
  return Json{{"id", alias.alias}, {"object", "model"}, {"created", 0}, {"owned_by", "warden"}};
}

// A direct answer (probes, model listings): written now, nothing left to complete.
Completion SendJson(RequestContext& ctx, ClientExchange& client, const Json& body) {
  std::string text = Dump(body);
  ctx.response.status = 200;
  ctx.response.bytes_out += text.size();
  client.Send(200, "application/json", text);
  return Completion{};
}

// CPU work on a request body: inline for small bodies, on the pool for large ones, so one big
// prompt does not hold up the other connections of this loop.
template <typename F>
asio::awaitable<std::invoke_result_t<F&>> BodyWork(asio::thread_pool* pool, size_t bytes, F f) {
  if (bytes <= kInlineBodyBytes) co_return f();
  co_return co_await Offload(pool, std::move(f));
}

}  // namespace

Gateway::Gateway(GatewayDeps deps)
    : deps_(std::move(deps)),
      recorders_{deps_.audit, deps_.limits, deps_.usage, deps_.metrics, deps_.alerts},
      forwarder_(deps_.http, deps_.echo, kMaxUpstreamResponseBytes),
      snapshot_(std::move(deps_.snapshot)) {}  // snapshot_ is the one current pointer

void Gateway::Reload(std::shared_ptr<const GatewaySnapshot> snapshot) { snapshot_.Store(std::move(snapshot)); }

std::shared_ptr<const GatewaySnapshot> Gateway::snapshot() const { return snapshot_.Load(); }

asio::awaitable<void> Gateway::Handle(ClientExchange& client) {
  RequestContext ctx;
  ctx.start_ns = MonotonicNanos();
  ctx.snapshot = snapshot();
  Result<Completion> ending = Completion{};
  bool crashed = false;
  try {
    ctx.request_id = NewRequestId();
    ctx.client_address = client.client_address();
    client.SetHeader("x-request-id", ctx.request_id);
    // Every phase up to the intent record (Inference), or a direct answer, or a refusal …
    ending = co_await Dispatch(ctx, client);
    // … then, for an inference request admitted that far, Forward (attempts) + Restore. (Here,
    // not inside Inference, so that the admission phases' frames are gone while a stream
    // relays for minutes.)
    if (ending.ok() && ctx.prompt) ending = co_await forwarder_.Forward(ctx, client);
  } catch (const std::exception&) {
    crashed = true;  // (no co_await inside a handler)
  }
  if (crashed) {
    // A bug, not bad input: answer 500 if still possible; the log names no content.
    client.CloseAfterResponse();
    ending = Error::Internal("The server had an error while processing your request.");
  }
  try {
    co_await Finalize(recorders_, ctx, client, std::move(ending));
  } catch (...) {
  }
}

asio::awaitable<Result<Completion>> Gateway::Dispatch(RequestContext& ctx, ClientExchange& client) {
  const std::string_view path = client.path();
  const std::string_view method = client.method();
  const bool get = method == "GET" || method == "HEAD";
  if (path == "/healthz" || path == "/readyz") {
    ctx.endpoint = path == "/healthz" ? Endpoint::kHealth : Endpoint::kReady;
    if (!get) co_return WrongMethod(client, "GET");
    if (ctx.endpoint == Endpoint::kReady) {
      const Status ready = co_await Ready();
      if (!ready) co_return ready.error();
    }
    co_return SendJson(ctx, client, Json{{"status", ctx.endpoint == Endpoint::kHealth ? "ok" : "ready"}});
  }
  if (path == "/v1/models" || path.starts_with(kModelsPrefix)) {
    ctx.endpoint = path == "/v1/models" ? Endpoint::kListModels : Endpoint::kGetModel;
    if (!get) co_return WrongMethod(client, "GET");
    const Status who = co_await Authenticated(ctx, client);
    if (!who) co_return who.error();
    if (Status s = CheckOverrides(*ctx.policy(), client.header_names(), nullptr); !s) co_return s.error();
    const Status listed = ListModels(ctx, client, path.substr(std::min(path.size(), kModelsPrefix.size())));
    if (!listed) co_return listed.error();
    co_return Completion{};
  }
  if (path == "/v1/chat/completions" || path == "/v1/embeddings" || path == "/v1/messages") {
    ctx.endpoint = path == "/v1/embeddings" ? Endpoint::kEmbeddings
                   : path == "/v1/messages" ? Endpoint::kMessages
                                            : Endpoint::kChatCompletions;
    // The Anthropic Messages API: answers and errors in its dialect, whatever the provider.
    if (ctx.endpoint == Endpoint::kMessages) ctx.ingress = Ingress::kAnthropic;
    if (method != "POST") co_return WrongMethod(client, "POST");
    co_return co_await Inference(ctx, client);
  }
  co_return Error::NotFound("Invalid URL (" + std::string(method) + " " + std::string(path.substr(0, 200)) + ")",
                            "unknown_url");
}

asio::awaitable<Result<Completion>> Gateway::Inference(RequestContext& ctx, ClientExchange& client) {
  // Authenticate → Resolve policy, before reading a byte of the body: an anonymous client
  // cannot make the gateway buffer megabytes.
  const Status who = co_await Authenticated(ctx, client);
  if (!who) co_return who.error();
  if (!IsJsonContentType(client.header("Content-Type")))
    co_return Error::UnsupportedMediaType("Content-Type must be application/json.");
  {  // (a block: the body's text and its parse are freed before a stream relays for minutes)
    auto text = co_await client.AsyncReadBody(ctx.snapshot->config->server.max_body_bytes);
    if (!text) co_return text.error();
    const size_t size = ctx.response.bytes_in = text->size();
    // Parse → Check policy: overrides, then model, provider and region (the route).
    const std::vector<std::string> headers = client.header_names();
    Result<Json> body = co_await BodyWork(deps_.blocking, size, [&] { return ParseAndCheck(ctx, headers, *text); });
    if (!body) co_return body.error();
    const Policy& policy = *ctx.policy();
    if (policy.audit == AuditMode::kRequired && !deps_.audit) co_return AuditUnavailable(policy);
    // … then budgets and rate limits.
    const Status within = co_await CheckLimits(deps_.limits, *ctx.identity, *ctx.request, *ctx.plan, client,
                                               &ctx.budget_reserved);
    if (!within) co_return within.error();
    // Redact: from here on only the Prompt exists to be sent.
    Result<Prompt> prompt =
        co_await BodyWork(deps_.blocking, size, [&] { return Redact(*ctx.snapshot, policy, std::move(*body)); });
    if (!prompt) co_return prompt.error();
    ctx.prompt.emplace(std::move(*prompt));
  }
  const Status intent = co_await WriteIntent(ctx);
  if (!intent) co_return intent.error();
  // Forward (attempts) + Restore, then Finalize: in Handle().
  co_return Completion{};
}

asio::awaitable<Status> Gateway::Authenticated(RequestContext& ctx, ClientExchange& client) {
  Result<Identity> who = co_await Authenticate(*deps_.keys, deps_.blocking, *ctx.snapshot->policies, client, ctx.ingress);
  if (!who) co_return who.error();
  if (!who->tags.empty())
    if (Status s = tag_values_.Admit(who->tags, UtcDate(UnixSeconds())); !s) co_return s.error();
  ctx.identity.emplace(std::move(*who));
  co_return Status::Ok();
}

Result<Json> Gateway::ParseAndCheck(RequestContext& ctx, const std::vector<std::string>& headers,
                                    std::string_view text) {
  auto parsed = Parse(ctx.endpoint, text);
  if (!parsed) return parsed.error();
  ctx.request.emplace(std::move(parsed->request));
  const Policy& policy = *ctx.policy();
  if (Status s = CheckOverrides(policy, headers, &*ctx.request); !s) return s.error();
  auto plan = PlanRoute(*ctx.snapshot->config, *ctx.identity, *ctx.request);
  if (!plan) return plan.error();
  ctx.plan.emplace(std::move(*plan));
  return std::move(parsed->body);
}

asio::awaitable<Status> Gateway::WriteIntent(RequestContext& ctx) {
  if (!deps_.audit) co_return Status::Ok();
  co_return co_await UnderAuditMode(deps_.metrics, ctx, AuditIntent(deps_.audit, ctx));
}

Status Gateway::ListModels(RequestContext& ctx, ClientExchange& client, std::string_view id) {
  // A key sees only the models it may use: allowed by name and with an eligible deployment.
  const Config& config = *ctx.snapshot->config;
  auto usable = [&](const ModelAlias& alias) {
    return PlanAlias(config, *ctx.policy(), Endpoint::kChatCompletions, alias.alias, nullptr).ok();
  };
  if (ctx.endpoint == Endpoint::kGetModel) {
    const ModelAlias* alias = config.FindModel(std::string(id));
    if (!alias || !usable(*alias))
      return Error::NotFound("The model '" + std::string(id) + "' does not exist", "model_not_found", "model");
    SendJson(ctx, client, ModelObject(*alias));
    return Status::Ok();
  }
  Json data = Json::array();
  for (const auto& alias : config.models)
    if (usable(alias)) data.push_back(ModelObject(alias));
  SendJson(ctx, client, Json{{"object", "list"}, {"data", std::move(data)}});
  return Status::Ok();
}

asio::awaitable<Status> Gateway::Ready() {
  // Recovery probes the disk: on the pool.
  co_return co_await Offload(deps_.blocking, [this]() -> Status {
    if (!deps_.store->Healthy()) return Error::ServiceUnavailable("the data store is not healthy", "store_unhealthy");
    if (deps_.audit && !deps_.audit->Healthy() && !deps_.audit->Recover().ok())
      return Error::ServiceUnavailable("the audit store is not writable: " + deps_.audit->Failure(),
                                       "audit_unhealthy");
    return Status::Ok();
  });
}

}  // namespace warden
