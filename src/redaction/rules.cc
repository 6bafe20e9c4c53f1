#include "redaction/rules.h"

#include <re2/re2.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/yaml_reader.h"

namespace warden {

namespace {

// Every compiled pattern gets at most this much memory; a pattern that needs more is an error.
constexpr int64_t kMaxPatternMemory = 8 << 20;

bool ValidEntity(const std::string& e) {
  if (e.empty() || e.size() > 32 || e[0] < 'A' || e[0] > 'Z') return false;
  for (char c : e)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

class RuleSetParser : public YamlReader {
 public:
  using YamlReader::YamlReader;

  void ParseSet(const YAML::Node& root, const std::string& expected_name, RuleSet& set) {
    if (!ExpectMap(root, "a rule set file")) return;
    CheckKeys(root, "the rule set", {"name", "description", "rules"});
    ReadString(root, "name", set.name, "rule set");
    if (set.name != expected_name)
      Problem(root["name"] ? root["name"] : root,
              "the rule set must be named '" + expected_name + "' like its file");
    ReadString(root, "description", set.description, "rule set");
    const YAML::Node rules = root["rules"];
    if (!rules || !rules.IsSequence() || rules.size() == 0) {
      Problem(rules ? rules : root, "rules must be a non-empty list");
      return;
    }
    for (size_t i = 0; i < rules.size(); ++i) {
      const YAML::Node r = rules[i];
      std::string where = "rules[" + std::to_string(i) + "]";
      if (!ExpectMap(r, where)) continue;
      CheckKeys(r, where, {"entity", "pattern", "validator", "action", "match", "no_match"});
      Rule rule;
      rule.file = file_;
      rule.line = r.Mark().line + 1;
      ReadString(r, "entity", rule.entity, where);
      if (!ValidEntity(rule.entity))
        Problem(r["entity"] ? r["entity"] : r, where + ".entity must be UPPER_SNAKE_CASE (e.g. EMAIL)");
      // Patterns are taken literally: no ${ENV} substitution inside regular expressions.
      if (const YAML::Node p = r["pattern"]; p && p.IsScalar()) {
        rule.pattern = p.Scalar();
        RE2::Options opts;
        opts.set_max_mem(kMaxPatternMemory);
        opts.set_log_errors(false);
        auto re = std::make_shared<RE2>(rule.pattern, opts);
        if (!re->ok()) Problem(p, where + ".pattern does not compile: " + re->error());
        else if (re->NumberOfCapturingGroups() > 1)
          Problem(p, where + ".pattern may have at most one capturing group (the value to redact)");
        else rule.re = std::move(re);
      } else {
        Problem(r, where + " needs a pattern");
      }
      ReadString(r, "validator", rule.validator, where);
      if (!rule.validator.empty() && !IsKnownValidator(rule.validator))
        Problem(r["validator"], where + ".validator '" + rule.validator + "' is unknown");
      ReadChoice(r, "action", rule.action, where + ".action",
                 {{"redact", RuleAction::kRedact}, {"block", RuleAction::kBlock}});
      if (r["match"]) {
        if (auto m = RawList(r["match"], where + ".match")) rule.match = *m;
      }
      if (r["no_match"]) {
        if (auto m = RawList(r["no_match"], where + ".no_match")) rule.no_match = *m;
      }
      if (rule.match.empty())
        Problem(r, where + " (" + rule.entity + ") needs golden examples under match");
      set.rules.push_back(std::move(rule));
    }
  }

 private:
  // Example strings, taken literally (no ${ENV} substitution).
  std::optional<std::vector<std::string>> RawList(const YAML::Node& n, const std::string& what) {
    if (!n.IsSequence()) {
      Problem(n, what + " must be a list of strings");
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (const auto& item : n) {
      if (!item.IsScalar()) Problem(item, what + " entries must be strings");
      else out.push_back(item.Scalar());
    }
    return out;
  }
};

}  // namespace

RuleSetLoadResult LoadRuleSetFromString(const std::string& yaml, const std::string& file,
                                        const std::string& expected_name) {
  RuleSetParser parser(file, {});
  RuleSetLoadResult result;
  RuleSet set;
  if (auto root = parser.Parse(yaml)) parser.ParseSet(*root, expected_name, set);
  result.problems = parser.SortedProblems();
  if (!parser.HasErrors()) {
    auto sets = std::make_shared<RuleSets>();
    sets->Add(std::move(set));
    result.sets = std::move(sets);
  }
  return result;
}

RuleSetLoadResult LoadRuleSets(const std::string& dir) {
  RuleSetLoadResult result;
  auto sets = std::make_shared<RuleSets>();
  bool errors = false;
  for (const auto& path : YamlFilesIn(dir)) {
    RuleSetLoadResult one = LoadRuleSetFromString(ReadWholeFile(path), path.string(), path.stem().string());
    result.problems.insert(result.problems.end(), one.problems.begin(), one.problems.end());
    if (!one.ok()) {
      errors = true;
      continue;
    }
    sets->Add(*one.sets->Find(path.stem().string()));
  }
  if (!errors) result.sets = std::move(sets);
  return result;
}

}  // namespace warden
