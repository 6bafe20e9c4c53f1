#include "gateway/forward.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <random>

#include "common/awaitable.h"
#include "common/util.h"
#include "providers/adapter.h"
#include "providers/sse.h"

namespace warden {
namespace {

int64_t NowMs() { return MonotonicNanos() / 1000000; }

Operation OperationOf(Endpoint e) { return e == Endpoint::kEmbeddings ? Operation::kEmbeddings : Operation::kChat; }

// Puts the client's alias back where the provider wrote its own model name.
void RestoreAlias(Json& body, const std::string& alias) {
  if (body.is_object() && body.contains("model")) body["model"] = alias;
}

// Takes token counts from a canonical `usage` object, if present.
void ReadUsage(const Json& body, RequestContext& ctx) {
  auto u = body.find("usage");
  if (u == body.end() || !u->is_object()) return;
  auto get = [](const Json& obj, const char* k) -> int64_t {
    auto v = obj.find(k);
    return v != obj.end() && v->is_number_integer() ? v->get<int64_t>() : 0;
  };
  ctx.prompt_tokens = get(*u, "prompt_tokens");
  ctx.completion_tokens = get(*u, "completion_tokens");
  auto details = u->find("prompt_tokens_details");
  ctx.cached_prompt_tokens = details != u->end() && details->is_object() ? get(*details, "cached_tokens") : 0;
  ctx.usage_known = true;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

const Json* Delta(const Json& chunk) {
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty()) return nullptr;
  const Json& c = (*choices)[0];
  if (!c.is_object() || !c.contains("delta") || !c["delta"].is_object()) return nullptr;
  return &c["delta"];
}

// Bytes of answer text in a canonical chunk (delta content, tool-call arguments) or answer.
int64_t AnswerBytes(const Json& body) {
  int64_t n = 0;
  auto choices = body.find("choices");
  if (choices == body.end() || !choices->is_array()) return 0;
  for (const Json& c : *choices) {
    for (const char* part : {"delta", "message"}) {
      if (!c.is_object() || !c.contains(part) || !c[part].is_object()) continue;
      const Json& m = c[part];
      n += static_cast<int64_t>(GetString(m, "content").size());
      if (m.contains("tool_calls") && m["tool_calls"].is_array())
        for (const Json& call : m["tool_calls"])
          if (call.is_object() && call.contains("function"))
            n += static_cast<int64_t>(GetString(call["function"], "arguments").size());
    }
  }
  return n;
}

// The text of choice 0's delta content, appended to `out` for the audit record.
void AppendDeltaText(const Json& chunk, std::string& out) {
  const Json* delta = Delta(chunk);
  if (!delta) return;
  auto content = delta->find("content");
  if (content != delta->end() && content->is_string()) out += content->get<std::string>();
}

// Does this chunk carry something of the answer (text, a tool call, a finish reason, usage)?
// Chunks before the first such one are held back, so a stream that fails before any content
// can still fail over.
bool HasContent(const Json& chunk) {
  if (chunk.contains("usage") && chunk["usage"].is_object()) return true;
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array()) return false;
  for (const Json& c : *choices) {
    if (!c.is_object()) continue;
    if (c.contains("finish_reason") && !c["finish_reason"].is_null()) return true;
    if (!c.contains("delta") || !c["delta"].is_object()) continue;
    const Json& d = c["delta"];
    for (const char* k : {"content", "refusal"})
      if (d.contains(k) && d[k].is_string() && !d[k].get_ref<const std::string&>().empty()) return true;
    if (d.contains("tool_calls") && d["tool_calls"].is_array() && !d["tool_calls"].empty()) return true;
  }
  return false;
}

std::string Seconds(int64_t ms) { return std::to_string(std::max<int64_t>(1, (ms + 999) / 1000)); }

}  // namespace

std::string DeploymentName(const ProviderConfig& provider, const Deployment& deployment) {
  return provider.name + "/" + deployment.model;
}

