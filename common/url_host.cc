// The host key of a URL: scheme, host and port, normalised.
#include "common/url_host.h"

#include <charconv>

namespace taskfarm {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::string UrlHostKey(std::string_view url) {
  size_t sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) return "";
  std::string scheme = Lower(url.substr(0, sep));
  std::string_view authority = url.substr(sep + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  // user:password@ is not part of where the request goes.
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {  // an IPv6 literal: its colons are not the port's
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return "";
    host = authority.substr(0, close + 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest[0] == ':') port = rest.substr(1);
  } else if (size_t colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return "";
  std::string key = scheme + "://" + Lower(host);
  unsigned number = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (!port.empty() && ec == std::errc() && end == port.data() + port.size() && number <= 65535) {
    return key + ":" + std::to_string(number);
  }
  if (!port.empty()) return key + ":" + std::string(port);  // not a number: as written
  if (scheme == "http") return key + ":80";
  if (scheme == "https") return key + ":443";
  return key;
}

}  // namespace taskfarm
