// EchoJson: walks libevent's parsed request and hashes its body in place
// (evbuffer_peek, no copy of the up to 8 MiB body).
#include "testserver/request_echo.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "common/c_handle.h"

namespace taskfarm::testserver {
namespace {

const char* MethodName(evhttp_cmd_type method) {
  switch (method) {
    case EVHTTP_REQ_GET:
      return "GET";
    case EVHTTP_REQ_POST:
      return "POST";
    case EVHTTP_REQ_HEAD:
      return "HEAD";
    case EVHTTP_REQ_PUT:
      return "PUT";
    case EVHTTP_REQ_DELETE:
      return "DELETE";
    case EVHTTP_REQ_OPTIONS:
      return "OPTIONS";
    case EVHTTP_REQ_TRACE:
      return "TRACE";
    case EVHTTP_REQ_CONNECT:
      return "CONNECT";
    case EVHTTP_REQ_PATCH:
      return "PATCH";
  }
  return "UNKNOWN";
}

// Lower-case hex SHA-256 of everything in `body`.
std::string Sha256Hex(evbuffer* body) {
  CHandle<EVP_MD_CTX, EVP_MD_CTX_free> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("testserver: cannot start SHA-256");
  }
  const int extents = evbuffer_peek(body, -1, nullptr, nullptr, 0);
  std::vector<evbuffer_iovec> chunks(static_cast<size_t>(extents > 0 ? extents : 0));
  evbuffer_peek(body, -1, nullptr, chunks.data(), extents);
  for (const evbuffer_iovec& chunk : chunks) {
    if (EVP_DigestUpdate(ctx.get(), chunk.iov_base, chunk.iov_len) != 1) {
      throw std::runtime_error("testserver: SHA-256 update failed");
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &digest_len) != 1) {
    throw std::runtime_error("testserver: SHA-256 final failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < digest_len; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

}  // namespace

std::string EchoJson(evhttp_request* req) {
  nlohmann::ordered_json headers = nlohmann::ordered_json::array();
  const evkeyvalq* input = evhttp_request_get_input_headers(req);
  for (const evkeyval* header = input->tqh_first; header != nullptr; header = header->next.tqe_next) {
    headers.push_back(nlohmann::ordered_json::array({header->key, header->value}));
  }
  evbuffer* body = evhttp_request_get_input_buffer(req);
  nlohmann::ordered_json echo;  // keys in the documented order
  echo["method"] = MethodName(evhttp_request_get_command(req));
  echo["headers"] = std::move(headers);
  echo["body_bytes"] = evbuffer_get_length(body);
  echo["body_sha256"] = Sha256Hex(body);
  return echo.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

}  // namespace taskfarm::testserver
