"""Options shared by the crossreg commands."""

from __future__ import annotations

from pathlib import Path

import click

from crossreg.config import Settings


def _settings(data_dir: str | None, database_url: str | None = None, storage_url: str | None = None,
              **extra) -> Settings:
    values = {k: v for k, v in extra.items() if v is not None}
    if data_dir:
        values["data_dir"] = Path(data_dir)
    if database_url:
        values["database_url"] = database_url
    if storage_url:
        values["storage_url"] = storage_url
    return Settings(**values)


data_dir_option = click.option("--data-dir", envvar="CROSSREG_DATA_DIR", default=None,
                               help="Directory for the embedded database and blobs [default: ./.data].")
database_option = click.option("--database-url", envvar="CROSSREG_DATABASE_URL", default=None,
                               help="Metadata database URL (sqlite:///... or postgresql://...).")
storage_option = click.option("--storage-url", envvar="CROSSREG_STORAGE_URL", default=None,
                              help="Blob storage URL (file:///dir or s3://bucket/prefix).")


