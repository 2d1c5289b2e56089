# Rebuilds CIFAR-10 binary files from scripts/gpu/pack-cifar.mjs's output (on the device
# machine, whose python3 has Pillow and numpy).  python3 decode_cifar.py <packed dir> <out dir>
import os
import sys

import numpy as np
from PIL import Image

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
for name in sorted(f[:-5] for f in os.listdir(src) if f.endswith('.webp')):
    grid = np.asarray(Image.open(os.path.join(src, name + '.webp')).convert('RGB'))  # [3200, 3200, 3]
    labels = np.fromfile(os.path.join(src, name + '.labels'), dtype=np.uint8)
    n, g = labels.size, grid.shape[0] // 32
    images = grid.reshape(g, 32, g, 32, 3).transpose(0, 2, 4, 1, 3).reshape(g * g, 3 * 32 * 32)[:n]
    records = np.concatenate([labels[:, None], images], axis=1)
    records.tofile(os.path.join(out, name + '.bin'))
    print(f'{name}.bin: {records.nbytes} bytes')
