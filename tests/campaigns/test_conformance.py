"""The MCP conformance suite's generic server scenarios, against the installed console script.

One `snapshot-mcp --transport http --simulate --port 0` subprocess serves every scenario
(module fixture; ready when it prints "serving MCP at …" on stderr). Each scenario runs
`npx -y @modelcontextprotocol/conformance@0.1.13 server --url … --scenario NAME -o DIR`
(0.1.16 needs Node 22; this machine has Node 20). The tool exits 0 when every check
passed; the test also reads the checks it wrote (`DIR/*/checks.json`) and requires the
scenario's known checks, each SUCCESS.

Left out, on purpose: `logging-set-level` (the server does not implement
`logging/setLevel` and does not declare the capability: it logs to stderr) and every
scenario that needs the suite's fixture tools, prompts or resources (`tools-call-*`,
`resources-read-*`, `resources-templates-read`, `prompts-get-*`, `server-sse-polling`,
`json-schema-2020-12`, `elicitation-*`, `resources-(un)subscribe`), since
`tools-call-*` can pass falsely on a server without them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from stress.load import unexpected_tracebacks
from tests.support.processes import SCRIPT, base_env

# the MCP conformance suite through npx, against a real HTTP server
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("conformance")]


CONFORMANCE = "@modelcontextprotocol/conformance@0.1.13"


SCENARIOS = {
    "server-initialize": ["server-initialize"],
    "ping": ["ping"],
    "tools-list": ["tools-list"],
    "prompts-list": ["prompts-list"],
    "resources-list": ["resources-list"],
    "dns-rebinding-protection": ["localhost-host-rebinding-rejected", "localhost-host-valid-accepted"],
    "server-sse-multiple-streams": ["server-accepts-multiple-post-streams", "server-sse-streams-functional"],
    "completion-complete": ["completion-complete"],
}
"""Each scenario run here and the checks it must report."""


NPX = shutil.which("npx")


TIMEOUT = 180  # the first run may download the suite


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """The console script serving HTTP on 127.0.0.1 (any free port); its MCP URL once it listens."""
    process = subprocess.Popen(
        [str(SCRIPT), "--transport", "http", "--simulate", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=base_env(),
    )
    stderr = process.stderr
    assert stderr is not None
    seen: list[bytes] = []
    drain = threading.Thread(target=lambda: seen.extend(stderr), daemon=True)
    try:
        while (found := re.search(rb"serving MCP at (http://127\.0\.0\.1:\d+/mcp)", b"".join(seen))) is None:
            line = stderr.readline()  # blocks until the next line: the server's own event
            assert line, f"snapshot-mcp died at start-up: {b''.join(seen).decode()}"
            seen.append(line)
        drain.start()  # from now on, keep the pipe empty
        yield found.group(1).decode()
    finally:
        process.terminate()
        process.wait(timeout=30)
        if drain.is_alive():
            drain.join(timeout=30)
        stderr.close()
    unexpected = unexpected_tracebacks(b"".join(seen).decode())
    assert not unexpected, "\n".join(unexpected)


def run_scenario(url: str, scenario: str, out: Path) -> tuple[int, str, list[dict[str, object]]]:
    """(exit status, console output, the checks it recorded)."""
    assert NPX is not None
    done = subprocess.run(
        [NPX, "-y", CONFORMANCE, "server", "--url", url, "--scenario", scenario, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env={**base_env(), "NO_COLOR": "1"},
    )
    checks: list[dict[str, object]] = []
    for path in sorted(out.glob("*/checks.json")):
        checks += json.loads(path.read_text())
    return done.returncode, done.stdout + done.stderr, checks


@pytest.mark.skipif(NPX is None, reason="npx (Node.js) is not installed")
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_conformance_scenario(server_url: str, scenario: str, tmp_path: Path) -> None:
    """The scenario exits 0 and reports each of its checks as SUCCESS."""
    status, output, checks = run_scenario(server_url, scenario, tmp_path)
    assert status == 0, output
    assert {str(c["id"]): c["status"] for c in checks} == dict.fromkeys(SCENARIOS[scenario], "SUCCESS"), output
    assert f"Passed: {len(SCENARIOS[scenario])}/{len(SCENARIOS[scenario])}, 0 failed" in output


async def test_logging_is_not_implemented_so_its_scenario_is_not_run(server_url: str) -> None:
    """No `logging` capability is declared (logs go to stderr): logging-set-level does not apply."""
    async with Client(server_url, mode="legacy") as client:
        capabilities = client.server_capabilities
    assert capabilities.logging is None
    assert capabilities.completions is not None  # completion-complete does apply
