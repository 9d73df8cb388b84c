"""Which programs the pods' commands and scripts call, container by container, against the
programs of the image that runs them (``tests/emulator/images/allowlists.py``).

A container's commands are its ``command`` + ``args``, its probes' and lifecycle hooks'
``exec`` commands, and every script they run: a ``bash``/``sh`` script of the mounted
``sidecars/`` folder (by path), an inline ``-c`` script, every script those source or
name (``serve_streams PORT .../backup-stream.sh`` runs it for each connection), and the
scripts an operator runs with ``kubectl exec`` (``OPERATOR_SCRIPTS``). Scripts are parsed
with shfmt (``--to-json``): a call is the first word of a simple command, after ``exec``,
``command``, ``run`` (target.sh), ``timeout``, ``nohup``, ``xargs`` and ``find -exec``. A word
that is a variable (``"$MYSQL_HA_CLIENT"``) is the container's value of it (its ``env`` and
``envFrom`` ConfigMaps); an empty value is a tool the engine does not have, which the script
does not call there. Builtins and the functions the scripts define are no programs.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synth_helpers import SIDECARS, by_kind

from emulator.images import allowlists

SCRIPTS_MOUNT = "/opt/mysql-ha/"
PROGRAMS = {
    "mysql:8.4": allowlists.MYSQL,
    "mysql:9.7": allowlists.MYSQL,
    # The same docker-library packaging on oraclelinux:7-slim (server-minimal, no shell).
    "mysql:5.7": allowlists.MYSQL - {"mysqlsh"},
    "mariadb:11.4": allowlists.MARIADB,
    "mariadb:10.11": allowlists.MARIADB_10_11,
    "rclone/rclone:1.75": allowlists.RCLONE,
    # A static binary on prom/busybox: the chart runs it by the image's entrypoint alone.
    "prom/mysqld-exporter:v0.16.0": frozenset({"mysqld_exporter"}),
}
UNLISTED_IMAGES = {
    "gcr.io/google-samples/xtrabackup:1.0": "no public Dockerfile: what it holds is known only from the "
    "commands the Kubernetes tutorial runs in it (docs/images.md, section 4)",
}
OPERATOR_SCRIPTS = {"replication": ("status.sh",)}
"""Scripts the README tells an operator to run with kubectl exec, by container."""

BASH_BUILTINS = frozenset(
    ". : [ [[ alias bg bind break builtin caller cd command compgen complete compopt continue declare dirs "
    "disown echo enable eval exec exit export false fc fg getopts hash help history jobs kill let local "
    "logout mapfile popd printf pushd pwd read readarray readonly return set shift shopt source suspend "
    "test times trap true type typeset ulimit umask unalias unset wait".split()
)
"""bash's builtins (and busybox ash's, a subset): no program of the image is needed."""
WRAPPERS = {"exec": 0, "command": 0, "nohup": 0, "run": 0, "time": 0}
"""Words that run the next word as a command (``run`` is target.sh's function)."""


@dataclass(frozen=True)
class Call:
    """A program a container calls: where, and through which script."""

    image: str
    container: str
    program: str
    origin: str
    function: str | None = None
    """The function whose body makes the call (None: a script's top level)."""


@functools.cache
def shfmt() -> str:
    found = shutil.which("shfmt", path=str(Path(sys.executable).parent)) or shutil.which("shfmt")
    assert found, "shfmt not found: install shfmt-py in the virtualenv (Pipfile)"
    return found


@functools.cache
def parse(text: str, dialect: str) -> dict[str, Any]:
    """The shell syntax tree of ``text`` (shfmt's JSON)."""
    done = subprocess.run([shfmt(), "-ln", dialect, "--to-json"], input=text, capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, f"shfmt could not parse the script: {done.stderr}"
    return json.loads(done.stdout)


def _nodes(node: Any, env: dict[str, str] | None = None, function: str | None = None
           ) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Every node below ``node``, with the function whose body holds it (None: the script's
    top level); with ``env``, a ``case`` on a word that ``env`` decides (``case
    $MYSQL_HA_TRANSPORT in``) descends into the branch taken alone."""
    if isinstance(node, dict):
        yield node, function
        if node.get("Type") == "FuncDecl":
            function = node["Name"]["Value"]
        if env is not None and node.get("Type") == "CaseClause":
            value = literal(node["Word"], env)
            if value is not None:
                for item in node.get("Items", []):
                    patterns = [literal(p, env) for p in item.get("Patterns", [])]
                    if any(p is None or fnmatch.fnmatchcase(value, p) for p in patterns):
                        yield from _nodes(item.get("Stmts", []), env, function)
                        break
                return
        for value in node.values():
            yield from _nodes(value, env, function)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value, env, function)


def literal(word: dict[str, Any], env: dict[str, str]) -> str | None:
    """The word's text when it holds no expansion but of variables ``env`` has; else None."""
    out = []
    for part in word.get("Parts", []):
        kind = part.get("Type")
        if kind in ("Lit", "SglQuoted"):
            out.append(part.get("Value", ""))
        elif kind == "DblQuoted":
            inner = literal(part, env)
            if inner is None:
                return None
            out.append(inner)
        elif kind == "ParamExp" and set(part) <= {"Type", "Pos", "End", "Dollar", "Rbrace", "Param", "Short"}:
            name = part["Param"]["Value"]
            if name not in env:
                return None
            out.append(env[name])
        else:
            return None
    return "".join(out)


def _command_words(args: list[dict[str, Any]], env: dict[str, str]) -> Iterator[tuple[str | None, dict]]:
    """The words of a simple command that run as programs: the first, and what wrappers run."""
    index = 0
    while index < len(args):
        word = args[index]
        text = literal(word, env)
        yield text, word
        if text is None:
            return
        name = text.split()[0] if text.split() else ""
        if name in WRAPPERS:
            index += 1
            while index < len(args) and (literal(args[index], env) or "").startswith("-"):
                index += 1
            continue
        if name == "timeout":
            index += 1
            while index < len(args) and (literal(args[index], env) or "").startswith("-"):
                index += 1
            index += 1  # the duration
            continue
        if name in ("xargs", "find"):
            rest = [literal(a, env) for a in args[index + 1:]]
            if name == "find":
                starts = [i for i, value in enumerate(rest) if value in ("-exec", "-execdir", "-ok")]
                for start in starts:
                    yield from _command_words(args[index + 2 + start:], env)
                return
            options = 0
            while options < len(rest) and (rest[options] or "").startswith("-"):
                options += 1
            index += 1 + options
            continue
        return


class Scanner:
    """Collects the calls of one container."""

    def __init__(self, image: str, container: str, env: dict[str, str]):
        self.image = image
        self.container = container
        self.env = env
        self.functions: set[str] = set()
        self.calls: list[Call] = []
        self.unresolved: list[Call] = []
        self._seen_scripts: set[str] = set()

    def argv(self, argv: list[str], origin: str) -> None:
        """A command of the manifest (exec form, no shell)."""
        if not argv:
            return
        program = argv[0].rsplit("/", 1)[-1]
        if argv[0].startswith(SCRIPTS_MOUNT):
            self.script(argv[0][len(SCRIPTS_MOUNT):], origin)
            return
        self.calls.append(Call(self.image, self.container, program, origin))
        if program in ("bash", "sh") and len(argv) > 1:
            if argv[1] == "-c" and len(argv) > 2:
                self.text(argv[2], "bash" if program == "bash" else "posix", f"{origin} (-c)")
            elif argv[1].startswith(SCRIPTS_MOUNT):
                self.script(argv[1][len(SCRIPTS_MOUNT):], origin)

    def script(self, name: str, origin: str) -> None:
        """A script of sidecars/, run or sourced in this container."""
        if name in self._seen_scripts:
            return
        self._seen_scripts.add(name)
        text = (SIDECARS / name).read_text()
        first = text.splitlines()[0] if text else ""
        dialect = "posix" if first in ("#!/bin/sh", "# shellcheck shell=sh") else "bash"
        if first.startswith("#!"):
            self.argv(first[2:].split(), f"{name} (#!)")
        self.text(text, dialect, name)

    def text(self, text: str, dialect: str, origin: str) -> None:
        tree = parse(text, dialect)
        nodes = list(_nodes(tree, self.env))
        self.functions |= {n["Name"]["Value"] for n, _ in nodes if n.get("Type") == "FuncDecl"}
        for node, function in nodes:
            if node.get("Type") == "CallExpr" and node.get("Args"):
                self._call(node["Args"], origin, function)
            # A script of sidecars/ named anywhere (an argument, a socat EXEC address) runs here.
            if node.get("Type") in ("Lit", "SglQuoted"):
                for token in node.get("Value", "").replace(":", " ").split():
                    base = token.rsplit("/", 1)[-1]
                    if base.endswith(".sh") and (SIDECARS / base).is_file():
                        self.script(base, f"{origin} (names {base})")

    def _call(self, args: list[dict[str, Any]], origin: str, function: str | None) -> None:
        for text, word in _command_words(args, {"BASH": "bash", **self.env}):
            if _forwards_arguments(word):
                return  # "$@": the caller's words, checked where the caller is called (run)
            if text is None:
                self.unresolved.append(Call(self.image, self.container, _show(word), origin, function))
                return
            if not text.strip():
                return  # the engine has no such tool: the script does not call it here
            name = text.split()[0]
            if name in (".", "source") and len(args) > 1:
                target = literal(args[1], {**self.env, "MYSQL_HA_SCRIPTS_DIR": SCRIPTS_MOUNT.rstrip("/")})
                if target and (SIDECARS / target.rsplit("/", 1)[-1]).is_file():
                    self.script(target.rsplit("/", 1)[-1], f"{origin} (sources)")
            self.calls.append(Call(self.image, self.container, name.rsplit("/", 1)[-1], origin, function))

    def missing(self) -> list[Call]:
        """The calls of programs the image lacks."""
        if self.image in UNLISTED_IMAGES:
            return []
        allowed = PROGRAMS[self.image] | BASH_BUILTINS | self.functions
        return [c for c in self.reachable(self.calls) if c.program not in allowed]

    def reachable(self, calls: list[Call]) -> list[Call]:
        """The calls made at a script's top level or in a function that is called (from the
        top level, or from a function that is)."""
        called = {None}
        while True:
            more = {c.program for c in self.calls if c.function in called and c.program in self.functions} - called
            if not more:
                return [c for c in calls if c.function in called]
            called |= more


def _forwards_arguments(word: dict[str, Any]) -> bool:
    parts = word.get("Parts", [])
    if len(parts) == 1 and parts[0].get("Type") == "DblQuoted":
        parts = parts[0].get("Parts", [])
    return len(parts) == 1 and parts[0].get("Type") == "ParamExp" and parts[0]["Param"]["Value"] in ("@", "*")


def _show(word: dict[str, Any]) -> str:
    kinds = [p.get("Type") for p in word.get("Parts", [])]
    params = [n["Param"]["Value"] for n, _ in _nodes(word) if n.get("Type") == "ParamExp"]
    return f"<{'+'.join(kinds)}: {','.join(params)}>"


def container_env(manifests: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """A container's variables with literal values: ``env`` and its ConfigMaps (``envFrom``)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source.get("configMapRef", {}).get("name")
        if name:
            env.update(by_kind(manifests, "ConfigMap", name).get("data", {}))
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env


def pod_specs(manifests: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod spec of the manifests, with the name of its owner."""
    for obj in manifests:
        spec = obj.get("spec", {})
        if obj["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            yield f"{obj['kind']}/{obj['metadata']['name']}", spec["template"]["spec"]


def scan(manifests: list[dict[str, Any]]) -> list[Scanner]:
    """One scanner per container of every pod spec, with what it calls."""
    scanners = []
    for owner, pod in pod_specs(manifests):
        for each in pod.get("initContainers", []) + pod.get("containers", []):
            image = each["image"]
            scanner = Scanner(image, f"{owner}:{each['name']}", container_env(manifests, each))
            if image in UNLISTED_IMAGES:
                scanners.append(scanner)
                continue
            argv = list(each.get("command", [])) + list(each.get("args", [])) if "command" in each else []
            scanner.argv(argv, "command")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                scanner.argv(each.get(probe, {}).get("exec", {}).get("command", []), probe)
            for hook in ("postStart", "preStop"):
                scanner.argv(each.get("lifecycle", {}).get(hook, {}).get("exec", {}).get("command", []), hook)
            for script in OPERATOR_SCRIPTS.get(each["name"], ()):
                scanner.script(script, "kubectl exec")
            scanners.append(scanner)
    return scanners