asio::awaitable<void> SendError(RequestContext& ctx, ClientExchange& client, const Error& error) {
  if (ctx.error_code.empty()) ctx.error_code = error.code.empty() ? error.type : error.code;
  if (!client.started()) {
    ctx.status = error.status;
    std::string body = ClientErrorBody(ctx.ingress, error);
    ctx.bytes_out += body.size();
    client.Send(error.status, "application/json", body);
    co_return;
  }
  std::string event = ClientErrorEvent(ctx.ingress, error);
  ctx.bytes_out += event.size();
  co_await client.AsyncWrite(event);
}

Forwarder::Forwarder(UpstreamClient* http, UpstreamClient* echo, ForwarderOptions options)
    : http_(http), echo_(echo), options_(std::move(options)), health_(options_.routing) {}

asio::awaitable<Status> Forwarder::Forward(RequestContext& ctx, ClientExchange& client) {
  // Streams: providers are asked for usage (by the adapters) so spend and token limits count
  // real figures; an OpenAI client that did not ask for the usage chunk does not get it.
  ctx.strip_usage_chunk = false;
  if (ctx.stream && ctx.ingress == Ingress::kOpenAI) {
    auto opts = ctx.body.find("stream_options");
    ctx.strip_usage_chunk = !(opts != ctx.body.end() && GetBool(*opts, "include_usage"));
  }
  std::vector<std::string> names;
  std::vector<int> weights;
  std::vector<double> prices;
  for (const auto& t : ctx.route) {
    names.push_back(DeploymentName(*t.provider, *t.deployment));
    weights.push_back(t.deployment->weight);
    prices.push_back(t.provider->input_price_per_million + t.provider->output_price_per_million);
  }
  RoutingRng rng(seed_.fetch_add(1, std::memory_order_relaxed) ^ static_cast<uint64_t>(MonotonicNanos()));
  const std::vector<size_t> order = OrderDeployments(
      ctx.alias ? ctx.alias->strategy : RoutingStrategy::kPriority, names, weights, prices, health_, rng);
  std::uniform_real_distribution<double> jitter(0, 1);

  const int64_t start_ms = NowMs();
  Status last = Error::Internal("no deployment to try");  // a pointer in the frame, not an Error
  int sends = 0;
  for (size_t i : order) {
    const auto& target = ctx.route[i];
    if (!health_.Admit(names[i], NowMs())) {
      ctx.attempts.emplace_back();
      ctx.attempts.back().deployment = names[i];
      ctx.attempts.back().region = target.provider->region;
      ctx.attempts.back().error_code = "circuit_open";
      ctx.attempts.back().skipped = true;
      continue;
    }
    ctx.deployment = target.deployment;
    ctx.provider = target.provider;
    for (int tries = 1;; ++tries) {
      const size_t before = ctx.attempts.size();
      int64_t retry_after_ms = -1;
      Status s = co_await TryDeployment(ctx, client, &retry_after_ms);
      if (ctx.attempts.size() > before) ++sends;
      const bool failed = (!s.ok() && s.error().retryable) || ctx.outcome == Outcome::kPartial;
      health_.Report(names[i], failed, ctx.upstream_first_byte_ns, NowMs());
      if (s.ok()) co_return s;
      last = s;
      RetryDecision d = DecideRetry(options_.routing, last.error(), client.started(), tries, sends, NowMs() - start_ms,
                                    retry_after_ms >= 0 ? std::optional<int64_t>(retry_after_ms) : std::nullopt,
                                    jitter(rng));
      if (d.kind == RetryDecision::kGiveUp) {
        // A provider's answer to a bad request is the client's to see, as it is.
        if (!last.error().retryable) co_return last;
        co_return FinalError(ctx, client, last.error());
      }
      if (d.kind == RetryDecision::kNextDeployment) break;
      const int64_t slept_from = MonotonicNanos();
      co_await Backoff(d.delay_ms);
      ctx.backoff_ns += MonotonicNanos() - slept_from;
    }
  }
  co_return FinalError(ctx, client, last.error());
}

