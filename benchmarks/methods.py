"""Every classic branch under the CPU benchmark protocol (benchmarks/README.md), on CIFAR-10
and on the built-in shapes dataset, with the two floors.

    .venv/bin/python benchmarks/methods.py [--epochs N] [--force] [--dataset cifar10|shapes]

Each branch runs at its own defaults (views, loss, head, lr per 256 images, optimizer), the
protocol fixing only the data, encoder, batch size, epochs and seed.
"""

from protocol import FLOORS, Configuration, main

BRANCHES = ("simclr", "moco-v2", "byol", "simsiam", "swav")
CONFIGURATIONS = [*FLOORS, *(Configuration(name, ("--branch", name)) for name in BRANCHES)]

if __name__ == "__main__":
    main("methods", CONFIGURATIONS, datasets=("shapes", "cifar10"))
