# The MoCo encoder of hexa-torch written independently in plain PyTorch (torchvision's
# BasicBlock layout, CIFAR stem, MoCo-v2 MLP head, input normalisation as the first layer):
# used by the differential test (test/reference/moco_step.py) and the end-to-end benchmark.
import torch
import torch.nn as nn
import torch.nn.functional as F


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
