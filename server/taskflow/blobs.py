"""Attachment bytes: on local disk by default, in S3 when S3_BUCKET is set.

boto3 is synchronous: every call runs in a worker thread so the event loop (and every
socket of the process) never waits on S3.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit

from loguru import logger

from taskflow.domain import Download
from taskflow.errors import ServiceUnavailable


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback and the RFC 5987 UTF-8 name."""
    fallback = filename.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


class LocalBlobStore:
    """Files under <data dir>/blobs; served by the app itself."""

    direct_uploads = False
    browser_origins: tuple[str, ...] = ()

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self._root / key).resolve()
        if not path.is_relative_to(self._root):
            raise ValueError(f"blob key escapes the store: {key!r}")
        return path

    async def put(self, key: str, source: IO[bytes], *, content_type: str) -> int:
        path = self._path(key)

        def write() -> int:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            try:
                with partial.open("wb") as target:
                    shutil.copyfileobj(source, target, 1024 * 1024)
                    target.flush()
                    os.fsync(target.fileno())
                partial.replace(path)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise  # never a half-written file under the real name
            return path.stat().st_size

        try:
            return await asyncio.to_thread(write)
        except OSError as exc:  # a full or failing disk: retryable once the operator acts
            raise ServiceUnavailable("Storage is unavailable; retry shortly") from exc

    async def size(self, key: str) -> int | None:
        path = self._path(key)
        return await asyncio.to_thread(lambda: path.stat().st_size if path.is_file() else None)

    async def delete(self, keys: Sequence[str]) -> None:
        def remove() -> None:
            for key in keys:
                self._path(key).unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    async def download(self, key: str, *, filename: str, content_type: str) -> Download:
        return Download(path=self._path(key))

    async def upload_form(self, key: str, *, content_type: str, max_size: int) -> dict[str, Any]:
        raise NotImplementedError("direct uploads need S3")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class S3BlobStore:
    """Objects in one bucket; downloads and direct uploads through presigned requests."""

    direct_uploads = True

    def __init__(self, *, bucket: str, endpoint_url: str | None, region: str | None,
                 url_ttl: int = 300) -> None:
        import boto3
        from botocore.config import Config

        # Credentials come from the standard AWS chain (env, profile, instance role).
        self._client: Any = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            config=Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"}),
        )
        self._bucket = bucket
        self.url_ttl = url_ttl
        # Where the presigned URLs point, as boto3 builds them (signing is local: no request).
        urls = [self._client.generate_presigned_url(
                    "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60),
                self._client.generate_presigned_post(bucket, "k", ExpiresIn=60)["url"]]
        self.browser_origins = tuple(dict.fromkeys(_origin(url) for url in urls))

    async def check(self) -> None:
        """Raises when the bucket can't be reached (readiness)."""
        await asyncio.to_thread(self._client.head_bucket, Bucket=self._bucket)

    async def put(self, key: str, source: IO[bytes], *, content_type: str) -> int:
        await asyncio.to_thread(self._client.upload_fileobj, source, self._bucket, key,
                                ExtraArgs={"ContentType": content_type})
        size = await self.size(key)
        assert size is not None
        return size

    async def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            head = await asyncio.to_thread(self._client.head_object, Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"])

    async def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": key} for key in keys[start:start + 1000]]
            result = await asyncio.to_thread(self._client.delete_objects, Bucket=self._bucket,
                                             Delete={"Objects": chunk, "Quiet": True})
            for error in result.get("Errors", []):
                logger.warning("could not delete s3://{}/{}: {}", self._bucket, error.get("Key"),
                               error.get("Message"))

    async def download(self, key: str, *, filename: str, content_type: str) -> Download:
        url = await asyncio.to_thread(
            self._client.generate_presigned_url, "get_object",
            Params={"Bucket": self._bucket, "Key": key,
                    "ResponseContentDisposition": content_disposition(filename),
                    "ResponseContentType": content_type},
            ExpiresIn=self.url_ttl,
        )
        return Download(url=url)

    async def upload_form(self, key: str, *, content_type: str, max_size: int) -> dict[str, Any]:
        form: dict[str, Any] = await asyncio.to_thread(
            self._client.generate_presigned_post, self._bucket, key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_size]],
            ExpiresIn=self.url_ttl,
        )
        return form
