"""trtllm-deploy: apply the trtllm.deploy playbooks to one node or a fleet, and say what happened."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import __version__
from .project import ProjectNotFound, find_project, project_dir
from .runner import RunResult, Stage, run_stage, secret_env, write_report
from .secrets import SecretError, load, mask
from .validation import Findings, InventoryError
from .validation import validate as validate_inventory

EXIT_OK, EXIT_FAILED, EXIT_UNREACHABLE, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 2, 3, 4, 130
EXIT_NOT_SERVING = 5  # status: a host answered the status play but does not serve
# Each command's playbook, under the collection's root: a checkout and an installed copy both have playbooks/.
PLAYBOOK = {"deploy": "playbooks/site.yml", "plan": "playbooks/site.yml", "status": "playbooks/status.yml",
            "teardown": "playbooks/teardown.yml", "validate": "playbooks/validate.yml", "bench": "playbooks/bench.yml"}


class BadInput(Exception):
    pass


def parse_extra_vars(items: list[str]) -> dict:
    extravars = {}
    for item in items or []:
        if item.startswith("@"):
            raise BadInput(f"-e {item}: files are not taken; pass key=value")
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise BadInput(f"-e {item!r}: expected key=value with key a variable name")
        try:
            extravars[key] = json.loads(value)
        except json.JSONDecodeError:
            extravars[key] = value
    return extravars


def check_inventory(inventories: list[str], extravars: dict, limit: str | None, secrets: dict,
                    project: Path | None = None) -> Findings:
    """Everything that can be known on the controller, in-process (no host contacted, no subprocess)."""
    try:
        with secret_env(secrets):
            findings = validate_inventory(inventories, extravars, limit, project or project_dir())
    except InventoryError as exc:
        raise BadInput(mask(str(exc), secrets)) from None
    if findings.problems:
        raise BadInput("\n".join(mask(line, secrets) for line in findings.lines()))
    return findings


def exit_code(result: RunResult) -> int:
    if result.cancelled:
        return EXIT_CANCELLED
    if not result.progress.hosts:
        return EXIT_BAD_INPUT  # no host matched the inventory and --limit
    hosts = result.progress.hosts.values()
    if any(h.failed for h in hosts) or (result.rc != 0 and not any(h.unreachable for h in hosts)):
        return EXIT_FAILED
    if any(h.unreachable for h in hosts):
        return EXIT_UNREACHABLE
    return EXIT_OK


def balances(balancer: dict) -> bool:
    """HAProxy answered its runtime API and has at least one backend server UP."""
    servers = balancer.get("servers") or {}
    return not balancer.get("error") and any(str(s.get("status", "")).startswith("UP") for s in servers.values())


def serves(status: dict) -> bool:
    """Container running, every model READY, and a generate request answered; a cluster's member other than
    rank 0 (it answers through rank 0) with its container running."""
    cluster = status.get("cluster") or {}
    if cluster and str(cluster.get("is_rank0")) not in ("True", "true"):
        return status.get("container") == "running"
    ready = len(status.get("models_ready") or [])
    return (status.get("container") == "running" and str(status.get("answers")) == "True"
            and ready > 0 and str(ready) == str(status.get("models_total")))


# --plain and CI: ASCII only, a dashed rule under the header, columns two spaces apart.
PLAIN_BOX = box.Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True)
NUMERIC = {"ok", "changed", "failed", "unreachable", "build s", "smoke s", "restarts", "conc.", "TTFT p50 ms",
           "TTFT p99 ms", "ITL p50 ms", "out tok/s", "req/s", "errors"}


def summary_table(report: dict, plain: bool = True) -> str:
    columns = ["host", "ok", "changed", "failed", "unreachable", "model", "engine", "build s", "endpoint", "smoke s"]
    rows = []
    for name, host in report["hosts"].items():
        failed, unreachable, changed = host["failed"], host["unreachable"], host["changed"]
        rows.append([cell(name, "red" if failed or unreachable else ""), host["ok"],
                     cell(changed, "yellow" if changed else ""), cell(failed, "red" if failed else ""),
                     cell(unreachable, "red" if unreachable else ""), host.get("model") or "-", host["engine"] or "-",
                     "-" if host["build_seconds"] is None else f"{host['build_seconds']:.1f}",
                     host["endpoint"] or "-", "-" if host["smoke_seconds"] is None else f"{host['smoke_seconds']:.3f}"])
    return table(columns, rows, plain)


def fleet_table(report: dict, plain: bool = True) -> str:
    """The fleet's endpoint on each balancer and every backend server's state there; empty without balancers."""
    columns = ["balancer", "fleet endpoint", "backend", "state", "in flight", "check"]
    rows = []
    for name, host in report["hosts"].items():
        balancer = host.get("balancer")
        if not balancer:
            continue
        endpoint = balancer.get("endpoint", "-") + (f"  grpc {balancer['grpc_endpoint']}"
                                                    if balancer.get("grpc_endpoint") else "")
        if balancer.get("error"):
            rows.append([cell(name, "red"), endpoint, "-", cell(balancer["error"], "red"), "-", "-"])
        for server, state in sorted((balancer.get("servers") or {}).items()):
            status = str(state.get("status", ""))
            rows.append([name, endpoint, server, cell(status, "green" if status.startswith("UP") else "red"),
                         state.get("active", "-"), state.get("check") or "-"])
    return table(columns, rows, plain) if rows else ""


def status_table(report: dict, plain: bool = True) -> str:
    columns = ["host", "container", "restarts", "engine", "models READY", "endpoint", "answers"]
    rows = []
    for name, host in report["hosts"].items():
        if host.get("balancer"):
            continue
        status = host.get("status") or {}
        container = status.get("container", "unknown")
        answers = {True: "yes", "True": "yes"}.get(status.get("answers"), "no")
        models = f"{len(status.get('models_ready') or [])}/{status.get('models_total', '?')}"
        endpoint = status.get("endpoint", "-")
        cluster = status.get("cluster") or {}
        if cluster and str(cluster.get("is_rank0")) not in ("True", "true"):  # a member answers through rank 0
            models, endpoint, answers = "-", f"rank 0: {cluster.get('rank0')}", "via rank 0"
        rows.append([name, cell(container, "green" if container == "running" else "red"), status.get("restarts", "-"),
                     status.get("engine_key") or "-", models, endpoint,
                     cell(answers, "red" if answers == "no" else "green")])
    return table(columns, rows, plain)


def bench_table(report: dict, plain: bool = True) -> str:
    """Per benchmarked endpoint and concurrency: AIPerf's numbers, as serving_bench summarized them."""
    columns = ["host", "endpoint", "conc.", "TTFT p50 ms", "TTFT p99 ms", "ITL p50 ms", "out tok/s", "req/s", "errors"]
    rows = []

    def number(value, digits=1):
        return "-" if value is None else f"{float(value):.{digits}f}"

    for name, host in report["hosts"].items():
        bench = host.get("bench")
        if not bench:
            continue
        for concurrency, summary in sorted((bench.get("sweep") or {}).items(), key=lambda item: int(item[0])):
            rows.append([name, bench.get("endpoint", "-"), concurrency, number(summary.get("ttft_p50_ms")),
                         number(summary.get("ttft_p99_ms")), number(summary.get("itl_p50_ms")),
                         number(summary.get("output_tokens_per_s")), number(summary.get("requests_per_s"), 2),
                         cell(summary.get("errors", 0), "red" if summary.get("errors") else "")])
    return table(columns, rows, plain) if rows else ""


