// The audit record format: how one record is laid out on disk, how it is chained, and how a
// checkpoint is signed. audit/README.md describes the same bytes for auditors who write their
// own verifier; keep the two in step.
//
// Contract: Encode/Decode are exact inverses; Decode is strict (every length checked, nothing
// read out of bounds, trailing bytes refused) because it reads what may have been tampered with.
// ChainHash covers the header and the payload HASHES (not the payload bytes), so payloads can be
// purged later without breaking the chain, and integrity is checked with no decryption key.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace warden::audit {

enum class RecordType : uint8_t {
  kIntent = 1,    // a request is about to be sent upstream
  kOutcome = 2,   // how it ended (completed, failed, partial, client_gone, interrupted)
  kRejected = 3,  // a request refused before anything was sent (policy, limits)
  kAdmin = 4,     // an administrative action (key created, revoked, rotated, …)
  kPurge = 5,     // payloads removed by retention (plaintext, followed by a checkpoint)
  kErasure = 6,   // a key's data key destroyed (plaintext, followed by a checkpoint)
};
const char* RecordTypeName(RecordType type);

constexpr uint8_t kFormatVersion = 1;
constexpr uint32_t kNeverExpires = 0xFFFFFFFFu;
constexpr size_t kHashBytes = 32;
constexpr size_t kMaxKeyIdBytes = 64;
constexpr std::string_view kSystemKeyId = "_system";

// One payload: sealed (nonce || ciphertext) for request records, plaintext JSON for purge and
// erasure records. `hash` is kept when the bytes are purged.
struct Payload {
  std::string hash;   // BLAKE2b-256 of `bytes` as first written; empty = no payload
  std::string bytes;  // empty once purged
  bool present() const { return !hash.empty(); }
  bool removed() const { return present() && bytes.empty(); }
};

struct Header {
  RecordType type = RecordType::kAdmin;
  uint64_t seq = 0;
  int64_t time_ms = 0;                       // Unix time, milliseconds
  uint32_t content_expiry_day = kNeverExpires;  // days since 1970-01-01 (UTC)
  uint32_t meta_expiry_day = kNeverExpires;
  std::string key_id;       // the client key's id (never the key); kSystemKeyId otherwise
  std::string data_key_id;  // 16 bytes; empty = payloads are plaintext
  std::string prev_hash;    // ChainHash of record seq-1 (32 zero bytes for seq 1)
};

struct Record {
  Header header;
  Payload meta;     // the content-free facts
  Payload content;  // prompt / response text, only when the policy logs content
};

// The header bytes: hashed into the chain and bound as associated data when sealing.
std::string EncodeHeader(const Header& h);
std::string Encode(const Record& r);
Result<Record> Decode(std::string_view bytes);

// BLAKE2b-256("warden-audit-chain-v1" || EncodeHeader || meta.hash || content.hash), with a
// zero-length hash written as one 0 byte marker so "absent" and "present" cannot collide.
std::string ChainHash(const Record& r);
std::string PayloadHash(std::string_view bytes);
// Associated data for sealing one payload of this record: EncodeHeader || "meta" / "content".
std::string PayloadAd(const Header& h, bool content);

// RocksDB keys: "r" + seq (8 bytes big-endian), "c" + seq for checkpoints.
std::string RecordKey(uint64_t seq);
std::string CheckpointKey(uint64_t seq);
uint64_t SeqOfKey(std::string_view key);  // 0 if malformed

// A signed statement "the chain up to `seq` hashes to `hash`" — in a fleet, "the chain of
// replica `replica`": the name is signed with the rest, so a chain cannot be passed off as
// another replica's.
struct Checkpoint {
  uint64_t seq = 0;
  int64_t time_ms = 0;
  std::string hash;       // 32 bytes
  std::string signature;  // Ed25519, 64 bytes, over SignedBytes()
  std::string replica = {};  // "" = a single node (version 1)
  // v1: "warden-audit-checkpoint-v1" || seq || time_ms || hash
  // v2 (a replica's): "warden-audit-checkpoint-v2" || u8 length || replica || seq || time_ms || hash
  std::string SignedBytes() const;
};
std::string EncodeCheckpoint(const Checkpoint& c);
Result<Checkpoint> DecodeCheckpoint(std::string_view bytes);
// One JSON line {"seq":…,"time_ms":…,"hash":"hex","signature":"hex"} for the checkpoint file.
std::string CheckpointLine(const Checkpoint& c);
Result<Checkpoint> ParseCheckpointLine(std::string_view line);

// Days since the epoch of a Unix time in milliseconds.
inline uint32_t DayOf(int64_t time_ms) { return static_cast<uint32_t>(time_ms / 86400000); }

}  // namespace warden::audit
