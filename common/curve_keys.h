// ZeroMQ CURVE keys as files: PATH.key holds the secret (mode 0600), PATH.pub
// the public key, each one 40-character Z85 line.
//
//   Status written = WriteKeyPair("farm/coordinator");
//   StatusOr<std::string> secret = ReadZ85Key("farm/coordinator.key");
#pragma once

#include <string>

#include "common/status.h"

namespace taskfarm {

// Generates a keypair and writes PATH.key and PATH.pub, making missing
// directories above them (mode 0700). Refuses to overwrite either file:
// nothing is written if one exists. InvalidArgument for a name that cannot
// be one (or is taken), Unavailable when the system fails a step.
Status WriteKeyPair(const std::string& path);

// Reads a Z85 key from `path`. InvalidArgument naming the file and what is
// wrong.
StatusOr<std::string> ReadZ85Key(const std::string& path);

// The Z85 public key for a Z85 secret key; InvalidArgument if it is not one.
StatusOr<std::string> PublicKeyOf(const std::string& secret_z85);

}  // namespace taskfarm
