#include "audit/record.h"

#include <cstring>

#include "common/json.h"
#include "common/util.h"

namespace warden::audit {
namespace {

void PutU8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void PutU32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutBytes8(std::string& out, std::string_view b) {  // u8 length + bytes
  PutU8(out, static_cast<uint8_t>(b.size()));
  out.append(b);
}

// A bounds-checked reader: every Take*() fails (and stays failed) past the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  uint64_t Int(size_t bytes) {
    if (!Have(bytes)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in_[pos_ + i]);
    pos_ += bytes;
    return v;
  }
  std::string Bytes(size_t n) {
    if (!Have(n)) return {};
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }

 private:
  bool Have(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) ok_ = false;
    return ok_;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

void PutPayload(std::string& out, const Payload& p) {
  if (!p.present()) {
    PutU8(out, 0);
    return;
  }
  PutU8(out, 1);
  out.append(p.hash);
  PutU32(out, static_cast<uint32_t>(p.bytes.size()));
  out.append(p.bytes);
}

bool TakePayload(Reader& r, Payload& p) {
  uint64_t flag = r.Int(1);
  if (flag == 0) return r.ok();
  if (flag != 1) return false;
  p.hash = r.Bytes(kHashBytes);
  uint64_t len = r.Int(4);
  p.bytes = r.Bytes(len);
  return r.ok();
}

Error Malformed(const std::string& what) { return Error::Internal("malformed audit record: " + what, "audit_malformed"); }

constexpr std::string_view kCheckpointDomain = "warden-audit-checkpoint-v1";
constexpr std::string_view kReplicaCheckpointDomain = "warden-audit-checkpoint-v2";
constexpr size_t kMaxReplicaName = 255;

}  // namespace

const char* RecordTypeName(RecordType type) {
  switch (type) {
    case RecordType::kIntent: return "intent";
    case RecordType::kOutcome: return "outcome";
    case RecordType::kRejected: return "rejected";
    case RecordType::kAdmin: return "admin";
    case RecordType::kPurge: return "purge";
    case RecordType::kErasure: return "erasure";
  }
  return "unknown";
}

std::string EncodeHeader(const Header& h) {
  std::string out;
  out.reserve(64 + h.key_id.size());
  PutU8(out, kFormatVersion);
  PutU8(out, static_cast<uint8_t>(h.type));
  PutU64(out, h.seq);
  PutU64(out, static_cast<uint64_t>(h.time_ms));
  PutU32(out, h.content_expiry_day);
  PutU32(out, h.meta_expiry_day);
  PutBytes8(out, h.key_id);
  PutBytes8(out, h.data_key_id);
  out.append(h.prev_hash);
  return out;
}

std::string Encode(const Record& r) {
  std::string out = EncodeHeader(r.header);
  PutPayload(out, r.meta);
  PutPayload(out, r.content);
  return out;
}

Result<Record> Decode(std::string_view bytes) {
  Reader in(bytes);
  Record r;
  if (in.Int(1) != kFormatVersion) return Malformed("unknown format version");
  uint64_t type = in.Int(1);
  if (type < 1 || type > 6) return Malformed("unknown record type");
  r.header.type = static_cast<RecordType>(type);
  r.header.seq = in.Int(8);
  r.header.time_ms = static_cast<int64_t>(in.Int(8));
  r.header.content_expiry_day = static_cast<uint32_t>(in.Int(4));
  r.header.meta_expiry_day = static_cast<uint32_t>(in.Int(4));
  r.header.key_id = in.Bytes(in.Int(1));
  r.header.data_key_id = in.Bytes(in.Int(1));
  r.header.prev_hash = in.Bytes(kHashBytes);
  if (!in.ok()) return Malformed("truncated header");
  if (r.header.key_id.empty() || r.header.key_id.size() > kMaxKeyIdBytes) return Malformed("bad key id");
  if (!TakePayload(in, r.meta) || !TakePayload(in, r.content)) return Malformed("bad payload");
  if (!in.done()) return Malformed("trailing bytes");
  return r;
}

