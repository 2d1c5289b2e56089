# An independent PyTorch implementation of DeepCluster-v2 / HEXA_DCluster, written from
# docs/hexa-method.md and ../shared/docs/deepcluster-v2.md (swav's main_deepclusterv2.py
# semantics), used by test/train/dcluster-step.test.ts. Runs inside torchReference's prelude:
# `inp` holds the initial weights ('model.*'), the bank pass's views and indices, the injected
# initial centroids, each step's views, indices and hard-view randomness, and `cfg`.
# It does: the bank pass (train-mode BN, no grad), per head spherical k-means (11 E-steps,
# 10 M-steps, empty clusters keep their centroid), then training steps with the clean
# multi-crop loss, the PGD view (BN buffers restored), the CutMix view with per-head soft
# targets, and SGD or LARS.
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.use_deterministic_algorithms(True)
(width, out_dim, hidden, n_data, n_batch, bank_batches, steps_n, small_n, tau, iters, sgd_m, wd, lr, lars, eta,
 adv_on, eps, alpha, pgd_steps, w_adv, mix_on, w_mix) = inp['cfg'].tolist()
width, out_dim, hidden, n_data, n_batch, bank_batches, steps_n, small_n, iters, pgd_steps = (
    int(width), int(out_dim), int(hidden), int(n_data), int(n_batch), int(bank_batches), int(steps_n), int(small_n),
    int(iters), int(pgd_steps))
heads = sorted(int(k[len('init'):]) for k in inp if k.startswith('init'))

from moco_model import ResNet18Cifar  # noqa: E402  (sys.path set by the caller)
from hard_views_ref import FrozenBN, cutmix, pgd_linf  # noqa: E402


class DCEncoder(nn.Module):  # backbone + Linear-BN1d-ReLU-Linear head, L2-normalised
    def __init__(self):
        super().__init__()
        self.backbone = ResNet18Cifar(width)
        d = self.backbone.dim
        h = hidden or d
        self.head = nn.Sequential(nn.Linear(d, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, out_dim))
        self.register_buffer('input_mean', torch.zeros(1, 3, 1, 1))
        self.register_buffer('input_std', torch.ones(1, 3, 1, 1))

    def feats(self, x):
        return self.backbone((x - self.input_mean) / self.input_std)

    def project(self, f):
        return F.normalize(self.head(f), dim=1)

    def forward(self, x):
        return self.project(self.feats(x))


model = DCEncoder()
model.load_state_dict({k[len('model.'):]: v for k, v in inp.items() if k.startswith('model.')}, strict=True)


def embed_crops(views):  # same-size crops through the backbone together, the head on all
    groups, i = [], 0
    while i < len(views):
        j = i + 1
        while j < len(views) and views[j].shape == views[i].shape:
            j += 1
        groups.append(model.feats(torch.cat(views[i:j])))
        i = j
    return model.project(torch.cat(groups))


bank = torch.zeros(2, n_data, out_dim)
model.train()
with torch.no_grad():
    for b in range(bank_batches):
        idx = inp[f'bankidx{b}'].long()
        z = embed_crops([inp[f'bank{b}v0'], inp[f'bank{b}v1']])
        n = idx.shape[0]
        bank[0][idx], bank[1][idx] = z[:n], z[n:]

prototypes, assignments = [], []
with torch.no_grad():
    for h in heads:
        x = bank[h % 2]
        c = inp[f'init{h}'].clone()
        for it in range(iters + 1):
            a = (x @ c.t()).argmax(1)
            if it == iters:
                break
            for k in range(c.shape[0]):
                members = x[a == k]
                if len(members):
                    c[k] = F.normalize(members.sum(0), dim=0)
        prototypes.append(c)
        assignments.append(a)
assign = torch.stack(assignments)


def cluster_loss(z, targets):  # mean over heads of CE(z·Pᵀ/τ, a), ignore -100
    return sum(F.cross_entropy(z @ prototypes[h].t() / tau, targets[h], ignore_index=-100) for h in heads) / len(heads)


params = list(model.named_parameters())
momentum = {}


def optimizer_step():
    with torch.no_grad():
        for name, p in params:
            if p.grad is None:
                continue
            d = p.grad
            if lars and p.ndim > 1:  # LARC: η‖p‖/(‖g‖ + wd‖p‖), wd folded into g; biases and BN excluded
                pn, gn = p.norm(), d.norm()
                d = d + wd * p
                if pn > 0 and gn > 0:
                    d = d * (eta * pn / (gn + wd * pn))
            elif not lars:
                d = d + wd * p
            if name not in momentum:
                momentum[name] = d.clone()
            else:
                momentum[name] = momentum[name] * sgd_m + d
            p -= lr * momentum[name]


losses = []
for s in range(steps_n):
    views = [inp[f's{s}v{v}'] for v in range(2 + small_n)]
    idx = inp[f's{s}idx'].long()
    n = idx.shape[0]
    targets = assign[:, idx]
    model.train()
    for _, p in params:
        p.grad = None
    z = embed_crops(views)
    loss_clean = cluster_loss(z, targets.repeat(1, 2 + small_n))
    total = loss_clean
    loss_adv = torch.tensor(0.0)
    loss_mix = torch.tensor(0.0)
    x0 = views[0]
    if adv_on:
        with FrozenBN(model):
            x = pgd_linf(lambda x: cluster_loss(model(x), targets), x0, inp[f's{s}noise'], eps, alpha, pgd_steps)
            loss_adv = cluster_loss(model(x), targets)
        total = total + w_adv * loss_adv
    if mix_on:
        perm, boxes = inp[f's{s}perm'].long(), inp[f's{s}boxes'].long()
        xm, lam = cutmix(x0, perm, boxes)
        zm = model(xm)
        loss_mix = 0
        for h in heads:
            logp = F.log_softmax(zm @ prototypes[h].t() / tau, 1)
            target = torch.zeros_like(logp)
            for i in range(n):
                target[i, targets[h, i]] += lam[i]
                target[i, targets[h, perm[i]]] += 1 - lam[i]
            loss_mix = loss_mix + (-(target * logp).sum(1).mean())
        loss_mix = loss_mix / len(heads)
        total = total + w_mix * loss_mix
    total.backward()
    with torch.no_grad():
        bank[0][idx], bank[1][idx] = z[:n].detach(), z[n:2 * n].detach()
    optimizer_step()
    losses.append([total.item(), loss_clean.item(), float(loss_adv), float(loss_mix)])

out['losses'] = torch.tensor(losses, dtype=torch.float64)
for name, p in model.state_dict().items():
    out['model.' + name] = p
for h in heads:
    out[f'prototypes.{h}'] = prototypes[h]
out['assignments'] = assign
out['bank'] = bank
for name, buf in momentum.items():
    out[f'optimizer.{name}.momentum_buffer'] = buf
