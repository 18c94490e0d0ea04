"""The training stages by name, and which stage trains each network.

One small module for what `train.run` (checking a run folder), `train.loop` (training a stage)
and `train.export` (writing a bundle) all look up, so none of them imports another for it. A new
stage is a `Stage` subclass listed here, in the order of `config.STAGES`, which names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from halftint.errors import UsageError
from halftint.train.colorizer_stage import ColorizerStage
from halftint.train.fusion_stage import FusionStage
from halftint.train.hist_stage import HistogramStage
from halftint.train.ihn_stage import IHNStage
from halftint.train.stage import Stage

STAGE_CLASSES: dict[str, type[Stage]] = {
    stage.name: stage for stage in (IHNStage, HistogramStage, ColorizerStage, FusionStage)
}
# which stage trains each network: a later stage takes it from that stage's state file
NETWORK_SOURCES: dict[str, str] = {
    key: name for name, stage in STAGE_CLASSES.items() for key in stage.trained
}


def frozen_source(
    stage: str, key: str, *, in_run: bool, in_parent: bool, run_root: Path
) -> Literal["run", "parent"]:
    """Where `stage` takes the network `key` it keeps frozen from: the run folder, where the
    stage that trains it has a state (`in_run`), else the parent bundle (`in_parent`).

    The one rule both the check before a run (`train.run`) and the loading (`train.loop`) follow.

    Raises:
        UsageError: neither has it; the message says which stage to run first.
    """
    if in_run:
        return "run"
    if in_parent:
        return "parent"
    source = NETWORK_SOURCES[key]
    raise UsageError(
        f"stage {stage} needs the network {key} from stage {source}, which {run_root} does not "
        f"have yet: run 'halftint train {source} --out {run_root}' first"
    )
