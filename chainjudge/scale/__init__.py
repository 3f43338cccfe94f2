"""Executors beyond one process: judging sharded over Ray workers."""

from chainjudge.scale.ray_executor import RayExecutor, judge_shard, shards  # noqa: F401
