# An independent PyTorch implementation of one data-parallel MoCo-v2 step over W ranks, run in
# one process (test/dist/moco-step.test.ts): rank r's rows go through the encoders on their
# own (BN statistics per rank, as DDP without SyncBN), each rank's InfoNCE is the mean over
# its rows against the shared queue, the gradient is the mean of the ranks' gradients (DDP),
# the queue takes every rank's keys in rank order. With shuffle BN (MoCo's
# _batch_shuffle_ddp) rank r's key encoder sees rows perm[r·B:(r+1)·B] of the global batch.
# `inp`: initial state ('query.*', 'key.*', 'queue'), 'viewQ', 'viewK' [W·B, ...], 'perm'
# (int64 [W·B], identity without shuffle BN), 'cfg' = (W, width, queue, tau, key_m, sgd_m, wd, lr).
import torch
import torch.nn.functional as F

torch.use_deterministic_algorithms(True)
world, width, queue_size, tau, key_m, sgd_m, wd, lr = inp['cfg'].tolist()
world, width, queue_size = int(world), int(width), int(queue_size)

from moco_model import Encoder  # noqa: E402  (sys.path set by the caller)


def load(model, prefix):
    model.load_state_dict({k[len(prefix):]: v for k, v in inp.items() if k.startswith(prefix)}, strict=True)


query, key = Encoder(width), Encoder(width)
load(query, 'query.')
load(key, 'key.')
queue = inp['queue'].clone()
opt = torch.optim.SGD(query.parameters(), lr=lr, momentum=sgd_m, weight_decay=wd)
vq, vk, perm = inp['viewQ'], inp['viewK'], inp['perm'].long()
b = vq.shape[0] // world
query.train()
key.train()
with torch.no_grad():
    shuffled = torch.cat([key(vk[perm[r * b:(r + 1) * b]]) for r in range(world)])
    k_all = torch.empty_like(shuffled)
    k_all[perm] = shuffled
losses = []
for r in range(world):
    q = query(vq[r * b:(r + 1) * b])
    k = k_all[r * b:(r + 1) * b]
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], 1) / tau
    losses.append(F.cross_entropy(logits, torch.zeros(b, dtype=torch.long)))
opt.zero_grad()
(sum(losses) / world).backward()
opt.step()
with torch.no_grad():
    for pk, pq in zip(key.parameters(), query.parameters()):
        pk.mul_(key_m).add_(pq, alpha=1 - key_m)
    rows = torch.arange(k_all.shape[0]) % queue_size
    queue[rows] = k_all
out['losses'] = torch.stack([l.detach() for l in losses]).double()
for name, p in query.named_parameters():
    out['query.' + name] = p
for name, p in key.named_parameters():
    out['key.' + name] = p
out['queue'] = queue
