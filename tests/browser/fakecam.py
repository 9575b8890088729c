"""A fake camera for Chromium: a Y4M video (YUV 4:2:0) showing a QR code, for
`--use-file-for-fake-video-capture`. Pure Python and PIL; Chromium loops the frames."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from webapp.checkin.passes import qr_png

WIDTH, HEIGHT = 640, 480
FAKE_CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def y4m_frames(image: Image.Image, frames: int = 2) -> bytes:
    """The picture centred on a white 640x480 frame, as `frames` identical Y4M frames.
    Full-range luma (C420jpeg) with neutral chroma: a black-and-white picture needs no more."""
    picture = image.convert("L")
    side = min(WIDTH, HEIGHT) - 40
    if picture.width > side or picture.height > side:
        # Nearest-neighbour keeps the modules sharp-edged, as on a phone screen.
        scale = side / max(picture.width, picture.height)
        size = (int(picture.width * scale), int(picture.height * scale))
        picture = picture.resize(size, Image.Resampling.NEAREST)
    frame = Image.new("L", (WIDTH, HEIGHT), 255)
    frame.paste(picture, ((WIDTH - picture.width) // 2, (HEIGHT - picture.height) // 2))
    luma = frame.tobytes()
    chroma = bytes([128]) * ((WIDTH // 2) * (HEIGHT // 2))
    header = f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F30:1 Ip A1:1 C420jpeg\n".encode()
    body = b"".join(b"FRAME\n" + luma + chroma + chroma for _ in range(frames))
    return header + body


def write_qr_video(path: Path, text: str) -> Path:
    """A Y4M file whose frames show `text` as a QR code (rendered like the app's pass)."""
    image = Image.open(io.BytesIO(qr_png(text)))
    path.write_bytes(y4m_frames(image))
    return path
