"""PyTorch's own loop for the protocol's 13-50-1 MLP: dropout on the input and hidden layer, Adam (weight decay in the
gradient, as the grid trainer's coupled decay), batch 128 of 324 rows, MSE. Prints ms per optimiser step.
Usage: python3 benchmarks/peer/training_step.py [epochs]"""
import sys
import time

import torch

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
torch.manual_seed(1)
rows = 324
x, y = torch.rand(rows, 13), torch.rand(rows, 1)
net = torch.nn.Sequential(torch.nn.Dropout(0.005), torch.nn.Linear(13, 50), torch.nn.ReLU(), torch.nn.Dropout(0.005), torch.nn.Linear(50, 1))
optimiser = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)


def epoch():
    order = torch.randperm(rows)
    for start in range(0, rows, 128):
        batch = order[start:start + 128]
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x[batch]), y[batch])
        loss.backward()
        optimiser.step()
        loss.item()  # as the trainers read each step's loss


for _ in range(5):
    epoch()
started = time.perf_counter()
for _ in range(epochs):
    epoch()
steps = epochs * ((rows + 127) // 128)
print(f"STEP\tpytorch {torch.__version__} ({torch.get_num_threads()} threads), one network\t{(time.perf_counter() - started) * 1e3 / steps:.4f}")
