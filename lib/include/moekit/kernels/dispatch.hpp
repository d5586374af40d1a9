#pragma once
// Host-side choice of a kernel instantiation: the response dimension q as a compile-time
// constant for the common small sizes (the row loops unroll, the residual stays in
// registers), 0 (read at run time) above them.

#include <type_traits>

namespace moekit::kernels {

inline constexpr int kMaxUnrolledResponseDim = 8;

template <typename F>
decltype(auto) with_response_dim(int q, F&& f) {
  switch (q) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 3:
      return f(std::integral_constant<int, 3>{});
    case 4:
      return f(std::integral_constant<int, 4>{});
    case 5:
      return f(std::integral_constant<int, 5>{});
    case 6:
      return f(std::integral_constant<int, 6>{});
    case 7:
      return f(std::integral_constant<int, 7>{});
    case 8:
      return f(std::integral_constant<int, 8>{});
    default:
      return f(std::integral_constant<int, 0>{});
  }
}

}  // namespace moekit::kernels
