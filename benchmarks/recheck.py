"""The simclr and byol CIFAR-10 rows of the methods benchmark again, under the same protocol
(benchmarks/README.md), to check that a change meant to leave training alone did.

    .venv/bin/python benchmarks/recheck.py [--epochs N] [--force]

Compare results/recheck.md with the same rows of results/methods.md (one standard error is
about 1.5 points).
"""

from protocol import Configuration, main

CONFIGURATIONS = [Configuration(name, ("--branch", name)) for name in ("simclr", "byol")]

if __name__ == "__main__":
    main("recheck", CONFIGURATIONS)
