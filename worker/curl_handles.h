// Owners of libcurl's C handles: the easy and multi handles are CHandles
// (common/c_handle.h), the header list adds appending.
#pragma once

#include <curl/curl.h>

#include <new>
#include <stdexcept>
#include <utility>

#include "common/c_handle.h"

namespace taskfarm {

using CurlEasy = CHandle<CURL, curl_easy_cleanup>;
using CurlMulti = CHandle<CURLM, curl_multi_cleanup>;

// A new easy handle (curl_easy_init): the only place one is made, so a pool
// that hands out reused handles makes none behind its back.
inline CurlEasy MakeCurlEasy() {
  CurlEasy easy(curl_easy_init());
  if (!easy) throw std::runtime_error("curl_easy_init failed");
  return easy;
}

inline CurlMulti MakeCurlMulti() {
  CurlMulti multi(curl_multi_init());
  if (!multi) throw std::runtime_error("curl_multi_init failed");
  return multi;
}

// A header list (CURLOPT_HTTPHEADER). libcurl keeps only the pointer: the
// list must outlive the transfer that uses it.
class CurlSlist {
 public:
  CurlSlist() = default;
  ~CurlSlist() { curl_slist_free_all(list_); }
  CurlSlist(const CurlSlist&) = delete;
  CurlSlist& operator=(const CurlSlist&) = delete;
  CurlSlist(CurlSlist&& other) noexcept : list_(std::exchange(other.list_, nullptr)) {}
  CurlSlist& operator=(CurlSlist&& other) noexcept {
    if (this != &other) {
      curl_slist_free_all(list_);
      list_ = std::exchange(other.list_, nullptr);
    }
    return *this;
  }
  // Appends a copy of `line`. Throws std::bad_alloc when libcurl cannot.
  void Append(const char* line) {
    curl_slist* grown = curl_slist_append(list_, line);
    if (!grown) throw std::bad_alloc();
    list_ = grown;
  }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

// curl_global_init for the process lifetime; construct once in main-ish code
// before any thread starts.
class CurlGlobal {
 public:
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
  CurlGlobal(const CurlGlobal&) = delete;
  CurlGlobal& operator=(const CurlGlobal&) = delete;
};

}  // namespace taskfarm
