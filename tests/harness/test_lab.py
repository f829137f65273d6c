"""The students' lab (grader/lab, ``grader train/generate/compare``): tiny models on the embedded corpus."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from grader.cli import main
from grader.lab.checkpoint import find_checkpoint, load_optimizer_state, read_meta, save_checkpoint
from grader.lab.config import TrainConfig
from grader.lab.corpus import (
    BucketBatches, EpochLoader, fixed_batches, load_samples, make_collate, split_samples,
)
from grader.lab.evaluate import evaluate
from grader.lab.impl import load_impl
from grader.lab.monitor import FileLogger, open_loggers, read_rows
from grader.lab.schedule import WarmupCosine
from grader.lab.train import plan_run, run_training

REPO = Path(__file__).resolve().parents[2]
TINY = dict(emb=8, latent=24, batch_size=64, warmup=2, threads=1)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def train(run_dir: Path, **options):
    config, checkpoint = plan_run(run_dir=run_dir, options={**TINY, **options}, resume=True)
    return run_training(config=config, run_dir=run_dir, checkpoint=checkpoint, progress=False, tensorboard=False,
                        echo=lambda line: None)


def tags(run_dir: Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for row in read_rows(run_dir / "scalars.csv"):
        out.setdefault(row["tag"], []).append(int(row["step"]))
    return out


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A tiny LSTM trained for 8 steps (shared by the tests that only read a run)."""
    run_dir = tmp_path_factory.mktemp("lab") / "lstm"
    train(run_dir, max_steps=8, eval_every=4, monitor_every=2)
    return run_dir


def test_train_writes_checkpoint_metrics_and_report(trained_run):
    folder = find_checkpoint(trained_run)
    assert folder == trained_run / "checkpoint"
    meta = read_meta(folder)
    assert meta["step"] == 8 and meta["impl"] == "solution" and meta["config"]["cell"] == "lstm"
    assert set(load_file(str(folder / "model.safetensors"))) >= {"emb.weight", "rnn.W_f.weight", "rnn.W_d.bias"}
    assert load_file(str(folder / "optimizer.safetensors")), "expected the optimizer's moments in safetensors"
    seen = tags(trained_run)
    assert seen["train/loss"] == list(range(1, 9)) and seen["grad/norm"] == list(range(1, 9))
    assert seen["val/bits"] == [4, 8] and seen["gate/f/mean"] == [2, 4, 6, 8]
    hist = {r["tag"] for r in read_rows(trained_run / "histograms.csv")}
    assert {"gate/f", "gate/i", "gate/o", "grad/rnn.W_f.weight"} <= hist
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["step"] == 8 and summary["stopped"] == "max-steps" and 0 < summary["val"]["bits"] < 8
    assert (trained_run / "report.png").read_bytes()[:8] == PNG_MAGIC


