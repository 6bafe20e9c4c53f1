// libFuzzer target: the provider adapters and the Anthropic Messages ingress on arbitrary input.
// The first byte picks a provider kind and what to fuzz: a provider's event stream through its
// StreamDecoder and on through both client encoders; a provider's answer through
// TranslateResponse and back out as an Anthropic message; an Anthropic request through
// MessagesToCanonical and every adapter's BuildRequest; or an arbitrary canonical body through
// BuildRequest. Nothing may throw or crash; a decoder never reports complete() after an error.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "gateway/client_format.h"
#include "providers/adapter.h"

using namespace warden;

namespace {

ProviderConfig Provider(ProviderKind kind) {
  ProviderConfig p;
  p.name = "p";
  p.kind = kind;
  p.scheme = "https";
  p.host = "h";
  p.port = 443;
  p.api_key = Secret("sk-fuzz-key-0123456789");
  return p;
}

constexpr ProviderKind kKinds[] = {ProviderKind::kOpenAI, ProviderKind::kAzure, ProviderKind::kAnthropic,
                                   ProviderKind::kGemini};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const ProviderKind kind = kKinds[data[0] % 4];
  const int mode = (data[0] / 4) % 4;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const ProviderAdapter& adapter = AdapterFor(kind);
  if (mode == 0) {
    auto decoder = adapter.NewStreamDecoder();
    auto openai = NewStreamEncoder(Ingress::kOpenAI, "alias");
    auto anthropic = NewStreamEncoder(Ingress::kAnthropic, "alias");
    std::vector<Json> chunks;
    SseParser parser(1 << 16);
    Status s = parser.Feed(input, [&](SseEvent& ev) { return decoder->Decode(ev, chunks); });
    if (s.ok()) s = decoder->Finish(chunks);
    for (const Json& c : chunks) {
      openai->Chunk(c);
      anthropic->Chunk(c);
    }
    anthropic->End();
    return 0;
  }
  auto json = ParseJson(input);
  if (!json) return 0;
  if (mode == 1) {
    auto canonical = adapter.TranslateResponse(Operation::kChat, *json);
    if (canonical.ok()) (void)Dump(ClientResponse(Ingress::kAnthropic, *canonical));
    (void)adapter.TranslateError(Provider(kind), 400 + (data[0] % 200), input);
    return 0;
  }
  if (mode == 2) {
    auto canonical = MessagesToCanonical(*json);
    if (!canonical.ok()) return 0;
    for (ProviderKind k : kKinds) (void)AdapterFor(k).BuildRequest(Provider(k), Operation::kChat, *canonical);
    return 0;
  }
  (void)adapter.BuildRequest(Provider(kind), Operation::kChat, *json);
  return 0;
}
