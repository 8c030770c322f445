#!/usr/bin/env python3
"""Stand-in for NVIDIA Container Toolkit's `nvidia-ctk` (the parts deployments use).

  nvidia-ctk --version
  nvidia-ctk runtime configure --runtime=docker [--config=PATH] [--set-as-default] [--dry-run]

`runtime configure` edits Docker's daemon.json like the real one: it loads the
file (an absent file is an empty config), sets runtimes.nvidia, keeps every
other key, and writes it back indented by four spaces.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

VERSION = "1.17.8"


def configure(args: argparse.Namespace) -> int:
    if args.runtime != "docker":
        print(f'level=error msg="unrecognized runtime \'{args.runtime}\'"', file=sys.stderr)
        return 1
    try:
        with open(args.config, encoding="utf-8") as handle:
            text = handle.read()
        config = json.loads(text) if text.strip() else {}
    except FileNotFoundError:
        config = {}
    except json.JSONDecodeError as err:
        print(f'level=error msg="unable to load config: {err}"', file=sys.stderr)
        return 1
    config.setdefault("runtimes", {})["nvidia"] = {"args": [], "path": args.nvidia_runtime_path}
    if args.set_as_default:
        config["default-runtime"] = "nvidia"
    output = json.dumps(config, indent=4) + "\n"
    if args.dry_run:
        sys.stdout.write(output)
        return 0
    os.makedirs(os.path.dirname(args.config) or ".", exist_ok=True)
    tmp = args.config + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(output)
    os.replace(tmp, args.config)
    print(f'level=info msg="Wrote updated config to {args.config}"', file=sys.stderr)
    print('level=info msg="It is recommended that docker daemon be restarted."', file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nvidia-ctk")
    parser.add_argument("--version", action="store_true")
    sub = parser.add_subparsers(dest="command")
    runtime = sub.add_parser("runtime").add_subparsers(dest="action", required=True)
    conf = runtime.add_parser("configure")
    conf.add_argument("--runtime", default="docker")
    conf.add_argument("--config", default="/etc/docker/daemon.json")
    conf.add_argument("--nvidia-runtime-path", default="nvidia-container-runtime")
    conf.add_argument("--set-as-default", action="store_true")
    conf.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    if args.version:
        print(f"NVIDIA Container Toolkit CLI version {VERSION}\ncommit: trtllm-deploy-test-bed")
        return 0
    if args.command == "runtime":
        return configure(args)
    parser.print_usage(sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
