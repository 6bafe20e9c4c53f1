// RequestContext: everything one request carries through the phases
// (Authenticate → Resolve policy → Parse → Check policy → Route → Forward → Finalize). Owned by the thread handling the
// request; never shared.
#pragma once

#include <asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/result.h"
#include "config/config.h"
#include "gateway/client_format.h"
#include "keys/key_store.h"
#include "policy/policy.h"
#include "redaction/redactor.h"

namespace warden {

enum class Endpoint { kChatCompletions, kMessages, kEmbeddings, kListModels, kGetModel, kHealth, kReady, kUnknown };

// How the request ended, for the access log (and, later, the audit record).
enum class Outcome { kCompleted, kFailed, kRejected, kClientGone, kPartial };
const char* OutcomeName(Outcome outcome);

struct Attempt {
  std::string deployment;  // "provider/model"
  std::string region;
  int status = 0;          // upstream HTTP status, 0 = no response
  std::string error_code;  // empty on success
  int64_t started_ns = 0;  // MonotonicNanos() when it was sent
  int64_t latency_ns = 0;  // 0 while it is still being relayed
  bool skipped = false;    // not sent: the deployment's circuit was open
  // Time spent on it as of `now` (the attempt still relaying is the one completing now).
  int64_t Latency(int64_t now) const { return skipped ? 0 : latency_ns ? latency_ns : now - started_ns; }
};

struct GatewaySnapshot;

struct RequestContext {
  // The config, policies and redactors this request runs on, taken once when it starts: a
  // reload never changes them under it. Declared first so it outlives everything below that
  // points into it (policy, alias, deployment, provider, the redaction session).
  std::shared_ptr<const GatewaySnapshot> snapshot;
  std::string request_id;
  int64_t start_ns = 0;
  Endpoint endpoint = Endpoint::kUnknown;
  std::string client_address;
  Ingress ingress = Ingress::kOpenAI;  // the API dialect of the client (errors and answers in it)

  std::optional<KeyRecord> key;
  const Policy* policy = nullptr;  // set right after authentication; never null past that

  // Parsed request (chat / embeddings).
  Json body;
  std::string model;  // the alias the client asked for
  bool stream = false;

  // Route: the alias's deployments that the policy allows, in order. Failover walks only these.
  struct Target {
    const Deployment* deployment = nullptr;
    const ProviderConfig* provider = nullptr;
  };
  const ModelAlias* alias = nullptr;
  std::vector<Target> route;
  // The deployment of the current (finally: the last) attempt.
  const Deployment* deployment = nullptr;
  const ProviderConfig* provider = nullptr;

  // Usage and cost.
  int64_t estimated_prompt_tokens = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // part of prompt_tokens the provider served from its cache
  int64_t completion_bytes = 0;       // answer text relayed to the client (for estimates)
  int64_t estimated_completion_tokens = 0;  // set when the provider reported no usage
  bool usage_known = false;        // the provider reported usage
  bool strip_usage_chunk = false;  // usage was requested upstream for accounting, not by the client
  double cost_usd = 0;
  std::string retry_after;         // seconds, sent with a 429 or 503

  // Redaction of this request (null when the policy asks for none); its mapping lives exactly
  // as long as the request and is wiped with it.
  std::unique_ptr<RedactionSession> redaction;

  std::vector<Attempt> attempts;
  int status = 0;
  std::string error_code;
  Outcome outcome = Outcome::kCompleted;
  size_t bytes_in = 0;
  size_t bytes_out = 0;
  int64_t upstream_first_byte_ns = 0;  // from sending upstream to the response head
  int64_t backoff_ns = 0;              // waited between retries (neither upstream nor overhead)
  // Time in upstream attempts as of `now`, and the rest of the request's time but the waits
  // between retries: the gateway's own overhead (audit records and metrics report both).
  int64_t UpstreamNanos(int64_t now) const {
    int64_t sum = 0;
    for (const auto& a : attempts) sum += a.Latency(now);
    return sum;
  }
  int64_t OverheadNanos(int64_t now) const { return now - start_ns - UpstreamNanos(now) - backoff_ns; }
  int64_t client_first_byte_ns = 0;    // from request start to the first byte sent to the client

  // Called by the Forwarder right before the bytes that complete a successful response (the
  // JSON answer; a stream's `data: [DONE]`): the gateway makes the outcome durable there, so a
  // response the client saw complete is never missing from the audit log. An error return
  // replaces the completion (fail closed). Null = nothing to do.
  std::function<asio::awaitable<Status>()> before_complete;

  // Audit: the intent record's sequence (0 = none written) and whether the outcome is written.
  uint64_t audit_intent_seq = 0;
  bool audit_closed = false;
  // Content kept for the audit record when the policy logs content (null otherwise).
  Json logged_request;
  Json logged_response;
  std::string logged_stream_text;
  bool log_response = false;   // capture the answer for the audit record
  bool log_restored = false;   // capture it after placeholders are restored (content_logging: full)
  bool accounted = false;      // usage and spend applied
};

}  // namespace warden
