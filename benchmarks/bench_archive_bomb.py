"""Peak memory and time of the trusted side on tar header bombs (SECURITY.md, class 3).

A GNU long-name header (type ``L``) or a pax header (type ``x``) announces its size, and tarfile
reads that many bytes into memory before any member cap can apply. Each bomb below is a tiny
``.tar.gz`` whose header decompresses to ``--mib`` MiB of zeros, followed by a correct package.
Each is unpacked by ``grader.grading.submission.prepare`` in a fresh interpreter, which reports its
peak resident memory (``ru_maxrss``) and wall time::

    python benchmarks/bench_archive_bomb.py --mib 128                      # this checkout
    python benchmarks/bench_archive_bomb.py --mib 128 --tree ../other-checkout   # before/after
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
from grader.grading.submission import prepare
started = time.monotonic()
try:
    sub = prepare(Path(sys.argv[1]), Path(tempfile.mkdtemp()) / "s", student="bomb")
    outcome = f"{len(sub.files)} files, notes: {list(sub.notes)[:2]}"
except Exception as exc:  # the grader before the fix raised here (ENAMETOOLONG), after a MemoryError...
    outcome = f"raised {type(exc).__name__}: {str(exc)[:150]}"
print(json.dumps({"seconds": time.monotonic() - started, "outcome": outcome[:200],
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def header_bomb(kind: bytes, size: int) -> bytes:
    """A ``.tar.gz``: one tar header of ``kind`` announcing ``size`` bytes of name, then the reference package.

    Built as concatenated gzip members (gzip allows it), one precomputed member per MiB of the
    header, so a bomb of a GiB takes a second to build and about 1 MiB on disk.
    """
    info = tarfile.TarInfo("././@LongLink" if kind == tarfile.GNUTYPE_LONGNAME else "././@PaxHeader")
    info.type, info.size = kind, size
    head = info.tobuf(format=tarfile.GNU_FORMAT if kind == tarfile.GNUTYPE_LONGNAME else tarfile.USTAR_FORMAT)
    body = b""
    if kind == tarfile.XHDTYPE:  # one pax record "<len> path=<name>\n" whose name is the bulk
        body = f"{size} path=".encode()
    tail_len = size - len(body) - (1 if kind == tarfile.XHDTYPE else 0)
    mib = gzip.compress(b"a" * (1 << 20), 9)
    package = io.BytesIO()
    with tarfile.open(fileobj=package, mode="w") as t:
        for p in sorted((REPO / "solution").glob("*.py")):
            t.add(p, arcname=f"assignment/{p.name}")
    end = b"a" * (tail_len & ((1 << 20) - 1)) + (b"\n" if kind == tarfile.XHDTYPE else b"")
    end += b"\0" * (-size % 512) + package.getvalue()
    return gzip.compress(head + body, 9) + mib * (tail_len >> 20) + gzip.compress(end, 9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512, help="decompressed size of the bomb's header")
    parser.add_argument("--tree", type=Path, default=REPO, help="the checkout whose grader is measured "
                        "(e.g. an older one, for a before/after figure)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for label, kind in (("GNU long name", tarfile.GNUTYPE_LONGNAME), ("pax header", tarfile.XHDTYPE)):
            path = Path(tmp) / "bomb.tar.gz"
            started = time.monotonic()
            path.write_bytes(header_bomb(kind, args.mib << 20))
            built = time.monotonic() - started
            done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True,
                                  cwd=args.tree, timeout=600)
            if done.returncode != 0:
                print(f"{label}: the child failed (rc {done.returncode}): {done.stderr[-500:]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{label}: {path.stat().st_size / 1024:.0f} KiB .tar.gz (built in {built:.1f} s), header "
                  f"{args.mib} MiB: peak {r['peak_mib']:.0f} MiB, {r['seconds']:.2f} s; {r['outcome']}")


if __name__ == "__main__":
    main()
