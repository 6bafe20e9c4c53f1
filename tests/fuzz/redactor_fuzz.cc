// libFuzzer target: the redactor and the streaming restorer on arbitrary bytes.
// Checks, for every input: redaction never crashes; in placeholder mode restore(redact(x)) == x;
// nothing a rule would take is left outside placeholders; and restoring an answer fed in
// arbitrary pieces gives the same text as restoring it whole.
// Build: see README ("Fuzzing"); scripts/test.sh --sanitize runs it briefly.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "redaction/redactor.h"

namespace {

std::shared_ptr<const warden::Redactor> AllRules() {
  static std::shared_ptr<const warden::RuleSets> sets =
      warden::LoadRuleSets(WARDEN_SOURCE_DIR "/policies/redaction").sets;
  static std::shared_ptr<const warden::Redactor> r = [] {
    if (!sets) std::abort();
    std::vector<const warden::RuleSet*> v;
    for (const auto& n : sets->Names()) v.push_back(sets->Find(n));
    return *warden::Redactor::Build(v);
  }();
  return r;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t chunking = data[0];
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  warden::RedactionSession s(AllRules(), warden::RedactionMode::kPlaceholder);
  std::string redacted = text;
  if (!s.RedactText(redacted).ok()) return 0;  // rules with action: block
  Check(s.Restore(redacted) == text, "restore(redact(x)) == x");
  // Held to the whole-text search: Find and FindNear look only where values can be.
  Check(AllRules()->FindReference(redacted, s.PlaceholdersIn(redacted)).empty(), "nothing left to find after redaction");
  // The redacted text doubles as a model answer full of placeholders.
  std::string whole = s.Restore(redacted);
  warden::StreamRestorer r(&s);
  std::string pieces;
  size_t pos = 0, step = 1 + chunking % 13;
  while (pos < redacted.size()) {
    pieces += r.Push(std::string_view(redacted).substr(pos, step));
    pos += step;
    step = 1 + (step * 7 + chunking) % 13;
  }
  pieces += r.Flush();
  Check(pieces == whole, "chunked restore == whole restore");
  return 0;
}
