"""The trainer benchmark's PyTorch side: times the same network in PyTorch.

The network comes from evonas' own PyTorch export (`evonas::export::pytorch`), written by
`examples/train_speed.rs` to a module file, so both sides train exactly the same decoded IR.
Times forward + backward + SGD steps on a fixed random batch on the given device (CPU thread
count, or CUDA with cuDNN's autotuner; optional bf16 autocast and channels-last) and prints one
JSON line: {"images_per_second": ..., "params": ..., "torch": ...}.

    python3 torch_ref.py --module /tmp/net.py --batch 64 --steps 20 --threads 1
"""
import argparse
import importlib.util
import json
import time

import torch
import torch.nn.functional as F


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--module", required=True)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true", help="autocast to bfloat16")
    p.add_argument("--channels-last", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    spec = importlib.util.spec_from_file_location("evonas_export", a.module)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (cls,) = module.ARCHITECTURES.values()
    net = cls().to(dev)
    c, h, w = cls.NODES[0][3]
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(a.batch, c, h, w, device=dev)
    y = torch.randint(0, 10, (a.batch,), device=dev)
    if a.channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for i in range(a.warmup + a.steps):
        if i == a.warmup:
            sync()
            start = time.perf_counter()
        opt.zero_grad()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.bf16):
            loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    sync()
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in net.parameters())
    print(json.dumps({"images_per_second": a.batch * a.steps / seconds, "params": params,
                      "torch": torch.__version__, "threads": a.threads}))


if __name__ == "__main__":
    main()
