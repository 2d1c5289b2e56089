# Pure PyTorch, CPU, no hexa-torch: the shape of precision.test.ts's bf16 step (the reference
# ResNet-18 encoder at width 8, channels_last, torch.autocast bfloat16 around the forward,
# backward of the loss), 20 times. A LibTorch CPU test worker aborted in free() inside
# at::native::convolution_backward on an H200 machine's Xeon with torch 2.11: if this aborts
# too, the fault is in that torch build's CPU bfloat16 convolution backward, not in hexa-torch.
#   python3 scripts/gpu/bf16_cpu_repro.py
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'reference'))
from moco_model import Encoder  # noqa: E402

torch.manual_seed(3)
print('torch', torch.__version__, 'cpu', torch.backends.cpu.get_cpu_capability(), flush=True)
model = Encoder(8).to(memory_format=torch.channels_last)
x = torch.rand(8, 3, 16, 16).contiguous(memory_format=torch.channels_last)
for i in range(20):
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = model(x).float()
    y.square().sum().backward()
print('bf16 cpu fwd+bwd x20: ok', flush=True)
