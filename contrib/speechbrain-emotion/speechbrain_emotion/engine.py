"""Runs in the model's host process: load a SpeechBrain classifier offline, classify a clip.

A model folder holds `hyperparams.yaml` and the checkpoints its pretrainer names
(`<loadable>.ckpt` when it lists no `paths:`), plus `custom_interface.py` for models that ship
their own inference class (SpeechBrain's IEMOCAP wav2vec2 model does). Files are used in
place; nothing is fetched from the network (HF_HUB_OFFLINE, SpeechBrain's allow_network off).
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from plugins.speech.audio import pcm16

SETTING = "speechbrain_emotion.model_path"
MIN_SECONDS = 0.25  # shorter clips are too short for the features of a classifier
# The short labels of the usual emotion corpora (IEMOCAP, RAVDESS, CREMA-D) as the API's words;
# a label not listed is answered as the model's label encoder spells it.
NAMES = {
    "neu": "neutral",
    "hap": "happy",
    "sad": "sad",
    "ang": "angry",
    "exc": "excited",
    "fru": "frustrated",
    "fea": "fearful",
    "sur": "surprised",
    "dis": "disgusted",
    "cal": "calm",
}
PRETRAINED_PATH = re.compile(r"^pretrained_path\s*:", re.MULTILINE)


@dataclass
class EmotionModel:
    classifier: Any
    labels: list[str]  # index -> the label encoder's label
    sample_rate: int


def label_name(label: str) -> str:
    return NAMES.get(label.lower(), label)


def interface_class(module: Path) -> str:
    """The inference class a model's custom_interface.py defines (the one built on Pretrained)."""
    classes = [
        node for node in ast.parse(module.read_text()).body if isinstance(node, ast.ClassDef)
    ]

    def base_names(node: ast.ClassDef) -> set[str]:
        return {getattr(base, "id", getattr(base, "attr", "")) for base in node.bases}

    built_on_pretrained = [c.name for c in classes if base_names(c) & {"Pretrained"}]
    if len(built_on_pretrained) == 1:
        return built_on_pretrained[0]
    if len(classes) == 1:
        return classes[0].name
    raise ValueError(f"{module}: cannot tell which class is the model's interface")


def model_folder(path: str) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"{SETTING}: {path!r} is not a directory")
    if not (folder / "hyperparams.yaml").is_file():
        raise ValueError(f"{SETTING}: {path!r} has no hyperparams.yaml")
    return folder.resolve()


def load(path: str) -> EmotionModel:
    folder = model_folder(path)
    # Never the network: a model that names a hub repository fails instead of downloading.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        from speechbrain.inference.classifiers import EncoderClassifier
        from speechbrain.inference.interfaces import foreign_class
        from speechbrain.utils.fetching import FetchConfig, LocalStrategy
    except OSError as exc:  # PyPI's torchaudio is a CUDA build; see README.md
        raise ValueError(
            f"speechbrain cannot be imported ({exc}); delete torchaudio/lib/*.so, see the "
            "speechbrain-emotion README"
        ) from None

    hyperparams = (folder / "hyperparams.yaml").read_text()
    # Published models point their checkpoints at their hub repository: read them from here.
    overrides = {"pretrained_path": str(folder)} if PRETRAINED_PATH.search(hyperparams) else {}
    options: dict[str, Any] = {
        "source": str(folder),
        "savedir": None,  # use the files in place: no links, no copies, no cache
        "local_strategy": LocalStrategy.NO_LINK,
        "fetch_config": FetchConfig(allow_network=False),
        "overrides": overrides,
        "run_opts": {"device": "cpu"},
    }
    interface = folder / "custom_interface.py"
    if interface.is_file():
        classifier = foreign_class(
            pymodule_file=interface.name, classname=interface_class(interface), **options
        )
    else:
        classifier = EncoderClassifier.from_hparams(**options)
    classifier.eval()

    encoder = classifier.hparams.label_encoder
    encoder.ignore_len()  # we check the count against the model's outputs on every answer
    labels = [encoder.ind2lab[index] for index in sorted(encoder.ind2lab)]
    if not labels:
        raise ValueError(f"{SETTING}: the label encoder of {str(folder)!r} has no labels")
    rate = int(getattr(classifier.hparams, "sample_rate", 16000) or 16000)
    return EmotionModel(classifier, labels, rate)


def probabilities(scores: np.ndarray) -> np.ndarray:
    """The classifier's outputs as probabilities: kept if they already are, else softmax
    (which turns log-probabilities, what SpeechBrain's classifiers answer, back exactly)."""
    if np.all(scores >= 0) and abs(float(scores.sum()) - 1.0) < 1e-3:
        return scores
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()


def infer(model: EmotionModel, samples: np.ndarray) -> dict[str, Any]:
    import torch

    if len(samples) < MIN_SECONDS * model.sample_rate:
        raise ValueError(f"the audio is shorter than {MIN_SECONDS:g} s")
    wavs = torch.from_numpy(samples.astype(np.float32) / 32768.0).unsqueeze(0)
    with torch.inference_mode():
        out_prob = model.classifier.classify_batch(wavs, torch.ones(1))[0]
    scores = out_prob.reshape(-1).double().numpy()
    if len(scores) != len(model.labels):
        raise ValueError(
            f"the model answers {len(scores)} scores but its label encoder has "
            f"{len(model.labels)} labels"
        )
    probs = probabilities(scores)
    best = int(np.argmax(probs))
    return {
        "emotion": label_name(model.labels[best]),
        "confidence": round(float(probs[best]), 4),
        "details": {
            label_name(label): round(float(p), 4)
            for label, p in zip(model.labels, probs, strict=True)
        },
    }


def classify(model: EmotionModel, params: dict[str, Any], workdir: Path, progress: Any) -> dict:
    samples = pcm16(params["path"], model.sample_rate, params.get("raw_rate"))
    progress(20)
    return infer(model, samples)


def check(model: EmotionModel, params: dict[str, Any], workdir: Path, progress: Any) -> dict:
    """Health check: half a second of quiet noise through the classifier."""
    noise = np.random.default_rng(0).normal(0, 300, model.sample_rate // 2).astype(np.int16)
    return infer(model, noise)