asio::awaitable<void> Forwarder::Backoff(int64_t delay_ms) {
  // A timer on the loop: a request waiting to retry holds no thread (and, in its own frame, the
  // timer is gone once the wait is over).
  asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(delay_ms));
  co_await pause.async_wait(kTuple);
}

Error Forwarder::FinalError(RequestContext& ctx, ClientExchange& client, const Error& last) {
  int sent = 0;
  std::string tried, deployments;
  int64_t cooldown = 0;
  for (const auto& a : ctx.attempts) {
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
    ctx.retry_after = Seconds(cooldown);
    return Error::ServiceUnavailable("Every deployment of '" + ctx.model + "' is resting after repeated failures: " +
                                         tried + ". Retry after " + ctx.retry_after + "s.",
                                     "circuit_open");
  }
  const bool several = std::count(deployments.begin(), deployments.end(), ';') > 1;
  if (several)
    return Error::ServiceUnavailable("Every deployment this key may use failed. Attempts: " + tried + ".",
                                     "all_deployments_failed");
  Error e = last;
  e.message += " Attempts: " + tried + ".";
  return e;
}

Result<UpstreamRequest> Forwarder::BuildUpstream(const RequestContext& ctx) const {
  const ProviderConfig& provider = *ctx.provider;
  Json upstream_body = ctx.body;
  upstream_body["model"] = ctx.deployment->model;
  // Zero retention: tell providers whose API has the switch not to store the exchange.
  if (ctx.policy && ctx.policy->zero_retention && provider.store_field) upstream_body["store"] = false;
  return AdapterFor(provider.kind).BuildRequest(provider, OperationOf(ctx.endpoint), upstream_body);
}

asio::awaitable<Result<std::unique_ptr<UpstreamExchange>>> Forwarder::SendUpstream(const RequestContext& ctx,
                                                                                    UpstreamRequest request) {
  // Its own coroutine so that the request (credential included) is gone, frame and all, once
  // the answer's head is in: a stream relays for minutes.
  UpstreamClient* transport = ctx.provider->kind == ProviderKind::kEcho ? echo_ : http_;
  auto sent = co_await transport->Send(request);
  for (auto& h : request.headers) WipeString(h.value);  // one of them is the credential
  co_return sent;
}

asio::awaitable<Status> Forwarder::TryDeployment(RequestContext& ctx, ClientExchange& client, int64_t* retry_after_ms) {
  // Locals here live as long as a stream relays (the frame stays until it ends): what is only
  // needed for a moment is in the helpers (SendUpstream, UpstreamError) or in ctx.attempts.
  const ProviderConfig& provider = *ctx.provider;
  auto built = BuildUpstream(ctx);
  if (!built) co_return built.error();  // nothing sent: not an attempt
  const int64_t t0 = MonotonicNanos();
  // Listed from the start: the outcome written before the response completes
  // (ctx.before_complete) lists this attempt too.
  const size_t index = ctx.attempts.size();
  ctx.attempts.emplace_back();
  ctx.attempts[index].deployment = DeploymentName(provider, *ctx.deployment);
  ctx.attempts[index].region = provider.region;
  ctx.attempts[index].started_ns = t0;
  ctx.outcome = Outcome::kCompleted;
  auto sent = co_await SendUpstream(ctx, std::move(*built));
  ctx.upstream_first_byte_ns = MonotonicNanos() - t0;
  if (!sent.ok()) {
    ctx.attempts[index].error_code = sent.error().code;
    ctx.attempts[index].latency_ns = ctx.upstream_first_byte_ns;
    co_return sent.error();
  }
  UpstreamExchange& up = **sent;
  ctx.attempts[index].status = up.head().status;
  int sends = 0;
  for (const auto& a : ctx.attempts) sends += a.skipped ? 0 : 1;
  client.SetHeader("x-warden-deployment", ctx.attempts[index].deployment);
  client.SetHeader("x-warden-attempts", std::to_string(sends));
  if (std::string upstream_id = up.head().Get("x-request-id"); !upstream_id.empty() && upstream_id.size() < 200)
    client.SetHeader("x-upstream-request-id", upstream_id);

  Status result;
  if (up.head().status != 200) {
    result = co_await UpstreamError(ctx, up, retry_after_ms);
  } else {
    if (ctx.stream) result = co_await RelayStream(ctx, up, client);
    else result = co_await RelayJson(ctx, up, client);
    // A 200 whose body broke off, stalled or made no sense before anything reached the client:
    // another attempt may still serve it (a refusal such as a blocked prompt is a 4xx and stays).
    if (!result && !client.started() && result.error().source == ErrorSource::kUpstream &&
        result.error().status >= 500) {
      Error e = result.error();
      e.retryable = true;
      result = e;
    }
  }
  Attempt& done = ctx.attempts[index];
  if (done.latency_ns == 0) done.latency_ns = MonotonicNanos() - t0;
  if (!result) done.error_code = result.error().code;
  else if (ctx.outcome == Outcome::kPartial) done.error_code = ctx.error_code;
  co_return result;
}

