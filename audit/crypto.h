// The audit component's keys and sealing.
//
//   master key   32 random bytes (key file, 0600). Wraps the data keys; never seals records.
//                Its id (first 8 bytes of a BLAKE2b of the key, hex) is stored beside every
//                wrapped data key so rotation knows what to re-wrap.
//   data key     32 random bytes per client key (never derived, so destroying the wrapped copy
//                destroys it: crypto-shredding). Seals that key's record payloads.
//   signing key  Ed25519 seed (key file, 0600); its public key (hex, in <file>.pub) is all an
//                auditor needs to verify the chain and its checkpoints.
//
// Sealing is XChaCha20-Poly1305-IETF with a random 24-byte nonce: sealed = nonce || ciphertext.
// Contract: functions are pure and thread-safe; secrets are held in Secret (wiped on destruction)
// and never appear in an error message.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/secret.h"

namespace warden::audit {

constexpr size_t kDataKeyBytes = 32;
constexpr size_t kDataKeyIdBytes = 16;

std::string Seal(const Secret& key, std::string_view ad, std::string_view plaintext);
// Fails (code audit_unseal_failed) when the key is wrong or anything was altered.
Result<std::string> Unseal(const Secret& key, std::string_view ad, std::string_view sealed);

struct MasterKey {
  Secret key;
  std::string id;  // 16 hex characters
  static MasterKey FromBytes(Secret bytes);
  // Loads the key file, creating it when absent (*created tells the caller to warn loudly).
  static Result<MasterKey> LoadOrCreate(const std::string& path, bool* created);
  static Result<MasterKey> Load(const std::string& path);
};

struct SigningKey {
  Secret secret_key;       // libsodium's 64-byte Ed25519 secret key (seed || public key)
  std::string public_key;  // 32 bytes
  // Loads the seed file (creating it when absent) and writes <path>.pub with the public key.
  static Result<SigningKey> LoadOrCreate(const std::string& path, bool* created);
  std::string Sign(std::string_view message) const;  // 64 bytes
};

// Reads a public key file (64 hex characters, surrounding whitespace allowed).
Result<std::string> LoadPublicKey(const std::string& path);
bool VerifySignature(std::string_view public_key, std::string_view message, std::string_view sig);

}  // namespace warden::audit
