#include "gateway/relay.h"

#include <optional>
#include <vector>

#include "common/util.h"
#include "providers/adapter.h"
#include "providers/sse.h"

namespace warden {
namespace {

// Puts the client's alias back where the provider wrote its own model name.
void RestoreAlias(Json& body, const std::string& alias) {
  if (body.is_object() && body.contains("model")) body["model"] = alias;
}

// Takes token counts from a canonical `usage` object, if present.
void ReadUsage(const Json& body, Usage& usage) {
  auto u = body.find("usage");
  if (u == body.end() || !u->is_object()) return;
  auto get = [](const Json& obj, const char* k) -> int64_t {
    auto v = obj.find(k);
    return v != obj.end() && v->is_number_integer() ? v->get<int64_t>() : 0;
  };
  usage.prompt_tokens = get(*u, "prompt_tokens");
  usage.completion_tokens = get(*u, "completion_tokens");
  auto details = u->find("prompt_tokens_details");
  usage.cached_prompt_tokens = details != u->end() && details->is_object() ? get(*details, "cached_tokens") : 0;
  usage.known = true;
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

// One streamed answer on its way to the client: decode, hold back until content, restore,
// encode, write.
class StreamRelay {
 public:
  StreamRelay(RequestContext& ctx, const RouteTarget& target, ClientExchange& client)
      : ctx_(ctx),
        client_(client),
        decoder_(AdapterFor(target.provider->kind).NewStreamDecoder()),
        encoder_(NewStreamEncoder(ctx.ingress, ctx.request->model)),
        // Providers are asked for usage (by the adapters) so spend and token limits count real
        // figures; an OpenAI client that did not ask for the usage chunk does not get it.
        strip_usage_(ctx.ingress == Ingress::kOpenAI && !ctx.request->client_wants_usage) {
    if (ctx.prompt->redaction && ctx.prompt->redaction->reversible()) restorer_.emplace(ctx.prompt->redaction.get());
  }

  asio::awaitable<Result<Completion>> Run(UpstreamExchange& up, const RelayLimits& limits);

 private:
  // Parses and decodes one piece read (empty = the end); the stream's error, if any.
  Status Absorb(const Result<std::string_view>& piece, int64_t started, const RelayLimits& limits);
  void Emit(Json& chunk);
  void TakeDecoded();
  void ReleaseHeld();
  void DrainRestorer();
  asio::awaitable<bool> Write();

  RequestContext& ctx_;
  ClientExchange& client_;
  std::unique_ptr<StreamDecoder> decoder_;
  std::unique_ptr<StreamEncoder> encoder_;
  const bool strip_usage_;
  SseParser parser_;
  std::vector<Json> decoded_;  // canonical chunks of the current piece
  std::vector<Json> held_;     // chunks before the first content
  bool content_seen_ = false;
  std::string out_;
  std::optional<ChunkRestorer> restorer_;
};

Status StreamRelay::Absorb(const Result<std::string_view>& piece, int64_t started, const RelayLimits& limits) {
  if (!piece.ok()) return piece.error();
  Status status = Status::Ok();
  if (!piece->empty()) status = parser_.Feed(*piece, [&](SseEvent& ev) -> Status { return decoder_->Decode(ev, decoded_); });
  else if (!decoder_->complete()) status = decoder_->Finish(decoded_);
  if (status && !decoder_->complete() && MonotonicNanos() - started > limits.stream_timeout_ms * 1000000)
    status = Error::GatewayTimeout("the provider's stream took longer than the stream timeout",
                                   "upstream_stream_timeout", true);
  return status;
}

void StreamRelay::Emit(Json& chunk) {
  ReadUsage(chunk, ctx_.usage);
  ctx_.usage.completion_bytes += AnswerBytes(chunk);
  if (strip_usage_ && chunk.contains("usage")) {
    auto choices = chunk.find("choices");
    if (choices == chunk.end() || (choices->is_array() && choices->empty())) return;
    chunk.erase("usage");
  }
  RestoreAlias(chunk, ctx_.request->model);
  Capture& capture = ctx_.capture;
  if (capture.wanted && !capture.restored) AppendDeltaText(chunk, capture.stream_text);
  if (restorer_) restorer_->Apply(chunk);
  if (capture.wanted && capture.restored) AppendDeltaText(chunk, capture.stream_text);
  out_ += encoder_->Chunk(chunk);
}

void StreamRelay::ReleaseHeld() {
  content_seen_ = true;
  for (Json& h : held_) Emit(h);
  held_.clear();
}

void StreamRelay::TakeDecoded() {
  for (Json& chunk : decoded_) {
    if (!content_seen_ && !HasContent(chunk)) {
      held_.push_back(std::move(chunk));
      continue;
    }
    if (!content_seen_) ReleaseHeld();
    Emit(chunk);
  }
  decoded_.clear();
}

void StreamRelay::DrainRestorer() {
  if (!restorer_) return;
  if (auto rest = restorer_->Drain()) out_ += encoder_->Chunk(*rest);
}

asio::awaitable<bool> StreamRelay::Write() {
  if (out_.empty()) co_return true;
  if (!client_.started()) {
    ctx_.response.status = 200;
    ctx_.response.stage = Stage::kClientStarted;
    co_await client_.AsyncStartStream(200, "text/event-stream");
    ctx_.response.first_byte_ns = MonotonicNanos() - ctx_.start_ns;
  }
  ctx_.response.bytes_out += out_.size();
  const bool ok = co_await client_.AsyncWrite(out_);
  out_.clear();
  co_return ok;
}

asio::awaitable<Result<Completion>> StreamRelay::Run(UpstreamExchange& up, const RelayLimits& limits) {
  const int64_t started = MonotonicNanos();
  for (;;) {
    const Result<std::string_view> piece = co_await up.ReadSome();
    const Status status = Absorb(piece, started, limits);
    // Whatever complete events this piece held go out now, before the next read.
    TakeDecoded();
    bool written = co_await Write();
    if (written && !status) {
      // Nothing reached the client: the forwarder may fail over. Else what the restorer holds
      // goes out before the error event that Finalize writes.
      if (!client_.started()) co_return status.error();
      DrainRestorer();
      [[maybe_unused]] const bool flushed = co_await Write();
      co_return status.error();
    }
    if (written && decoder_->complete()) {
      if (!content_seen_) ReleaseHeld();  // an answer without content is still an answer
      DrainRestorer();
      written = co_await Write();
      if (written) {
        Completion done;
        done.kind = Completion::Kind::kStreamEnd;
        done.bytes = encoder_->End();
        co_return done;
      }
    }
    if (!written) {
      ctx_.response.outcome = Outcome::kClientGone;
      co_return Completion{};
    }
  }
}

}  // namespace

asio::awaitable<Result<Completion>> RelayJson(RequestContext& ctx, const RouteTarget& target, UpstreamExchange& up,
                                              const RelayLimits& limits) {
  auto body = co_await up.ReadAll(limits.max_response_bytes);
  if (!body.ok()) co_return body.error();
  up.Release();
  auto json = ParseJson(*body);
  if (!json || !json->is_object()) co_return InvalidResponse("not a JSON object");
  auto canonical = AdapterFor(target.provider->kind).TranslateResponse(OperationOf(ctx.request->endpoint), *json);
  if (!canonical) co_return canonical.error();
  Json& answer = *canonical;
  RestoreAlias(answer, ctx.request->model);
  ReadUsage(answer, ctx.usage);
  ctx.usage.completion_bytes += AnswerBytes(answer);
  Capture& capture = ctx.capture;
  if (capture.wanted && !capture.restored) capture.response = answer;
  const RedactionSession* redaction = ctx.prompt->redaction.get();
  if (redaction && redaction->reversible()) redaction->RestoreResponse(answer);
  if (capture.wanted && capture.restored) capture.response = answer;
  Completion done;
  done.kind = Completion::Kind::kJson;
  done.bytes = Dump(ClientResponse(ctx.ingress, std::move(answer)));
  co_return done;
}

asio::awaitable<Result<Completion>> RelayStream(RequestContext& ctx, const RouteTarget& target,
                                                UpstreamExchange& up, ClientExchange& client,
                                                const RelayLimits& limits) {
  if (!up.head().Get("content-type").starts_with("text/event-stream")) co_return InvalidResponse("not an event stream");
  StreamRelay relay(ctx, target, client);
  co_return co_await relay.Run(up, limits);
}

asio::awaitable<void> DrainAndRelease(UpstreamExchange& up) {
  for (size_t drained = 0; drained < 65536;) {
    auto rest = co_await up.ReadSome();
    if (!rest.ok() || rest->empty()) break;
    drained += rest->size();
  }
  up.Release();
}

}  // namespace warden
