# PyTorch peers of benchmarks/kernels/losses.ts: the eager code a user would write (and, on
# CUDA, torch.compile of it), same shapes, same process conditions. Prints one JSON line:
#   {"infonce_4096": {"eager": {"medianMs", "iqrMs", "samples"}, "compiled": ...}, ...}
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from peer_timing import measure  # noqa: E402

device = sys.argv[1] if len(sys.argv) > 1 else 'cpu'
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(threads)
cuda = device.startswith('cuda')


def timeit(fn, **options):
    return measure(fn, device, **options)


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
