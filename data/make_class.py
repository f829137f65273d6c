"""Write ``data/class/``: the small example class that the README's main command grades.

Three students, as the archives a course platform hands out: ``alice.zip`` (a correct
submission: the reference), ``bob.zip`` (two classic bugs: the loss averaged over every position,
padding included, and a GRU in PyTorch's convention instead of the course's), ``carol.zip`` (the
untouched stubs). Deterministic (fixed timestamps), so the archives only change when the code does.
Regenerate with ``python data/make_class.py`` after changing ``solution/``.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUGS = {
    "loss.py": ("return (losses * mask).sum() / mask.sum().clamp(min=1)", "return (losses * mask).mean()"),
    "rnn.py": ("return (1 - z) * state + z * candidate", "return z * state + (1 - z) * candidate"),
}


def package(folder: Path, edits: dict[str, tuple[str, str]] | None = None) -> dict[str, str]:
    files = {p.name: p.read_text() for p in sorted(folder.glob("*.py"))}
    for name, (old, new) in (edits or {}).items():
        assert files[name].count(old) == 1, f"{name}: the bug's snippet is not in the reference any more"
        files[name] = files[name].replace(old, new)
    return files


def write_zip(path: Path, files: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in sorted(files.items()):
            z.writestr(zipfile.ZipInfo(f"assignment/{name}", date_time=(2026, 1, 1, 0, 0, 0)), text)


def main() -> None:
    out = ROOT / "data" / "class"
    write_zip(out / "alice.zip", package(ROOT / "solution"))
    write_zip(out / "bob.zip", package(ROOT / "solution", BUGS))
    write_zip(out / "carol.zip", package(ROOT / "assignment"))
    print(f"wrote {sorted(p.name for p in out.glob('*.zip'))} to {out}")


if __name__ == "__main__":
    main()
