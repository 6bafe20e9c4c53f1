// Relay + Restore: one provider answer (its head was 200) brought to the client in the client's
// dialect, with the model alias put back and redaction placeholders restored.
//
// Contract: a JSON answer is read whole, translated, restored and returned as the Completion —
// nothing is written to the client here. A stream is relayed as it arrives (every piece read is
// decoded and written before the next read), except that events carrying no content yet (a
// role-only first chunk) are held back: until the first content byte has gone to the client
// (Stage::kClientStarted), any failure — 200 followed by silence, by an error event or by a cut
// — is an error the forwarder may fail over from. The bytes that complete a stream (OpenAI
// `[DONE]`; Anthropic `message_stop`) are never written here: they are the Completion, which
// Finalize writes after the outcome is durable, so a client never sees a clean end that the
// audit log does not have. Text the restorer still holds goes out before the stream ends,
// cleanly or not. Provider usage goes to ctx.usage, the answer (when the policy logs content)
// to ctx.capture.
#pragma once

#include <asio/awaitable.hpp>

#include <memory>
#include <string>

#include "gateway/client_exchange.h"
#include "gateway/request.h"
#include "providers/upstream.h"

namespace warden {

// The bytes that complete a successful response, held until the outcome is durable.
struct Completion {
  enum class Kind {
    kNone,       // nothing left to write (the client went away, or the answer was sent already)
    kJson,       // `bytes` is the whole JSON answer (status 200)
    kStreamEnd,  // `bytes` closes the stream already started
  };
  Kind kind = Kind::kNone;
  std::string bytes;
  // A streamed answer's connection: its (normally empty) rest is read after `bytes` are written,
  // so that it can go back to the keep-alive pool.
  std::unique_ptr<UpstreamExchange> upstream;
};

struct RelayLimits {
  size_t max_response_bytes = 64u << 20;  // a larger non-stream answer is a 502
  int64_t stream_timeout_ms = 600000;     // total time one streamed attempt may take
};

asio::awaitable<Result<Completion>> RelayJson(RequestContext& ctx, const RouteTarget& target, UpstreamExchange& up,
                                              const RelayLimits& limits);
// On success the Completion's `upstream` is left empty: the caller hands the exchange over.
asio::awaitable<Result<Completion>> RelayStream(RequestContext& ctx, const RouteTarget& target,
                                                UpstreamExchange& up, ClientExchange& client,
                                                const RelayLimits& limits);
// Reads what is left of an answer (at most 64 KiB) and releases its connection.
asio::awaitable<void> DrainAndRelease(UpstreamExchange& up);

}  // namespace warden
