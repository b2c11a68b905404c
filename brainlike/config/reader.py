"""Reading a YAML document into a validated schema, with errors that name the key.

Every YAML file brainlike reads (an experiment config, a suite, a search) goes the same way:
a path, or the name of a file shipped in ``configs/`` (``configs/suites/``,
``configs/searches/``), is found; the file is parsed with ``yaml.safe_load``, and invalid
YAML, an empty file or a top level that is not a mapping is refused with one sentence naming
the file; the mapping is validated by a pydantic schema whose errors are rewritten for
people: every problem on one line with its dotted location, the allowed keys beside an
unknown one, the allowed values beside a bad choice and the value that came.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

__all__ = [
    "ConfigError",
    "StrictSection",
    "expand_user",
    "format_validation_error",
    "locate",
    "read_mapping",
    "read_yaml",
    "shipped_configs_dir",
    "shipped_path",
    "validate",
]

Schema = TypeVar("Schema", bound=BaseModel)


class ConfigError(ValueError):
    """A config file or dict that cannot describe an experiment; the message lists why."""


class StrictSection(BaseModel):
    """A section of an experiment config: unknown keys are refused (the error lists the
    allowed ones) and assignments are validated like the file."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def shipped_configs_dir() -> Path:
    """The folder of the recipes shipped with the package (``configs/`` in the repository)."""
    return Path(__file__).parent.parent / "configs"


