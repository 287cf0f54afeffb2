"""SimCLR under the CPU benchmark protocol (benchmarks/README.md), with its two floors.

    .venv/bin/python benchmarks/simclr_cpu.py [--epochs N] [--force]
"""

from protocol import FLOORS, Configuration, main

CONFIGURATIONS = [*FLOORS, Configuration("simclr", ("--branch", "simclr"))]

if __name__ == "__main__":
    main("simclr_cpu", CONFIGURATIONS)
