"""Commands: what a user asks ccs to do, and the `/ccs …` comment grammar that produces them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.domain.manifest import MANIFEST_PATH
from service.domain.names import InvalidName, check_name, check_ref_name, check_session_id
from service.domain.wire import ChildResult

SOURCES = ("comment", "label", "api", "cli")
LABEL_PREFIX = "ccs:"
MAX_COMMANDS_PER_COMMENT = 10
_MAX_TOKEN_CHARS = 100
_FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")

HELP_TEXT = """\
**ccs commands** (one per line, anywhere in a comment; lines in code blocks or quotes are ignored)

| command | what it does |
|---|---|
| `/ccs implement <context> [component …] [--base <ref>]` | start a session for a context, \
optionally only some components, from a base branch |
| `/ccs status [session]` | show the sessions of this issue (or one session) |
| `/ccs retry [session]` | re-run what failed in this issue's latest session |
| `/ccs cancel [session]` | cancel this issue's running session |
| `/ccs help` | show this help |

Adding the label `ccs:<context>` to an issue is the same as `/ccs implement <context>`.
Context and component names are lowercase letters, digits and `_`, starting with a letter.
"""


@dataclass(frozen=True)
class StartSession:
    """Start a session for a context (all components, or the listed ones)."""

    repository: str
    context: str
    components: tuple[str, ...] = ()
    base: str | None = None  # None: the manifest's `base`, else the host's default
    issue: int | None = None
    requested_by: str = ""
    source: str = "api"
    manifest_path: str = MANIFEST_PATH
    push: bool = False
    parallel: int | None = None  # None: the manifest's `parallel`
    installation_id: int | None = None
    delivery: str | None = None  # the webhook delivery that asked: one session per delivery


@dataclass(frozen=True)
class RecordChildResult:
    """Take a child job's result (the callback, or a local runner that finished)."""

    child_id: str
    result: ChildResult
    repository: str | None = None  # when given, the child must belong to it


@dataclass(frozen=True)
class _SessionCommand:
    """A command about one session: by id, else the issue's latest session."""

    repository: str
    session_id: str | None = None
    issue: int | None = None
    requested_by: str = ""
    source: str = "api"


@dataclass(frozen=True)
class RetrySession(_SessionCommand):
    """Re-run what failed in a session (by id, else the issue's latest session)."""


@dataclass(frozen=True)
class CancelSession(_SessionCommand):
    """Cancel a session (by id, else the issue's running session)."""


@dataclass(frozen=True)
class ShowStatus(_SessionCommand):
    """Report the state of a session, or of every session of an issue."""


@dataclass(frozen=True)
class ShowHelp:
    """Reply with HELP_TEXT, saying first what was not understood when `reason` is set."""

    reason: str | None = None
    repository: str | None = None
    issue: int | None = None
    requested_by: str = ""
    source: str = "comment"


Command = StartSession | RetrySession | CancelSession | ShowStatus | ShowHelp


@dataclass(frozen=True)
class ParsedCommand:
    """One command line of a comment, understood or not (then `reason` says why)."""

    line: int
    text: str
    verb: str
    context: str | None = None
    components: tuple[str, ...] = ()
    base: str | None = None
    session_id: str | None = None
    reason: str | None = None

    def to_command(self, *, repository: str, issue: int | None, requested_by: str,
                   source: str = "comment") -> Command:
        """Attach where the line came from and who wrote it, giving a command."""
        where = {"repository": repository, "issue": issue, "requested_by": requested_by,
                 "source": source}
        if self.verb == "implement" and self.context is not None:
            return StartSession(context=self.context, components=self.components,
                                base=self.base, **where)
        if self.verb == "retry":
            return RetrySession(session_id=self.session_id, **where)
        if self.verb == "cancel":
            return CancelSession(session_id=self.session_id, **where)
        if self.verb == "status":
            return ShowStatus(session_id=self.session_id, **where)
        return ShowHelp(reason=self.reason, **where)


