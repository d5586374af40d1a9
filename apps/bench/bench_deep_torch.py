#!/usr/bin/python3
"""The deep MoE layer of apps/bench/bench_deep.cpp in PyTorch on the CPU: forward + backward
tokens/s at T=4096, d=512, h=1024, E=8, k=2 (top-2 of the router logits, softmax over the
two, GELU experts, dropless; tokens grouped per expert with index_select / index_add, the
usual eager implementation). Same threads as the C++ run (torch.set_num_threads).

    /usr/bin/python3 apps/bench/bench_deep_torch.py --threads 2 [--dtype float32|float64]
        [--cxx build/apps/bench/bench_deep]   # also runs the C++ benchmark, prints the ratio

It also reports the BLAS that torch loaded (path and OpenBLAS core), the SGEMM rate of that
BLAS at the expert GEMMs' shape (1024 x 512 times 512 x 1024, torch.mm), the load average
before and after, and with --cxx moekit's float32 and float64 layer, moekit's own SGEMM bound
(BM_SgemmLayerShapes) and the fraction of the best SGEMM rate the float32 layer reaches.
"""
import ctypes
import argparse
import json
import os
import subprocess
import time

import torch
import torch.nn.functional as F


class MoeLayer(torch.nn.Module):
    def __init__(self, d, h, E, k):
        super().__init__()
        self.k, self.E = k, E
        self.router = torch.nn.Linear(d, E, bias=False)
        self.w1 = torch.nn.ModuleList(torch.nn.Linear(d, h) for _ in range(E))
        self.w2 = torch.nn.ModuleList(torch.nn.Linear(h, d) for _ in range(E))

    def forward(self, x):
        logits = self.router(x)
        top, idx = logits.topk(self.k, dim=-1)
        gates = torch.softmax(top, dim=-1)  # Mixtral: top-k then softmax over the k
        y = torch.zeros_like(x)
        for e in range(self.E):
            tok, rank = torch.nonzero(idx == e, as_tuple=True)
            if tok.numel() == 0:
                continue
            out = self.w2[e](F.gelu(self.w1[e](x.index_select(0, tok))))
            y = y.index_add(0, tok, out * gates[tok, rank].unsqueeze(1))
        return y


def bench(T, d, h, E, k, dtype, threads, seconds):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layer = MoeLayer(d, h, E, k).to(dtype)
    x = torch.randn(T, d, dtype=dtype, requires_grad=True)
    dy = torch.randn(T, d, dtype=dtype)

    def step():
        layer.zero_grad(set_to_none=False)
        x.grad = None
        y = layer(x)
        y.backward(dy)

    step()  # warm-up
    n, start = 0, time.perf_counter()
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 2:
            break
    return n * T / elapsed, elapsed / n


def blas_info():
    """Path of the BLAS library torch loaded and, for OpenBLAS, the kernel it runs."""
    paths = sorted({line.split()[-1] for line in open("/proc/self/maps")
                    if "blas" in line and ".so" in line})
    core = "?"
    for p in paths:
        try:
            lib = ctypes.CDLL(p)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            core = f"{lib.openblas_get_corename().decode()} ({lib.openblas_get_config().decode()})"
            break
        except (OSError, AttributeError):
            continue
    return paths, core


def sgemm_rate(dtype, seconds=2.0):
    """GFLOP/s of torch.mm at the expert GEMMs' shape (the BLAS's own threading)."""
    a = torch.randn(1024, 512, dtype=dtype)
    b = torch.randn(512, 1024, dtype=dtype)
    torch.mm(a, b)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        n += 1
    return 2.0 * 1024 * 512 * 1024 * n / (time.perf_counter() - start) / 1e9


def load():
    return open("/proc/loadavg").read().split()[0]


def run_cxx(path, threads, seconds):
    env = dict(os.environ, MOEKIT_NUM_THREADS=str(threads))
    out = subprocess.run([path, "--benchmark_filter=BM_DeepForwardBackward|BM_SgemmLayerShapes|BM_FmaPeak",
                          f"--benchmark_min_time={seconds}", "--benchmark_format=json"],
                         env=env, check=True, capture_output=True, text=True).stdout
    # BM_SgemmLayerShapes/0 is moekit's sgemm, /1 Eigen's: keep the argument in the key.
    return {b["name"].replace("/real_time", "").replace("/4096", ""): b
            for b in json.loads(out)["benchmarks"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float32")
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--cxx", help="path of the bench_deep executable to run in the same session")
    a = ap.parse_args()
    dtype = getattr(torch, a.dtype)
    print(f"load average before: {load()}")
    torch.set_num_threads(a.threads)
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))  # loads the BLAS
    paths, core = blas_info()
    print(f"BLAS: {', '.join(paths) or 'none found'}; OpenBLAS core: {core}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    blas_rate = sgemm_rate(torch.float32)
    print(f"torch.mm float32 1024x512x1024 threads={a.threads}: {blas_rate:.1f} GFLOP/s")
    tps, sec = bench(a.tokens, 512, 1024, 8, 2, dtype, a.threads, a.seconds)
    print(f"torch {torch.__version__} {a.dtype} threads={a.threads}: {tps:.1f} tokens/s ({sec * 1e3:.0f} ms/step)")
    if a.cxx:
        r = run_cxx(a.cxx, a.threads, a.seconds)
        f32, f64 = r["BM_DeepForwardBackward"], r["BM_DeepForwardBackward64"]
        own, eigen = r["BM_SgemmLayerShapes/0"], r["BM_SgemmLayerShapes/1"]
        for name, b in (("float32", f32), ("float64", f64)):
            print(f"moekit {name} threads={a.threads}: {b['items_per_second']:.1f} tokens/s "
                  f"({b['real_time']:.0f} ms/step, {b['GFLOP/s']:.1f} GFLOP/s)")
        for name, b in (("sgemm (" + own.get("label", "") + ")", own), ("Eigen SGEMM", eigen)):
            print(f"moekit {name} 1024x512x1024, one per thread, threads={a.threads}: "
                  f"{b['GFLOP/s']:.1f} GFLOP/s")
        if "BM_FmaPeak" in r and "GFLOP/s" in r["BM_FmaPeak"]:
            peak = r["BM_FmaPeak"]["GFLOP/s"]
            step_gflop = f32["GFLOP/s"] * f32["real_time"] / 1e3  # real_time in ms
            need = step_gflop * 2.0 * tps / a.tokens
            print(f"float32 FMA peak, threads={a.threads}: {peak:.1f} GFLOP/s; a layer twice as "
                  f"fast as torch's ({step_gflop:.1f} GFLOP per step) would run at {need:.1f} "
                  f"GFLOP/s, {need / peak:.2f} of the peak")
        bound = max(blas_rate, own["GFLOP/s"], eigen["GFLOP/s"])
        print(f"ratio moekit float32 / torch {a.dtype}: {f32['items_per_second'] / tps:.2f}x; "
              f"moekit float64 / torch {a.dtype}: {f64['items_per_second'] / tps:.2f}x")
        print(f"fraction of the SGEMM bound ({bound:.1f} GFLOP/s): {f32['GFLOP/s'] / bound:.2f}")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
