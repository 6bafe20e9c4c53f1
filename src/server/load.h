// Loading everything a gateway runs on — the config, the policies it points to, and the
// redaction rule sets in <policies_dir>/redaction — with every problem of every file reported
// together. `warden check-config`, `warden serve` and the tests all go through here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "policy/policy.h"
#include "redaction/rules.h"

namespace warden {

struct Loaded {
  std::shared_ptr<const Config> config;
  std::shared_ptr<const PolicySet> policies;
  std::shared_ptr<const RuleSets> rule_sets;
  std::vector<ConfigProblem> problems;  // errors and warnings
  bool ok() const { return config && policies && rule_sets; }
};

Loaded LoadAll(const std::string& config_path);

}  // namespace warden
