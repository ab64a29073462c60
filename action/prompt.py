"""The prompt an agent reads: the built-in template, custom templates, feedback trimming."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

# DESIGN §3a: the names a template may use, and no others.
TEMPLATE_NAMES = ("context", "description", "component", "design", "design_text",
                  "implementation", "test", "allowed", "test_command", "attempt", "attempts",
                  "feedback")
FEEDBACK_LIMIT = 12_000
DESIGN_TEXT_LIMIT = 200_000
# Lines that name what failed and why; they survive any trimming.
_KEY_LINE = re.compile(r"FAILED|ERROR|Error|assert|^Tests:|^Counts:|^- (failure|error):"
                       r"|^ccs feedback")

BUILTIN_TEMPLATE = """\
You are working on one component of a larger code base, unattended: nobody will answer
questions, so decide for yourself and finish the job. Your working directory is the
repository's checkout.

# Component `${component}` of `${context}`

${description}

## The design

Implement what the design document `${design}` describes. Its full text:

<design>
${design_text}
</design>

## What to do

1. Write the implementation in `${implementation}`.
2. Make the tests in `${test}` pass. If that file does not exist yet, write it first,
   testing what the design asks for. Never weaken, skip or delete a test to make it pass.
3. Run the test command yourself, read its output, fix what fails, and repeat until it
   passes. This command decides whether your work is accepted:

       ${test_command}

## Rules

- You may change, or create, only these files:
${allowed}
- Change nothing else: no other source file, configuration, lock file or generated file.
  A change anywhere else makes the whole component fail.
- The design is the specification: never rewrite it to fit your code.
- Do not commit, stage, stash, branch or push. Leave your changes in the working tree;
  ccs commits them for you.

This is attempt ${attempt} of ${attempts}.
"""

BUILTIN_FEEDBACK_TEMPLATE = """
## Why the previous attempt failed

This attempt starts from the files as the previous one left them. The previous attempt's
tests failed, and this is what ccs reported about them. Fix the causes, not the symptoms:

<feedback>
${feedback}
</feedback>
"""


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill `${name}` in `template` from `values`, leaving unknown names as written."""
    return string.Template(template).safe_substitute(values)


def render_builtin(values: Mapping[str, str]) -> str:
    """Render the built-in prompt, with the feedback section only when there is feedback."""
    text = render(BUILTIN_TEMPLATE, values)
    if values.get("feedback", "").strip():
        text += render(BUILTIN_FEEDBACK_TEMPLATE, values)
    # An empty description would leave a gap of blank lines.
    return re.sub(r"\n{3,}", "\n\n", text)


def unknown_names(template: str) -> list[str]:
    """Return the `${names}` a template uses that are not template names, in order."""
    found: list[str] = []
    for match in string.Template.pattern.finditer(template):
        name = match.group("named") or match.group("braced")
        if name and name not in TEMPLATE_NAMES and name not in found:
            found.append(name)
    return found


def prompt_values(*, context: str, description: str, component: str, design: str,
                  design_text: str, implementation: str, test: str,
                  allowed: list[str] | tuple[str, ...], test_command: str, attempt: int,
                  attempts: int, feedback: str) -> dict[str, str]:
    """Return the template values for one attempt (`feedback` is trimmed here)."""
    return {"context": context, "description": description, "component": component,
            "design": design, "design_text": cap_design(design_text),
            "implementation": implementation, "test": test,
            "allowed": "\n".join(f"  - {path}" for path in allowed),
            "test_command": test_command, "attempt": str(attempt),
            "attempts": str(attempts), "feedback": trim_feedback(feedback)}


def cap_design(text: str, limit: int = DESIGN_TEXT_LIMIT) -> str:
    """Return the design text, cut at `limit` characters with a note saying so."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[… design text cut at {limit} characters; read the file …]"


def trim_feedback(text: str, limit: int = FEEDBACK_LIMIT) -> str:
    """Return `text` cut to about `limit` characters, keeping what names the failures.

    Lines naming failures, errors and assertions come first, then the head and the
    tail of the whole output with a marker where it was cut.
    """
    if len(text) <= limit:
        return text
    key_lines = _fit([line for line in text.splitlines() if _KEY_LINE.search(line)],
                     limit // 2)
    room = max(0, limit - len(key_lines) - 200)
    head, tail = text[: room // 3], text[len(text) - (room - room // 3):]
    cut = len(text) - len(head) - len(tail)
    return ("--- failures, errors and assertions ---\n" + key_lines
            + "\n--- test output (start) ---\n" + head
            + f"\n[… {cut} characters cut …]\n" + tail)


def _fit(lines: list[str], limit: int, width: int = 500) -> str:
    """Join the first lines that fit in `limit` characters, each cut to `width`."""
    kept: list[str] = []
    used = 0
    for line in lines:
        line = line if len(line) <= width else line[:width] + " […]"
        if used + len(line) + 1 > limit:
            kept.append(f"[… {len(lines) - len(kept)} more such lines …]")
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join(kept)
