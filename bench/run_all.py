"""Run every benchmark in ``bench/`` (``make bench``); each prints its own measured ratios."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    # Every module of bench/ but this one; ``_name`` modules are helpers, not benchmarks.
    names = sorted(p.stem for p in Path(__file__).parent.glob("*.py")
                   if p.stem != "run_all" and not p.stem.startswith("_"))
    failed = []
    for name in names:
        print(f"== bench.{name}", flush=True)
        start = time.time()
        if subprocess.run([sys.executable, "-m", f"bench.{name}"]).returncode != 0:
            failed.append(name)
        print(f"== bench.{name}: {time.time() - start:.0f} s\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
