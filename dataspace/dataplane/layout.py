"""Where the data plane's objects go: the key of every object, and the manifest that commits it.

Key layout (see docs/adr/0005-release-objects-under-stable-keys.md)::

    <product>/<version>/part-0.parquet                              the release
    <product>/<version>/views/<agreement>/part-0.parquet            one subscriber's view
    <key>.manifest.json                                             written last: the commit mark
    <product>/<version>/views/<digest>.views.json                   the commit mark of the views
                                                                    derived together
    <product>/<version>/quality-report.json                         a quarantined release's report
    <product>/<version>/desensitization-report.json|.html           a public-data release's report

Every key derives from validated stable coordinates, never from the clock, so writing the same
thing twice lands on the same key. How the bytes get there is :mod:`dataspace.dataplane.objects`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from dataspace.errors import InvalidInput
from dataspace.ids import agreement_id, product_id

MANIFEST_SUFFIX = ".manifest.json"
VIEWS_MANIFEST_SUFFIX = ".views.json"
PART = "part-0.parquet"


def release_key(product: str, version: int) -> str:
    return f"{product_id(product)}/{_version(version)}/{PART}"


def view_key(product: str, version: int, agreement: str) -> str:
    return f"{product_id(product)}/{_version(version)}/views/{agreement_id(agreement)}/{PART}"


def report_key(product: str, version: int) -> str:
    return f"{product_id(product)}/{_version(version)}/quality-report.json"


def desensitization_report_key(product: str, version: int, suffix: str = "json") -> str:
    """A public-data release's desensitization report (``json``) or its page (``html``)."""
    return f"{product_id(product)}/{_version(version)}/desensitization-report.{suffix}"


def version_prefix(product: str, version: int) -> str:
    return f"{product_id(product)}/{_version(version)}/"


def views_prefix(product: str, version: int) -> str:
    return version_prefix(product, version) + "views/"


def views_manifest_key(product: str, version: int, derivations: list[str]) -> str:
    """The key of one commit mark for views derived together: named by their inputs, so the
    same derivation lands on the same key."""
    digest = hashlib.sha256("\n".join(sorted(derivations)).encode()).hexdigest()[:32]
    return f"{views_prefix(product, version)}{digest}{VIEWS_MANIFEST_SUFFIX}"


def _version(version: int) -> str:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput(f"The release version {version!r} is not a whole number >= 1.")
    return str(version)


@dataclass(frozen=True)
class StoredObject:
    """An object that is complete in the store: its key (inside the bucket) and checksums."""

    key: str
    sha256: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class Manifest:
    """The commit mark written after an object is complete; ``derivation`` names its inputs."""

    object: StoredObject
    derivation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self.object), "derivation": self.derivation}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict()).encode()

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> Manifest:
        fields = dict(fields)
        derivation = str(fields.pop("derivation", ""))
        return cls(StoredObject(**fields), derivation)

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        return cls.from_dict(json.loads(data))
