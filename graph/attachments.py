"""Images and files in a user's message, in the shapes LangGraph's clients send them.

An attachment is a content block beside the text blocks: OpenAI's `image_url` (its `url` a
`data:` URL or an http(s) one, or the URL as a bare string), LangChain's standard `image` and
`file` blocks (v0: `source_type` with `data` or `url`; v1: `base64` or `url`) and the JS
spelling Agent Chat UI sends (`data` with `mimeType`). Messages keep them as they came;
`for_model` hands the model each one in the form LangChain's converters read.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from langchain_core.messages import BaseMessage

Kind = Literal["image", "file"]

MIME_TYPES: dict[Kind, tuple[str, ...]] = {
    "image": ("image/png", "image/jpeg", "image/gif", "image/webp"),
    "file": ("application/pdf",),
}
BLOCK_TYPES = ("text", "image_url", "image", "file")
_DETAILS = ("auto", "low", "high")
_NAMED: dict[Kind, str] = {"image": "an image", "file": "a file"}
_UNITS = ("KiB", "MiB", "GiB")


class AttachmentError(ValueError):
    """A block that is no attachment this graph takes; `field` is where in the block, from
    its start (`.image_url.url`), or "" for the block as a whole."""

    def __init__(self, reason: str, field: str = "") -> None:
        super().__init__(reason)
        self.field = field


@dataclass(frozen=True)
class Attachment:
    """An image or a file: its base64 data and MIME type, or else the URL it is fetched from."""

    kind: Kind
    mime_type: str | None = None
    data: str | None = None
    url: str | None = None
    filename: str | None = None

    @property
    def size(self) -> int:
        """What it costs a message: its data's decoded bytes, or a URL's own length."""
        if self.data is None:
            return len((self.url or "").encode())
        return len(self.data) * 3 // 4 - self.data[-2:].count("=")

    def describe(self) -> str:
        """A line in place of the attachment: `[image: image/png, 12.3 KiB]`."""
        if self.data is None:
            return f"[{self.kind}: {self.url}]"
        named = f"{self.filename}, " if self.filename else ""
        return f"[{self.kind}: {named}{self.mime_type}, {_size(self.size)}]"

    def standard_block(self) -> dict[str, Any]:
        """The LangChain v1 block, which ChatOpenAI sends as OpenAI's image_url or file part."""
        if self.data is None:
            return {"type": self.kind, "url": self.url}
        block = {"type": self.kind, "base64": self.data, "mime_type": self.mime_type}
        if self.kind == "file":
            # OpenAI asks for a file's name; without one LangChain sends a placeholder and warns.
            block["filename"] = self.filename or "attachment.pdf"
        return block


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in _UNITS[:-1]:
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_UNITS[-1]}"


def _string(block: dict[str, Any], key: str, what: str) -> str:
    value = block[key]
    if not isinstance(value, str) or not value:
        raise AttachmentError(f"{what} must be a non-empty string", f".{key}")
    return value


def _mime_type(kind: Kind, value: object, field: str) -> str:
    if not isinstance(value, str):
        raise AttachmentError(f"the MIME type of {_NAMED[kind]} must be a string", field)
    if value.lower() not in MIME_TYPES[kind]:
        allowed = ", ".join(MIME_TYPES[kind])
        raise AttachmentError(
            f"unsupported MIME type {value!r}: {_NAMED[kind]} may be {allowed}", field
        )
    return value


def _check_base64(data: str, field: str) -> None:
    try:
        base64.b64decode(data, validate=True)
    except ValueError:  # binascii.Error, or a character beyond ASCII
        raise AttachmentError("the data is not valid base64", field) from None


def _from_url(kind: Kind, url: str, field: str, verify: bool) -> Attachment:
    """An attachment given by URL: a `data:` URL holds it; an http(s) URL says where it is."""
    if url[:5].lower() == "data:":
        header, comma, data = url.partition(",")
        mime_type, *parameters = header[5:].split(";")
        if not comma or not parameters or parameters[-1].lower() != "base64":
            raise AttachmentError(
                "a data URL must hold base64: data:<MIME type>;base64,<data>", field
            )
        if not data:
            raise AttachmentError("the data URL holds no data", field)
        if verify:
            _check_base64(data, field)
        return Attachment(kind, _mime_type(kind, mime_type, field), data=data)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise AttachmentError(
            f"the URL of {_NAMED[kind]} must be a data: URL or an http(s) URL", field
        )
    if kind == "file":
        # langchain-openai refuses it: Chat Completions takes no file URLs.
        raise AttachmentError("a file must come as base64 data, not as a URL to fetch", field)
    return Attachment(kind, url=url)


def _filename(block: dict[str, Any]) -> str | None:
    for holder in (block, block.get("extras"), block.get("metadata")):
        if isinstance(holder, dict):
            for key in ("filename", "name"):
                if isinstance(name := holder.get(key), str) and name:
                    return name
    return None


