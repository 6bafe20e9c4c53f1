#include "server/load.h"

namespace warden {

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
  out.config = config.config;
  out.policies = policies.policies;
  out.rule_sets = rules.sets;
  return out;
}

}  // namespace warden