def command_lines(body: str, prefix: str = "/ccs") -> list[tuple[int, str]]:
    """Return (line number, text after the prefix) for each command line outside code/quotes."""
    found: list[tuple[int, str]] = []
    fence: str | None = None
    for number, raw in enumerate(body.splitlines(), start=1):
        line = raw.strip()
        match = _FENCE.match(line)
        if fence is not None:
            # A closing fence uses the same character, at least as long, with no info string.
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) \
                    and not match.group(2).strip():
                fence = None
            continue
        if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
            fence = match.group(1)
            continue
        if line.startswith(">") or not line.startswith(prefix):
            continue
        rest = line[len(prefix):]
        if rest and not rest[0].isspace():
            continue  # "/ccsfoo" is a different word, not our command
        found.append((number, rest.strip()))
    return found


def parse_comment(body: str, prefix: str = "/ccs") -> list[ParsedCommand]:
    """Return one ParsedCommand per command line of `body` (at most MAX_COMMANDS_PER_COMMENT)."""
    if not isinstance(body, str):
        return []
    lines = command_lines(body, prefix)[:MAX_COMMANDS_PER_COMMENT]
    return [parse_line(number, text) for number, text in lines]


def parse_line(number: int, text: str) -> ParsedCommand:
    """Parse the words after the prefix on one line."""
    words = text.split()
    if not words:
        return ParsedCommand(number, text, "help")
    verb, args = words[0].lower(), words[1:]
    if any(len(word) > _MAX_TOKEN_CHARS for word in args):
        return _help(number, text, f"an argument is longer than {_MAX_TOKEN_CHARS} characters")
    try:
        if verb == "implement":
            return _implement(number, text, args)
        if verb in ("status", "retry", "cancel"):
            return _with_session(number, text, verb, args)
    except InvalidName as error:
        return _help(number, text, str(error))
    if verb == "help":
        return ParsedCommand(number, text, "help")
    return _help(number, text, f"`{_clip(words[0])}` is not a ccs command")


def _implement(number: int, text: str, args: list[str]) -> ParsedCommand:
    names: list[str] = []
    base: str | None = None
    position = 0
    while position < len(args):
        word = args[position]
        position += 1
        if word == "--base" or word.startswith("--base="):
            if word == "--base":
                if position >= len(args):
                    return _help(number, text, "`--base` needs a branch name after it")
                word, position = "--base=" + args[position], position + 1
            if base is not None:
                return _help(number, text, "`--base` is given twice")
            base = check_ref_name(word[len("--base="):])
        elif word.startswith("-"):
            return _help(number, text, f"`{_clip(word)}` is not an option of implement "
                                       "(only `--base <ref>`)")
        else:
            # Check each name as it comes, so the reason names the first bad word.
            for part in filter(None, word.split(",")):
                names.append(check_name("component" if names else "context", part))
    if not names:
        return _help(number, text, "implement needs a context name: "
                                   "`/ccs implement <context> [component …]`")
    context, components = names[0], tuple(dict.fromkeys(names[1:]))
    return ParsedCommand(number, text, "implement", context=context, components=components,
                         base=base)


def _with_session(number: int, text: str, verb: str, args: list[str]) -> ParsedCommand:
    if len(args) > 1:
        return _help(number, text, f"`{verb}` takes at most one session id")
    session_id = check_session_id(args[0]) if args else None
    return ParsedCommand(number, text, verb, session_id=session_id)


def _help(number: int, text: str, reason: str) -> ParsedCommand:
    return ParsedCommand(number, text, "help", reason=reason)


def _clip(word: str) -> str:
    # Reasons are posted back as comments: keep echoed user text short and out of markdown.
    return word[:40].replace("`", "'")


def context_from_label(label: str, prefix: str = LABEL_PREFIX) -> str | None:
    """Return the context a `ccs:<context>` label names, or None for any other label."""
    if not isinstance(label, str) or not label.startswith(prefix):
        return None
    try:
        return check_name("context", label[len(prefix):])
    except InvalidName:
        return None
