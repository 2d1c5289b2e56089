# PyTorch eager peers of benchmarks/kernels/hard-views.ts: the same shapes, timed the same way
# (warm-up, then median and IQR of single calls). Prints one JSON line:
#   {"<case>": {"medianMs": .., "iqrMs": .., "samples": ..}, ...}
# argv[1]: JSON {"device": "cpu"|"cuda", "pgdShapes": [[n,c,h,w], ...], "resnets": {name: [[shape], ...]},
#                "enqueue": {"K":..,"C":..,"N":..}}
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from peer_timing import measure  # noqa: E402

torch.set_num_threads(2)
cfg = json.loads(sys.argv[1])
device = torch.device(cfg['device'])
results = {}


# On CUDA each timed sample is also taken as BACK_TO_BACK calls with one synchronize (name
# suffix '-b2b'): the sustained rate of bandwidth-bound kernels, as benchmarks/harness.ts does.
BACK_TO_BACK = 20


def bench(name, fn, back_to_back=1):
    if back_to_back == 1 and device.type == 'cuda':
        # 'kind/shape' -> 'kind-b2b/shape', the key hard-views.ts looks up.
        kind, _, shape = name.partition('/')
        bench(f'{kind}-b2b/{shape}', fn, BACK_TO_BACK)
    results[name] = measure(fn, device, calls=back_to_back)


gen = torch.Generator().manual_seed(0)
EPS, STEP = 8 / 255, 2 / 255
for shape in cfg['pgdShapes']:
    key = 'x'.join(map(str, shape))
    xc = torch.rand(shape, generator=gen).to(device)
    xa = (xc + (torch.rand(shape, generator=gen).to(device) - 0.5) * 0.1).clamp(0, 1)
    g = torch.randn(shape, generator=gen).to(device)

    # The bandwidth reference: copy_ into an existing buffer (no allocation, no page faults).
    buf = torch.empty_like(xc)
    bench(f'copy/{key}', lambda: buf.copy_(xc))
    del buf

    # Out of place, as written in attack code.
    bench(f'pgd-linf-eager/{key}', lambda: (xa + STEP * g.sign()).clamp(xc - EPS, xc + EPS).clamp(0, 1))
    # The best in-place form: the ball bounds once per attack, then only in-place ops per step.
    lo, hi = xc - EPS, xc + EPS
    xi, gi = xa.clone(), g.clone()

    def linf_inplace():
        xi.add_(gi.sign_().mul_(STEP))
        torch.max(xi, lo, out=xi)
        torch.min(xi, hi, out=xi)
        xi.clamp_(0, 1)
    bench(f'pgd-linf-inplace/{key}', linf_inplace)

    n = shape[0]
    view = [n] + [1] * (len(shape) - 1)

    def l2_eager():
        gn = g.reshape(n, -1).norm(dim=1).clamp_min(1e-12).view(view)
        x = xa + STEP * 10 * (g / gn)
        delta = x - xc
        dn = delta.reshape(n, -1).norm(dim=1).view(view)
        f = torch.where(dn > EPS * 10, EPS * 10 / dn, torch.ones_like(dn))
        return (xc + delta * f).clamp(0, 1)
    bench(f'pgd-l2-eager/{key}', l2_eager)

    # CutMix: a per-sample loop and a vectorised mask + torch.where.
    h, w = shape[2], shape[3]
    lam = torch.distributions.Beta(1.0, 1.0).sample((n,))
    cut = (1 - lam).sqrt()
    cy, cx = torch.randint(h, (n,), generator=gen), torch.randint(w, (n,), generator=gen)
    ch, cw = (h * cut).floor().long(), (w * cut).floor().long()
    y0, y1 = (cy - ch // 2).clamp(0, h), (cy + ch // 2).clamp(0, h)
    x0, x1 = (cx - cw // 2).clamp(0, w), (cx + cw // 2).clamp(0, w)
    perm = torch.randperm(n, generator=gen)
    boxes = torch.stack([y0, x0, y1, x1], 1).tolist()
    perm_l = perm.tolist()
    perm_d = perm.to(device)

    def cutmix_loop():
        out = xc.clone()
        for i in range(n):
            a, b, c, d = boxes[i]
            out[i, :, a:c, b:d] = xc[perm_l[i], :, a:c, b:d]
        return out
    bench(f'cutmix-loop/{key}', cutmix_loop)
    ys = torch.arange(h, device=device).view(1, h, 1)
    xs = torch.arange(w, device=device).view(1, 1, w)
    bt = torch.stack([y0, x0, y1, x1], 1).to(device)

    def cutmix_vectorised():
        b = bt.view(n, 4, 1, 1)
        mask = (ys >= b[:, 0]) & (ys < b[:, 2]) & (xs >= b[:, 1]) & (xs < b[:, 3])
        return torch.where(mask.unsqueeze(1), xc[perm_d], xc)
    bench(f'cutmix-vectorised/{key}', cutmix_vectorised)
    del xc, xa, g, xi, gi, lo, hi

M = 0.999
for name, shapes in cfg['resnets'].items():
    tgt = [torch.rand(s, generator=gen).to(device) for s in shapes]
    src = [torch.rand(s, generator=gen).to(device) for s in shapes]

    def loop():
        for p, q in zip(tgt, src):
            p.mul_(M).add_(q, alpha=1 - M)
    bench(f'momentum-loop/{name}', loop)
    bench(f'momentum-foreach-lerp/{name}', lambda: torch._foreach_lerp_(tgt, src, 1 - M))

    def foreach_mul_add():
        torch._foreach_mul_(tgt, M)
        torch._foreach_add_(tgt, src, alpha=1 - M)
    bench(f'momentum-foreach-mul-add/{name}', foreach_mul_add)

e = cfg['enqueue']
queue = torch.zeros(e['K'], e['C'], device=device)
keys = torch.rand(e['N'], e['C'], generator=gen).to(device)
state = {'ptr': e['K'] - e['N'] // 2}  # starts at a wrap, then walks the ring


def enqueue():
    ptr, n, k = state['ptr'], e['N'], e['K']
    first = min(n, k - ptr)
    queue[ptr:ptr + first] = keys[:first]
    if first < n:
        queue[:n - first] = keys[first:]
    state['ptr'] = (ptr + n) % k
bench(f"enqueue/{e['K']}x{e['C']}+{e['N']}", enqueue)

print(json.dumps(results))
