// Move-only owners of libcurl's C handles (cpr's CurlHolder idea, with the
// copy constructor actually deleted).
#pragma once

#include <curl/curl.h>

#include <stdexcept>
#include <utility>

namespace taskfarm {

class CurlEasy {
 public:
  CurlEasy() : handle_(curl_easy_init()) {
    if (!handle_) throw std::runtime_error("curl_easy_init failed");
  }
  ~CurlEasy() {
    if (handle_) curl_easy_cleanup(handle_);
  }
  CurlEasy(const CurlEasy&) = delete;
  CurlEasy& operator=(const CurlEasy&) = delete;
  CurlEasy(CurlEasy&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  CurlEasy& operator=(CurlEasy&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  CURL* get() const { return handle_; }

 private:
  CURL* handle_;
};

class CurlMulti {
 public:
  CurlMulti() : handle_(curl_multi_init()) {
    if (!handle_) throw std::runtime_error("curl_multi_init failed");
  }
  ~CurlMulti() {
    if (handle_) curl_multi_cleanup(handle_);
  }
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;
  CurlMulti(CurlMulti&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  CurlMulti& operator=(CurlMulti&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  CURLM* get() const { return handle_; }

 private:
  CURLM* handle_;
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
