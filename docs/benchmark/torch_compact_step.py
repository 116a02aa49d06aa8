#!/usr/bin/env python3
"""The compact DenseNet's training step on PyTorch, for the step row that ../shared/bench/torch_peer.py
does not have (it knows vgg16 and densenet121 only). Same trunk as torch_peer_train.py's default
(torchvision DenseNet, growth 12, blocks 2-4-6, 24 stem features, 2 classes), Adam, cross-entropy,
random input, torch's default threads. Prints one JSON line like torch_peer.py.
Usage: /usr/bin/python3 torch_compact_step.py SIZE BATCH full|forward [SECONDS] [THREADS]"""
import json, sys, time
import torch, torchvision.models as models

size, batch, step = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)
net = models.DenseNet(growth_rate=12, block_config=(2, 4, 6), num_init_features=24, num_classes=2)
opt = torch.optim.Adam(net.parameters(), 1e-3)
loss_fn = torch.nn.CrossEntropyLoss()
x = torch.rand(batch, 3, size, size)
y = torch.arange(batch) % 2


def one_step():
    if step == "forward":
        net.eval()
        with torch.no_grad():
            net(x)
    else:
        net.train()
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()


for _ in range(3):
    one_step()
n, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < seconds:
    one_step()
    n += 1
s = time.perf_counter() - t0
print(json.dumps({"engine": "pytorch " + torch.__version__, "model": "densenet_compact", "size": size, "batch": batch,
                  "step": step, "threads": threads, "img_per_s": n * batch / s, "images": n * batch, "seconds": s}))
