// Which host a URL talks to, as one key (what --per-host counts by): the
// origin a browser counts connections by, scheme://host:port, with the
// host lower-cased and the scheme's default port written out, so that
// spellings of one server are one key.
//
//   UrlHostKey("HTTP://Example.COM/a?b") == "http://example.com:80"
//   UrlHostKey("https://u:p@[::1]:8443/") == "https://[::1]:8443"
//
// Names are not resolved: `localhost` and `127.0.0.1` are two keys, as
// they are two origins.
#pragma once

#include <string>
#include <string_view>

namespace taskfarm {

// The key of `url`'s server; "" when `url` has no scheme://host (not a URL
// a url task accepts). A port given as digits is written as its number
// (`:080` is `:80`); http and https get 80 and 443 when none is given.
[[nodiscard]] std::string UrlHostKey(std::string_view url);

}  // namespace taskfarm
