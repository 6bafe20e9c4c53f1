// The labelled evaluation set (tests/redaction/eval_set.jsonl, written by make_eval_set.py):
// precision and recall per entity type with every shipped rule set enabled, printed, and held to
// recall >= 0.99 and precision >= 0.98 for structured identifiers.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "redaction/redactor.h"

namespace warden {
namespace {

struct Counts {
  int tp = 0, fp = 0, fn = 0;
};

TEST(RedactionEvalTest, PrecisionAndRecallPerEntity) {
  RuleSetLoadResult loaded = LoadRuleSets(std::string(WARDEN_SOURCE_DIR) + "/policies/redaction");
  ASSERT_TRUE(loaded.ok());
  std::vector<const RuleSet*> sets;
  for (const auto& n : loaded.sets->Names()) sets.push_back(loaded.sets->Find(n));
  auto redactor = Redactor::Build(sets);
  ASSERT_TRUE(redactor.ok());

  std::ifstream in(std::string(WARDEN_SOURCE_DIR) + "/tests/redaction/eval_set.jsonl");
  ASSERT_TRUE(in.good());
  std::map<std::string, Counts> by_type;
  int positives = 0, negatives = 0;
  std::vector<std::string> misses;
  for (std::string line; std::getline(in, line);) {
    auto row = ParseJson(line);
    ASSERT_TRUE(row.has_value()) << line;
    const std::string text = (*row)["text"];
    std::multiset<std::pair<std::string, std::string>> expected;
    for (const auto& e : (*row)["entities"])
      expected.insert({e["type"].get<std::string>(), e["value"].get<std::string>()});
    (expected.empty() ? negatives : positives)++;
    for (const auto& m : (*redactor)->Find(text)) {
      std::pair<std::string, std::string> got{(*redactor)->rules()[static_cast<size_t>(m.rule)]->entity,
                                              text.substr(m.begin, m.end - m.begin)};
      auto it = expected.find(got);
      if (it != expected.end()) {
        by_type[got.first].tp++;
        expected.erase(it);
      } else {
        by_type[got.first].fp++;
        misses.push_back("false positive " + got.first + ": " + text);
      }
    }
    for (const auto& [type, value] : expected) {
      by_type[type].fn++;
      misses.push_back("missed " + type + ": " + text);
    }
  }
  EXPECT_GE(positives, 300);
  EXPECT_GE(negatives, 300);
  std::printf("\n%-20s %6s %6s %6s %9s %7s\n", "entity", "tp", "fp", "fn", "precision", "recall");
  const std::set<std::string> structured = {"CREDIT_CARD", "IBAN",  "US_SSN",     "DE_TAX_ID",
                                            "FR_NIR",      "IT_CODICE_FISCALE", "ES_DNI_NIE",
                                            "UK_NINO",     "NL_BSN", "US_NPI",     "DEA_NUMBER",
                                            "EMAIL",       "IP_ADDRESS", "AWS_ACCESS_KEY", "GITHUB_TOKEN"};
  for (const auto& [type, c] : by_type) {
    double precision = c.tp + c.fp ? static_cast<double>(c.tp) / (c.tp + c.fp) : 1.0;
    double recall = c.tp + c.fn ? static_cast<double>(c.tp) / (c.tp + c.fn) : 1.0;
    std::printf("%-20s %6d %6d %6d %9.3f %7.3f\n", type.c_str(), c.tp, c.fp, c.fn, precision, recall);
    if (structured.count(type)) {
      EXPECT_GE(recall, 0.99) << type;
      EXPECT_GE(precision, 0.98) << type;
    }
  }
  for (const auto& m : misses) std::printf("  %s\n", m.c_str());
}

}  // namespace
}  // namespace warden
