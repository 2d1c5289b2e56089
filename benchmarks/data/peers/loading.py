# Peer timings for benchmarks/data/loading.ts: the same work done the usual Python way (numpy
# reads the CIFAR-10 binary files, torch gathers batches). Prints one JSON line: name -> ms list.
import hashlib, json, os, sys, time
import numpy as np
import torch

torch.set_num_threads(2)
cifar_dir = sys.argv[1]
batch = int(sys.argv[2])
out = {}

def timed(name, fn, iters):
    fn()  # warm-up
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    out[name] = samples

files = [os.path.join(cifar_dir, f'data_batch_{k}.bin') for k in range(1, 6)]

def load(verify):
    parts = []
    for f in files:
        raw = open(f, 'rb').read()
        if verify:
            hashlib.md5(raw).hexdigest()
        parts.append(np.frombuffer(raw, dtype=np.uint8).reshape(10000, 3073))
    return parts

timed('load_verify', lambda: load(True), 5)
timed('load', lambda: load(False), 5)

records = np.concatenate(load(False))
images = torch.from_numpy(records[:, 1:].copy()).reshape(50000, 3, 32, 32)
labels = torch.from_numpy(records[:, 0].astype(np.int64))
g = torch.Generator().manual_seed(0)

def one_batch():
    idx = torch.randint(0, 50000, (batch,), generator=g)
    return images.index_select(0, idx), labels.index_select(0, idx)

timed('batch', one_batch, 200)

def epoch():
    order = torch.randperm(50000, generator=g)
    for s in range(0, 50000, batch):
        idx = order[s:s + batch]
        images.index_select(0, idx), labels.index_select(0, idx)

timed('epoch', epoch, 5)
print(json.dumps(out))
