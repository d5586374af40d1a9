#pragma once
// Working storage that an object keeps between calls of one of its methods, so that the calls
// allocate nothing once the sizes are set (an EM iteration's M-step on small data was mostly
// malloc and free). It is not part of the object's value: a copy or a move starts empty, so
// copies cost nothing for it, and an Eigen decomposition in it, whose status a default
// construction leaves unset, is never copied before it has computed.

namespace moekit {

template <class T>
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) {}
  Scratch(Scratch&&) noexcept {}
  Scratch& operator=(const Scratch&) { return *this; }
  Scratch& operator=(Scratch&&) noexcept { return *this; }
  ~Scratch() = default;

  T& operator*() { return value_; }
  T* operator->() { return &value_; }

 private:
  T value_;
};

}  // namespace moekit
