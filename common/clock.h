// Time behind a seam: the scheduler asks a Clock, so its tests run on a
// FakeClock without sleeping.
#pragma once

#include <chrono>
#include <cstdint>

namespace taskfarm {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic milliseconds since an arbitrary origin.
  virtual double NowMs() const = 0;
};

class SteadyClock final : public Clock {
 public:
  double NowMs() const override {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
};

class FakeClock final : public Clock {
 public:
  double NowMs() const override { return now_ms_; }
  void Advance(double ms) { now_ms_ += ms; }

 private:
  double now_ms_ = 1000.0;
};

// Wall-clock milliseconds since the Unix epoch (comparable across hosts,
// roughly): used only for timelines, never for deadlines.
inline double UnixMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace taskfarm