def test_resume_continues_and_matches_an_uninterrupted_run(tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    train(whole, epochs=1, eval_every=5)  # 12 batches of 64 sentences
    first = train(split, epochs=1, eval_every=5, max_steps=7)
    assert first.step == 7 and read_meta(find_checkpoint(split))["position"] == 7
    second = train(split, epochs=1, eval_every=5)  # same folder: resumes, max_steps lifted
    assert second.step == 12 and second.stopped == "finished"
    assert tags(split)["train/loss"] == list(range(1, 13)), "expected each step logged once across the resumption"
    a = load_file(str(whole / "checkpoint" / "model.safetensors"))
    b = load_file(str(split / "checkpoint" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a), "expected the same weights as the uninterrupted run"
    again = train(split, epochs=1)
    assert again.stopped == "nothing to do" and again.step == 12


def test_validation_bits_per_char_decrease_for_the_lstm(tmp_path):
    result = train(tmp_path / "run", emb=16, latent=64, batch_size=32, lr=1e-2, warmup=10, maxlen=40,
                   epochs=5, eval_every=1000)
    untrained = train(tmp_path / "untrained", emb=16, latent=64, batch_size=32, maxlen=40, max_steps=1)
    # An untrained model is near log2(97) = 6.6 bits; character frequencies alone give 4.5 bits on this
    # corpus, so below 4 the model uses the context. Seeds 0-2 reach 3.3-3.6 here.
    assert untrained.val["bits"] > 6.0
    assert result.val["bits"] < 4.0, f"expected validation below 4 bits/char, got {result.val['bits']:.3f}"


def test_generate_prints_sentences_for_each_method(trained_run):
    runner = CliRunner()
    for method in ("greedy", "sample", "nucleus"):
        res = runner.invoke(main, ["generate", str(trained_run), "--method", method, "--maxlen", "20", "-n", "2",
                                   "--start", "We "])
        assert res.exit_code == 0, res.output
        lines = res.stdout.splitlines()
        assert len(lines) == (1 if method == "greedy" else 2) and all(line.startswith("We ") for line in lines)
    res = runner.invoke(main, ["generate", str(trained_run), "--method", "beam", "--k", "3", "--maxlen", "15"])
    assert res.exit_code == 0, res.output
    scores = [float(line.split()[0]) for line in res.stdout.splitlines()]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True) and all(s < 0 for s in scores)


def test_impl_path_trains_a_copy_of_the_solution_named_assignment(tmp_path):
    package = tmp_path / "submission" / "assignment"
    package.mkdir(parents=True)
    for f in (REPO / "solution").glob("*.py"):
        shutil.copy(f, package / f.name)
    impl = load_impl(spec=str(tmp_path / "submission"))
    assert impl.spec == str(package.resolve()) and impl.package.startswith("_lab_impl_")
    assert Path(impl.model.__file__).parent == package.resolve()
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", "--impl", str(tmp_path / "submission"), "--out", str(out), "--quiet",
                                    "--max-steps", "2", "--emb", "8", "--latent", "16", "--no-tensorboard",
                                    "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert read_meta(out / "checkpoint")["impl"] == str(package.resolve())
    res = CliRunner().invoke(main, ["generate", str(out), "--method", "greedy", "--maxlen", "5"])
    assert res.exit_code == 0 and "from " + str(package.resolve()) in res.output


def test_cli_train_refuses_to_resume_with_other_settings_and_explains_stubs(tmp_path):
    runner = CliRunner()
    args = ["train", "--out", str(tmp_path / "run"), "--quiet", "--max-steps", "1", "--emb", "8", "--latent", "16",
            "--threads", "1"]
    assert runner.invoke(main, args).exit_code == 0
    res = runner.invoke(main, args + ["--cell", "gru"])
    assert res.exit_code != 0 and "cell: 'lstm' -> 'gru'" in res.output
    res = runner.invoke(main, ["train", "--impl", "assignment", "--out", str(tmp_path / "stubs"), "--quiet"])
    assert res.exit_code == 1 and "not implemented yet" in res.output and "Traceback" not in res.output


def test_bucket_batches_cover_each_sentence_once_with_little_padding():
    lengths = [(i * 37) % 90 + 5 for i in range(1000)]
    batches = BucketBatches(lengths, batch_size=32, seed=3, bucket=10)
    epoch = batches.epoch(0)
    assert len(epoch) == len(batches) and sorted(i for b in epoch for i in b) == list(range(1000))
    assert batches.epoch(0) == epoch and batches.epoch(1) != epoch
    padded = sum(len(b) * max(lengths[i] for i in b) for b in epoch)
    assert padded < 1.2 * sum(lengths), "expected length buckets to waste under 20% on PAD"


def test_epoch_loader_resumes_at_the_next_batch():
    samples = [torch.arange(2, 2 + n) for n in range(1, 41)]
    impl = load_impl(spec="solution")
    batches = BucketBatches([len(s) for s in samples], batch_size=4, seed=0, bucket=2)
    full = EpochLoader(samples, batches, make_collate(impl=impl))
    seen = [b for _, b in zip(range(13), _chain(full, 2))]
    resumed = EpochLoader(samples, batches, make_collate(impl=impl), epoch=0, position=6)
    rest = [b for _, b in zip(range(7), _chain(resumed, 2))]
    assert all(torch.equal(a, b) for a, b in zip(seen[6:], rest))
    assert all(torch.equal(b[0], torch.ones_like(b[0])) for b in seen), "expected an EOS row in front of each batch"


def _chain(loader, epochs):
    for _ in range(epochs):
        yield from loader


def test_split_and_validation_bits():
    impl = load_impl(spec="solution")
    samples = load_samples(impl=impl, path=TrainConfig().corpus_path, maxlen=None)
    train_set, val = split_samples(samples=samples, val_sentences=500, seed=0)
    assert len(val) == len(samples) // 10 and len(train_set) + len(val) == len(samples)
    assert split_samples(samples=samples, val_sentences=500, seed=0)[1][0] is val[0]
    torch.manual_seed(0)
    model = impl.model.CharLM(len(impl.data.id2lettre), 4, 8)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()  # uniform predictions: exactly log2(V) bits for every character
    batches = fixed_batches(samples=val, batch_size=16, collate=make_collate(impl=impl))
    result = evaluate(model=model, batches=batches)
    assert result["chars"] == sum(len(s) for s in val)  # every character and EOS, nothing else
    assert result["bits"] == pytest.approx(torch.log2(torch.tensor(97.0)).item(), abs=1e-5)


def test_checkpoint_round_trips_the_optimizer_without_pickle(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    save_checkpoint(run_dir=tmp_path, model=model, optimizer=opt, meta={"config": {}, "step": 1})
    folder = find_checkpoint(tmp_path)
    state = load_optimizer_state(folder, read_meta(folder))
    fresh = torch.optim.Adam(model.parameters(), lr=0.1)
    fresh.load_state_dict(state)
    for a, b in zip(opt.state_dict()["state"].values(), fresh.state_dict()["state"].values()):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.json", "model.safetensors", "optimizer.safetensors"]


def test_schedule_warms_up_then_decays_to_the_floor():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = WarmupCosine(opt, peak_lr=1.0, warmup=4, total_steps=20, min_ratio=0.1)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(20):
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(0.25 * (0.1 + 0.9 * 0.5 * (1 + 1)))
    assert max(lrs) == pytest.approx(lrs[3]) and lrs[20] == pytest.approx(0.1)
    timed = WarmupCosine(opt, peak_lr=1.0, warmup=1, total_steps=10**6, total_seconds=60, clock=lambda: 60.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1) and timed.progress() == 1.0


def test_file_logger_writes_csv_and_truncates_on_resume(tmp_path):
    log = FileLogger(tmp_path)
    for step in (1, 2, 3):
        log.scalar("train/loss", 4.0 - step, step)
        log.histogram("gate/f", torch.linspace(0, 1, 101), step)
    log.close()
    rows = read_rows(tmp_path / "scalars.csv")
    assert [(r["step"], r["tag"], float(r["value"])) for r in rows][0] == ("1", "train/loss", 3.0)
    hist = read_rows(tmp_path / "histograms.csv")[0]
    assert float(hist["p50"]) == pytest.approx(0.5) and int(hist["count"]) == 101
    FileLogger(tmp_path, resume_step=2).close()  # a crash after step 2's checkpoint: later rows go
    assert [r["step"] for r in read_rows(tmp_path / "scalars.csv")] == ["1", "2"]


def _hide_module(monkeypatch, prefix: str) -> None:
    """Make every import of ``prefix`` (and its submodules) fail, as on a machine without it."""
    import builtins

    real_import = builtins.__import__

    def importer(name, *args, **kwargs):
        if name.startswith(prefix):
            raise ImportError(f"no {prefix}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", importer)


def test_open_loggers_says_when_tensorboard_is_missing(tmp_path, monkeypatch):
    _hide_module(monkeypatch, "torch.utils.tensorboard")
    notes = []
    loggers = open_loggers(directory=tmp_path, tensorboard=True, resume_step=None, echo=notes.append)
    loggers.close()
    assert len(loggers.loggers) == 1 and len(notes) == 1 and "not installed" in notes[0]


def test_without_matplotlib_the_run_says_there_is_no_report(tmp_path, monkeypatch):
    _hide_module(monkeypatch, "matplotlib")
    lines = []
    config, _ = plan_run(run_dir=tmp_path, options={**TINY, "max_steps": 1}, resume=False)
    result = run_training(config=config, run_dir=tmp_path, progress=False, tensorboard=False, echo=lines.append)
    assert result.report is None and not (tmp_path / "report.png").exists()
    assert "no PNG report" in lines[-1] and (tmp_path / "checkpoint" / "model.safetensors").exists()


def test_tensorboard_logger_writes_events(tmp_path):
    pytest.importorskip("torch.utils.tensorboard")
    from grader.lab.monitor import TensorBoardLogger

    log = TensorBoardLogger(tmp_path)
    log.scalar("train/loss", 1.0, 1)
    log.histogram("gate/f", torch.rand(100), 1)
    log.close()
    assert list(tmp_path.glob("events.out.tfevents.*"))


def test_explosion_demo_grows_above_one_and_vanishes_below(tmp_path):
    from grader.lab.compare import spectral_norms, write_explosion_plot

    norms = spectral_norms(impl=load_impl(spec="solution"), N=100)
    assert float(norms[0.9][-1]) < 1e-2 < 1e2 < float(norms[1.1][-1])
    assert 1e-2 < float(norms[1.0][-1]) <= 1.0 + 1e-9
    path = write_explosion_plot(path=tmp_path / "e.png", norms=norms, trained={"x": torch.tensor([1.0, 0.5])})
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_compare_command_runs_on_a_tiny_budget(tmp_path):
    res = CliRunner().invoke(main, ["compare", "--steps", "3", "--cells", "rnn,lstm", "--latent", "16", "--emb", "8",
                                    "--threads", "1", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "compare.md").read_text()
    assert "| rnn | none |" in text and "| lstm | at 1 |" in text and "**beam" in text
    assert (tmp_path / "explosion.png").read_bytes()[:8] == PNG_MAGIC


def clipped_steps(run_dir: Path) -> tuple[int, int, int]:
    """``(steps, steps whose norm is above the threshold, steps whose norm clipping lowered)``."""
    rows = {}
    for row in read_rows(run_dir / "scalars.csv"):
        rows.setdefault(row["tag"], {})[int(row["step"])] = float(row["value"])
    norms, clipped = rows["grad/norm"], rows["grad/clipped_norm"]
    threshold = TrainConfig().max_norm
    return (len(norms), sum(v > threshold for v in norms.values()),
            sum(clipped[s] < v - 1e-9 for s, v in norms.items()))


@pytest.mark.slow
def test_the_default_run_clips_and_its_report_shows_it(tmp_path):
    """The default configuration (only the budget cut to its first 24 steps): the threshold clips
    some steps, not all, and the report's norm panel counts them."""
    from grader.lab.report import build_figure, figure_texts, run_title

    pytest.importorskip("matplotlib")
    config, checkpoint = plan_run(run_dir=tmp_path, options={"max_steps": 24, "eval_every": 24, "monitor_every": 12},
                                  resume=True)
    assert (config.emb, config.latent, config.batch_size, config.max_norm) == (
        TrainConfig().emb, TrainConfig().latent, TrainConfig().batch_size, TrainConfig().max_norm)
    run_training(config=config, run_dir=tmp_path, checkpoint=checkpoint, progress=False, tensorboard=False,
                 echo=lambda line: None)
    steps, above, lowered = clipped_steps(tmp_path)
    assert steps == 24 and 0 < above < steps and lowered == above, (steps, above, lowered)
    texts = figure_texts(build_figure(directory=tmp_path, title=run_title(config, "solution"),
                                      max_norm=config.max_norm))
    assert f"clipped steps: {above} of {steps} ({100 * above / steps:.0f}%)" in texts


# Abbreviation-like tokens, found without the report's glossary: key=value keys, acronyms, the
# one-letter names that start a legend entry, dotted abbreviations ("sat."), and a few usual ones.
_ABBREVIATIONS = (r"\b([A-Za-z]+)=", r"\b([A-Z]{2,})\b", r"^([a-z]):", r"\b([a-z]{1,4})\.(?=[\s,)]|$)",
                  r"\b(std|lr|avg|bpc|sat|var)\b")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_every_abbreviation_in_the_report_is_defined(tmp_path, cell):
    from grader.lab.report import build_figure, figure_texts, run_title

    pytest.importorskip("matplotlib")
    train(tmp_path, cell=cell, max_steps=4, eval_every=4, monitor_every=2)
    config = TrainConfig(**{**TINY, "cell": cell})
    impl = load_impl(spec="solution")
    lm = impl.model.CharLM(len(impl.data.id2lettre), emb_dim=4, latent=6, cell=cell)
    gates = impl.training.gate_values(lm, torch.randint(2, 20, (5, 3)))
    texts = figure_texts(build_figure(directory=tmp_path, title=run_title(config, "solution"),
                                      max_norm=config.max_norm, gates=gates))
    footer = texts[-1]
    found = {m for text in texts[:-1] for pattern in _ABBREVIATIONS for m in re.findall(pattern, text, re.M)}
    assert {"E", "H", "B", "clip", cell.upper()} <= found, found  # the detector sees the title's
    undefined = sorted(tok for tok in found if f"{tok}: " not in footer)
    assert not undefined, f"abbreviations not defined in the footer {footer!r}: {undefined}"
