// libFuzzer target: every byte string a peer can put on the task channel
// goes through DecodeFrame; it must never crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/frame_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  taskfarm::DecodedFrame decoded = taskfarm::DecodeFrame(std::string_view(reinterpret_cast<const char*>(data), size));
  if (decoded.frame) {
    // Whatever decodes must re-encode.
    (void)taskfarm::EncodeFrame(*decoded.frame);
  }
  return 0;
}
