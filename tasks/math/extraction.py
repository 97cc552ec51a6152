"""The final answer of a whole response, as models write it.

Marked answers first: `\\boxed{}`/`\\fbox{}` (several boxes that end a response are one answer
list; a "final answer is …" after the last box overrides it), `#### n`, "the answer is …" /
"answer: …". Without a marker, the answer is a *complete* mathematical object: whichever comes
last of the last math block (`$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]`, a bare `pmatrix`/`bmatrix`) and
the last standalone number outside math — never a digit cut out of a word (`AZYUK2A`) or out of a
larger expression (`\\frac{1+\\sqrt{5}}{2}`); a closing block of arithmetic (`$2+3=5$`) gives its result.
"""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
_HASHES = re.compile(r"####\s*([^\n]+)")
_CUE = re.compile(r"\banswer\s*(?:is\b|:)\s*:?\s*|^\s*\W*answer\b\W*?\s*(?=\$|\\[(\[]|\d)", re.IGNORECASE | re.MULTILINE)
_FINAL_CUE = re.compile(r"final answer(?: is)?\s*:?\s*", re.IGNORECASE)
_MATH = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<!\\)\$(.+?)(?<!\\)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]"
                   r"|(\\begin\{([pbvB]?matrix)\}.+?\\end\{\6\})", re.DOTALL)
_NUMBER = re.compile(r"(?<![\w.^_/\\{}-])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?(?![\w^_/{}]|[.,]\d)")
_BETWEEN_BOXES = re.compile(r"^(?:\s|,|;|&|\$|\\[,;! ]|\\q?quad|and|or|\\text\{\s*(?:and|or|,)\s*\})*$")
_CLOSING = re.compile(r"^[\s.$\\\]\)]*$|^[\s$.]*\\\]\s*\.?\s*$")


def boxes(text: str) -> list[tuple[int, int, str | None]]:
    """Every `\\boxed{…}`/`\\fbox{…}` as (start, end, content); content None when cut off."""
    found = []
    for match in _BOX.finditer(text):
        start = match.end()
        if start >= len(text):
            found.append((match.start(), len(text), None))
            continue
        if text[start] != "{":
            token = re.match(r"[^\s$]+", text[start:])
            found.append((match.start(), start + (token.end() if token else 0), token.group(0) if token else None))
            continue
        depth, end = 0, None
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                end = i
                break
        found.append((match.start(), len(text) if end is None else end + 1, None if end is None else text[start + 1 : end]))
    return found


def last_boxed(text: str) -> str | None:
    """Content of the last box (nested braces), or None when there is none or it is cut off."""
    found = boxes(text)
    return found[-1][2] if found else None


def boxed_answer(text: str) -> str | None:
    """The answer the boxes give: the boxes that end the response, joined as one list when there
    are several (`\\boxed{1}, \\boxed{2}` → "1, 2"); None when the last box is cut off."""
    found = boxes(text)
    if not found or found[-1][2] is None:
        return None
    run = [found[-1]]
    for box in reversed(found[:-1]):
        if box[2] is None or not _BETWEEN_BOXES.match(text[box[1] : run[0][0]]):
            break
        run.insert(0, box)
    return ", ".join(content.strip() for _, _, content in run)


def marked_answer(text: str) -> str | None:
    """The answer a marker points at (box, `####`, "answer is"), else None."""
    if _BOX.search(text):
        after = text[boxes(text)[-1][1] :]
        final = _FINAL_CUE.search(after)
        if final:  # "… \boxed{5} … so the final answer is 7"
            return _phrase(after[final.end() :])
        return boxed_answer(text)  # a box cut off before it closed is no answer, not a cue to guess
    hashes = _HASHES.findall(text)
    if hashes:
        return hashes[-1].strip()
    cues = list(_CUE.finditer(text))
    if cues:
        return _phrase(text[cues[-1].end() :])
    return None


def extract_answer(text: str) -> str | None:
    """The final answer of a response, unnormalised; None when there is none."""
    if _BOX.search(text) or _HASHES.search(text) or _CUE.search(text):
        return marked_answer(text)
    return _unmarked(text)


def _phrase(after_cue: str) -> str | None:
    """What follows an answer cue: its math block, else the rest of its sentence."""
    after_cue = after_cue.strip()
    math = _MATH.search(after_cue)
    if math and len(after_cue[: math.start()].split()) <= 2:  # "is $X$", "is therefore $X$"
        return _result_of(_content(math))
    sentence = re.match(r"(.+?)(?:\.\s|\.?\s*$|\n|,\s+(?:not|since|because|so)\b)", after_cue, re.DOTALL)
    if not sentence:
        return None
    number = re.match(_NUMBER.pattern + r"(?=\s+[A-Za-z]|$)", sentence.group(1))  # "42 apples, not 7" → 42
    return number.group(0) if number else sentence.group(1).strip() or None


def _content(match: re.Match) -> str:
    return next(g for g in match.groups() if g is not None).strip().rstrip(".,;").strip()


def _unmarked(text: str) -> str | None:
    """Whichever complete object comes last: a math block, or a standalone number outside math."""
    blocks = list(_MATH.finditer(text))
    masked = _MATH.sub(lambda m: " " * len(m.group(0)), text)
    numbers = list(_NUMBER.finditer(masked))
    last_block = blocks[-1] if blocks else None
    last_number = numbers[-1] if numbers else None
    if last_block and (not last_number or last_block.start() > last_number.start()):
        return _result_of(_content(last_block))
    return last_number.group(0) if last_number else None


def _result_of(block: str) -> str:
    """`2 + 3 = 5` closing a derivation gives 5; an equation with unknowns (`x + y = 3`) stays whole."""
    lhs, equals, rhs = block.rpartition("=")
    arithmetic = not re.search(r"[A-Za-z]", re.sub(r"\\[A-Za-z]+", "", lhs))
    return rhs.strip() if equals and arithmetic and _NUMBER.fullmatch(rhs.strip()) else block
