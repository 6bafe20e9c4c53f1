#include "server/load.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

namespace warden {
namespace {

ConfigProblem Warning(const std::string& file, std::string message) {
  return {file, 0, 0, std::move(message), ConfigProblem::Severity::kWarning};
}

// Whether `gid` is this process's group or one of its supplementary groups (a Kubernetes pod
// reads its secrets through fsGroup: 0440 root:fsGroup is private to it).
bool OwnGroup(gid_t gid) {
  if (gid == getegid()) return true;
  gid_t groups[256];
  const int n = getgroups(256, groups);
  for (int i = 0; i < n; ++i)
    if (groups[i] == gid) return true;
  return false;
}

// What Warden keeps on disk is private to its user: directories 0700, files 0600 (the process
// runs with umask 077). An existing path that other users, or a group this process is not in,
// can read is reported; it still starts.
void CheckPrivatePaths(const Config& c, std::vector<ConfigProblem>& out) {
  const struct {
    std::string path;
    const char* what;
  } paths[] = {
      {c.data_dir, "the data directory"},
      {c.data_dir + "/db", "the key and usage store"},
      {c.audit.dir, "the audit store"},
      {c.audit.master_key_file, "the audit master key"},
      {c.audit.signing_key_file, "the audit signing key"},
      {c.key_hash_key_file, "the key-hash key"},
      {c.audit.checkpoint_file == "-" ? "" : c.audit.checkpoint_file, "the audit checkpoint file"},
  };
  for (const auto& p : paths) {
    struct stat st {};
    if (p.path.empty() || ::stat(p.path.c_str(), &st) != 0) continue;
    const bool wide = (st.st_mode & 007) != 0 || ((st.st_mode & 070) != 0 && !OwnGroup(st.st_gid));
    if (!wide) continue;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    const bool dir = S_ISDIR(st.st_mode);
    out.push_back(Warning(c.path, std::string(p.what) + " " + p.path + " is mode " + mode +
                                      ": other users on this host can " + (dir ? "list or read it" : "read it") +
                                      "; run chmod " + (dir ? "700" : "600") + " " + p.path));
  }
}

// A zero-retention policy asks that upstream be told not to store the exchange. Only OpenAI's
// API (and servers that copy it) has that switch, and Warden sends it only where `store_field`
// is on: name every deployment the policy can reach that will not get `store: false`.
void CheckStoreFalse(const Config& c, const PolicySet& policies, std::vector<ConfigProblem>& out) {
  for (const auto& name : policies.Names()) {
    const Policy& policy = *policies.Find(name);
    if (!policy.zero_retention) continue;
    std::string list;
    for (const ModelAlias& alias : c.models) {
      if (!policy.ModelAllowed(alias.alias)) continue;
      for (const Deployment& d : alias.deployments) {
        const ProviderConfig* p = c.FindProvider(d.provider);
        if (!p || p->kind == ProviderKind::kEcho || !policy.Excludes(*p).empty()) continue;
        const bool openai_like = p->kind == ProviderKind::kOpenAI || p->kind == ProviderKind::kAzure;
        if (openai_like && p->store_field) continue;
        const std::string entry = p->name + "/" + d.model;
        if (list.find(entry + " (") != std::string::npos) continue;
        list += (list.empty() ? "" : "; ") + entry +
                (openai_like ? " (store_field is off: set `store_field: true` on provider '" + p->name +
                                   "' if the server accepts OpenAI's store field)"
                             : std::string(" (") + ProviderKindName(p->kind) +
                                   ": its API has no such field; retention rests on the provider's agreement)");
      }
    }
    if (!list.empty())
      out.push_back(Warning(policy.file, "policy '" + name +
                                             "' is zero-retention, but these deployments it may reach are not told "
                                             "store:false: " + list));
  }
}

// Spend, budgets and the usage figures price each request by its deployment (its own `price`,
// else its provider's). A deployment some policy can reach with neither counts as free, which
// a budget then never sees: name them. (`price: {}` with zeros marks a free one on purpose.)
void CheckPrices(const Config& c, const PolicySet& policies, std::vector<ConfigProblem>& out) {
  std::string list;
  for (const ModelAlias& alias : c.models) {
    for (const Deployment& d : alias.deployments) {
      const ProviderConfig* p = c.FindProvider(d.provider);
      if (!p || p->kind == ProviderKind::kEcho || PriceOf(*p, d).configured) continue;
      bool reachable = false;
      for (const auto& name : policies.Names()) {
        const Policy& policy = *policies.Find(name);
        reachable = reachable || (policy.ModelAllowed(alias.alias) && policy.Excludes(*p).empty());
      }
      const std::string entry = DeploymentName(*p, d);
      if (reachable && list.find(entry) == std::string::npos) list += (list.empty() ? "" : ", ") + entry;
    }
  }
  if (!list.empty())
    out.push_back(Warning(c.path, "these deployments have no price, so their spend counts as $0 and budgets "
                                  "do not see them: " + list + " (set `price:` on the deployment or its provider; "
                                  "zeros if it is free on purpose)"));
}

}  // namespace

Loaded LoadAll(const std::string& config_path) {
  Loaded out;
  LoadResult config = LoadConfig(config_path);
  out.problems = config.problems;
  if (!config.ok()) return out;
  PolicyLoadResult policies = LoadPolicies(config.config->policies_dir, *config.config);
  out.problems.insert(out.problems.end(), policies.problems.begin(), policies.problems.end());
  const std::string rules_dir = config.config->policies_dir + "/redaction";
  RuleSetLoadResult rules = LoadRuleSets(rules_dir);
  out.problems.insert(out.problems.end(), rules.problems.begin(), rules.problems.end());
  if (!policies.ok() || !rules.ok()) return out;
  bool missing = false;
  for (const auto& name : policies.policies->Names()) {
    const Policy* p = policies.policies->Find(name);
    for (const auto& set : p->redaction_rule_sets) {
      if (!rules.sets->Find(set)) {
        out.problems.push_back({p->file, 0, 0,
                                "redaction rule set '" + set + "' is not in " + rules_dir,
                                ConfigProblem::Severity::kError});
        missing = true;
      }
    }
  }
  if (missing) return out;
  CheckPrivatePaths(*config.config, out.problems);
  CheckStoreFalse(*config.config, *policies.policies, out.problems);
  CheckPrices(*config.config, *policies.policies, out.problems);
  out.config = config.config;
  out.policies = policies.policies;
  out.rule_sets = rules.sets;
  return out;
}

}  // namespace warden
