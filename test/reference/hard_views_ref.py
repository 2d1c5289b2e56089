# The hard views as the reference implementations (moco_step.py, dcluster_step.py) compute
# them, in plain PyTorch and independently of hexa-torch: PGD under frozen BN buffers, and
# CutMix with one box per sample from its partner.
import torch


class FrozenBN:
    """The attack and the adversarial forward must not change the model's BN buffers."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.saved = {k: v.clone() for k, v in self.model.named_buffers()}

    def __exit__(self, *a):
        # .data: restoring must not bump the version counters the clean graph saved
        for k, v in self.model.named_buffers():
            v.data.copy_(self.saved[k])


def pgd_linf(loss_of, x0, noise, eps, alpha, steps):
    """L-inf PGD from x0 + noise: `steps` ascent steps on loss_of(x), projected and clamped."""
    x = (x0 + noise).clamp(0, 1)
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        g, = torch.autograd.grad(loss_of(x), x)
        x = torch.min(torch.max(x.detach() + alpha * g.sign(), x0 - eps), x0 + eps).clamp(0, 1)
    return x.detach()


def cutmix(x, perm, boxes):
    """x with box i taken from x[perm[i]], and lambda_i, the visible fraction of image i."""
    n, _, h, w = x.shape
    xm = x.clone()
    lam = torch.empty(n)
    for i in range(n):
        y0, x0, y1, x1 = boxes[i].tolist()
        xm[i, :, y0:y1, x0:x1] = x[perm[i], :, y0:y1, x0:x1]
        lam[i] = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    return xm, lam
