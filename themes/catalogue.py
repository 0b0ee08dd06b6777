"""Publishing theme folders into immutable versions, and keeping the built-in ones current.

``publish_folder`` validates a theme folder (manifest, settings schema, every Liquid file
parses under the sandbox) and snapshots it; ``ensure_builtin_themes`` publishes the
built-in folders shipped with the code whenever their content changed (deploys run it
through ``migrate_all``; the first storefront render runs it if nobody has)."""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django_tenants.utils import get_public_schema_name, schema_context

from themes import settings_schema
from themes.models import BASE_THEME, Theme, ThemeVersion

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
LIQUID_FOLDERS = ("layout", "templates", "sections", "snippets")
ASSET_TYPES = {
    ".css": "text/css",
    ".js": "application/javascript",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
}
MAX_ASSET_BYTES = 512 * 1024
MAX_FILE_CHARS = 200_000


@dataclass
class Folder:
    manifest: dict[str, Any]
    files: dict[str, str]
    assets: dict[str, bytes]

    @property
    def checksum(self) -> str:
        digest = hashlib.sha256(json.dumps(self.manifest, sort_keys=True).encode())
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name].encode())
        for name in sorted(self.assets):
            digest.update(name.encode() + b"\0" + self.assets[name])
        return digest.hexdigest()


def read_folder(path: Path) -> Folder:
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise ValidationError({"manifest": [_("The theme has no manifest.json.")]})
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except ValueError as exc:
        raise ValidationError({"manifest": [_("manifest.json is not valid JSON: %(e)s") % {"e": exc}]}) from None
    files: dict[str, str] = {}
    for folder in LIQUID_FOLDERS:
        for file in sorted((path / folder).glob("*.liquid")):
            files[f"{folder}/{file.stem}"] = file.read_text("utf-8")
    assets = {f.name: f.read_bytes() for f in sorted((path / "assets").glob("*")) if f.is_file()}
    return Folder(manifest=manifest, files=files, assets=assets)


def validate_folder(folder: Folder) -> None:
    from themes.engine import check_source

    errors: dict[str, list[str]] = {}
    manifest = folder.manifest
    if not isinstance(manifest, dict):
        raise ValidationError({"manifest": [_("The manifest must be a JSON object.")]})
    for key in ("name", "version"):
        if not isinstance(manifest.get(key), str) or not manifest[key].strip():
            errors.setdefault("manifest", []).append(_("The manifest needs a %(key)s.") % {"key": key})
    preview = manifest.get("preview")
    if preview is not None and preview not in folder.assets:
        errors.setdefault("manifest", []).append(
            _("The preview image %(name)s is not among the assets.") % {"name": preview}
        )
    try:
        settings_schema.check_schema(manifest.get("settings", []))
    except ValidationError as exc:
        errors.setdefault("manifest.settings", []).extend(exc.messages)
    for name, source in folder.files.items():
        if len(source) > MAX_FILE_CHARS:
            errors.setdefault(name, []).append(_("The file is too long."))
            continue
        problem = check_source(name, source)
        if problem:
            errors.setdefault(name, []).append(problem)
    for name, data in folder.assets.items():
        if posixpath.splitext(name)[1].lower() not in ASSET_TYPES:
            errors.setdefault(f"assets/{name}", []).append(_("This kind of asset is not allowed."))
        elif len(data) > MAX_ASSET_BYTES:
            errors.setdefault(f"assets/{name}", []).append(_("The asset is too large."))
    if errors:
        raise ValidationError(errors)


def _store_assets(key: str, version: str, assets: dict[str, bytes]) -> dict[str, str]:
    stored: dict[str, str] = {}
    for name, data in assets.items():
        stem, ext = posixpath.splitext(name)
        digest = hashlib.sha256(data).hexdigest()[:12]
        target = f"themes/{key}/{version}/{stem}.{digest}{ext}"
        if not default_storage.exists(target):
            default_storage.save(target, ContentFile(data))
        # the URL under the public folder, computed now (shop requests would compute their own)
        stored[name] = default_storage.url(target)
    return stored


def publish_folder(key: str, path: Path, *, by: Any = None, tiers: list[str] | None = None) -> ThemeVersion:
    """Snapshot the folder as a new version of theme ``key`` (created if new); the
    manifest's version must be new for the theme."""
    folder = read_folder(path)
    with schema_context(get_public_schema_name()):
        version = str(folder.manifest.get("version", ""))
        if ThemeVersion.objects.filter(theme__key=key, version=version).exists():
            raise ValidationError(
                {"version": [_("Version %(v)s of this theme is already published.") % {"v": version}]}
            )
        return _publish_loaded(key, folder, by=by, tiers=tiers)


def builtin_keys() -> list[str]:
    keys = sorted(p.name for p in BUILTIN_DIR.iterdir() if (p / "manifest.json").is_file())
    return [BASE_THEME] + [k for k in keys if k != BASE_THEME]


def ensure_builtin_themes() -> list[ThemeVersion]:
    """Publish every built-in folder whose content differs from its latest version. A
    changed folder must carry a new version number; the same number with other content
    gets a ``+<checksum>`` suffix so deploys never fail on a forgotten bump."""
    published: list[ThemeVersion] = []
    with schema_context(get_public_schema_name()):
        for key in builtin_keys():
            path = BUILTIN_DIR / key
            folder = read_folder(path)
            theme = Theme.objects.filter(key=key).first()
            latest = theme.latest_version() if theme else None
            if latest is not None and latest.checksum == folder.checksum:
                if key == BASE_THEME or latest.base_id == _latest_base_id():
                    continue
            version = str(folder.manifest.get("version", "1.0.0"))
            if theme is not None and theme.versions.filter(version=version).exists():
                version = f"{version}+{folder.checksum[:8]}"
                if theme.versions.filter(version=version).exists():
                    version = f"{version}.{theme.versions.count()}"
            folder.manifest["version"] = version
            try:
                published.append(_publish_loaded(key, folder))
            except IntegrityError:  # another process published it at the same moment
                continue
    return published


def _latest_base_id() -> int | None:
    base = Theme.objects.filter(key=BASE_THEME).first()
    latest = base.latest_version() if base else None
    return latest.pk if latest else None


def _publish_loaded(key: str, folder: Folder, *, by: Any = None, tiers: list[str] | None = None) -> ThemeVersion:
    validate_folder(folder)
    manifest = folder.manifest
    with transaction.atomic():
        theme, _created = Theme.objects.get_or_create(
            key=key,
            defaults={
                "name": manifest["name"],
                "description": manifest.get("description", ""),
                "tiers": tiers if tiers is not None else manifest.get("tiers", []),
                "position": int(manifest.get("position", 100)),
                "is_active": key != BASE_THEME,
            },
        )
        base_id = None if key == BASE_THEME else _latest_base_id()
        if key != BASE_THEME and base_id is None:
            raise ValidationError({"base": [_("Publish the base theme first.")]})
        assets = _store_assets(key, manifest["version"], folder.assets)
        return ThemeVersion.objects.create(
            theme=theme,
            version=manifest["version"],
            manifest=manifest,
            files=folder.files,
            assets=assets,
            base_id=base_id,
            checksum=folder.checksum,
            published_by=by,
        )