asio::awaitable<Status> Forwarder::UpstreamError(RequestContext& ctx, UpstreamExchange& up, int64_t* retry_after_ms) {
  const ProviderConfig& provider = *ctx.provider;
  auto body = co_await up.ReadAll(options_.max_response_bytes);
  up.Release();
  Error e = AdapterFor(provider.kind).TranslateError(provider, up.head().status, body.ok() ? *body : "");
  if (auto ra = ParseRetryAfterMs(up.head().Get("retry-after"), UnixSeconds())) {
    *retry_after_ms = *ra;
    if (e.status == 429) ctx.retry_after = Seconds(*ra);
  }
  co_return e;
}

asio::awaitable<Status> Forwarder::RelayJson(RequestContext& ctx, UpstreamExchange& up, ClientExchange& client) {
  auto body = co_await up.ReadAll(options_.max_response_bytes);
  if (!body.ok()) co_return body.error();
  up.Release();
  auto json = ParseJson(*body);
  if (!json || !json->is_object()) co_return InvalidResponse("not a JSON object");
  auto canonical = AdapterFor(ctx.provider->kind).TranslateResponse(OperationOf(ctx.endpoint), *json);
  if (!canonical) co_return canonical.error();
  Json& answer = *canonical;
  RestoreAlias(answer, ctx.model);
  ReadUsage(answer, ctx);
  ctx.completion_bytes += AnswerBytes(answer);
  if (ctx.log_response && !ctx.log_restored) ctx.logged_response = answer;
  if (ctx.redaction && ctx.redaction->reversible()) ctx.redaction->RestoreResponse(answer);
  if (ctx.log_response && ctx.log_restored) ctx.logged_response = answer;
  if (ctx.before_complete) {
    const Status s = co_await ctx.before_complete();
    if (!s) co_return s;
  }
  std::string out = Dump(ClientResponse(ctx.ingress, std::move(answer)));
  ctx.status = 200;
  ctx.bytes_out += out.size();
  ctx.client_first_byte_ns = MonotonicNanos() - ctx.start_ns;
  client.Send(200, "application/json", out);
  co_return Status::Ok();
}

