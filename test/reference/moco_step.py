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


def conv(i, o, k, s):
    return nn.Conv2d(i, o, k, stride=s, padding=k // 2, bias=False)


class Block(nn.Module):  # torchvision BasicBlock
    def __init__(self, i, p, s):
        super().__init__()
        self.conv1, self.bn1 = conv(i, p, 3, s), nn.BatchNorm2d(p)
        self.conv2, self.bn2 = conv(p, p, 3, 1), nn.BatchNorm2d(p)
        self.downsample = nn.Sequential(conv(i, p, 1, s), nn.BatchNorm2d(p)) if s != 1 or i != p else None

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet18Cifar(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.conv1, self.bn1 = conv(3, w, 3, 1), nn.BatchNorm2d(w)
        i = w
        for s in range(4):
            p = w << s
            blocks = [Block(i, p, 2 if s > 0 else 1), Block(p, p, 1)]
            setattr(self, f'layer{s + 1}', nn.Sequential(*blocks))
            i = p
        self.dim = i

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean((2, 3))


class Encoder(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.backbone = ResNet18Cifar(w)
        d = self.backbone.dim
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 128))
        self.register_buffer('input_mean', torch.zeros(1, 3, 1, 1))
        self.register_buffer('input_std', torch.ones(1, 3, 1, 1))

    def forward(self, x):
        return F.normalize(self.head(self.backbone((x - self.input_mean) / self.input_std)), dim=1)


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


class FrozenBN:  # the attack and the adversarial forward must not change BN buffers
    def __enter__(self):
        self.saved = {k: v.clone() for k, v in query.named_buffers()}

    def __exit__(self, *a):
        # .data: restoring must not bump the version counters the clean graph saved
        for k, v in query.named_buffers():
            v.data.copy_(self.saved[k])


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
        x = (vq + inp[f'noise{step}']).clamp(0, 1)
        with FrozenBN():
            for _ in range(pgd_steps):
                x = x.detach().requires_grad_(True)
                g, = torch.autograd.grad(info_nce(query(x), k), x)
                x = torch.min(torch.max(x.detach() + alpha * g.sign(), vq - eps), vq + eps).clamp(0, 1)
            loss_adv = info_nce(query(x.detach()), k)
        total = total + w_adv * loss_adv
    if mix_on:
        perm, boxes = inp[f'perm{step}'].long(), inp[f'boxes{step}'].long()
        n, _, h, w = vq.shape
        xm = vq.clone()
        lam = torch.empty(n)
        for i in range(n):  # one box per sample, pixels from the partner
            y0, x0, y1, x1 = boxes[i].tolist()
            xm[i, :, y0:y1, x0:x1] = vq[perm[i], :, y0:y1, x0:x1]
            lam[i] = 1 - (y1 - y0) * (x1 - x0) / (h * w)
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
