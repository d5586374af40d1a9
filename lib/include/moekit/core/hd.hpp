#pragma once
// MOEKIT_HD marks per-row math that is compiled for the host and, under nvcc, for the
// device. Code in moekit/kernels/ uses it and nothing from Eigen or the standard library
// that a device cannot run.

#if defined(__CUDACC__)
#define MOEKIT_HD __host__ __device__
#else
#define MOEKIT_HD
#endif