asio::awaitable<Status> Forwarder::RelayStream(RequestContext& ctx, UpstreamExchange& up, ClientExchange& client) {
  const int64_t started = MonotonicNanos();
  std::string ct = up.head().Get("content-type");
  if (!StartsWith(ct, "text/event-stream")) co_return InvalidResponse("not an event stream");
  std::unique_ptr<StreamDecoder> decoder = AdapterFor(ctx.provider->kind).NewStreamDecoder();
  std::unique_ptr<StreamEncoder> encoder = NewStreamEncoder(ctx.ingress, ctx.model);
  SseParser parser;
  std::vector<Json> decoded;  // canonical chunks of the current piece
  std::vector<Json> held;     // chunks before the first content
  bool content_seen = false;
  std::string out;
  std::optional<ChunkRestorer> restorer;
  if (ctx.redaction && ctx.redaction->reversible()) restorer.emplace(ctx.redaction.get());

  // One canonical chunk on its way to the client.
  auto emit = [&](Json& chunk) {
    ReadUsage(chunk, ctx);
    ctx.completion_bytes += AnswerBytes(chunk);
    if (ctx.strip_usage_chunk && chunk.contains("usage")) {
      auto choices = chunk.find("choices");
      if (choices == chunk.end() || (choices->is_array() && choices->empty())) return;
      chunk.erase("usage");
    }
    RestoreAlias(chunk, ctx.model);
    if (ctx.log_response && !ctx.log_restored) AppendDeltaText(chunk, ctx.logged_stream_text);
    if (restorer) restorer->Apply(chunk);
    if (ctx.log_response && ctx.log_restored) AppendDeltaText(chunk, ctx.logged_stream_text);
    out += encoder->Chunk(chunk);
  };
  auto release_held = [&] {
    content_seen = true;
    for (Json& h : held) emit(h);
    held.clear();
  };
  auto take_decoded = [&] {
    for (Json& chunk : decoded) {
      if (!content_seen && !HasContent(chunk)) {
        held.push_back(std::move(chunk));
        continue;
      }
      if (!content_seen) release_held();
      emit(chunk);
    }
    decoded.clear();
  };
  // Text the restorer still holds goes out before the stream ends, cleanly or not.
  auto drain = [&] {
    if (!restorer) return;
    if (auto rest = restorer->Drain()) out += encoder->Chunk(*rest);
  };
  auto write = [&]() -> asio::awaitable<bool> {
    if (out.empty()) co_return true;
    if (!client.started()) {
      ctx.status = 200;
      co_await client.AsyncStartStream(200, "text/event-stream");
      ctx.client_first_byte_ns = MonotonicNanos() - ctx.start_ns;
    }
    ctx.bytes_out += out.size();
    const bool ok = co_await client.AsyncWrite(out);
    out.clear();
    co_return ok;
  };
  auto on_event = [&](SseEvent& ev) -> Status { return decoder->Decode(ev, decoded); };

  for (;;) {
    auto piece = co_await up.ReadSome();
    Status status = piece.ok() ? Status::Ok() : Status(piece.error());
    const bool eof = piece.ok() && piece->empty();
    if (status && !eof) status = parser.Feed(*piece, on_event);
    if (status && eof && !decoder->complete()) status = decoder->Finish(decoded);
    if (status && !decoder->complete() && MonotonicNanos() - started > int64_t{options_.stream_timeout_ms} * 1000000)
      status = Error::GatewayTimeout("the provider's stream took longer than the stream timeout",
                                     "upstream_stream_timeout", true);
    // Whatever complete events this piece held go out now, before the next read.
    take_decoded();
    const bool written = co_await write();
    if (!written) {
      ctx.outcome = Outcome::kClientGone;
      co_return Status::Ok();
    }
    const bool done = status && decoder->complete();
    if (done) {
      if (!content_seen) release_held();  // an answer without content is still an answer
      drain();
      if (ctx.before_complete) status = co_await ctx.before_complete();
      if (status) {
        out += encoder->End();
        const bool ended = co_await write();
        if (!ended) ctx.outcome = Outcome::kClientGone;
      }
    }
    if (!status) {
      if (!client.started()) co_return status;  // nothing reached the client: the caller may retry
      ctx.outcome = Outcome::kPartial;
      ctx.error_code = status.error().code.empty() ? status.error().type : status.error().code;
      drain();
      co_await write();
      co_await SendError(ctx, client, status.error());
      co_return Status::Ok();
    }
    if (done) {
      // Read the (normally empty) rest so the connection can go back to the pool.
      for (size_t drained = 0; drained < 65536;) {
        auto rest = co_await up.ReadSome();
        if (!rest.ok() || rest->empty()) break;
        drained += rest->size();
      }
      up.Release();
      co_return Status::Ok();
    }
  }
}

}  // namespace warden
