// The life of one request as data: what each phase produces, in request order, and the record
// (RequestContext) that holds those products for the phases after it and for Finalize.
//
//   Authenticate + Resolve policy → Identity        (authenticate.h)
//   Parse                         → ParsedRequest   (parse.h; the body travels beside it)
//   Check policy                  → RoutePlan       (check_policy.h: overrides, model, provider,
//                                                    region; then limits and budgets)
//   Redact                        → Prompt          (redact.h; consumes the parsed body)
//   Forward (attempts) + Restore  → AttemptLog, Usage, Capture, Response; a Completion
//                                                   (forward.h, relay.h)
//   Finalize                      → audit outcome, accounting, metrics, access log (finalize.h)
//
// Contract: a product is set once, by its phase, and is const from then on (the optionals hold
// `const` types: a later phase cannot change what an earlier one decided). The records written
// while the request is forwarded (AttemptLog, Usage, Capture, Response) are written by the
// forwarder and the relay only; Finalize reads them and fills in what it adds (the price, the
// answer's status). Owned by the coroutine handling the request; never shared.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/json.h"
#include "config/config.h"
#include "gateway/client_format.h"
#include "keys/key_store.h"
#include "policy/policy.h"
#include "common/tags.h"
#include "providers/adapter.h"
#include "redaction/redactor.h"

