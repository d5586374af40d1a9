#!/usr/bin/python3
"""The deep MoE layer of apps/bench/bench_deep.cpp in PyTorch on the CPU: forward + backward
tokens/s at T=4096, d=512, h=1024, E=8, k=2 (top-2 of the router logits, softmax over the
two, GELU experts, dropless; tokens grouped per expert with index_select / index_add, the
usual eager implementation). Same threads as the C++ run (torch.set_num_threads).

    /usr/bin/python3 apps/bench/bench_deep_torch.py --threads 2 [--dtype float64|float32]
        [--cxx build/apps/bench/bench_deep]   # also runs the C++ benchmark, prints the ratio
"""
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


def run_cxx(path, threads, seconds):
    env = dict(os.environ, MOEKIT_NUM_THREADS=str(threads))
    out = subprocess.run([path, "--benchmark_filter=BM_DeepForwardBackward",
                          f"--benchmark_min_time={seconds}", "--benchmark_format=json"],
                         env=env, check=True, capture_output=True, text=True).stdout
    b = json.loads(out)["benchmarks"][0]
    return b["items_per_second"], b["real_time"] / 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--cxx", help="path of the bench_deep executable to run in the same session")
    a = ap.parse_args()
    dtype = getattr(torch, a.dtype)
    tps, sec = bench(a.tokens, 512, 1024, 8, 2, dtype, a.threads, a.seconds)
    print(f"torch {torch.__version__} {a.dtype} threads={a.threads}: {tps:.1f} tokens/s ({sec * 1e3:.0f} ms/step)")
    if a.cxx:
        ctps, csec = run_cxx(a.cxx, a.threads, a.seconds)
        print(f"moekit float64 threads={a.threads}: {ctps:.1f} tokens/s ({csec * 1e3:.0f} ms/step)")
        print(f"ratio moekit / torch {a.dtype}: {ctps / tps:.2f}x")


if __name__ == "__main__":
    main()
