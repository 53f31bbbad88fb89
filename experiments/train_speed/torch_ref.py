"""The same network in PyTorch, for the trainer benchmark's ratio.

Reads one evonas architecture document (JSON, as `evonas sample` prints) on stdin, builds its
decoded IR network as a torch.nn.Module (one module per IR node, the ops evonas' Backend
implements), and times forward + backward + SGD steps on random 32x32 batches, on the CPU with
the given thread count. Prints one JSON line: {"images_per_second": ..., "params": ...}.

    python3 torch_ref.py --batch 64 --steps 20 --threads 2 < arch.json
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class IRNet(nn.Module):
    def __init__(self, network):
        super().__init__()
        self.nodes = network["nodes"]
        self.layers = nn.ModuleDict()
        for n in self.nodes:
            op, key = n["op"], str(n["id"])
            src = self.nodes[n["inputs"][0]]["shape"] if n["inputs"] else None
            if op["kind"] == "conv":
                self.layers[key] = nn.Conv2d(src["channels"], op["out_channels"], tuple(op["kernel"]),
                                             tuple(op["stride"]), tuple(op["padding"]),
                                             tuple(op["dilation"]), op["groups"], op["bias"])
            elif op["kind"] == "batch_norm":
                self.layers[key] = nn.BatchNorm2d(src["channels"], affine=op["affine"])
            elif op["kind"] == "linear":
                self.layers[key] = nn.Linear(src["channels"], op["out_features"], op["bias"])

    def forward(self, x):
        values = {}
        for n in self.nodes:
            op, key = n["op"], str(n["id"])
            args = [values[i] for i in n["inputs"]]
            k = op["kind"]
            if k == "input":
                y = x
            elif k in ("output", "identity"):
                y = args[0]
            elif k in ("conv", "batch_norm"):
                y = self.layers[key](args[0])
            elif k == "relu":
                y = F.relu(args[0])
            elif k == "avg_pool":
                y = F.avg_pool2d(args[0], op["kernel"], op["stride"], op["padding"], count_include_pad=False)
            elif k == "max_pool":
                y = F.max_pool2d(args[0], op["kernel"], op["stride"], op["padding"])
            elif k == "zero":
                s = n["shape"]
                y = args[0].new_zeros((args[0].shape[0], s["channels"], s["height"], s["width"]))
            elif k == "add":
                y = args[0]
                for a in args[1:]:
                    y = y + a
            elif k == "concat":
                y = torch.cat(args, 1)
            elif k == "channel_shuffle":
                b, c, h, w = args[0].shape
                g = op["groups"]
                y = args[0].view(b, g, c // g, h, w).transpose(1, 2).reshape(b, c, h, w)
            elif k == "truncate":
                y = args[0][:, : op["channels"]]
            elif k == "crop":
                y = args[0][:, :, op["rows"]:, op["cols"]:]
            elif k == "global_avg_pool":
                y = args[0].mean((2, 3), keepdim=True)
            elif k == "linear":
                y = self.layers[key](args[0].flatten(1))[:, :, None, None]
            else:
                raise ValueError(f"unknown op {k}")
            values[n["id"]] = y
        return values[self.nodes[-1]["id"]].flatten(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    doc = json.loads(sys.stdin.read())
    net = IRNet(doc["network"])
    s = doc["network"]["nodes"][0]["shape"]
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(a.batch, s["channels"], s["height"], s["width"])
    y = torch.randint(0, 10, (a.batch,))
    for i in range(a.warmup + a.steps):
        if i == a.warmup:
            start = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in net.parameters())
    print(json.dumps({"images_per_second": a.batch * a.steps / seconds, "params": params,
                      "torch": torch.__version__, "threads": a.threads}))


if __name__ == "__main__":
    main()