def _image_url(block: dict[str, Any], verify: bool) -> Attachment:
    image_url = block.get("image_url")
    if isinstance(image_url, str):
        return _from_url("image", image_url, ".image_url", verify)
    if not isinstance(image_url, dict):
        raise AttachmentError('an image_url block needs "image_url": {"url": ...}', ".image_url")
    if not isinstance(url := image_url.get("url"), str):
        raise AttachmentError("an image_url block's url must be a string", ".image_url.url")
    detail = image_url.get("detail")
    if detail is not None and detail not in _DETAILS:
        raise AttachmentError(f"detail must be one of {', '.join(_DETAILS)}", ".image_url.detail")
    return _from_url("image", url, ".image_url.url", verify)


def _data_block(kind: Kind, block: dict[str, Any], verify: bool) -> Attachment:
    source = block.get("source_type")
    if source == "url" or (source is None and "url" in block and "base64" not in block):
        if "url" not in block:
            raise AttachmentError(f'{_NAMED[kind]} block of source_type "url" needs its "url"')
        return _from_url(kind, _string(block, "url", "the URL"), ".url", verify)
    if source == "base64":
        data_key = "data"
    elif source is None:
        # v1 says "base64"; the JS spelling (Agent Chat UI) says "data", as v0 did.
        data_key = "base64" if "base64" in block or "data" not in block else "data"
    else:
        raise AttachmentError(
            f"source_type {source!r} is not supported: send base64 data or a URL", ".source_type"
        )
    if data_key not in block:
        how = '"data"' if source else '"base64" with "mime_type", or "url"'
        raise AttachmentError(f"{_NAMED[kind]} block needs its data: {how}")
    mime_key = "mimeType" if "mimeType" in block and "mime_type" not in block else "mime_type"
    if mime_key not in block:
        raise AttachmentError(f'{_NAMED[kind]} block with base64 data needs its "mime_type"')
    mime_type = _mime_type(kind, block[mime_key], f".{mime_key}")
    data = _string(block, data_key, "the data")
    if verify:
        _check_base64(data, f".{data_key}")
    return Attachment(kind, mime_type, data=data, filename=_filename(block))


def read_attachment(block: dict[str, Any], *, verify: bool = False) -> Attachment | None:
    """The image or file a content block holds, or None for a text block; an AttachmentError
    for anything else. `verify` decodes the base64 data too, which a stored block needs not."""
    kind = block.get("type")
    if kind == "text":
        return None
    if kind == "image_url":
        return _image_url(block, verify)
    if kind == "image" or kind == "file":
        return _data_block(kind, block, verify)
    found = "a block without a type" if kind is None else f"block type {kind!r}"
    raise AttachmentError(
        f"{found} is not supported: a message may hold {', '.join(BLOCK_TYPES)} blocks",
        "" if kind is None else ".type",
    )


def attachments(message: BaseMessage) -> list[Attachment]:
    """The attachments of a stored message that this graph still reads as such."""
    found = []
    if isinstance(message.content, list):
        for block in message.content:
            if isinstance(block, dict):
                try:
                    if (attachment := read_attachment(block)) is not None:
                        found.append(attachment)
                except AttachmentError:
                    continue
    return found


def _for_model(block: Any) -> Any:
    if not isinstance(block, dict) or block.get("type") not in ("image_url", "image", "file"):
        return block
    if block["type"] == "image_url":
        if isinstance(url := block.get("image_url"), str):
            # OpenAI's API takes only the object form.
            return {"type": "image_url", "image_url": {"url": url}}
        return block
    try:
        attachment = read_attachment(block)
    except AttachmentError:
        return block
    return block if attachment is None else attachment.standard_block()


def for_model(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The messages with every attachment in the form LangChain's converters read.

    Some shapes the clients send would otherwise reach the model server as they came, which
    OpenAI refuses (Agent Chat UI's `mimeType`, an image_url as a bare string), or lose a part
    (langchain-core reads a v0 file block's `metadata.filename` no more).
    """
    return [
        m
        if isinstance(m.content, str) or m.type != "human"
        else m.model_copy(update={"content": [_for_model(b) for b in m.content]})
        for m in messages
    ]


def countable(message: BaseMessage) -> BaseMessage:
    """The message as `count_tokens_approximately` should see it: each file in it counted as it
    counts an image, at a fixed cost, rather than by the characters of its base64."""
    content = message.content
    if isinstance(content, str) or not any(
        isinstance(b, dict) and b.get("type") == "file" for b in content
    ):
        return message
    blocks = [
        {"type": "image"} if isinstance(b, dict) and b.get("type") == "file" else b for b in content
    ]
    return message.model_copy(update={"content": blocks})
