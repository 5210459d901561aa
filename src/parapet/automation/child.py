"""The child process of ``parapet.automation.executor``: read one call from stdin, run it, answer on stdout.

Not an API: ``python -m parapet.automation.child`` is started by the executor only.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys
from typing import Any


def main() -> int:
    answer_to = sys.stdout
    sys.stdout = sys.stderr  # what the mitigation prints is output, not the answer
    try:
        call = json.loads(sys.stdin.read())
        module_name, _, attr = str(call["python"]).partition(":")
        function = getattr(importlib.import_module(module_name), attr)
        result: Any = function(**call["params"])
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        try:
            text = json.dumps({"ok": True, "result": result})
        except (TypeError, ValueError):
            text = json.dumps({"ok": True, "result": repr(result)})
        code = 0
    except BaseException as exc:  # the answer is the error, whatever it is
        text = json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        code = 1
    answer_to.write("\n" + text + "\n")
    answer_to.flush()
    return code


async def _await(value: Any) -> Any:
    return await value


if __name__ == "__main__":
    sys.exit(main())
