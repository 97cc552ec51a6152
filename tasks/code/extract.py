"""The program in a completion: a ```python fence, bare code, or a continuation of the prompt."""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:\n```|$)", re.S | re.I)
# where a base model continuing a HumanEval prompt starts writing something other than the body
_CONTINUATION_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert ")
_IMPORT = re.compile(r"^(?:from\s+\S+\s+import\s+.+|import\s+.+)$", re.M)


def extract_program(completion: str, prompt: str = "", entry_point: str = "", continuation: bool = False) -> str:
    """A complete program that should define `entry_point`.

    Fenced code wins (the block that defines `entry_point`, else the last one); without fences the
    completion is code as is. When that code does not define `entry_point` and the prompt is code
    (HumanEval), it is the function's body: the prompt is put in front and the body cut where a
    base model starts a new top-level statement. The prompt's imports are always kept.
    """
    defines = re.compile(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", re.M) if entry_point else None
    head = completion.split("```")[0]  # code before any fence: the prompt opened it, the completion closes it
    blocks = _FENCE.findall(completion)
    if defines and defines.search(head) or not blocks:
        code = head
    else:
        code = next((b for b in blocks if defines and defines.search(b)), blocks[-1])
    if continuation and defines and not defines.search(code):
        body = code
        if not blocks:
            cut = min((i for i in (body.find(s) for s in _CONTINUATION_STOPS) if i >= 0), default=len(body))
            body = body[:cut]
        return prompt + body
    imports = "\n".join(_IMPORT.findall(prompt)) if continuation else ""
    return f"{imports}\n{code}" if imports else code
