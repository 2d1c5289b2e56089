# Pure PyTorch, CPU, no hexa-torch: the shape of precision.test.ts's bf16 step (the reference
# ResNet-18 encoder at width 8, 8 images of 16x16, torch.autocast bfloat16 around the forward,
# backward of the loss), 20 times per stage. A LibTorch CPU test worker aborted in free() inside
# at::native::convolution_backward on an H200 machine's Xeon with torch 2.11 (AMX), while the
# first stage alone ran clean there: if a later stage aborts, the fault is in that torch build's
# CPU bfloat16 convolution backward, not in hexa-torch. The stages add what HEXA's step does
# beyond plain training: the gradient with respect to the images (the PGD attack's), which
# makes the first convolution's backward compute a 3-channel input gradient.
#   python3 scripts/gpu/bf16_cpu_repro.py
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'reference'))
from moco_model import Encoder  # noqa: E402

torch.manual_seed(3)
print('torch', torch.__version__, 'cpu', torch.backends.cpu.get_cpu_capability(), 'threads', torch.get_num_threads(), flush=True)
for name, channels_last, input_grad in [('weights only, NHWC', True, False), ('input gradient too, NHWC', True, True),
                                        ('input gradient too, NCHW', False, True)]:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = Encoder(8).to(memory_format=fmt)
    for i in range(20):
        x = torch.rand(8, 3, 16, 16).contiguous(memory_format=fmt).requires_grad_(input_grad)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            y = model(x).float()
        y.square().sum().backward()
    print(f'bf16 cpu fwd+bwd x20, {name}: ok', flush=True)
