# The PyTorch peer of one MoCo-v2 / HEXA_MoCo iteration on given views, written the way a
# PyTorch user would (vectorised CutMix, PGD with autograd.grad, one backward of the summed
# loss, torch.optim.SGD, a foreach momentum update). Prints one JSON line of timings.
#   python moco_step.py <method> <batch> <width> <size> <queue> <iters> [device=cpu] [flags...]
# Flags: `channels_last` (model and inputs NHWC) and `bf16` / `fp16` (torch.autocast around the
# model passes; fp16 with torch.amp.GradScaler), as PyTorch's performance guides advise; `compile`: both encoders through
# torch.compile (Inductor; its compile time is spent in the warm-up steps, not timed); `profile`: the timed steps run under
# torch.profiler and every recorded op is printed ([name, start_us, end_us, thread]) for
# benchmarks/train/profile.ts; `serve`: after the warm-up, times as many steps as each stdin
# line asks for (benchmarks/train/step.ts interleaves the peers with ours this way).
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', '..', 'test', 'reference'))
from moco_model import Encoder  # noqa: E402

method, n, width, size, K, iters = sys.argv[1], *map(int, sys.argv[2:7])
device = sys.argv[7] if len(sys.argv) > 7 else 'cpu'
flags = set(sys.argv[8:])
torch.set_default_device(device)  # every tensor below, the models' too, lives on the device
sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
torch.set_num_threads(2)
torch.manual_seed(0)
tau, m, eps, alpha = 0.2, 0.99, 8 / 255, 2 / 255
query, key = Encoder(width), Encoder(width)
key.load_state_dict(query.state_dict())
if 'channels_last' in flags:
    query, key = query.to(memory_format=torch.channels_last), key.to(memory_format=torch.channels_last)
if 'compile' in flags:
    query, key = torch.compile(query), torch.compile(key)
autocast_device = 'cuda' if device.startswith('cuda') else 'cpu'


half = torch.float16 if 'fp16' in flags else torch.bfloat16


def encode(model, x):
    with torch.autocast(autocast_device, dtype=half, enabled='bf16' in flags or 'fp16' in flags):
        return model(x).float()

for p in key.parameters():
    p.requires_grad_(False)
queue = F.normalize(torch.randn(K, 128), dim=1)
ptr = 0
opt = torch.optim.SGD(query.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)
# fp16: torch.amp's dynamic loss scale (the attack's loss scaled too: PGD keeps only the sign).
scaler = torch.amp.GradScaler(autocast_device, enabled='fp16' in flags)
bn_buffers = [b for b in query.buffers()]


def info_nce(q, k, targets=None):
    if targets is None:
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], 1) / tau
        return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))
    logits = torch.cat([q @ k.t(), q @ queue.t()], 1) / tau
    return -(targets * F.log_softmax(logits, 1)).sum(1).mean()


def step(vq, vk):
    global ptr
    with torch.no_grad():
        k = encode(key, vk)
    loss = info_nce(encode(query, vq), k)
    if method == 'hexa-moco':
        saved = [b.clone() for b in bn_buffers]
        x = (vq + torch.empty_like(vq).uniform_(-eps, eps)).clamp(0, 1)
        for _ in range(2):
            x = x.detach().requires_grad_(True)
            g, = torch.autograd.grad(scaler.scale(info_nce(encode(query, x), k)), x)
            x = torch.min(torch.max(x.detach() + alpha * g.sign(), vq - eps), vq + eps).clamp(0, 1)
        loss = loss + info_nce(encode(query, x.detach()), k)
        for b, s in zip(bn_buffers, saved):
            b.data.copy_(s)
        lam = torch.distributions.Beta(1.0, 1.0).sample((n,))
        r = (1 - lam).sqrt()
        ch, cw = (size * r).floor(), (size * r).floor()
        cy, cx = torch.randint(size, (n,)), torch.randint(size, (n,))
        y0, y1 = (cy - ch // 2).clamp(0, size), (cy + ch // 2).clamp(0, size)
        x0, x1 = (cx - cw // 2).clamp(0, size), (cx + cw // 2).clamp(0, size)
        ar = torch.arange(size)
        inside = ((ar[None, :, None] >= y0[:, None, None]) & (ar[None, :, None] < y1[:, None, None]) &
                  (ar[None, None, :] >= x0[:, None, None]) & (ar[None, None, :] < x1[:, None, None]))
        perm = torch.randperm(n)
        xm = torch.where(inside[:, None], vq[perm], vq)
        lam = 1 - (y1 - y0) * (x1 - x0) / (size * size)
        t = torch.zeros(n, n + K)
        t[torch.arange(n), torch.arange(n)] += lam
        t[torch.arange(n), perm] += 1 - lam
        loss = loss + info_nce(encode(query, xm), k, t)
    opt.zero_grad()
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    with torch.no_grad():
        torch._foreach_lerp_(list(key.parameters()), list(query.parameters()), 1 - m)
        queue[(torch.arange(n) + ptr) % K] = k
        ptr = (ptr + n) % K


vq, vk = torch.rand(n, 3, size, size), torch.rand(n, 3, size, size)
if 'channels_last' in flags:
    vq, vk = vq.contiguous(memory_format=torch.channels_last), vk.contiguous(memory_format=torch.channels_last)
for _ in range(3 if 'compile' in flags else 1):  # compile: every graph (train, attack, no-grad key) built
    step(vq, vk)
sync()
if 'profile' in flags:
    step(vq, vk)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        for _ in range(iters):
            step(vq, vk)
        sync()
        wall = (time.perf_counter() - t) * 1000
    ops = [[e.name, e.time_range.start, e.time_range.end, e.thread] for e in prof.events()]
    print(json.dumps({'ops': ops, 'wall_ms': wall, 'torch': torch.__version__}))
    sys.exit(0)


def timed(count):
    times = []
    for _ in range(count):
        t = time.perf_counter()
        step(vq, vk)
        sync()
        times.append((time.perf_counter() - t) * 1000)
    return times


if 'serve' in flags:
    # Warmed up: each line on stdin is a number of steps to time, answered with one JSON line,
    # so that the caller can interleave this peer with its own measurements (EOF ends it).
    print(json.dumps({'ready': True, 'torch': torch.__version__}), flush=True)
    for line in sys.stdin:
        print(json.dumps({'times_ms': timed(int(line))}), flush=True)
    sys.exit(0)
print(json.dumps({'times_ms': timed(iters), 'torch': torch.__version__}))