std::string PayloadHash(std::string_view bytes) { return Blake2b(bytes, kHashBytes); }

std::string ChainHash(const Record& r) {
  std::string in = "warden-audit-chain-v1";
  in += EncodeHeader(r.header);
  for (const Payload* p : {&r.meta, &r.content}) {
    if (p->present()) {
      in.push_back(1);
      in += p->hash;
    } else {
      in.push_back(0);
    }
  }
  return Blake2b(in, kHashBytes);
}

std::string PayloadAd(const Header& h, bool content) {
  return EncodeHeader(h) + (content ? "content" : "meta");
}

std::string RecordKey(uint64_t seq) {
  std::string k = "r";
  PutU64(k, seq);
  return k;
}
std::string CheckpointKey(uint64_t seq) {
  std::string k = "c";
  PutU64(k, seq);
  return k;
}
uint64_t SeqOfKey(std::string_view key) {
  if (key.size() != 9) return 0;
  Reader in(key.substr(1));
  return in.Int(8);
}

std::string Checkpoint::SignedBytes() const {
  std::string out(replica.empty() ? kCheckpointDomain : kReplicaCheckpointDomain);
  if (!replica.empty()) {
    out.push_back(static_cast<char>(replica.size()));
    out += replica;
  }
  PutU64(out, seq);
  PutU64(out, static_cast<uint64_t>(time_ms));
  out += hash;
  return out;
}

std::string EncodeCheckpoint(const Checkpoint& c) {
  std::string out;
  PutU64(out, c.seq);
  PutU64(out, static_cast<uint64_t>(c.time_ms));
  out += c.hash;
  out += c.signature;
  if (!c.replica.empty()) {  // v2: the replica's name follows (a v1 value ends here)
    out.push_back(static_cast<char>(c.replica.size()));
    out += c.replica;
  }
  return out;
}

Result<Checkpoint> DecodeCheckpoint(std::string_view bytes) {
  Reader in(bytes);
  Checkpoint c;
  c.seq = in.Int(8);
  c.time_ms = static_cast<int64_t>(in.Int(8));
  c.hash = in.Bytes(kHashBytes);
  c.signature = in.Bytes(64);
  if (!in.done()) {
    const size_t n = in.Int(1);
    c.replica = in.Bytes(n);
    if (n == 0 || c.replica.size() != n) return Malformed("bad checkpoint");
  }
  if (!in.done()) return Malformed("bad checkpoint");
  return c;
}

std::string CheckpointLine(const Checkpoint& c) {
  Json j = {{"seq", c.seq}, {"time_ms", c.time_ms}, {"hash", ToHex(c.hash)}, {"signature", ToHex(c.signature)}};
  if (!c.replica.empty()) j["replica"] = c.replica;
  return Dump(j);
}

Result<Checkpoint> ParseCheckpointLine(std::string_view line) {
  auto j = ParseJson(line);
  if (!j || !j->is_object()) return Malformed("checkpoint line is not JSON");
  try {
    Checkpoint c;
    c.seq = j->at("seq").get<uint64_t>();
    c.time_ms = j->at("time_ms").get<int64_t>();
    auto hash = FromHex(j->at("hash").get<std::string>());
    auto sig = FromHex(j->at("signature").get<std::string>());
    if (!hash || !sig || hash->size() != kHashBytes || sig->size() != 64)
      return Malformed("checkpoint line has a bad hash or signature");
    c.hash = std::move(*hash);
    c.signature = std::move(*sig);
    if (j->contains("replica")) {
      c.replica = j->at("replica").get<std::string>();
      if (c.replica.empty() || c.replica.size() > kMaxReplicaName) return Malformed("checkpoint line has a bad replica");
    }
    return c;
  } catch (const std::exception&) {
    return Malformed("checkpoint line lacks a field");
  }
}

}  // namespace warden::audit
