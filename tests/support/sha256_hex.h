// SHA-256 in 64 lower-case hex digits, by OpenSSL's EVP interface directly:
// what the tests check a worker's streamed `sha256` against (not the
// worker's own code checked against itself). Link OpenSSL::Crypto.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

namespace taskfarm::testing {

// Fed in pieces (a body too large to hold), then Hex() once.
class Sha256Hasher {
 public:
  Sha256Hasher() { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void Update(std::string_view bytes) { EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()); }
  std::string Hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest, &len);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out.push_back(kHex[digest[i] >> 4]);
      out.push_back(kHex[digest[i] & 15]);
    }
    return out;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_{EVP_MD_CTX_new()};
};

inline std::string Sha256Hex(std::string_view bytes) {
  Sha256Hasher h;
  h.Update(bytes);
  return h.Hex();
}

}  // namespace taskfarm::testing
