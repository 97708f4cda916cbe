// Move-only owners of libcurl's C handles (cpr's CurlHolder idea, with the
// copy constructor actually deleted).
#pragma once

#include <curl/curl.h>

#include <new>
#include <stdexcept>
#include <utility>

namespace taskfarm {

class CurlEasy {
 public:
  // A new handle (curl_easy_init): the only place one is made, so a pool
  // that hands out reused handles makes none behind its back.
  static CurlEasy Make() {
    CURL* handle = curl_easy_init();
    if (!handle) throw std::runtime_error("curl_easy_init failed");
    return CurlEasy(handle);
  }
  ~CurlEasy() {
    if (handle_) curl_easy_cleanup(handle_);
  }
  CurlEasy(const CurlEasy&) = delete;
  CurlEasy& operator=(const CurlEasy&) = delete;
  CurlEasy(CurlEasy&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  CurlEasy& operator=(CurlEasy&& other) noexcept {
    if (this != &other) {
      if (handle_) curl_easy_cleanup(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  CURL* get() const { return handle_; }

 private:
  explicit CurlEasy(CURL* handle) : handle_(handle) {}
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
    if (this != &other) {
      if (handle_) curl_multi_cleanup(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  CURLM* get() const { return handle_; }

 private:
  CURLM* handle_;
};

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
