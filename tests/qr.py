"""Reading the QR codes in a picture, as a phone's QR scanner does (the app's own scanner,
jsQR, reads QR codes only)."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image


def qr_codes(picture: bytes) -> list[zxingcpp.Barcode]:
    """The QR codes zxing-cpp finds in a PNG/JPEG. QR codes only: asked for every format, it
    also reports a spurious 1D Codabar inside about 1 pass in 300 (random pass secrets)."""
    return zxingcpp.read_barcodes(
        Image.open(io.BytesIO(picture)),
        formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),
    )
