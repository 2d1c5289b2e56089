# Plain PyTorch, CPU, no hexa-torch: the backward of a 1x1, stride-2 convolution on
# channels-last input with fewer than 16 input channels, at several intra-op thread counts.
# On AVX-512 CPUs oneDNN's backward-weights kernel for it (ONEDNN_VERBOSE=1 names it:
# jit_1x1:avx512_core) corrupted the heap with torch 2.13.0 and 2.14.1 (AMD EPYC) at 3, 5, 7, 12,
# 16 and 24 threads, not at 1, 2, 4, 6, 8; 2 to 15 input channels; float32 and bfloat16; not
# with ONEDNN_MAX_CPU_ISA=AVX2, nor at stride 1, 3x3 or 7x7 filters, 16 or more channels, or
# NCHW. oneDNN's issue #6035 (open) explains it: the workspace that makes the stride 1 is
# booked for the real channel count per pixel and addressed with the 16-channel block.
# A width-8 ResNet-18 has such a shortcut (8 -> 16); native/models/resnet.cpp (ShortcutConv)
# computes it as a stride-1 convolution of every second pixel instead.
# Each case runs in a forked child, so a crash is reported and the scan goes on.
#   python3 scripts/repro/onednn_strided_1x1.py      (exit 1 when any case crashed)
import os
import sys

import torch


def case(threads, channels, stride, dtype, fmt):
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        torch.set_num_threads(threads)
        x = torch.randn(8, channels, 16, 16, dtype=dtype).contiguous(memory_format=fmt)
        w = torch.randn(16, channels, 1, 1, dtype=dtype).contiguous(memory_format=fmt)
        grad = torch.randn_like(torch.nn.functional.conv2d(x, w, stride=stride))
        for _ in range(20):
            torch.ops.aten.convolution_backward(grad, x, w, None, [stride] * 2, [0, 0], [1, 1], False, [0, 0], 1,
                                                [True, True, False])
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return 'ok' if status == 0 else f'DIED (signal {os.WTERMSIG(status)})' if os.WIFSIGNALED(status) else f'exit {status >> 8}'


print('torch', torch.__version__, 'cpu', torch.backends.cpu.get_cpu_capability(), flush=True)
died = 0
for dtype in (torch.float32, torch.bfloat16):
    for fmt, fmt_name in ((torch.channels_last, 'NHWC'), (torch.contiguous_format, 'NCHW')):
        for channels, stride in ((8, 2), (16, 2), (8, 1)):
            row = []
            for threads in (2, 3, 5, 16):
                r = case(threads, channels, stride, dtype, fmt)
                died += r != 'ok'
                row.append(f'{threads} threads {r}')
            print(f'{str(dtype)[6:]:8} {fmt_name} {channels:2} channels stride {stride}: ' + ', '.join(row), flush=True)
sys.exit(1 if died else 0)
