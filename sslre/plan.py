"""``sslre plan``: every run a profile's claims need, one command each (for a shell, a queue or SLURM)."""
from __future__ import annotations

import json
from pathlib import Path

from sslre.experiments import default_runs_dir, plan_commands, run_is_complete, runs_for


def plan(profile: str, runs_dir: Path | str | None = None, fmt: str = "lines") -> str:
    """``lines``: one command per line; ``json``: a list of {run, seed, run_dir, done, command};
    ``slurm``: a job-array script whose task i runs command i."""
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir(profile)
    if fmt == "lines":
        return "\n".join(plan_commands(profile, runs_dir))
    entries = []
    for spec in runs_for(profile).values():
        if spec.kind == "alias":
            continue
        for seed in spec.seeds:
            from sslre.experiments import train_command

            d = spec.run_dir(runs_dir, seed)
            entries.append({"run": spec.name, "seed": seed, "run_dir": str(d),
                            "done": run_is_complete(spec, d), "command": train_command(spec, seed, runs_dir)})
    if fmt == "json":
        return json.dumps(entries, indent=1)
    if fmt == "slurm":
        cmds = "\n".join(f"  {json.dumps(e['command'])}" for e in entries)
        return (f"#!/bin/bash\n#SBATCH --job-name=sslre-{profile}\n#SBATCH --array=0-{len(entries) - 1}\n"
                f"CMDS=(\n{cmds}\n)\neval \"${{CMDS[$SLURM_ARRAY_TASK_ID]}}\"\n")
    raise ValueError(f"format {fmt!r} is unknown; allowed: lines, json, slurm")
