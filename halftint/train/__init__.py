"""Training: the four stages (supplementary §1), resumable run folders, and data-parallel runs.

`halftint.train.run.train` is the entry point (what `halftint train ...` calls); a stage is a
`halftint.train.stage.Stage` subclass, listed by name in `halftint.train.registry`;
`halftint.train.loop` drives one stage; settings live in `halftint.train.config.TrainConfig`.
"""
