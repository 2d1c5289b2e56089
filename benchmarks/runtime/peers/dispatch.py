# PyTorch peer of benchmarks/runtime/dispatch.ts: the cost of one call itself (tiny tensors,
# so the op's arithmetic is negligible), timed as that file times ours: single calls, and
# BACK_TO_BACK calls per sample. Prints one JSON line {"<case>/<mode>": {"medianMs", ...}}.
#   argv[1]: JSON {"device": "cpu"|"cuda", "listLength": 62, "backToBack": 20}
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from peer_timing import measure  # noqa: E402

torch.set_num_threads(2)
cfg = json.loads(sys.argv[1])
device = torch.device(cfg['device'])
n_list, b2b = cfg['listLength'], cfg['backToBack']
results = {}


def bench(name, fn, calls):
    results[name] = measure(fn, device, warmup=20, min_iters=200, max_iters=5000, calls=calls)


x = torch.rand(64, 64, device=device)
targets = [torch.zeros(1, device=device) for _ in range(n_list)]
sources = [torch.zeros(1, device=device) for _ in range(n_list)]
queue, keys = torch.zeros(8, 2, device=device), torch.rand(2, 2, device=device)


def enqueue():
    queue[0:2] = keys


cases = {
    'add': lambda: x.add(x),
    'momentum-list': lambda: torch._foreach_lerp_(targets, sources, 0.001),
    'enqueue': enqueue,
}
for name, fn in cases.items():
    bench(f'{name}/single', fn, 1)
    bench(f'{name}/b2b', fn, b2b)
print(json.dumps(results))
