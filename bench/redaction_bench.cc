// Redaction throughput (Google Benchmark): all shipped rule sets on 2 KB, 64 KB and 1 MB prompts
// of prose with a sensitive value every N bytes (the second argument: 0 = none, 4096 = ordinary
// text, 500, 60 = PII-dense), plus streaming restore per chunk. A plain copy of the same bytes
// is measured alongside as the in-run baseline.
//   build/bench/redaction_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>

#include "redaction/redactor.h"

namespace warden {
namespace {

std::shared_ptr<const Redactor> AllRules() {
  static std::shared_ptr<const RuleSets> sets = LoadRuleSets(WARDEN_SOURCE_DIR "/policies/redaction").sets;
  static std::shared_ptr<const Redactor> r = [] {
    std::vector<const RuleSet*> v;
    for (const auto& n : sets->Names()) v.push_back(sets->Find(n));
    return *Redactor::Build(v);
  }();
  return r;
}

// `bytes` of prose with a sensitive value every `every` bytes (0: none): 4096 is ordinary text,
// 60 is PII-dense (a form, a patient record, a contact list).
std::string Prompt(size_t bytes, size_t every = 500) {
  static const char* kProse[] = {
      "The patient reported mild symptoms after the second dose and was advised to rest. ",
      "Our quarterly numbers improved by 12.5 percent compared with the 2023 baseline. ",
      "Please review the attached draft before the meeting at 10:30 on Thursday. ",
      "The deployment of version 4.2.1 completed without errors across all regions. ",
      "Summarise the following customer conversation and list the open questions. ",
  };
  static const char* kValues[] = {"jane.doe@example.com", "+44 20 7946 0958", "4111 1111 1111 1111",
                                  "DE89 3704 0044 0532 0130 00", "123-45-6789", "192.168.10.20",
                                  "AKIAIOSFODNN7EXAMPLE", "RSSMRA85T10A562S", "NPI: 1234567893"};
  std::mt19937 rng(1);
  std::string out;
  size_t next_value = every;
  while (out.size() < bytes) {
    out += kProse[rng() % 5];
    if (every != 0 && out.size() >= next_value) {
      out += std::string(kValues[rng() % 9]) + ". ";
      next_value += every;
    }
  }
  out.resize(bytes);
  return out;
}

// Args: prompt bytes, then how far apart its sensitive values are (0 = none, 4096 = ordinary
// text, 500 = a value every few lines, 60 = PII-dense).
void BM_Redact(benchmark::State& state) {
  const std::string text = Prompt(static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)));
  auto redactor = AllRules();
  for (auto _ : state) {
    RedactionSession s(redactor, RedactionMode::kPlaceholder);
    std::string t = text;
    benchmark::DoNotOptimize(s.RedactText(t));
    benchmark::DoNotOptimize(t.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Redact)
    ->Args({2 << 10, 500})->Args({64 << 10, 500})->Args({1 << 20, 500})
    ->Args({2 << 10, 60})->Args({64 << 10, 60})->Args({64 << 10, 0})->Args({64 << 10, 4096})
    ->Unit(benchmark::kMicrosecond);

void BM_BaselineCopy(benchmark::State& state) {
  const std::string text = Prompt(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    std::string t = text;
    benchmark::DoNotOptimize(t.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_BaselineCopy)->Arg(2 << 10)->Arg(64 << 10)->Arg(1 << 20)->Unit(benchmark::kMicrosecond);

// One streamed chunk (about 4 tokens) through the restorer of a request that redacted 9 values.
void BM_StreamRestoreChunk(benchmark::State& state) {
  RedactionSession s(AllRules(), RedactionMode::kPlaceholder);
  std::string prompt = Prompt(8 << 10);
  (void)s.RedactText(prompt);
  const std::string answer = "Sure. I wrote to [EMAIL_1] and called [PHONE_1]; the card [CREDIT_CARD_1] was charged. ";
  StreamRestorer r(&s);
  size_t pos = 0;
  for (auto _ : state) {
    std::string_view chunk = std::string_view(answer).substr(pos, 16);
    benchmark::DoNotOptimize(r.Push(chunk));
    pos = (pos + 16) % answer.size();
  }
}
BENCHMARK(BM_StreamRestoreChunk)->Unit(benchmark::kNanosecond);

}  // namespace
}  // namespace warden

BENCHMARK_MAIN();
