// Policies: what a client key may do. Each key is bound to one named policy, loaded from
// policies/<name>.yaml at start-up and validated like the config (every problem with file:line).
//
// Contract: a Policy only narrows. Routing asks Eligible() for every deployment BEFORE any
// attempt, so failover can only walk deployments the policy allows; nothing a client sends can
// widen a policy (see CheckOverrides in gateway/policy_phase.h). A PolicySet is immutable once
// loaded and shared by all request threads.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/named_set.h"
#include "config/config.h"

namespace warden {

enum class ContentLogging { kNone, kRedacted, kFull };
enum class RedactionMode { kPlaceholder, kMask, kBlock };
enum class AuditMode { kBestEffort, kRequired };
const char* ContentLoggingName(ContentLogging v);
const char* RedactionModeName(RedactionMode v);
const char* AuditModeName(AuditMode v);

struct Policy {
  std::string name;
  std::string file;  // where it was loaded from
  std::string description;
  std::vector<std::string> models = {"*"};     // globs on the client-visible alias
  std::vector<std::string> providers = {"*"};  // globs on provider names
  std::vector<std::string> regions = {"*"};    // globs on provider regions
  bool zero_retention = false;  // only zero-retention deployments; nothing of the content persisted
  ContentLogging content_logging = ContentLogging::kNone;
  std::vector<std::string> redaction_rule_sets;
  RedactionMode redaction_mode = RedactionMode::kPlaceholder;
  int64_t requests_per_minute = 0;  // 0 = unlimited
  int64_t tokens_per_minute = 0;
  Picos budget_per_day = 0;  // `budgets.usd_per_day`, exactly; 0 = no budget
  Picos budget_per_month = 0;
  // `budgets.strict`: when a fleet's shared spend cannot be read (Redis down), refuse with 503
  // budget_unavailable instead of enforcing from this replica's last known figures.
  bool strict_budgets = false;
  // Attribution tags a client may attach (`tags: [team, project]`, see common/tags.h), and
  // budgets per tag value (`budgets.per_tag.team`): one budget shared by every key that sends
  // that value, e.g. a team's across its keys.
  std::vector<std::string> tags;
  using Budget = BudgetLimits;
  std::map<std::string, Budget> tag_budgets;  // tag name → budget of each of its values
  // `max_cost_per_request`: deployments whose estimated cost for a request (its estimated prompt
  // tokens and its max_tokens at the deployment's prices) is above this are not tried; 0 = none.
  Picos max_cost_per_request = 0;
  // Percentages of a budget at which a key's spend is announced (log line, metric), once per
  // key, period and threshold, when a request takes the spend across it.
  std::vector<int> budget_alerts = {50, 80, 100};
  AuditMode audit = AuditMode::kBestEffort;
  // How long audit payloads are kept before `purge` removes them (the chain keeps their hashes).
  int64_t content_retention_days = 0;      // logged prompt/response text
  int64_t metadata_retention_days = 2190;  // the content-free record: 6 years (HIPAA horizon)
  std::string hash;  // BLAKE2b of the file's bytes, hex: names the exact version in audit records

  bool ModelAllowed(std::string_view alias) const;
  // Empty if `provider` may serve this policy's traffic, else the constraint that rules it out
  // ("region", "provider" or "zero_retention").
  std::string Excludes(const ProviderConfig& provider) const;
};

// Shell-style glob: `*` any run of characters, `?` one character. Case-sensitive.
bool GlobMatch(std::string_view pattern, std::string_view text);

using PolicySet = NamedSet<Policy>;

struct PolicyLoadResult {
  std::shared_ptr<const PolicySet> policies;  // null when any error was found
  std::vector<ConfigProblem> problems;
  bool ok() const { return policies != nullptr; }
};

// Loads every *.yaml directly in `dir` (one policy per file; its `name` must equal the file
// name without .yaml). Cross-checks provider globs against `config` (a glob that matches no
// provider is a warning). A missing or empty directory is an error: Warden needs at least
// the `default` policy.
PolicyLoadResult LoadPolicies(const std::string& dir, const Config& config);
PolicyLoadResult LoadPolicyFromString(const std::string& yaml, const std::string& file,
                                      const std::string& expected_name, const Config& config);

}  // namespace warden