def cell(value, style: str = "") -> Text:
    """A table cell: its text as is (no markup), coloured on a terminal only."""
    return value if isinstance(value, Text) else Text(str(value), style=style)


def table(columns: list[str], rows: list[list], plain: bool = True) -> str:
    """A table through rich: boxed and coloured for a terminal; with `plain`, ASCII text with no escape codes,
    never wrapped or cut whatever its width. Cells are text, not markup."""
    grid = Table(box=PLAIN_BOX if plain else box.SIMPLE_HEAVY, show_edge=False, pad_edge=False,
                 padding=(0, 1, 0, 0) if plain else (0, 1), header_style="" if plain else "bold")
    for column in columns:
        grid.add_column(column, justify="right" if column in NUMERIC else "left", no_wrap=plain)
    for row in rows:
        grid.add_row(*(cell(value) for value in row))
    if plain:
        console = Console(file=io.StringIO(), width=100_000, color_system=None, force_terminal=False,
                          force_jupyter=False, legacy_windows=False, no_color=True, highlight=False, emoji=False,
                          markup=False)
    else:
        console = Console(file=io.StringIO(), width=shutil.get_terminal_size((120, 24)).columns,
                          force_terminal=True, highlight=False, emoji=False, markup=False)
    console.print(grid)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trtllm-deploy", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("-i", "--inventory", action="append", required=True,
                       help="inventory path (repeat to layer several)")
        p.add_argument("--limit", help="only these hosts or groups (Ansible pattern)")
        p.add_argument("--artifacts", default=os.environ.get("TRTLLM_DEPLOY_ARTIFACTS", "artifacts"),
                       help="directory of run artifacts and reports (default: ./artifacts)")
        p.add_argument("--keep", type=int, default=10, help="artifact directories kept (default 10)")
        p.add_argument("--secret-file", help="file of NAME=VALUE secrets (HF_TOKEN, NGC_API_KEY), mode 600")
        p.add_argument("--plain", action="store_true", help="plain log lines even on a terminal")

    deploy = sub.add_parser("deploy", help="run playbooks/site.yml: prepare, build, deploy, verify")
    common(deploy)
    deploy.add_argument("--tags", help="only tasks with these tags (prepare, build, deploy, verify, ...)")
    deploy.add_argument("-e", "--extra-vars", action="append", default=[], metavar="KEY=VALUE")
    deploy.add_argument("--check", action="store_true", help="change nothing, report what would change")
    deploy.add_argument("--diff", action="store_true", help="show file differences")
    deploy.add_argument("--serial", metavar="N|N%",
                        help="rolling deploy: hosts per batch, each batch health-checked before the next")
    deploy.add_argument("--max-fail-percentage", type=int, metavar="PCT",
                        help="failed hosts (percent of a batch) that stop the roll (default 0: any)")
    plan = sub.add_parser("plan", help="what deploy would change per host (check and diff; changes nothing)")
    common(plan)
    plan.add_argument("-e", "--extra-vars", action="append", default=[], metavar="KEY=VALUE")
    status = sub.add_parser("status", help="per host: container, engine, models READY, endpoint, answers")
    common(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    teardown = sub.add_parser("teardown", help="stop the server and remove the container (engines kept)")
    common(teardown)
    teardown.add_argument("--remove-engines", action="store_true", help="also remove engines and checkpoints")
    bench = sub.add_parser("bench", help="benchmark each endpoint (or the fleet's balancer) with AIPerf, gate on it")
    common(bench)
    bench.add_argument("--concurrency", metavar="N,N,...", help="the sweep's concurrencies (default 1,2,4)")
    bench.add_argument("--requests", type=int, metavar="N", help="requests at each concurrency (default 32)")
    bench.add_argument("-e", "--extra-vars", action="append", default=[], metavar="KEY=VALUE")
    validate = sub.add_parser("validate", help="check inventory and variables without touching hosts")
    common(validate)
    validate.add_argument("-e", "--extra-vars", action="append", default=[], metavar="KEY=VALUE")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return run_command(build_parser().parse_args(argv))
    except KeyboardInterrupt:  # Ctrl-C before or between runs; a run itself is cancelled through the runner
        print("trtllm-deploy: cancelled", file=sys.stderr)
        return EXIT_CANCELLED


def run_command(args: argparse.Namespace) -> int:
    args.inventory = [str(Path(i).resolve()) for i in args.inventory]
    out = sys.stdout
    try:
        project = find_project()
    except ProjectNotFound as exc:
        print(f"trtllm-deploy: no playbooks to run, no host was touched: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        secrets = load(args.secret_file)
        extravars = parse_extra_vars(getattr(args, "extra_vars", []))
        if args.command == "deploy":
            if args.serial:
                extravars["trtllm_serial"] = args.serial
            if args.max_fail_percentage is not None:
                extravars["trtllm_max_fail_percentage"] = args.max_fail_percentage
        findings = check_inventory(args.inventory, extravars, args.limit, secrets, project.root)
    except (BadInput, SecretError) as exc:
        lines = str(exc).splitlines()
        print(f"trtllm-deploy: bad input, no host was touched ({len(lines)} problem(s)):", file=sys.stderr)
        for line in lines:
            print(f"  {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for host, warnings in findings.warnings.items():
        for warning in warnings:
            print(f"trtllm-deploy: warning: {host + ': ' if host else ''}{mask(warning, secrets)}", file=sys.stderr)
    artifacts = Path(args.artifacts).resolve()
    live = False if args.plain else None
    plain = args.plain or not out.isatty()

    progress_stream = sys.stderr if getattr(args, "json", False) else out

    def run(stage: Stage) -> RunResult:
        return run_stage(stage, artifacts, args.keep, secrets, stream=progress_stream, live=live, project=project)

    if args.command in ("deploy", "plan", "validate"):
        checked = run(Stage(PLAYBOOK["validate"], args.inventory, args.limit, extravars=extravars))
        if args.command == "validate" or exit_code(checked) != EXIT_OK:
            code = EXIT_OK if exit_code(checked) == EXIT_OK else EXIT_BAD_INPUT
            if checked.cancelled:
                code = EXIT_CANCELLED
            report = write_report(checked, args.command, args.inventory, code)
            for name, host in report["hosts"].items():
                if host["error"]:
                    print(f"{name}: {host['error']}", file=sys.stderr)
            print(f"validate: {'ok' if code == EXIT_OK else 'bad input, no host was touched'}; "
                  f"report {checked.artifact_dir / 'report.json'}", file=out)
            return code
    if args.command == "deploy":
        stage = Stage(PLAYBOOK["deploy"], args.inventory, args.limit, args.tags, extravars, args.check, args.diff)
    elif args.command == "plan":
        stage = Stage(PLAYBOOK["plan"], args.inventory, args.limit, extravars=extravars, check=True, diff=True)
    elif args.command == "status":
        stage = Stage(PLAYBOOK["status"], args.inventory, args.limit)
    elif args.command == "bench":
        extravars["serving_bench_results_dir"] = str(artifacts / f"{time.strftime('%Y%m%dT%H%M%S')}-bench-results")
        if args.concurrency:
            extravars["serving_bench_concurrency"] = [int(c) for c in args.concurrency.split(",") if c.strip()]
        if args.requests:
            extravars["serving_bench_requests"] = args.requests
        stage = Stage(PLAYBOOK["bench"], args.inventory, args.limit, extravars=extravars)
    else:
        stage = Stage(PLAYBOOK["teardown"], args.inventory, args.limit,
                      extravars={"trtllm_teardown_engines": bool(args.remove_engines)})
    result = run(stage)
    code = exit_code(result)
    down = [name for name, host in sorted(result.progress.hosts.items())
            if not (balances(host.balancer) if host.balancer else serves(host.status))]
    if args.command == "status" and code == EXIT_OK and down:
        code = EXIT_NOT_SERVING
    report = write_report(result, args.command, args.inventory, code)
    fleet = fleet_table(report, plain)
    if args.command == "status" and args.json:
        print(json.dumps({name: host.get("status") or {"balancer": host.get("balancer")}
                          for name, host in report["hosts"].items()}, indent=2), file=out)
    elif args.command == "status":
        print(status_table(report, plain) + ("\n\n" + fleet if fleet else ""), file=out)
    elif args.command == "bench":
        print("\n" + (bench_table(report, plain) or "no endpoint was benchmarked"), file=out)
        for name, host in report["hosts"].items():
            bench = host.get("bench") or {}
            if bench:
                verdict = "; ".join(bench.get("problems") or []) or "passed"
                print(f"{name}: gate at concurrency {bench.get('gate_concurrency')}: {verdict}; "
                      f"plot {bench.get('plot')}", file=out)
                if str(bench.get("stand_in")) == "True":
                    print(f"{name}: these numbers are the test bed's CPU stand-in's, not a GPU's", file=out)
    else:
        print("\n" + summary_table(report, plain) + ("\n\n" + fleet if fleet else ""), file=out)
        if args.command == "plan":
            for name, host in report["hosts"].items():
                print(f"{name}: {host['changed']} change(s) would be made", file=out)
    for name, host in report["hosts"].items():
        if host["error"]:
            print(f"{name}: {host['error']}", file=out)
    if code == EXIT_NOT_SERVING:
        print(f"not serving: {', '.join(down)}", file=sys.stderr)
    print(f"report: {result.artifact_dir / 'report.json'}  (exit {code})", file=progress_stream)
    return code


if __name__ == "__main__":
    sys.exit(main())
