// libFuzzer target for the audit component's parsers: record decoding (strict, exact round
// trip), checkpoint decoding (binary and JSON line), wrapped data keys, unsealing, and the
// verifier over an arbitrary sequence of records and checkpoints.
//
// Input: first byte picks the mode; the rest is the payload.
#include <sodium.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "audit/crypto.h"
#include "audit/reader.h"
#include "audit/record.h"

namespace {

using namespace warden::audit;

class MemorySource : public RecordSource {
 public:
  std::vector<std::string> records;
  std::vector<Checkpoint> checkpoints;
  warden::Status ForEachRaw(uint64_t from, const std::function<bool(uint64_t, std::string_view)>& fn) const override {
    for (size_t i = 0; i < records.size(); ++i)
      if (i + 1 >= from && !fn(i + 1, records[i])) break;
    return warden::Status::Ok();
  }
  warden::Result<std::vector<Checkpoint>> Checkpoints() const override { return checkpoints; }
  warden::Result<std::set<std::string>> DataKeyIds() const override { return std::set<std::string>(); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool init = sodium_init() >= 0;
  (void)init;
  if (size < 1) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto r = Decode(in);
      // Decoding is strict: whatever decodes re-encodes to exactly the same bytes.
      if (r && Encode(*r) != in) std::abort();
      if (r) (void)ChainHash(*r);
      break;
    }
    case 1: {
      (void)DecodeCheckpoint(in);
      (void)ParseCheckpointLine(in);
      (void)DecodeWrappedDataKey(in);
      break;
    }
    case 2: {
      // Unsealing garbage fails cleanly, never crashes.
      warden::Secret key(std::string(32, 'k'));
      auto opened = Unseal(key, "ad", in);
      if (opened) std::abort();  // a forgery under a fixed key would be a real bug
      break;
    }
    case 3: {
      // Records separated by 0xFF 0x00; a checkpoint line may follow a 0xFE 0x00 separator.
      MemorySource src;
      std::string_view rest = in;
      size_t cp = rest.find(std::string_view("\xFE\x00", 2));
      if (cp != std::string_view::npos) {
        if (auto c = ParseCheckpointLine(rest.substr(cp + 2))) src.checkpoints.push_back(*c);
        rest = rest.substr(0, cp);
      }
      for (;;) {
        size_t sep = rest.find(std::string_view("\xFF\x00", 2));
        src.records.emplace_back(rest.substr(0, sep));
        if (sep == std::string_view::npos) break;
        rest = rest.substr(sep + 2);
      }
      static const std::string pk(32, '\x01');
      VerifyReport rep = Verify(src, pk);
      if (rep.ok() && rep.records != src.records.size()) std::abort();
      break;
    }
  }
  return 0;
}
