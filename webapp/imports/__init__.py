"""Spreadsheet import (XLSX and CSV) of reference data and plans: validate all, then apply."""
