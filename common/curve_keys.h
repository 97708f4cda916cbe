// ZeroMQ CURVE keys as files: PATH.key holds the secret (mode 0600), PATH.pub
// the public key, each one 40-character Z85 line.
//
//   std::string error = WriteKeyPair("farm/coordinator");
//   std::string secret = ReadZ85Key("farm/coordinator.key");  // throws on error
#pragma once

#include <string>

namespace taskfarm {

// Generates a keypair and writes PATH.key and PATH.pub, making missing
// directories above them (mode 0700). Refuses to overwrite either file:
// nothing is written if one exists. Returns "" or an error sentence.
[[nodiscard]] std::string WriteKeyPair(const std::string& path);

// Reads a Z85 key from `path`. Throws std::runtime_error naming the file
// and what is wrong.
[[nodiscard]] std::string ReadZ85Key(const std::string& path);

// The Z85 public key for a Z85 secret key; throws if it is not one.
[[nodiscard]] std::string PublicKeyOf(const std::string& secret_z85);

}  // namespace taskfarm
