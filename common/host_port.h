// HOST:PORT addresses, one parser for every flag that takes one (--bind's
// tcp:// endpoints, --metrics), and whether a host is this machine's
// loopback: what decides if a listener needs authentication.
//
//   SplitHostPort("[::1]:9464") -> {host "::1", port "9464"}
//   IsLoopbackHost("127.0.0.1") && !IsLoopbackHost("127.evil.example")
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace taskfarm {

struct HostPort {
  std::string host;  // without an IPv6 address's brackets
  std::string port;  // as written: digits, "*", or anything (see ParsePort)
};

// Splits at the last ':'; nullopt when there is none.
[[nodiscard]] std::optional<HostPort> SplitHostPort(std::string_view address);

// A port written as 1 to 5 digits, 0..65535; nullopt otherwise.
[[nodiscard]] std::optional<int> ParsePort(std::string_view port);

// Whether `host` (brackets allowed) is an IPv4 loopback address (127/8),
// ::1, or `localhost`. Numeric addresses only (inet_pton): a name such as
// 127.evil.example is not loopback, whatever it starts with.
[[nodiscard]] bool IsLoopbackHost(std::string_view host);

}  // namespace taskfarm
