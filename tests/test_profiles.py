"""Profiles: one Profile per profile, and a registry that stays exactly what trained runs were made with."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from sslre import experiments as ex
from sslre.config import PROFILES, PROFILES_NAMES, Config, ConfigError, parse_arch, profile_config
from sslre.profiles import GENERATOR_KINDS, RUN_NAMES, Profile, Run, profile

#: The registry of every profile as the runs were trained: per run the seed-0 config's fields that differ from the
#: profile's preset (seed aside), its seeds, claims, coverage, kind, alias and generator settings.
FIXTURE = Path(__file__).parent / "fixtures" / "registry.json"


def _snapshot(name: str) -> dict:
    """The registry of ``name`` in the fixture's form (every seed's config is checked in the test, not here)."""
    prof = profile(name)
    base = prof.config.to_dict()
    runs = {}
    for run, spec in ex.runs_for(name).items():
        runs[run] = {"config": {k: v for k, v in spec.configs[0].to_dict().items() if v != base[k] and k != "seed"},
                     "seeds": list(spec.seeds), "claims": list(spec.claims),
                     "coverage": dataclasses.asdict(spec.coverage), "kind": spec.kind, "alias_of": spec.alias_of,
                     "target": None if spec.target is None else dataclasses.asdict(spec.target)}
    return json.loads(json.dumps({
        "config": prof.config.changed(), "runs": runs, "order": list(runs),
        "sample_level_settings": dataclasses.asdict(prof.sample_level),
        "measure_settings": prof.measure.fingerprint(),   # a field added since, at its default, is left out
        "target_settings": {k: dataclasses.asdict(prof.target(k)) for k in GENERATOR_KINDS}}))


@pytest.mark.parametrize("name", PROFILES_NAMES)
def test_registry_is_unchanged(name, monkeypatch):
    monkeypatch.setattr(ex, "_cifar10_archive_present", lambda: True)
    want = json.loads(FIXTURE.read_text())[name]
    # A Config field added since the fixture was written, at its default, changes no run (Config.changed()).
    defaults = Config().to_dict()
    want_changed = {k: v for k, v in want["config"].items() if defaults[k] != v}
    snap = _snapshot(name)
    # Likewise a generator setting added since, at its default (e.g. weight_decay None = App. A.3's).
    from sslre.targets import TargetSettings

    new_fields = {f.name: f.default for f in dataclasses.fields(TargetSettings)
                  if f.name not in want["target_settings"]["resnet18"]}
    for t in [*snap["target_settings"].values(), *(r["target"] for r in snap["runs"].values() if r["target"])]:
        for k, default in new_fields.items():
            assert t.pop(k) == default, k
    assert snap == {**want, "config": want_changed}
    base = Config.from_dict(want["config"])
    for run, spec in ex.runs_for(name).items():   # every seed's whole config, not only seed 0's
        expected = [base.replace(seed=s, **want["runs"][run]["config"]) for s in want["runs"][run]["seeds"]]
        assert list(spec.configs) == expected, run


def test_quick_without_the_archive_has_no_other_dataset_run(monkeypatch):
    monkeypatch.setattr(ex, "_cifar10_archive_present", lambda: False)
    want = json.loads(FIXTURE.read_text())["quick"]["order"]
    assert list(ex.runs_for("quick")) == [n for n in want if n != Run.OTHER]


@pytest.mark.parametrize("name", PROFILES_NAMES)
def test_a_profile_holds_everything_it_decides(name):
    prof = profile(name)
    assert isinstance(prof, Profile) and prof.name == name == prof.config.profile
    assert PROFILES[name] == prof.config == profile_config(name)
    assert len(prof.seeds) >= 3 and set(prof.seeds) <= set(prof.main_seeds)
    depth, width = parse_arch(prof.config.arch)
    assert parse_arch(prof.deep) == (2 * depth, width)
    assert parse_arch(prof.narrow)[1] < width < parse_arch(prof.wide)[1]
    assert {t.kind for t in prof.targets.values()} == set(GENERATOR_KINDS) == set(prof.targets)


def test_run_names_are_the_registry_names(monkeypatch):
    monkeypatch.setattr(ex, "_cifar10_archive_present", lambda: True)
    for name in PROFILES_NAMES:
        assert tuple(ex.runs_for(name)) == RUN_NAMES


def test_unknown_profile_and_generator_kind():
    with pytest.raises(ConfigError, match="profile 'huge' is unknown"):
        profile("huge")
    with pytest.raises(ConfigError, match="kind 'mlp' is unknown; allowed: resnet18, vit"):
        profile("full").target("mlp")
