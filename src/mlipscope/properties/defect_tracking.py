"""Following a point defect through an MD trajectory: Wigner–Seitz occupancy of the perfect lattice's sites.

Thermal vibration is removed by averaging positions over windows of ``window_frames`` samples; each averaged atom is
assigned to its nearest lattice site (its Wigner–Seitz cell), so a site with no atom is a vacancy and a site with
``k > 1`` atoms holds ``k - 1`` interstitials (a split dumbbell puts two atoms on one site). The defect's
*signature* in a window is its set of vacant and multiply occupied sites; a **hop** is a change of signature between
windows that both show the expected defect count, and the defect is **lost** when the count differs from the
expected one (Frenkel pairs formed, defects clustered) for ``lost_windows`` consecutive windows.

This is the analysis OVITO's Wigner–Seitz modifier does, on the sites mlipscope already has (the perfect
supercell the defect cell was built from); centre-of-mass drift is removed first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mlipscope.properties.md import MDTrajectory, nearest_site


@dataclass(frozen=True)
class DefectTrack:
    """What :func:`track_defect` found. Times are the start of each window (ps)."""

    window_times_ps: np.ndarray
    defect_counts: np.ndarray  # vacancies + interstitials per window
    expected_count: int
    n_hops: int
    lost_at_ps: float | None  # first window of a run of `lost_windows` windows with the wrong defect count
    mean_positions_a: np.ndarray = field(repr=False)  # window-averaged, drift-free positions (n_windows, n_atoms, 3)

    @property
    def lost(self) -> bool:
        return self.lost_at_ps is not None


def window_means(trajectory: MDTrajectory, window_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(window start times in ps, positions averaged over consecutive windows of ``window_frames`` samples with
    centre-of-mass drift removed, shape (n_windows, n_atoms, 3))."""
    pos = trajectory.positions_a - (trajectory.positions_a - trajectory.positions_a[0]).mean(axis=1, keepdims=True)
    n_windows = len(pos) // window_frames
    used = pos[: n_windows * window_frames].reshape(n_windows, window_frames, *pos.shape[1:])
    return trajectory.times_ps[: n_windows * window_frames : window_frames], used.mean(axis=1)


def occupancy(positions_a: np.ndarray, sites_a: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Number of atoms whose nearest site (minimum image) is each site."""
    index, _ = nearest_site(positions_a, sites_a, cell)
    return np.bincount(index, minlength=len(sites_a))


def track_defect(
    trajectory: MDTrajectory,
    sites_a: np.ndarray,
    *,
    window_frames: int = 5,
    lost_windows: int = 4,
) -> DefectTrack:
    """Follow the defect of ``trajectory`` over the lattice ``sites_a`` (see the module docstring). The expected
    defect count is read from the first window (one vacancy or one interstitial for a cell built with one)."""
    times, means = window_means(trajectory, window_frames)
    if len(means) == 0:
        raise ValueError(f"trajectory of {len(trajectory.times_ps)} samples is shorter than one window")
    counts, signatures = [], []
    for mean in means:
        occ = occupancy(mean, sites_a, trajectory.cell)
        vacant = tuple(np.flatnonzero(occ == 0))
        crowded = tuple(np.flatnonzero(occ > 1))
        counts.append(len(vacant) + int(np.clip(occ - 1, 0, None).sum()))
        signatures.append((vacant, crowded))
    counts_arr = np.array(counts)
    # the cell was built with one defect: the count of a perfect-vs-defect atom-number difference, at least 1
    expected = max(1, abs(len(trajectory.numbers) - len(sites_a)))
    hops, last, lost_at, run = 0, None, None, 0
    for k, (count, signature) in enumerate(zip(counts_arr, signatures, strict=True)):
        if count != expected:
            run += 1
            if run >= lost_windows and lost_at is None:
                lost_at = float(times[k - lost_windows + 1])
            continue
        run = 0
        if last is not None and signature != last:
            hops += 1
        last = signature
    return DefectTrack(
        window_times_ps=times,
        defect_counts=counts_arr,
        expected_count=expected,
        n_hops=hops,
        lost_at_ps=lost_at,
        mean_positions_a=means,
    )


def block_diffusivities_a2_ps(mean_positions_a: np.ndarray, window_times_ps: np.ndarray, block_ps: float) -> np.ndarray:
    """Summed-atomic-MSD diffusivity of each block of ``block_ps`` (Å²/ps): sum_i |r_i(end) - r_i(start)|² / (6 τ)
    with r the window-averaged positions at the block's first and last window. Blocks do not overlap; a trailing
    part shorter than a block is dropped."""
    if len(window_times_ps) < 2:
        return np.array([])
    step = float(window_times_ps[1] - window_times_ps[0])
    per_block = max(1, int(round(block_ps / step)))
    starts = np.arange(0, len(window_times_ps) - per_block, per_block)
    out = []
    for s in starts:
        disp = mean_positions_a[s + per_block] - mean_positions_a[s]
        tau = float(window_times_ps[s + per_block] - window_times_ps[s])
        out.append(float((disp**2).sum()) / (6.0 * tau))
    return np.array(out)
