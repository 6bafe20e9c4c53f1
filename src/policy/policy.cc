#include "policy/policy.h"

#include <sodium.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/util.h"
#include "config/yaml_reader.h"
#include "common/tags.h"

namespace warden {

const char* ContentLoggingName(ContentLogging v) {
  switch (v) {
    case ContentLogging::kNone: return "none";
    case ContentLogging::kRedacted: return "redacted";
    case ContentLogging::kFull: return "full";
  }
  return "none";
}
const char* RedactionModeName(RedactionMode v) {
  switch (v) {
    case RedactionMode::kPlaceholder: return "placeholder";
    case RedactionMode::kMask: return "mask";
    case RedactionMode::kBlock: return "block";
  }
  return "placeholder";
}
const char* AuditModeName(AuditMode v) { return v == AuditMode::kRequired ? "required" : "best_effort"; }

bool GlobMatch(std::string_view pattern, std::string_view text) {
  // Iterative matcher with single-star backtracking: linear in practice, no recursion.
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {
bool AnyMatch(const std::vector<std::string>& globs, std::string_view text) {
  for (const auto& g : globs)
    if (GlobMatch(g, text)) return true;
  return false;
}
}  // namespace

bool Policy::ModelAllowed(std::string_view alias) const { return AnyMatch(models, alias); }

std::string Policy::Excludes(const ProviderConfig& provider) const {
  if (!AnyMatch(providers, provider.name)) return "provider";
  if (!AnyMatch(regions, provider.region)) return "region";
  if (zero_retention && !provider.zero_retention) return "zero_retention";
  return "";
}

namespace {

class PolicyParser : public YamlReader {
 public:
  using YamlReader::YamlReader;

  void ParsePolicy(const YAML::Node& root, const std::string& expected_name, const Config& config,
                   Policy& p) {
    if (!ExpectMap(root, "a policy file")) return;
    CheckKeys(root, "the policy",
              {"name", "description", "models", "providers", "regions", "zero_retention",
               "content_logging", "redaction", "rate_limits", "budgets", "audit", "retention", "tags",
               "max_cost_per_request"});
    ReadUsd(root, "max_cost_per_request", p.max_cost_per_request, kPicoDecimals, "policy");
    ReadString(root, "name", p.name, "policy");
    if (p.name.empty()) Problem(root, "the policy needs a name");
    else if (p.name != expected_name)
      Problem(root["name"], "the policy is named '" + p.name + "' but its file is '" +
                                expected_name + ".yaml'; they must match");
    ReadString(root, "description", p.description, "policy");
    ReadGlobs(root, "models", p.models);
    ReadGlobs(root, "providers", p.providers);
    ReadGlobs(root, "regions", p.regions);
    ReadBool(root, "zero_retention", p.zero_retention, "policy");

    ReadChoice(root, "content_logging", p.content_logging, "content_logging",
               {{"none", ContentLogging::kNone},
                {"redacted", ContentLogging::kRedacted},
                {"full", ContentLogging::kFull}});
    if (const YAML::Node r = root["redaction"]; r && ExpectMap(r, "redaction")) {
      CheckKeys(r, "redaction", {"rule_sets", "mode"});
      if (r["rule_sets"])
        if (auto sets = StringList(r["rule_sets"], "redaction.rule_sets")) p.redaction_rule_sets = *sets;
      ReadChoice(r, "mode", p.redaction_mode, "redaction.mode",
                 {{"placeholder", RedactionMode::kPlaceholder},
                  {"mask", RedactionMode::kMask},
                  {"block", RedactionMode::kBlock}});
    }
    if (const YAML::Node r = root["rate_limits"]; r && ExpectMap(r, "rate_limits")) {
      CheckKeys(r, "rate_limits", {"requests_per_minute", "tokens_per_minute"});
      ReadInt(r, "requests_per_minute", p.requests_per_minute, 0, 100000000, "rate_limits");
      ReadInt(r, "tokens_per_minute", p.tokens_per_minute, 0, 100000000000LL, "rate_limits");
    }
    if (const YAML::Node t = root["tags"]) {
      for (const std::string& name : StringList(t, "tags").value_or(std::vector<std::string>{})) {
        if (!ValidTagName(name))
          Problem(t, "tags must be names of 1 to 32 letters, digits, '_' or '-' (got '" + name + "')");
        else if (std::find(p.tags.begin(), p.tags.end(), name) == p.tags.end())
          p.tags.push_back(name);
      }
      if (p.tags.size() > kMaxTags) Problem(t, "a policy allows at most " + std::to_string(kMaxTags) + " tags");
    }
    if (const YAML::Node b = root["budgets"]; b && ExpectMap(b, "budgets")) {
      CheckKeys(b, "budgets", {"usd_per_day", "usd_per_month", "alert_at", "per_tag", "strict"});
      ReadBool(b, "strict", p.strict_budgets, "budgets");
      if (const YAML::Node per = b["per_tag"]; per && ExpectMap(per, "budgets.per_tag")) {
        for (const auto& kv : per) {
          const std::string name = kv.first.as<std::string>();
          const std::string where = "budgets.per_tag." + name;
          if (std::find(p.tags.begin(), p.tags.end(), name) == p.tags.end()) {
            Problem(kv.first, where + ": '" + name + "' is not one of the policy's tags");
            continue;
          }
          if (!ExpectMap(kv.second, where)) continue;
          CheckKeys(kv.second, where, {"usd_per_day", "usd_per_month"});
          Policy::Budget& budget = p.tag_budgets[name];
          ReadUsd(kv.second, "usd_per_day", budget.per_day, kPicoDecimals, where, true);
          ReadUsd(kv.second, "usd_per_month", budget.per_month, kPicoDecimals, where, true);
        }
      }
      ReadUsd(b, "usd_per_day", p.budget_per_day, kPicoDecimals, "budgets", true);
      ReadUsd(b, "usd_per_month", p.budget_per_month, kPicoDecimals, "budgets", true);
      if (const YAML::Node a = b["alert_at"]) {
        p.budget_alerts.clear();
        for (const std::string& v : StringList(a, "budgets.alert_at").value_or(std::vector<std::string>{})) {
          char* end = nullptr;
          const long pct = std::strtol(v.c_str(), &end, 10);
          if (v.empty() || *end != '\0' || pct < 1 || pct > 100)
            Problem(a, "budgets.alert_at must list percentages from 1 to 100, e.g. [50, 80, 100]");
          else
            p.budget_alerts.push_back(static_cast<int>(pct));
        }
      }
    }
    ReadChoice(root, "audit", p.audit, "audit",
               {{"required", AuditMode::kRequired}, {"best_effort", AuditMode::kBestEffort}});
    if (const YAML::Node r = root["retention"]; r && ExpectMap(r, "retention")) {
      CheckKeys(r, "retention", {"content_days", "metadata_days"});
      ReadInt(r, "content_days", p.content_retention_days, 0, 36500, "retention");
      ReadInt(r, "metadata_days", p.metadata_retention_days, 1, 36500, "retention");
    }
    if (p.zero_retention && p.content_logging != ContentLogging::kNone)
      Problem(root["content_logging"],
              "a zero_retention policy cannot log content (content_logging must be none)");
    // Warn about restrictions that nothing in the config can satisfy.
    if (root["providers"]) {
      for (const auto& g : p.providers) {
        bool any = false;
        for (const auto& pc : config.providers) any = any || GlobMatch(g, pc.name);
        if (!any)
          Problem(root["providers"], "providers entry '" + g + "' matches no configured provider",
                  ConfigProblem::Severity::kWarning);
      }
    }
  }

 private:
  void ReadGlobs(const YAML::Node& root, const char* key, std::vector<std::string>& out) {
    const YAML::Node n = root[key];
    if (!n) return;
    auto list = StringList(n, key);
    if (!list) return;
    if (list->empty()) Problem(n, std::string(key) + " must not be empty (use [\"*\"] for any)");
    out = std::move(*list);
  }
};

std::string FileHash(const std::string& bytes) { return ToHex(Blake2b(bytes)); }

}  // namespace

PolicyLoadResult LoadPolicyFromString(const std::string& yaml, const std::string& file,
                                      const std::string& expected_name, const Config& config) {
  PolicyParser parser(file, {});
  PolicyLoadResult result;
  auto root = parser.Parse(yaml);
  Policy p;
  if (root) parser.ParsePolicy(*root, expected_name, config, p);
  p.file = file;
  p.hash = FileHash(yaml);
  result.problems = parser.SortedProblems();
  if (!parser.HasErrors()) {
    auto set = std::make_shared<PolicySet>();
    set->Add(std::move(p));
    result.policies = std::move(set);
  }
  return result;
}

PolicyLoadResult LoadPolicies(const std::string& dir, const Config& config) {
  PolicyLoadResult result;
  std::vector<std::filesystem::path> files = YamlFilesIn(dir);
  if (files.empty()) {
    result.problems.push_back({dir, 0, 0, "no policies found (policies_dir must hold <name>.yaml files, "
                                          "at least default.yaml)", ConfigProblem::Severity::kError});
    return result;
  }
  auto set = std::make_shared<PolicySet>();
  bool errors = false;
  for (const auto& path : files) {
    PolicyLoadResult one = LoadPolicyFromString(ReadWholeFile(path), path.string(), path.stem().string(), config);
    result.problems.insert(result.problems.end(), one.problems.begin(), one.problems.end());
    if (!one.ok()) {
      errors = true;
      continue;
    }
    set->Add(*one.policies->Find(path.stem().string()));
  }
  if (!set->Find("default")) {
    result.problems.push_back({dir, 0, 0, "policy 'default' is missing (default.yaml): keys created "
                                          "without --policy use it", ConfigProblem::Severity::kError});
    errors = true;
  }
  if (!errors) result.policies = std::move(set);
  return result;
}

}  // namespace warden
