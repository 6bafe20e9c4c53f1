// libFuzzer target: what a client sends before any handler runs or a provider sees it. The
// first byte picks: a request body through Parse for each endpoint (chat, messages,
// embeddings) and the prompt-token estimate; a chunked body through ChunkedDecoder, fed whole
// and in pieces whose sizes come from the input (both must agree); or header lines through
// CheckRequestHead. Nothing may throw or crash; decoded data never exceeds the limit.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "gateway/parse.h"
#include "server/http_checks.h"

using namespace warden;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  switch (data[0] % 3) {
    case 0: {
      static const Endpoint kEndpoints[] = {Endpoint::kChatCompletions, Endpoint::kMessages, Endpoint::kEmbeddings};
      const Endpoint endpoint = kEndpoints[data[1] % 3];
      auto parsed = Parse(endpoint, input);
      if (parsed.ok() && endpoint != Endpoint::kEmbeddings) {
        if (!parsed->body.is_object()) abort();
        if (parsed->request.estimated_prompt_tokens < 0 || EstimatePromptTokens(parsed->body) < 0) abort();
      }
      break;
    }
    case 1: {
      const size_t limit = 64 + data[1] * 16;
      ChunkedDecoder whole(limit), split(limit);
      std::string a, b;
      const size_t used = whole.Feed(input, a);
      if (used > input.size() || a.size() > limit) abort();
      const size_t step = 1 + data[1] % 7;
      size_t used_split = 0;
      for (size_t at = 0; at < input.size() && !split.done() && !split.failed(); at += step) {
        const std::string_view piece = input.substr(at, step);
        const size_t n = split.Feed(piece, b);
        used_split += n;
        if (n < piece.size()) break;
      }
      if (whole.done() != split.done() || whole.failed() != split.failed() || a != b) abort();
      if (whole.done() && used != used_split) abort();
      break;
    }
    default: {
      HeaderList headers;
      std::string_view rest = input;
      while (!rest.empty()) {
        const std::string_view line = rest.substr(0, rest.find('\n'));
        rest.remove_prefix(std::min(rest.size(), line.size() + 1));
        const size_t colon = line.find(':');
        headers.emplace_back(std::string(line.substr(0, colon)),
                             colon == std::string_view::npos ? "" : std::string(line.substr(colon + 1)));
      }
      auto error = CheckRequestHead(data[1] % 2 ? "HTTP/1.1" : "HTTP/1.0", headers);
      if (error && error->status() != 400 && error->status() != 501) abort();
      break;
    }
  }
  return 0;
}
