// Redaction rule sets: policies/redaction/<name>.yaml, each a list of rules
// (entity label, RE2 pattern, optional checksum validator, action) with golden examples.
//
// Contract: LoadRuleSets() compiles every pattern (RE2, with a memory budget) and reports every
// problem with file:line — an invalid pattern stops start-up. A pattern with a capturing group
// redacts group 1 only (e.g. the password inside a URL); otherwise the whole match. Validators
// are named C++ checks (Luhn, IBAN mod-97, national id checksums) that a candidate must pass.
// RuleSets are immutable once loaded and shared by all threads.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/named_set.h"
#include "config/config.h"

namespace re2 {
class RE2;
}

namespace warden {

enum class RuleAction { kRedact, kBlock };  // kRedact follows the policy's mode

struct Rule {
  std::string entity;     // "EMAIL", "CREDIT_CARD", … ([A-Z][A-Z0-9_]*)
  std::string pattern;
  std::string validator;  // "" = none
  RuleAction action = RuleAction::kRedact;
  // Golden examples. `match`: texts in which the rule must find a value — the whole text for a
  // rule without a capturing group, a part of it (the group) for a rule with one.
  // `no_match`: texts in which the rule must find nothing.
  std::vector<std::string> match;
  std::vector<std::string> no_match;
  std::string file;
  int line = 0;
  std::shared_ptr<const re2::RE2> re;
  // An upper bound, in bytes, of what `pattern` can match (context included); nullopt when the
  // pattern can match without bound (`+`, `*`, `{n,}`) or its length cannot be bounded safely.
  std::optional<size_t> max_length;
};

struct RuleSet {
  std::string name;
  std::string description;
  std::vector<Rule> rules;
};

using RuleSets = NamedSet<RuleSet>;

struct RuleSetLoadResult {
  std::shared_ptr<const RuleSets> sets;  // null on errors
  std::vector<ConfigProblem> problems;
  bool ok() const { return sets != nullptr; }
};

// Loads every *.yaml in `dir` (file name = set name). A missing directory is an empty result.
RuleSetLoadResult LoadRuleSets(const std::string& dir);
RuleSetLoadResult LoadRuleSetFromString(const std::string& yaml, const std::string& file,
                                        const std::string& expected_name);

// A conservative upper bound, in bytes of UTF-8 text, of the length of any match of the RE2
// `pattern`: nullopt if it is unbounded, contains a construct this reading does not bound
// (\Q…\E, \B — whose answer depends on text outside a window), or does not parse.
std::optional<size_t> MaxMatchLength(std::string_view pattern);

// True if `value` passes the named validator; unknown names are rejected at load time.
bool Validate(std::string_view validator, std::string_view value);
bool IsKnownValidator(std::string_view validator);
// Where in `value` the named validator finds the value to redact: all of it for a checksum
// validator that accepts it, a part for a validator that trims (the person-name checks keep the
// name out of a run of capitalised words: "Meeting Anna Schmidt" → "Anna Schmidt"), or nothing.
std::optional<std::pair<size_t, size_t>> ValidateSpan(std::string_view validator, std::string_view value);

}  // namespace warden
