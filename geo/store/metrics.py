"""Counters of the service's background work, read by ``GET /metrics`` (api.observability).

They live in geo so the jobs can count themselves without importing the web layer.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

IMPORT_JOBS = Counter("gridmap_import_jobs_total", "Ledger imports by outcome", ["outcome"])
ESCALATION_PASSES = Counter("gridmap_escalation_passes_total",
                            "Report escalation passes by outcome", ["outcome"])
REPORTS_ESCALATED = Counter("gridmap_reports_escalated_total",
                            "Reports moved up a level by the escalation loop")
BACKUPS = Counter("gridmap_backups_total", "Database backups by type and outcome",
                  ["type", "outcome"])
LAST_BACKUP = Gauge("gridmap_last_backup_success_timestamp_seconds",
                    "When the last backup succeeded (Unix time)")
