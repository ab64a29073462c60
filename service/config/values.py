"""Values read from the environment: secrets that never print, and strict parsers."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "********"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable and what is allowed."""


class Secret:
    """A string that never prints: repr/str show a mask, `reveal()` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        """Return the secret value; call this only where the value is actually used."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        # Pickling would copy the value into task queues and caches; refuse rather than leak.
        raise TypeError("Secret values are not picklable")



def mask_url_password(url: str) -> str:
    """Return `url` with any password in it replaced by the mask."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:{MASK}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))



def parse_choice(name: str, value: str | None, default: str, allowed: tuple[str, ...]) -> str:
    """Return `value` if it is one of `allowed` (default when unset)."""
    if value is None:
        return default
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not allowed: use one of {', '.join(allowed)}")
    return value


def parse_bool(name: str, value: str | None, default: bool) -> bool:
    """Return a boolean from 1/0, true/false, yes/no or on/off (default when unset)."""
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not allowed: use 1/0, true/false, yes/no or on/off")


def parse_positive_int(name: str, value: str | None, default: int) -> int:
    """Return a positive integer (default when unset)."""
    if value is None:
        return default
    if not value.isdigit() or int(value) <= 0:
        raise ConfigError(f"{name}={value!r} is not allowed: use a positive whole number")
    return int(value)


def parse_positive_number(name: str, value: str | None, default: float) -> float:
    """Return a positive number of seconds (default when unset)."""
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not 0 < number < 86400:
        raise ConfigError(f"{name}={value!r} is not allowed: use a positive number of seconds")
    return number


def parse_app_id(value: str | None) -> int | None:
    """Return the GitHub App id as an integer, or None when unset."""
    if value is None:
        return None
    if not value.isdigit():
        raise ConfigError(f"CCS_GITHUB_APP_ID={value!r} is not allowed: use the numeric App ID")
    return int(value)


def parse_http_url(name: str, value: str | None) -> str | None:
    """Return an http(s) URL without a trailing slash, or None when unset."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name}={value!r} is not allowed: use an http:// or https:// URL")
    # One spelling only, so "aud" comparisons and URL joins never see a double slash.
    return value.rstrip("/")


def parse_url_like(name: str, value: str | None) -> str | None:
    """Return a URL with a scheme (database and queue URLs), or None when unset."""
    if value is not None and "://" not in value:
        raise ConfigError(
            f"{name}={mask_url_password(value)!r} is not allowed: use a URL such as "
            "sqlite:///path/ccs.db, postgresql+psycopg://host/db or redis://host:6379/0"
        )
    return value


def parse_workflow(value: str | None, default: str) -> str:
    """Return a workflow file name or numeric id (default when unset)."""
    if value is None:
        return default
    # GitHub accepts a workflow file name or its numeric id in the dispatch URL.
    if value.isdigit() or (
        value.endswith((".yml", ".yaml")) and "/" not in value and not value.startswith(".")
        and all(c.isalnum() or c in "._-" for c in value)
    ):
        return value
    raise ConfigError(
        f"CCS_WORKFLOW={value!r} is not allowed: use a workflow file name in "
        ".github/workflows (e.g. ccs.yml) or a numeric workflow id"
    )


def parse_workspace(environ: Mapping[str, str], value: str | None) -> Path:
    """Return the workspace directory (default under the user data directory)."""
    if value is not None:
        return Path(value).expanduser()
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".local" / "share" / "ccs"


def parse_prefix(value: str | None, default: str) -> str:
    """Return the comment command prefix (default when unset)."""
    if value is None:
        return default
    if any(c.isspace() for c in value) or value.startswith((">", "`", "~")):
        raise ConfigError(
            f"CCS_COMMAND_PREFIX={value!r} is not allowed: use one word without spaces "
            "that does not start with '>', '`' or '~' (e.g. /ccs)"
        )
    return value


def parse_private_key(environ: Mapping[str, str], path: str | None) -> Secret | None:
    """Return the App private key from the variable or the file it names."""
    inline = environ.get("CCS_GITHUB_PRIVATE_KEY")
    if inline and path:
        raise ConfigError(
            "set only one of CCS_GITHUB_PRIVATE_KEY and CCS_GITHUB_PRIVATE_KEY_PATH"
        )
    if inline:
        # Many hosts cannot hold multi-line values; accept the PEM with literal "\n".
        return Secret(inline.replace("\\n", "\n"))
    if path is None:
        return None
    try:
        text = Path(path).expanduser().read_text()
    except OSError as error:
        raise ConfigError(
            f"CCS_GITHUB_PRIVATE_KEY_PATH={path!r} cannot be read ({error.strerror}): "
            "use the path of the App's .pem private key file"
        ) from None
    if "PRIVATE KEY" not in text:
        raise ConfigError(
            f"CCS_GITHUB_PRIVATE_KEY_PATH={path!r} does not hold a PEM private key"
        )
    return Secret(text)

