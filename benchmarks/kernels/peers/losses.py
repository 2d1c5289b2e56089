# PyTorch peers of benchmarks/kernels/losses.ts: the eager code a user would write (and, on
# CUDA, torch.compile of it), same shapes, same process conditions. Prints one JSON line:
#   {"infonce_4096": {"eager": {"medianMs", "iqrMs", "samples"}, "compiled": ...}, ...}
import json
import sys
import time

import torch
import torch.nn.functional as F

device = sys.argv[1] if len(sys.argv) > 1 else 'cpu'
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(threads)
cuda = device.startswith('cuda')


def sync():
    if cuda:
        torch.cuda.synchronize()


def timeit(fn, warmup=3, min_iters=10, min_ms=500, max_iters=200):
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    start = time.perf_counter()
    while len(samples) < max_iters and (len(samples) < min_iters or (time.perf_counter() - start) * 1e3 < min_ms):
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append((time.perf_counter() - t0) * 1e3)
    s = sorted(samples)
    q = lambda p: s[min(len(s) - 1, max(0, round(p * (len(s) - 1))))]
    return {'medianMs': q(0.5), 'iqrMs': q(0.75) - q(0.25), 'samples': len(s)}


def unit(*shape, gen):
    return F.normalize(torch.randn(*shape, generator=gen, dtype=torch.float32), dim=1).to(device)


def infonce(q, k, queue, tau=0.2):
    # MoCo v2's reference code.
    l_pos = torch.einsum('nc,nc->n', q, k).unsqueeze(-1)
    l_neg = torch.einsum('nc,kc->nk', q, queue)
    logits = torch.cat([l_pos, l_neg], dim=1) / tau
    labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, labels)


def assign(x, c):
    return (x @ c.t()).max(1)


results = {}
gen = torch.Generator().manual_seed(0)
for K in (4096, 65536):
    N, C = 256, 128
    q = unit(N, C, gen=gen).requires_grad_(True)
    k, queue = unit(N, C, gen=gen), unit(K, C, gen=gen)
    variants = {'eager': infonce}
    if cuda:
        variants['compiled'] = torch.compile(infonce)
    entry = {}
    for name, fn in variants.items():
        def step(fn=fn):
            q.grad = None
            fn(q, k, queue).backward()
        entry[name] = timeit(step)
    # The floor of any implementation: the forward GEMM q.queue^T and the backward GEMM
    # G.queue alone, into preallocated outputs (reported to show where the time goes).
    with torch.no_grad():
        logits, grad = torch.empty(N, K, device=device), torch.empty(N, C, device=device)
        qd = q.detach()
        def gemms():
            torch.mm(qd, queue.t(), out=logits)
            torch.mm(logits, queue, out=grad)
        entry['2 GEMMs only'] = timeit(gemms)
    results[f'infonce_{K}'] = entry

x, c = unit(50000, 128, gen=gen), unit(3000, 128, gen=gen)
entry = {'eager': timeit(lambda: assign(x, c), warmup=2, min_iters=5)}
if cuda:
    compiled = torch.compile(assign)
    entry['compiled'] = timeit(lambda: compiled(x, c), warmup=2, min_iters=5)
results['kmeans_assign'] = entry

print(json.dumps(results))
