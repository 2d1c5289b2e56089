# The Python side of benchmarks/harness.ts's time(): the same warm-up, stopping rule and
# summary, so that a peer's numbers and ours mean the same thing. The peers import it:
#   sys.path.insert(0, str(Path(__file__).resolve().parents[2])); from peer_timing import measure
import time

import torch


def measure(fn, device, warmup=3, min_iters=10, min_ms=500, max_iters=200, calls=1):
    """Median and IQR of ms per call: `calls` calls per sample (back to back), one
    synchronize per sample on CUDA; samples until both min_iters and min_ms are reached."""
    cuda = torch.device(device).type == 'cuda'

    def run():
        for _ in range(calls):
            fn()
        if cuda:
            torch.cuda.synchronize()

    for _ in range(warmup):
        run()
    samples = []
    start = time.perf_counter()
    while len(samples) < max_iters and (len(samples) < min_iters or (time.perf_counter() - start) * 1e3 < min_ms):
        t0 = time.perf_counter()
        run()
        samples.append((time.perf_counter() - t0) * 1e3 / calls)
    s = sorted(samples)
    q = lambda p: s[min(len(s) - 1, max(0, round(p * (len(s) - 1))))]
    return {'medianMs': q(0.5), 'iqrMs': q(0.75) - q(0.25), 'samples': len(s)}
