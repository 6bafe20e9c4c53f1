#include "gateway/forward.h"

#include "common/util.h"
#include "providers/openai_adapter.h"
#include "providers/sse.h"

namespace warden {
namespace {

const char* EndpointPath(Endpoint e) {
  return e == Endpoint::kEmbeddings ? "/embeddings" : "/chat/completions";
}

// Puts the client's alias back where the provider wrote its own model name.
void RestoreAlias(Json& body, const std::string& alias) {
  if (body.is_object() && body.contains("model")) body["model"] = alias;
}

// Takes prompt/completion token counts from an OpenAI `usage` object, if present.
void ReadUsage(const Json& body, RequestContext& ctx) {
  auto u = body.find("usage");
  if (u == body.end() || !u->is_object()) return;
  auto get = [&](const char* k) -> int64_t {
    auto v = u->find(k);
    return v != u->end() && v->is_number_integer() ? v->get<int64_t>() : 0;
  };
  ctx.prompt_tokens = get("prompt_tokens");
  ctx.completion_tokens = get("completion_tokens");
  ctx.usage_known = true;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The text of choice 0's delta content, appended to `out` for the audit record.
void AppendDeltaText(const Json& chunk, std::string& out) {
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty()) return;
  const Json& c = (*choices)[0];
  if (!c.is_object() || !c.contains("delta") || !c["delta"].is_object()) return;
  auto content = c["delta"].find("content");
  if (content != c["delta"].end() && content->is_string()) out += content->get<std::string>();
}

}  // namespace

void SendError(RequestContext& ctx, ClientExchange& client, const Error& error) {
  if (ctx.error_code.empty()) ctx.error_code = error.code.empty() ? error.type : error.code;
  if (!client.started()) {
    ctx.status = error.status;
    std::string body = ErrorBody(error);
    ctx.bytes_out += body.size();
    client.Send(error.status, "application/json", body);
    return;
  }
  std::string event = FormatSseData(ErrorBody(error));
  ctx.bytes_out += event.size();
  client.Write(event);
}

Forwarder::Forwarder(UpstreamClient* http, UpstreamClient* echo, size_t max_response_bytes)
    : http_(http), echo_(echo), max_response_bytes_(max_response_bytes) {}

Status Forwarder::Forward(RequestContext& ctx, ClientExchange& client) {
  // Streams: ask the provider for usage even if the client did not, so spend and token limits
  // count real figures; the extra usage chunk is not shown to a client that did not ask for it.
  if (ctx.stream && ctx.endpoint == Endpoint::kChatCompletions) {
    Json& opts = ctx.body["stream_options"];
    if (!opts.is_object()) opts = Json::object();
    if (!opts.value("include_usage", false)) {
      opts["include_usage"] = true;
      ctx.strip_usage_chunk = true;
    }
  }
  Error last = Error::Internal("no deployment to try");
  for (const RequestContext::Target& target : ctx.route) {
    ctx.deployment = target.deployment;
    ctx.provider = target.provider;
    Status s = TryDeployment(ctx, client);
    // After the first byte went to the client there is no second chance; a non-retryable
    // error (the provider rejected the request itself) would fail the same way elsewhere.
    if (s.ok() || client.started() || !s.error().retryable) return s;
    last = s.error();
  }
  if (ctx.attempts.size() > 1) {
    std::string tried;
    for (const auto& a : ctx.attempts) tried += (tried.empty() ? "" : ", ") + a.deployment + " (" + a.error_code + ")";
    return Error::ServiceUnavailable("Every deployment this key may use failed: " + tried + ".",
                                     "all_deployments_failed");
  }
  return last;
}

Status Forwarder::TryDeployment(RequestContext& ctx, ClientExchange& client) {
  const ProviderConfig& provider = *ctx.provider;
  Json upstream_body = ctx.body;
  upstream_body["model"] = ctx.deployment->model;
  // Zero retention: tell providers whose API has the switch not to store the exchange.
  if (ctx.policy && ctx.policy->zero_retention && provider.store_field) upstream_body["store"] = false;
  UpstreamRequest request = BuildOpenAIRequest(provider, EndpointPath(ctx.endpoint), upstream_body);
  UpstreamClient* transport = provider.kind == ProviderKind::kEcho ? echo_ : http_;

  Attempt attempt;
  attempt.deployment = provider.name + "/" + ctx.deployment->model;
  attempt.region = provider.region;
  const int64_t t0 = MonotonicNanos();
  attempt.started_ns = t0;
  auto sent = transport->Send(request);
  WipeString(request.headers.back().value);  // the Authorization header, if any
  ctx.upstream_first_byte_ns = MonotonicNanos() - t0;
  if (!sent.ok()) {
    attempt.error_code = sent.error().code;
    attempt.latency_ns = ctx.upstream_first_byte_ns;
    ctx.attempts.push_back(attempt);
    return sent.error();
  }
  UpstreamExchange& up = **sent;
  attempt.status = up.head().status;
  client.SetHeader("x-warden-deployment", attempt.deployment);
  // Recorded now, completed below: the outcome written before the response completes
  // (ctx.before_complete) lists this attempt too.
  const size_t index = ctx.attempts.size();
  ctx.attempts.push_back(std::move(attempt));
  client.SetHeader("x-warden-attempts", std::to_string(ctx.attempts.size()));
  if (std::string upstream_id = up.head().Get("x-request-id"); !upstream_id.empty() && upstream_id.size() < 200)
    client.SetHeader("x-upstream-request-id", upstream_id);

  Status result;
  if (up.head().status != 200) {
    auto body = up.ReadAll(max_response_bytes_);
    up.Release();
    Error e = TranslateOpenAIError(provider, up.head().status, body.ok() ? *body : "");
    if (e.status == 429) {
      std::string retry_after = up.head().Get("retry-after");
      if (!retry_after.empty() && retry_after.size() < 32) ctx.retry_after = retry_after;
    }
    result = e;
  } else if (ctx.stream) {
    result = RelayStream(ctx, up, client);
  } else {
    result = RelayJson(ctx, up, client);
  }
  Attempt& done = ctx.attempts[index];
  if (done.latency_ns == 0) done.latency_ns = MonotonicNanos() - t0;
  if (!result) done.error_code = result.error().code;
  return result;
}

Status Forwarder::RelayJson(RequestContext& ctx, UpstreamExchange& up, ClientExchange& client) {
  auto body = up.ReadAll(max_response_bytes_);
  if (!body.ok()) return body.error();
  up.Release();
  auto json = ParseJson(*body);
  if (!json || !json->is_object())
    return Error::BadGateway("the provider's answer is not a JSON object",
                             "upstream_invalid_response", false);
  RestoreAlias(*json, ctx.model);
  ReadUsage(*json, ctx);
  if (ctx.log_response && !ctx.log_restored) ctx.logged_response = *json;
  if (ctx.redaction && ctx.redaction->reversible()) ctx.redaction->RestoreResponse(*json);
  if (ctx.log_response && ctx.log_restored) ctx.logged_response = *json;
  if (ctx.before_complete)
    if (Status s = ctx.before_complete(); !s) return s;
  std::string out = Dump(*json);
  ctx.status = 200;
  ctx.bytes_out += out.size();
  ctx.client_first_byte_ns = MonotonicNanos() - ctx.start_ns;
  client.Send(200, "application/json", out);
  return Status::Ok();
}

Status Forwarder::RelayStream(RequestContext& ctx, UpstreamExchange& up, ClientExchange& client) {
  std::string ct = up.head().Get("content-type");
  if (!StartsWith(ct, "text/event-stream")) {
    return Error::BadGateway("the provider did not answer with an event stream",
                             "upstream_invalid_response", false);
  }
  SseParser parser;
  bool done = false;
  std::string out;
  std::optional<ChunkRestorer> restorer;
  if (ctx.redaction && ctx.redaction->reversible()) restorer.emplace(ctx.redaction.get());
  // Text the restorer still holds goes out before the stream ends, cleanly or not.
  auto drain = [&] {
    if (!restorer) return;
    if (auto rest = restorer->Drain()) out += FormatSseData(Dump(*rest));
  };
  auto on_event = [&](SseEvent& ev) -> Status {
    if (done) return Status::Ok();  // nothing is relayed after [DONE]
    if (ev.data == "[DONE]") {
      done = true;  // [DONE] itself goes out after before_complete (below)
      drain();
      return Status::Ok();
    }
    auto json = ParseJson(ev.data);
    if (!json)
      return Error::BadGateway("the provider sent a malformed stream event",
                               "upstream_malformed_event", false);
    if (json->is_object() && json->contains("error") && !client.started()) {
      // An error event before any content: answer it as an error, with a status.
      return Error::BadGateway("the provider reported an error at the start of the stream",
                               "upstream_stream_error", true);
    }
    ReadUsage(*json, ctx);
    if (ctx.strip_usage_chunk && json->is_object() && json->contains("usage")) {
      auto choices = json->find("choices");
      if (choices == json->end() || (choices->is_array() && choices->empty())) return Status::Ok();
      json->erase("usage");
    }
    RestoreAlias(*json, ctx.model);
    if (ctx.log_response && !ctx.log_restored) AppendDeltaText(*json, ctx.logged_stream_text);
    if (restorer) restorer->Apply(*json);
    if (ctx.log_response && ctx.log_restored) AppendDeltaText(*json, ctx.logged_stream_text);
    ev.data = Dump(*json);
    out += FormatSseEvent(ev);
    return Status::Ok();
  };

  for (;;) {
    auto piece = up.ReadSome();
    Status status = piece.ok() ? Status::Ok() : Status(piece.error());
    bool eof = piece.ok() && piece->empty();
    if (status && !eof) status = parser.Feed(*piece, on_event);
    // Whatever complete events this piece held go out now, before the next read.
    if (!out.empty()) {
      if (!client.started()) {
        ctx.status = 200;
        client.StartStream(200, "text/event-stream");
        ctx.client_first_byte_ns = MonotonicNanos() - ctx.start_ns;
      }
      ctx.bytes_out += out.size();
      if (!client.Write(out)) {
        ctx.outcome = Outcome::kClientGone;
        return Status::Ok();
      }
      out.clear();
    }
    if (status && eof && !done)
      status = Error::BadGateway("the provider's stream ended before it was complete",
                                 "upstream_stream_cut", false);
    if (status && done) {
      if (ctx.before_complete) status = ctx.before_complete();
      if (status) {
        std::string end = FormatSseData("[DONE]");
        if (!client.started()) {
          ctx.status = 200;
          client.StartStream(200, "text/event-stream");
          ctx.client_first_byte_ns = MonotonicNanos() - ctx.start_ns;
        }
        ctx.bytes_out += end.size();
        if (!client.Write(end)) ctx.outcome = Outcome::kClientGone;
      }
    }
    if (!status) {
      if (!client.started()) return status;
      ctx.outcome = Outcome::kPartial;
      drain();
      if (!out.empty()) client.Write(out);
      SendError(ctx, client, status.error());
      return Status::Ok();
    }
    if (done) {
      // Read the (normally empty) rest so the connection can go back to the pool.
      for (size_t drained = 0; drained < 65536;) {
        auto rest = up.ReadSome();
        if (!rest.ok() || rest->empty()) break;
        drained += rest->size();
      }
      up.Release();
      return Status::Ok();
    }
  }
}

}  // namespace warden
