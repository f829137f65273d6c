"""The students' lab: train, monitor, generate and compare with any implementation of the contract.

Unlike grading, nothing here is sandboxed: the chosen implementation (``solution``, your
``assignment`` or a folder holding one) is imported into this process, as on a student's own
machine. Modules, one concept each:

- :mod:`.impl`: load an implementation by package name or folder.
- :mod:`.config`: the typed training configuration (what a checkpoint records).
- :mod:`.corpus`: read and split a corpus, length-bucketed resumable batches.
- :mod:`.schedule`: the learning-rate schedule (warm-up, cosine decay over steps or minutes).
- :mod:`.evaluate`: validation loss in nats and bits per character.
- :mod:`.checkpoint`: safetensors weights and optimizer state plus a JSON sidecar.
- :mod:`.monitor`: metric loggers (CSV/JSON always, TensorBoard when installed), gate statistics.
- :mod:`.report`: the PNG report (loss curves, gradient norms, gate histograms).
- :mod:`.train`: a training run, resumable, on top of the contract's provided loop.
- :mod:`.generate`: text from a checkpoint (greedy, sampling, beam, nucleus).
- :mod:`.compare`: the subject's questions in one run (cells, clipping, explosion/vanishing).
"""
