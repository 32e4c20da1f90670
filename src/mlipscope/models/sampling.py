"""Hyperparameter samplers and ensemble plans.

``sample`` draws points of a family's declared :class:`HyperparameterSpace` by random, Latin-hypercube or Sobol
sampling (scipy.stats.qmc) in the unit cube, mapped through each hyperparameter's scale. ``sample_two_level`` draws
descriptor-hyperparameter points and, for each, regression-hyperparameter points, so that members share descriptor
settings (linear families: one descriptor computation per setting, for fitting and for batched evaluation,
:mod:`mlipscope.models.linear_batch`), as the seed study's ensembles do. ``ensemble_plan`` crosses such points
with training sets and seeds into an ordered list of :class:`MemberSpec`; ``fit_member`` fits one member and turns
any failure into a :class:`FitRecord` with its reason instead of an exception.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlipscope.data.dataset import Dataset
from mlipscope.errors import InputError
from mlipscope.models.base import FittedModel, HyperparameterSpace, MLIPFamily

Method = Literal["random", "lhs", "sobol"]
METHODS: tuple[str, ...] = ("random", "lhs", "sobol")


def unit_points(dimension: int, n: int, method: Method, seed: int) -> np.ndarray:
    """``n`` points in [0, 1)^dimension, reproducible for a given seed."""
    if n < 0:
        raise InputError(None, "n", "a non-negative number of samples", got=n)
    if method == "random":
        return np.random.default_rng(seed).random((n, dimension))
    from scipy.stats import qmc  # here, not at the top: scipy.stats takes a while to import

    if method == "lhs":
        return qmc.LatinHypercube(d=dimension, seed=np.random.default_rng(seed)).random(n)
    if method == "sobol":
        # scrambled Sobol; balance properties need n a power of two, but any n is usable (scipy only warns)
        sampler = qmc.Sobol(d=dimension, scramble=True, seed=np.random.default_rng(seed))
        m = int(np.ceil(np.log2(max(n, 1))))
        return sampler.random_base2(m)[:n]
    raise InputError(None, "method", f"one of {METHODS}", got=method)


def sample(
    space: HyperparameterSpace, n: int, method: Method = "random", seed: int = 0, repair=None
) -> list[dict[str, Any]]:
    """``n`` hyperparameter dicts from ``space``; ``repair`` (dict -> dict) makes invalid combinations valid."""
    points = unit_points(len(space.parameters), n, method, seed)
    out = []
    for point in points:
        hp = space.from_unit(point)
        out.append(repair(hp) if repair is not None else hp)
    return out


def _block_seed(seed: int, block: int) -> int:
    """An independent, reproducible seed for block ``block`` of a two-level design."""
    return int(np.random.SeedSequence([int(seed), int(block) + 1]).generate_state(1)[0])


def sample_two_level(
    space: HyperparameterSpace,
    descriptor_names: tuple[str, ...] | list[str],
    n_descriptor: int,
    n_regression: int,
    method: Method = "sobol",
    seed: int = 0,
    repair=None,
) -> list[dict[str, Any]]:
    """``n_descriptor`` points of the ``descriptor_names`` hyperparameters, each with ``n_regression`` points of the
    others: ``n_descriptor * n_regression`` dicts, those of a descriptor point adjacent.

    Both levels use ``method``: the descriptor points one design (seed ``seed``), the regression points of each
    descriptor point their own design (an independent seed per block), so each block is space-filling on its own.
    ``repair`` is applied to every full point.
    """
    unknown = sorted(set(descriptor_names) - set(space.names))
    if unknown:
        raise InputError(None, "descriptor_names", f"hyperparameters of the space {space.names}", got=unknown)
    if n_descriptor < 0 or n_regression < 0:
        raise InputError(None, "n", "non-negative numbers of points", got=(n_descriptor, n_regression))
    desc = [p for p in space.parameters if p.name in descriptor_names]
    reg = [p for p in space.parameters if p.name not in descriptor_names]
    out = []
    for block, d_unit in enumerate(unit_points(len(desc), n_descriptor, method, seed)):
        d_hp = {p.name: p.from_unit(u) for p, u in zip(desc, d_unit, strict=True)}
        # no regression hyperparameters: every block is its descriptor point (the plan drops the repeats)
        r_units = unit_points(len(reg), n_regression, method, _block_seed(seed, block)) if reg else [[]] * n_regression
        for r_unit in r_units:
            hp = {**d_hp, **{p.name: p.from_unit(u) for p, u in zip(reg, r_unit, strict=True)}}
            hp = {name: hp[name] for name in space.names}  # the space's order, as ``sample`` gives it
            out.append(repair(hp) if repair is not None else hp)
    return out


@dataclass(frozen=True)
class MemberSpec:
    """One ensemble member to fit: family, hyperparameters, training-set name and fit seed."""

    family: str
    hyperparameters: dict[str, Any]
    training_set: str
    seed: int
    index: int = 0

    @property
    def member_id(self) -> str:
        """Stable id from the content (not the position), so re-planning does not rename members."""
        blob = json.dumps(
            [self.family, self.hyperparameters, self.training_set, self.seed], sort_keys=True, default=str
        )
        return f"{self.family}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def ensemble_plan(
    family: MLIPFamily | str,
    n: int,
    training_sets: list[str],
    seeds: list[int],
    method: Method = "sobol",
    seed: int = 0,
    descriptor_points: int | None = None,
    ranges: dict[str, Any] | None = None,
) -> list[MemberSpec]:
    """``n`` hyperparameter points x training sets x seeds, in a deterministic order.

    Members sharing a training set and descriptor settings are adjacent (hyperparameter point outermost, then
    training set, then seed) so workers that take consecutive members reuse their descriptor cache. Points made
    identical by repair are dropped (keeping the first), so the plan may hold fewer than n points.

    ``descriptor_points``: draw the n points in two levels (:func:`sample_two_level`), ``descriptor_points``
    settings of the family's descriptor hyperparameters (:meth:`MLIPFamily.descriptor_hyperparameters`) times
    ``n / descriptor_points`` regression settings each; n must be a multiple of it. None: one level.
    ``ranges``: hyperparameters sampled over a part of their declared range
    (:meth:`~mlipscope.models.base.HyperparameterSpace.narrowed`).
    """
    if isinstance(family, str):
        from mlipscope.models.registry import get_family

        family = get_family(family)
    if not training_sets:
        raise InputError(None, "training_sets", "at least one training-set name")
    if not seeds:
        raise InputError(None, "seeds", "at least one integer seed")
    repair = getattr(family, "repair_hyperparameters", None)
    space = family.hyperparameter_space().narrowed(ranges or {})
    if descriptor_points is None:
        points = sample(space, n, method, seed, repair=repair)
    else:
        check_descriptor_points(family, n, descriptor_points)
        points = sample_two_level(
            space,
            family.descriptor_hyperparameters(),
            descriptor_points,
            n // descriptor_points,
            method,
            seed,
            repair=repair,
        )
    seen: set[str] = set()
    plan: list[MemberSpec] = []
    for hp in points:
        key = json.dumps(hp, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        for training_set in training_sets:
            for fit_seed in seeds:
                plan.append(MemberSpec(family.name, hp, training_set, int(fit_seed), index=len(plan)))
    return plan


def check_descriptor_points(family: MLIPFamily, n: int, descriptor_points: object) -> None:
    """InputError unless ``descriptor_points`` is a positive integer dividing ``n`` and ``family`` declares
    descriptor hyperparameters (the check of ``ensemble_plan`` and of the run configuration)."""
    if isinstance(descriptor_points, bool) or not isinstance(descriptor_points, int) or descriptor_points < 1:
        raise InputError(None, "descriptor_points", "a positive integer", got=descriptor_points)
    if not family.descriptor_hyperparameters():
        raise InputError(
            None, "descriptor_points", "a family with descriptor hyperparameters (snap, pod)", got=family.name
        )
    if n % descriptor_points:
        raise InputError(None, "descriptor_points", f"a divisor of n = {n}", got=descriptor_points)


@dataclass
class FitRecord:
    """Outcome of one member's fit: ``ok`` with the fitted model, or the reason it failed."""

    member: MemberSpec
    ok: bool
    model_dir: Path | None
    fit_wall_time_s: float
    reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["member_id"] = self.member.member_id
        out["model_dir"] = None if self.model_dir is None else str(self.model_dir)
        return out


def fit_member(member: MemberSpec, dataset: Dataset, root: Path, family: MLIPFamily | None = None) -> FitRecord:
    """Fit ``member`` on ``dataset`` into ``root/<member_id>``; failures (singular systems, crashes of the fitting
    code, non-finite results) become a record with the reason, never an exception."""
    if family is None:
        from mlipscope.models.registry import get_family

        family = get_family(member.family)
    model_dir = Path(root) / member.member_id
    start = time.perf_counter()
    try:
        fitted: FittedModel = family.fit(dataset, member.hyperparameters, member.seed, model_dir)
    except Exception as exc:  # noqa: BLE001 - every failure of a member is data, not a crash of the run
        last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        where = f" at {last[0].filename.split('/')[-1]}:{last[0].lineno}" if last else ""
        return FitRecord(member, False, None, time.perf_counter() - start, reason=f"{type(exc).__name__}: {exc}{where}")
    bad = {k: v for k, v in fitted.metrics.items() if not np.isfinite(v)}
    if bad:
        return FitRecord(member, False, model_dir, fitted.fit_wall_time_s, reason=f"non-finite metrics {bad}")
    return FitRecord(member, True, model_dir, fitted.fit_wall_time_s, metrics=dict(fitted.metrics))
