#include "audit/crypto.h"

#include <sodium.h>

#include <fstream>

#include "common/util.h"

namespace warden::audit {
namespace {
const unsigned char* U(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
}  // namespace

std::string Seal(const Secret& key, std::string_view ad, std::string_view plaintext) {
  constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  std::string out(kNonce + plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  randombytes_buf(out.data(), kNonce);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(out.data() + kNonce), &len, U(plaintext), plaintext.size(),
      U(ad), ad.size(), nullptr, U(out), U(key.Reveal()));
  out.resize(kNonce + len);
  return out;
}

Result<std::string> Unseal(const Secret& key, std::string_view ad, std::string_view sealed) {
  constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  constexpr size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (key.Reveal().size() != crypto_aead_xchacha20poly1305_ietf_KEYBYTES || sealed.size() < kNonce + kTag)
    return Error::Internal("a sealed payload could not be opened", "audit_unseal_failed");
  std::string out(sealed.size() - kNonce - kTag, '\0');
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(out.data()), &len,
                                                 nullptr, U(sealed.substr(kNonce)),
                                                 sealed.size() - kNonce, U(ad), ad.size(),
                                                 U(sealed), U(key.Reveal())) != 0)
    return Error::Internal("a sealed payload could not be opened (wrong key or altered bytes)",
                           "audit_unseal_failed");
  out.resize(len);
  return out;
}

MasterKey MasterKey::FromBytes(Secret bytes) {
  MasterKey m;
  m.id = ToHex(Blake2b("warden-audit-master-key-id", 16, bytes.Reveal()).substr(0, 8));
  m.key = std::move(bytes);
  return m;
}

Result<MasterKey> MasterKey::LoadOrCreate(const std::string& path, bool* created) {
  auto bytes = LoadOrCreateKeyFile(path, kDataKeyBytes, "the audit master key", created);
  if (!bytes) return bytes.error();
  return FromBytes(std::move(*bytes));
}

Result<MasterKey> MasterKey::Load(const std::string& path) {
  auto bytes = LoadKeyFile(path, kDataKeyBytes, "the audit master key");
  if (!bytes) return bytes.error();
  return FromBytes(std::move(*bytes));
}

Result<SigningKey> SigningKey::LoadOrCreate(const std::string& path, bool* created) {
  auto seed = LoadOrCreateKeyFile(path, crypto_sign_SEEDBYTES, "the audit signing key", created);
  if (!seed) return seed.error();
  SigningKey k;
  std::string sk(crypto_sign_SECRETKEYBYTES, '\0');
  k.public_key.assign(crypto_sign_PUBLICKEYBYTES, '\0');
  crypto_sign_seed_keypair(reinterpret_cast<unsigned char*>(k.public_key.data()),
                           reinterpret_cast<unsigned char*>(sk.data()), U(seed->Reveal()));
  k.secret_key = Secret(std::move(sk));
  // The public half is not secret: written beside the seed for auditors (re-written each start
  // so it always matches the seed in use).
  std::ofstream pub(path + ".pub", std::ios::trunc);
  pub << ToHex(k.public_key) << "\n";
  if (!pub) return Error::Internal("cannot write the audit public key file " + path + ".pub");
  return k;
}

std::string SigningKey::Sign(std::string_view message) const {
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr, U(message),
                       message.size(), U(secret_key.Reveal()));
  return sig;
}

Result<std::string> LoadPublicKey(const std::string& path) {
  std::ifstream in(path);
  std::string hex;
  if (!in || !(in >> hex)) return Error::Internal("cannot read the public key file " + path);
  auto key = FromHex(hex);
  if (!key || key->size() != crypto_sign_PUBLICKEYBYTES)
    return Error::Internal("the public key file " + path + " does not hold a 64-hex-digit Ed25519 key");
  return *key;
}

bool VerifySignature(std::string_view public_key, std::string_view message, std::string_view sig) {
  return public_key.size() == crypto_sign_PUBLICKEYBYTES && sig.size() == crypto_sign_BYTES &&
         crypto_sign_verify_detached(U(sig), U(message), message.size(), U(public_key)) == 0;
}

}  // namespace warden::audit
