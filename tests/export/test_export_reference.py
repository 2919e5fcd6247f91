"""The bundle builder writes drift monitoring's reference: a freshly exported bundle has drift on."""

from __future__ import annotations

import numpy as np

from edge_runtime.bundle import load_bundle
from edge_runtime.siteloop.framestats import image_statistics
from train.checkpoint import read_checkpoint
from train.task import get_task


def test_an_exported_bundle_carries_the_reference_of_its_validation_frames(tiny_real_bundle, tiny_checkpoint):
    manifest = load_bundle(tiny_real_bundle).manifest
    reference = manifest.reference
    assert reference is not None and reference.confidence is not None
    samples = manifest.provenance["validation_set"]["samples"]
    assert reference.brightness.samples == samples and reference.confidence.samples == samples
    assert "validation frames" in reference.source
    assert 1 / len(manifest.classes) <= reference.confidence.median <= 1.0  # a top-class probability

    checkpoint = read_checkpoint(tiny_checkpoint)
    task = get_task(checkpoint.meta.task)
    data = task.read_data(task.config_type.model_validate(checkpoint.meta.config))
    frames = [task.frame(sample) for sample in data.val]
    own = [image_statistics(frame) for frame in frames]
    dark = [image_statistics((frame * 0.35).astype(np.uint8)) for frame in frames]
    for name in ("brightness", "contrast"):
        distribution = reference.distribution(name)
        assert distribution is not None
        assert distribution.psi([s[name] for s in own]) < 0.2  # its own frames: no drift
        assert distribution.psi([s[name] for s in dark]) > 0.5  # the same scene at a third of the light
