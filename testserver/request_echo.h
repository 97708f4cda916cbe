// The /echo route's document: what the server saw of a request (method,
// headers in order, the body's size and SHA-256), as JSON.
//
//   {"method":"POST","headers":[["Content-Type","application/json"],...],
//    "body_bytes":N,"body_sha256":"<64 hex digits>"}
#pragma once

#include <string>

struct evhttp_request;

namespace taskfarm::testserver {

// The echo of `req` (its whole body already read): header names and values
// as libevent parsed them (names as sent, values without the whitespace
// around them; a folded line joined), in the order received. Always valid
// JSON: control bytes are escaped, and bytes that are not UTF-8 become
// U+FFFD. Throws std::runtime_error if hashing fails.
[[nodiscard]] std::string EchoJson(evhttp_request* req);

}  // namespace taskfarm::testserver
