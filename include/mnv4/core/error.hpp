#pragma once
// The one exception type mnv4 throws. Messages say what was wrong, where
// (file, tensor or key) and what was expected versus found.
#include "mnv4/config.hpp"
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace mnv4::inline MNV4_ISA_NAMESPACE {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// Builds a message from streamable parts: fail("tensor '", name, "': expected ", n).
template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  throw Error(out.str());
}
}  // namespace detail

}  // namespace mnv4
