"""Resolve a protocol's splits into explicit ``<dataset>/<recording_id>`` lists over recordings tables.

A recordings table is the DataFrame a prepared store lists (``Store.recordings()``): one row per recording with
at least ``recording_id`` and ``subject`` (text, as the dataset writes it), plus metadata columns (MMPD
``light``/``motion``/``exercise``/``skin_color``, BUAA ``lux``, PURE ``task``, ...).

Subject id normalisation
------------------------
A subject id written in YAML (``1``, ``"01"``, ``"p01"``) matches a table subject when both have the same
*canonical form*: an integer, or a string made only of digits, becomes the decimal string of its value without
leading zeros (``1``, ``"1"`` and ``"01"`` are all ``"1"``); any other string is compared exactly (``"p01"`` only
matches ``"p01"``). So UBFC ``1`` matches subject ``"1"`` and PURE ``1`` matches ``"01"``. Two distinct table
subjects with the same canonical form (``"1"`` and ``"01"``) make the match ambiguous and raise.

Filters compare a metadata value with the YAML value: equal values match, and so do values whose text forms are
equal ignoring case (``"False"`` and ``False``) or whose numbers are equal (``3`` and ``3.0``). ``{ge, le, gt, lt}``
compare numerically. A recording whose column is missing (NaN) never matches.

Checks: every listed subject and recording exists (the error names protocol, split, dataset and the missing ids);
every part selects at least one recording; every declared split is non-empty; splits are pairwise disjoint.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rppgbench._checks import ProtocolError
from rppgbench._util import natural_key
from rppgbench.protocols.schema import SPLIT_NAMES, Protocol, SplitPart

__all__ = ["ResolvedSplits", "resolve_splits", "canonical_subject", "select_part"]


def canonical_subject(value: Any) -> str:
    """The comparison form of a subject id (see the module docstring)."""
    if isinstance(value, bool):
        raise ValueError(f"subject id must be an int or a string; got bool {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    s = str(value).strip()
    if s.isdigit():
        return str(int(s))
    return s


@dataclass
class ResolvedSplits:
    """Explicit ``<dataset>/<recording_id>`` lists per split (each sorted naturally, deterministic)."""

    protocol: str
    splits: dict[str, list[str]] = field(default_factory=dict)

    def __getitem__(self, split: str) -> list[str]:
        return self.splits.get(split, [])

    @property
    def train(self) -> list[str]:
        return self["train"]

    @property
    def valid(self) -> list[str]:
        return self["valid"]

    @property
    def test(self) -> list[str]:
        return self["test"]

    def by_dataset(self, split: str) -> dict[str, list[str]]:
        """``{dataset: [recording_id, ...]}`` of one split."""
        out: dict[str, list[str]] = {}
        for key in self[split]:
            ds, _, rid = key.partition("/")
            out.setdefault(ds, []).append(rid)
        return out

    def limit(self, n: int | None) -> ResolvedSplits:
        """The first ``n`` recordings of each dataset in each split (for quick runs); ``None`` keeps all."""
        if n is None:
            return self
        if n < 1:
            raise ValueError(f"limit must be >= 1; got {n}")
        out: dict[str, list[str]] = {}
        for split in self.splits:
            out[split] = [f"{ds}/{r}" for ds, rids in sorted(self.by_dataset(split).items()) for r in rids[:n]]
        return ResolvedSplits(self.protocol, out)

    def to_dict(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.splits.items()}


def _value_matches(actual: Any, wanted: Any) -> bool:
    if actual is None or (isinstance(actual, float) and math.isnan(actual)):
        return False
    if isinstance(wanted, dict):
        try:
            x = float(actual)
        except (TypeError, ValueError):
            return False
        ops = {"ge": x >= wanted.get("ge", -math.inf), "le": x <= wanted.get("le", math.inf),
               "gt": x > wanted.get("gt", -math.inf) if "gt" in wanted else True,
               "lt": x < wanted.get("lt", math.inf) if "lt" in wanted else True}
        return all(ops[k] for k in wanted)
    if isinstance(wanted, list):
        return any(_value_matches(actual, w) for w in wanted)
    if actual == wanted and type(actual) is not bool and type(wanted) is not bool:
        return True
    if str(actual).strip().lower() == str(wanted).strip().lower():
        return True
    if not isinstance(actual, (bool, str)) and not isinstance(wanted, (bool, str)):
        try:
            return float(actual) == float(wanted)
        except (TypeError, ValueError):
            return False
    return False


def _fmt_ids(ids: Iterable[Any]) -> str:
    return ", ".join(str(i) for i in ids)


def select_part(protocol: str, split: str, part: SplitPart, table: Any) -> list[str]:
    """Recording ids of ``table`` selected by one split part (sorted naturally). Raises on missing ids."""
    where = f"protocol {protocol}, split {split}, dataset {part.dataset}"
    for col in ("recording_id", "subject"):
        if col not in table.columns:
            raise ProtocolError(f"{where}: the recordings table has no {col!r} column "
                                f"(columns: {', '.join(map(str, table.columns))})")
    rids = [str(r) for r in table["recording_id"]]
    subjects = [str(s) for s in table["subject"]]
    keep = [True] * len(rids)
    if part.recordings is not None:
        known = set(rids)
        missing = [r for r in part.recordings if r not in known]
        if missing:
            raise ProtocolError(f"{where}: recording(s) not in the store: {_fmt_ids(missing)}")
        wanted_r = set(part.recordings)
        keep = [r in wanted_r for r in rids]
    elif part.subjects != "all":
        canon: dict[str, set[str]] = {}
        for s in subjects:
            canon.setdefault(canonical_subject(s), set()).add(s)
        wanted = [canonical_subject(s) for s in part.subjects]
        missing = [orig for orig, c in zip(part.subjects, wanted, strict=True) if c not in canon]
        if missing:
            raise ProtocolError(f"{where}: subject(s) not in the store: {_fmt_ids(missing)} "
                                f"(store subjects: {_fmt_ids(sorted(set(subjects), key=natural_key))})")
        for c in wanted:
            if len(canon[c]) > 1:
                raise ProtocolError(f"{where}: subject id {c!r} is ambiguous in the store: it matches "
                                    f"{_fmt_ids(sorted(canon[c]))}")
        wset = set(wanted)
        keep = [canonical_subject(s) in wset for s in subjects]
    for col, cond in part.filter.items():
        if col not in table.columns:
            raise ProtocolError(f"{where}: filter column {col!r} is not in the recordings table "
                                f"(columns: {', '.join(map(str, table.columns))})")
        values = list(table[col])
        keep = [k and _value_matches(v, cond) for k, v in zip(keep, values, strict=True)]
    out = sorted({r for r, k in zip(rids, keep, strict=True) if k}, key=natural_key)
    if not out:
        desc = []
        if part.recordings is not None:
            desc.append(f"recordings {_fmt_ids(part.recordings)}")
        elif part.subjects != "all":
            desc.append(f"subjects {_fmt_ids(part.subjects)}")
        if part.filter:
            desc.append(f"filter {part.filter}")
        raise ProtocolError(f"{where}: the part selecting {' and '.join(desc) or 'all'} matches no recording")
    return out


def resolve_splits(protocol: Protocol, tables: Mapping[str, Any]) -> ResolvedSplits:
    """Resolve ``protocol.splits`` over ``tables`` (``{dataset: recordings DataFrame}``).

    Returns explicit sorted ``<dataset>/<recording_id>`` lists; raises :class:`ProtocolError` for a missing
    subject/recording/table, an empty part or split, or a recording in two splits.
    """
    out: dict[str, list[str]] = {}
    for split in SPLIT_NAMES:
        parts = protocol.splits.get(split)
        if not parts:
            continue
        keys: list[str] = []
        for part in parts:
            if part.dataset not in tables:
                raise ProtocolError(f"protocol {protocol.name}, split {split}: no recordings table for dataset "
                                    f"{part.dataset!r} (have: {_fmt_ids(sorted(tables))})")
            keys.extend(f"{part.dataset}/{r}" for r in select_part(protocol.name, split, part, tables[part.dataset]))
        uniq = sorted(set(keys), key=lambda k: (k.partition("/")[0], natural_key(k.partition("/")[2])))
        if not uniq:
            raise ProtocolError(f"protocol {protocol.name}: split {split} is empty")
        out[split] = uniq
    names = list(out)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = sorted(set(out[a]) & set(out[b]), key=natural_key)
            if both:
                more = f" and {len(both) - 3} more" if len(both) > 3 else ""
                raise ProtocolError(f"protocol {protocol.name}: splits {a} and {b} overlap: "
                                    f"{_fmt_ids(both[:3])}{more} appear in both")
    return ResolvedSplits(protocol.name, out)
