"""Whole-process wall time of the `alliance` command, against `python -c pass` in the same run.

Run: python bench/cli.py [--runs 10] [--src FOLDER] [--before FOLDER]
Each command is started as a fresh process the way the `alliance` entry point starts it
(`from alliance.cli import main`), so the figure is what a person waits for at the prompt:
interpreter start, imports, parsing and output. The commands are run in turn, round after round,
so a moment of load from elsewhere lands on all of them alike. --src puts a checkout's src
folder first on the import path (default: whatever `import alliance` finds); --before times a
second one, such as the code before a change, in the same rounds.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ANSWERS = '{"1":1,"2":2,"3":1,"4":0,"5":0,"6":1,"7":0,"8":0,"9":1}'
ENTRY = "import sys; from alliance.cli import main; sys.exit(main())"
BASELINE = "python -c pass"
COMMANDS: dict[str, list[str]] = {
    "alliance --help": ["-c", ENTRY, "--help"],
    "alliance score phq9 --answers …": ["-c", ENTRY, "score", "phq9", "--answers", ANSWERS],
}
# What each command must print, so a broken command is not timed as a fast one.
EXPECTED = {"alliance --help": "score", "alliance score phq9 --answers …": "phq9: total 6"}


def environment(src: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(src.resolve()), *filter(None, [env.get("PYTHONPATH")])]
        )
    return env


def run_once(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{args[-1]!r} exited {done.returncode}:\n{done.stderr}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each command")
    parser.add_argument("--src", type=Path, default=None, help="import alliance from here")
    parser.add_argument("--before", type=Path, default=None, help="also time this src folder")
    options = parser.parse_args()
    current = environment(options.src)
    trees = {"": current}
    if options.before is not None:
        trees = {" (after)": current, " (before)": environment(options.before)}
    jobs: dict[str, tuple[list[str], dict[str, str]]] = {BASELINE: (["-c", "pass"], current)}
    for label, env in trees.items():
        for name, args in COMMANDS.items():
            jobs[name + label] = (args, env)
    for name, (args, env) in jobs.items():  # warm the file cache; not timed
        _, out = run_once(args, env)
        expected = next((text for cmd, text in EXPECTED.items() if name.startswith(cmd)), "")
        if expected not in out:
            raise SystemExit(f"{name}: output lacks {expected!r}:\n{out}")
    times: dict[str, list[float]] = {name: [] for name in jobs}
    load_start = os.getloadavg()
    for _ in range(options.runs):
        for name, (args, env) in jobs.items():
            times[name].append(run_once(args, env)[0])
    load_end = os.getloadavg()

    console = Console(width=120)
    console.print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {options.runs} runs each; "
        f"load average {' '.join(f'{x:.2f}' for x in load_start)} at start, "
        f"{' '.join(f'{x:.2f}' for x in load_end)} at end"
    )
    base = statistics.median(times[BASELINE])
    table = Table()
    for column in ("command", "median s", "worst s", "best s", "median / baseline", "above base s"):
        table.add_column(column)
    for name, values in times.items():
        median = statistics.median(values)
        table.add_row(
            name,
            f"{median:.3f}",
            f"{max(values):.3f}",
            f"{min(values):.3f}",
            f"{median / base:.1f}x",
            f"{median - base:.3f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
