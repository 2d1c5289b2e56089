# An independent PyTorch implementation of HEXA_MoCo / MoCo-v2 iterations, written from
# docs/hexa-method.md, used by test/train/moco-step.test.ts. Runs inside torchReference's
# prelude: `inp` holds the initial state ('query.*', 'key.*', 'queue'), the views, the
# injected randomness and `cfg` (a float64 vector); results go to `out`.
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.use_deterministic_algorithms(True)
(width, steps_n, queue_size, tau, key_m, sgd_m, wd, lr, adv_on, eps, alpha, pgd_steps, w_adv,
 mix_on, w_mix) = inp['cfg'].tolist()
width, steps_n, queue_size, pgd_steps = int(width), int(steps_n), int(queue_size), int(pgd_steps)


from moco_model import Encoder  # noqa: E402  (sys.path set by the caller)
from hard_views_ref import FrozenBN, cutmix, pgd_linf  # noqa: E402


def load(model, prefix):
    sd = {k[len(prefix):]: v for k, v in inp.items() if k.startswith(prefix)}
    model.load_state_dict(sd, strict=True)


query, key = Encoder(width), Encoder(width)
load(query, 'query.')
load(key, 'key.')
queue = inp['queue'].clone()
ptr = 0
opt = torch.optim.SGD(query.parameters(), lr=lr, momentum=sgd_m, weight_decay=wd)


def info_nce(q, k):
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], 1) / tau
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))


losses = []
for step in range(steps_n):
    vq, vk = inp[f'viewQ{step}'], inp[f'viewK{step}']
    query.train()
    key.train()
    with torch.no_grad():
        k = key(vk)
    loss_clean = info_nce(query(vq), k)
    total = loss_clean
    loss_adv = torch.tensor(0.0)
    loss_mix = torch.tensor(0.0)
    if adv_on:
        with FrozenBN(query):
            x = pgd_linf(lambda x: info_nce(query(x), k), vq, inp[f'noise{step}'], eps, alpha, pgd_steps)
            loss_adv = info_nce(query(x), k)
        total = total + w_adv * loss_adv
    if mix_on:
        perm, boxes = inp[f'perm{step}'].long(), inp[f'boxes{step}'].long()
        n = vq.shape[0]
        xm, lam = cutmix(vq, perm, boxes)
        qm = query(xm)
        logits = torch.cat([qm @ k.t(), qm @ queue.t()], 1) / tau
        target = torch.zeros_like(logits)
        for i in range(n):
            target[i, i] += lam[i]
            target[i, perm[i]] += 1 - lam[i]
        loss_mix = -(target * F.log_softmax(logits, 1)).sum(1).mean()
        total = total + w_mix * loss_mix
    opt.zero_grad()
    total.backward()
    opt.step()
    with torch.no_grad():
        for pk, pq in zip(key.parameters(), query.parameters()):
            pk.mul_(key_m).add_(pq, alpha=1 - key_m)
        n = k.shape[0]
        rows = (torch.arange(n) + ptr) % queue_size
        queue[rows] = k
        ptr = (ptr + n) % queue_size
    losses.append([total.item(), loss_clean.item(), loss_adv.item(), loss_mix.item()])

out['losses'] = torch.tensor(losses, dtype=torch.float64)
for name, p in query.state_dict().items():
    out['query.' + name] = p
for name, p in key.state_dict().items():
    out['key.' + name] = p
out['queue'] = queue
out['queue_ptr'] = torch.tensor([ptr])
