"""Stall settings flow from config/system.json to the function (and scale together for the demo)."""

from __future__ import annotations

import copy

import pytest

from pipelines import system
from relauncher.config import ConfigError, parse_config
from tests.relauncher.support import settings


def test_function_config_carries_every_pipelines_stall_block_and_the_signals():
    cfg = parse_config(settings("p"))
    raw = system.system()
    for name, p in raw["pipelines"].items():
        stall = cfg.pipelines[name].stall
        assert (stall.heal_action, stall.drain_deadline_seconds, stall.cooldown_seconds) == (
            p["stall"]["heal_action"],
            p["stall"]["drain_deadline_seconds"],
            p["stall"]["cooldown_seconds"],
        )
    detection = raw["stall_detection"]
    assert cfg.stall_detection.renotify_seconds == detection["renotify_seconds"]
    assert cfg.stall_detection.alerts_topic == detection["alerts_topic"]
    assert set(cfg.stall_detection.signals) == set(detection["signals"])
    for name, s in detection["signals"].items():
        signal = cfg.stall_detection.signals[name]
        assert (signal.metric_type, signal.resource_type) == (s["metric_type"], s["resource_type"])
        assert (signal.threshold_seconds, signal.duration_seconds) == (s["threshold_seconds"], s["duration_seconds"])


def test_an_unknown_heal_action_fails_at_start():
    raw = settings("p")
    raw["pipelines"]["orders"]["stall"]["heal_action"] = "restart"
    with pytest.raises(ConfigError, match="heal_action"):
        parse_config(raw)


def test_scale_stall_settings_scales_every_duration_and_nothing_else():
    raw = settings("p")
    scaled = system.scale_stall_settings(copy.deepcopy(raw), 0.01)
    for name, p in raw["pipelines"].items():
        for key in system.STALL_PIPELINE_SECONDS:
            assert scaled["pipelines"][name]["stall"][key] == pytest.approx(p["stall"][key] * 0.01)
        assert scaled["pipelines"][name]["stall"]["heal_action"] == p["stall"]["heal_action"]
        assert scaled["pipelines"][name]["healthy_period_seconds"] == p["healthy_period_seconds"]
    for name, s in raw["stall_detection"]["signals"].items():
        for key in system.STALL_SIGNAL_SECONDS:
            assert scaled["stall_detection"]["signals"][name][key] == pytest.approx(s[key] * 0.01)
    assert scaled["stall_detection"]["renotify_seconds"] == pytest.approx(
        raw["stall_detection"]["renotify_seconds"] * 0.01
    )
    parse_config(scaled)  # still a valid configuration
