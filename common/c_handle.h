// One owner for every C library's handle: a std::unique_ptr whose deleter is
// the library's own free function.
//
//   using EventBasePtr = CHandle<event_base, event_base_free>;
//   EventBasePtr base(event_base_new());  // event_base_free'd when it goes
#pragma once

#include <memory>

namespace taskfarm {

// Calls Free on a non-null handle (unique_ptr never passes a null one).
template <auto Free>
struct FreeWith {
  template <typename T>
  void operator()(T* handle) const {
    Free(handle);
  }
};

template <typename T, auto Free>
using CHandle = std::unique_ptr<T, FreeWith<Free>>;

}  // namespace taskfarm