namespace warden {

enum class Endpoint { kChatCompletions, kMessages, kEmbeddings, kListModels, kGetModel, kHealth, kReady, kUnknown };
const char* EndpointName(Endpoint e);
bool IsInference(Endpoint e);  // chat completions, messages, embeddings
Operation OperationOf(Endpoint e);  // what the providers are asked for: embeddings or chat

// How the request ended, for the access log and the audit record.
enum class Outcome { kCompleted, kFailed, kRejected, kClientGone, kPartial };
const char* OutcomeName(Outcome outcome);

// What SIGHUP replaces, as one immutable unit: the config (providers, models, routing, limits),
// the policies and the redactors compiled from their rule sets. A request takes the current
// snapshot when it starts and keeps it to its end, so it never mixes an old policy with a new
// route, and a reload changes everything read from it — routing and retries included.
struct GatewaySnapshot {
  std::shared_ptr<const Config> config;
  std::shared_ptr<const PolicySet> policies;
  // policy name → its compiled redactor (policies that list rule sets). A policy that lists
  // rule sets but has no redactor here is refused (503): never served unredacted.
  std::map<std::string, std::shared_ptr<const Redactor>> redactors;
  std::shared_ptr<const RuleSets> rule_sets;  // keeps the rules the redactors point into alive
};
// Compiles one redactor per policy that lists rule sets; fails if any cannot be built.
Result<std::shared_ptr<const GatewaySnapshot>> MakeGatewaySnapshot(std::shared_ptr<const Config> config,
                                                                   std::shared_ptr<const PolicySet> policies,
                                                                   std::shared_ptr<const RuleSets> rule_sets);

// Authenticate → Resolve policy: who is asking, and under which policy. Only what a request
// needs of its key record (never its hash).
struct Identity {
  std::string key_id;
  KeyEnv key_env = KeyEnv::kProduction;
  const Policy* policy = nullptr;  // never null; points into the request's snapshot
  Tags tags;                       // attribution (common/tags.h), as the policy allows
};

// Parse: the client's request, validated and in the canonical (chat completions / embeddings)
// form. The canonical body itself travels beside it (ParsedBody) until Redact consumes it.
struct ParsedRequest {
  Endpoint endpoint = Endpoint::kUnknown;
  std::string model;  // the alias the client asked for (free text until the route names it)
  bool stream = false;
  bool client_wants_usage = false;  // stream_options.include_usage (OpenAI clients)
  int64_t estimated_prompt_tokens = 0;
  // What routing rules look at (RouteRule): max_tokens / max_completion_tokens (0 = absent),
  // and whether the request declares tools or carries images.
  int64_t max_tokens = 0;
  bool has_tools = false;
  bool has_images = false;
  // Policy steering the client attempted in its own body, noted for Check policy: the first
  // field that other gateways use to pick providers or switch redaction or logging, and
  // whether it asked the provider to store the exchange.
  std::string override_field;
  bool asks_store = false;
};

// Check policy → Route: the alias's deployments that the policy allows, in configured order.
struct RouteTarget {
  const Deployment* deployment = nullptr;
  const ProviderConfig* provider = nullptr;
  std::string name;  // DeploymentName()
};
struct RoutePlan {
  const ModelAlias* alias = nullptr;  // the configured alias that serves (never null in a plan):
                                      // the one asked for, or the target of `rule`
  std::vector<RouteTarget> targets;   // never empty; failover walks only these
  const RouteRule* rule = nullptr;    // the routing rule that chose `alias`, if any
};

// Redact: the body exactly as it may leave the building, the session that restores its
// placeholders in the answer (null when the policy redacts nothing), and — only under
// content_logging: full — the body as the client sent it, for the audit record.
struct Prompt {
  Json body;
  std::unique_ptr<const RedactionSession> redaction;
  Json logged;  // null unless content_logging is full
};

// One upstream attempt (or a deployment skipped because its circuit is open).
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

// Forward: every attempt in order, and the target of the last one (the one that served, when
// the request succeeded).
struct AttemptLog {
  bool forwarded = false;  // Forward ran (the rate limit's token charge is then corrected)
  std::vector<Attempt> attempts;
  const RouteTarget* serving = nullptr;
  int64_t upstream_first_byte_ns = 0;  // of the last attempt: from sending to the answer's head
  int64_t backoff_ns = 0;              // waited between retries (neither upstream nor overhead)
  int Sent() const;                    // attempts that reached the network
  int64_t UpstreamNanos(int64_t now) const;
};

// Forward reads the provider's figures; Finalize prices them (Account, once, for every request
// that was forwarded).
//
// Account settles the figures once: where the provider reported none it puts Warden's
// estimate in their place, and zeros where nothing was served. The audit record, the ledgers,
// the metrics and the access log all read the settled figures, so they agree.
struct Usage {
  bool known = false;  // the provider reported usage
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // part of prompt_tokens the provider served from its cache
  int64_t completion_bytes = 0;      // answer text relayed to the client (for estimates)
  bool billed = false;               // settled: something was served, the provider bills for it
  Picos cost = 0;                    // settled: what it cost (common/money.h)
  bool estimated() const { return billed && !known; }
};

// The answer kept for the audit record when the policy logs content (Capture::wanted).
struct Capture {
  bool wanted = false;    // chat answers under a content-logging policy
  bool restored = false;  // after placeholders are restored (content_logging: full)
  Json response;          // a JSON answer
  std::string stream_text;
};

// What the client got.
struct Response {
  Stage stage = Stage::kBeforeUpstream;  // how far the request got
  int status = 0;
  std::string error_code;
  Outcome outcome = Outcome::kCompleted;
  size_t bytes_in = 0;
  size_t bytes_out = 0;
  int64_t first_byte_ns = 0;  // from request start to the first byte sent to the client
};

struct RequestContext {
  // Declared first so it outlives everything below that points into it (policy, alias,
  // deployments, providers, the redactor).
  std::shared_ptr<const GatewaySnapshot> snapshot;
  std::string request_id;
  int64_t start_ns = 0;
  Endpoint endpoint = Endpoint::kUnknown;
  Ingress ingress = Ingress::kOpenAI;  // the client's API dialect (errors and answers in it)
  std::string client_address;

  // The phases' products, in request order; const once set.
  std::optional<const Identity> identity;
  std::optional<const ParsedRequest> request;
  std::optional<const RoutePlan> plan;
  std::optional<const Prompt> prompt;

  // Written while forwarding (forward.cc, relay.cc); read by Finalize.
  AttemptLog log;
  Usage usage;
  Capture capture;
  Response response;

  // Budgets: CheckLimits passed them, reserving this much on each subject (Finalize settles).
  std::optional<Picos> budget_reserved;

  // Audit: the intent record's sequence (0 = none written) and whether the outcome is written.
  uint64_t audit_intent_seq = 0;
  bool audit_closed = false;

  const Policy* policy() const { return identity ? identity->policy : nullptr; }
  // The alias the client asked for when it names a configured one (also when the policy
  // refused it); null otherwise — a client's free text is never logged or recorded.
  const ModelAlias* alias() const;
  // The time the gateway itself took as of `now`: everything but upstream attempts and backoff.
  int64_t OverheadNanos(int64_t now) const { return now - start_ns - log.UpstreamNanos(now) - log.backoff_ns; }
};

}  // namespace warden
