// A SHA-256 digest computed as bytes stream past (OpenSSL's EVP), so a
// body of any size is hashed without being kept.
//
//   Sha256 digest;
//   digest.Update(data, n);      // as often as data comes
//   std::string hex = digest.Hex();  // 64 lower-case hex digits; once
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

#include "common/c_handle.h"

namespace taskfarm {

class Sha256 {
 public:
  // Throws std::runtime_error if OpenSSL cannot set up the digest.
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
      throw std::runtime_error("OpenSSL cannot start a SHA-256 digest");
    }
  }

  void Update(const void* data, size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }

  // The digest of everything given to Update, in lower-case hex. Ends the
  // digest: call once.
  [[nodiscard]] std::string Hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &n);
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(2 * n);
    for (unsigned int i = 0; i < n; ++i) {
      hex.push_back(kDigits[md[i] >> 4]);
      hex.push_back(kDigits[md[i] & 15]);
    }
    return hex;
  }

 private:
  CHandle<EVP_MD_CTX, EVP_MD_CTX_free> ctx_;
};

}  // namespace taskfarm