def expand_user(path: str | Path, error: type[ConfigError] = ConfigError) -> Path:
    """``path`` with a leading ``~`` expanded; ``~name`` of a user that does not exist raises
    ``error`` in one line (pathlib raises a bare RuntimeError)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise error(f"cannot expand {str(path)!r}: no such user; give the full path") from None


def shipped_path(path: str | Path, folder: Path, error: type[ConfigError] = ConfigError) -> Path:
    """The file ``path`` names: itself when it is a file, else the shipped file of that name
    in ``folder`` (``name`` or ``name.yaml``) when there is one, else ``path`` (expanded)."""
    p = expand_user(path, error)
    if p.is_file():
        return p
    name = p.name if p.name.endswith(".yaml") else f"{p.name}.yaml"
    shipped = folder / name
    return shipped if shipped.is_file() else p


def locate(
    path: str | Path,
    folder: Path,
    *,
    noun: str,
    plural: str,
    error: type[ConfigError] = ConfigError,
) -> Path:
    """Like :func:`shipped_path`, but a name that is neither a file nor shipped is refused.

    Parameters
    ----------
    path : str or Path
        A file, or the name of a file shipped in ``folder``.
    folder : Path
        Where the shipped files of this kind live.
    noun, plural : str
        What the file is (``"suite"``, ``"suites"``), for the message.
    error : type
        The exception raised.

    Returns
    -------
    Path
        An existing file.
    """
    found = shipped_path(path, folder, error)
    if not found.is_file():  # then found is path itself, expanded
        names = ", ".join(sorted(q.stem for q in folder.glob("*.yaml"))) or "none"
        raise error(f"{noun} file {found} does not exist; shipped {plural}: {names}")
    return found


def read_yaml(path: Path, *, error: type[ConfigError] = ConfigError) -> Any:
    """Parse a file with ``yaml.safe_load``; invalid YAML raises ``error`` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise error(
            f"{path}: not UTF-8 text (byte {err.start}); save the YAML file as UTF-8"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML ({err})") from None


def _require_mapping(data: Any, source: str, error: type[ConfigError]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise error(f"{source}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def read_mapping(
    path: Path, *, empty: str, error: type[ConfigError] = ConfigError
) -> dict[str, Any]:
    """Parse a YAML document whose top level is a mapping of keys.

    Parameters
    ----------
    path : Path
        An existing file.
    empty : str
        What to write into an empty file (or one of comments only), which is refused: it
        would silently stand for the schema's defaults.
    error : type
        The exception raised for invalid YAML, an empty file or a top level that is not a
        mapping.
    """
    data = read_yaml(path, error=error)
    if data is None:
        raise error(f"{path} is empty; {empty}")
    return _require_mapping(data, str(path), error)


def validate(
    schema: type[Schema],
    data: Any,
    source: str,
    *,
    noun: str,
    error: type[ConfigError] = ConfigError,
    allowed_label: str = "allowed keys here",
) -> Schema:
    """Validate a mapping into ``schema``; every problem is listed in one ``error``.

    Parameters
    ----------
    schema : type of pydantic.BaseModel
        The document's schema.
    data : Any
        The parsed document; anything but a mapping is refused.
    source : str
        What the message names first (the file, or a label such as ``"trial 3"``).
    noun, allowed_label : str
        See :func:`format_validation_error`.
    error : type
        The exception raised.
    """
    data = _require_mapping(data, source, error)
    try:
        return schema.model_validate(data)
    except ValidationError as err:
        raise error(
            format_validation_error(err, source, schema, noun=noun, allowed_label=allowed_label)
        ) from None


def format_validation_error(
    err: ValidationError,
    source: str,
    schema: type[BaseModel],
    *,
    noun: str,
    allowed_label: str = "allowed keys here",
) -> str:
    """A pydantic error as lines for people, one problem a line.

    The first line is ``"<source>: <n> problem(s) in the <noun>"``; each problem follows as
    ``"  - <dotted.location>: ..."`` (pydantic's union tags left out of the location): an
    unknown key lists the keys allowed at that place (``"unknown key; <allowed_label>: a,
    b"``), a bad choice the allowed values and the value that came, any other problem its
    message (without pydantic's ``"Value error, "``) and the value that came, unless that was
    a whole mapping or the message already says ``got <value>``.
    """
    lines = [f"{source}: {err.error_count()} problem(s) in the {noun}"]
    for e in err.errors():
        raw = tuple(e["loc"])
        shown, _ = _walk(schema, raw)
        loc = ".".join(str(p) for p in shown) or "(top level)"
        if e["type"] == "extra_forbidden":
            _, parent = _walk(schema, raw[:-1])
            allowed = f"; {allowed_label}: {', '.join(parent.model_fields)}" if parent else ""
            lines.append(f"  - {loc}: unknown key{allowed}")
        elif e["type"] == "literal_error":
            lines.append(
                f"  - {loc}: got {e.get('input')!r}; {e['msg'].replace('Input should be', 'allowed values are')}"
            )
        else:
            msg = e["msg"].removeprefix("Value error, ")
            value = e.get("input")
            said = isinstance(value, dict) or f"got {value!r}" in msg or f"got {value}" in msg
            lines.append(f"  - {loc}: {msg}" if said else f"  - {loc}: {msg} (got {value!r})")
    return "\n".join(lines)


def _walk(
    schema: type[BaseModel], loc: tuple[Any, ...]
) -> tuple[tuple[Any, ...], type[BaseModel] | None]:
    """Follow an error location through a schema.

    Returns the location without the tags pydantic inserts after a tagged union's field
    (``model.convrnn.cells`` is shown as ``model.cells``) and the schema section the location
    ends in (None where it leaves the sections: a value, a free-form mapping). List indices
    and the keys of a mapping of sections are steps of the location, not fields.
    """
    shown: list[Any] = []
    model: type[BaseModel] | None = schema
    tags: dict[str, type[BaseModel]] = {}
    key_next = False
    for part in loc:
        if isinstance(part, str) and part in tags:
            model, tags = tags[part], {}
            continue
        tags = {}
        shown.append(part)
        if isinstance(part, int):
            continue
        if key_next:
            key_next = False
            continue
        field = model.model_fields.get(str(part)) if model is not None else None
        if field is None:
            model = None
            continue
        model, tags, key_next = _inside(field)
    return tuple(shown), model


def _inside(field: FieldInfo) -> tuple[type[BaseModel] | None, dict[str, type[BaseModel]], bool]:
    """The section a field holds (of a list or an optional value too), the members of a
    tagged union by tag, and whether a mapping key comes before the section."""
    ann = field.annotation
    candidates = [ann, *get_args(ann)]
    for c in candidates:
        if get_origin(c) is dict:
            value = get_args(c)[-1] if get_args(c) else None
            if isinstance(value, type) and issubclass(value, BaseModel):
                return value, {}, True
    tags: dict[str, type[BaseModel]] = {}
    if isinstance(field.discriminator, str):
        for member in get_args(ann):
            tag_field = member.model_fields.get(field.discriminator)
            for tag in get_args(tag_field.annotation) if tag_field else ():
                tags[str(tag)] = member
    section = next(
        (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
    )
    return section, tags, False
