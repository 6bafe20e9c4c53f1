// libFuzzer target: configuration and policy loading on arbitrary YAML. The first byte picks
// the config loader or the policy loader (against a fixed valid config). Nothing may throw or
// crash; a refused file always says why (at least one error problem); every problem's position
// is inside the input. (That secrets never reach a message is tested by the config unit tests:
// substitution is textual, so here an ${ENV} value may legitimately land in any field.)
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"
#include "policy/policy.h"

using namespace warden;

namespace {

EnvLookup Env() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (name == "UNSET") return std::nullopt;
    return std::string("env-value-0123456789abcdef");
  };
}

void Check(const std::vector<ConfigProblem>& problems, bool ok, const std::string& text) {
  bool error = false;
  int lines = 1;
  for (char c : text) lines += c == '\n';
  for (const auto& p : problems) {
    error = error || p.severity == ConfigProblem::Severity::kError;
    if (p.line < 0 || p.line > lines + 1) abort();
  }
  if (!ok && !error) abort();  // refused without a reason
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    LoadResult r = LoadConfigFromString(text, "fuzz.yaml", Env());
    Check(r.problems, r.ok(), text);
  } else {
    static const LoadResult base = LoadConfigFromString(
        "providers:\n  - { name: p, kind: echo, region: eu }\nmodels:\n  - alias: m\n    deployments: [ { provider: p } ]\n",
        "base.yaml");
    if (!base.ok()) abort();
    PolicyLoadResult r = LoadPolicyFromString(text, "fuzz.yaml", "fuzz", *base.config);
    Check(r.problems, r.ok(), text);
  }
  return 0;
}
