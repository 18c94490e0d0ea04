"""The training stages by name, and which stage trains each network.

One small module for what `train.run` (checking a run folder), `train.loop` (training a stage)
and `train.export` (writing a bundle) all look up, so none of them imports another for it. A new
stage is a `Stage` subclass listed here, in the order of `config.STAGES`, which names it.
"""

from __future__ import annotations

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
