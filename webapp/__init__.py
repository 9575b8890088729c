"""Registered inspection visits (行政检查报备 · 亮证亮单 · 扫码迎检)."""
