"""metrics.csv: one row per logged step or epoch, readable by any spreadsheet or pandas."""

import csv
from pathlib import Path


class MetricsCSV:
    """Appends rows of metrics to a CSV file; new column names widen the header.

    Resuming from a checkpoint at step N keeps the rows up to N and drops later ones, which
    belong to the part of the interrupted run that the checkpoint does not contain.
    """

    def __init__(self, path: str | Path, resume_step: int | None = None):
        self.path = Path(path)
        self.rows: list[dict] = []
        if resume_step is not None and self.path.exists():
            with self.path.open(newline="") as f:
                self.rows = [row for row in csv.DictReader(f) if int(row["step"]) <= resume_step]
        self.columns = list(dict.fromkeys(key for row in self.rows for key in row))
        self._rewrite()

    def log(self, row: dict) -> None:
        row = {key: _format(value) for key, value in row.items()}
        self.rows.append(row)
        if set(row) - set(self.columns):
            self.columns += [key for key in row if key not in self.columns]
            self._rewrite()
        else:
            with self.path.open("a", newline="") as f:
                csv.DictWriter(f, self.columns).writerow(row)

    def _rewrite(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows(self.rows)


def _format(value):
    return f"{value:.6g}" if isinstance(value, float) else value


def read_metrics(path: str | Path) -> list[dict]:
    """The rows of a metrics.csv, with numbers as floats and empty cells left out."""
    with Path(path).open(newline="") as f:
        return [{key: float(value) for key, value in row.items() if value != ""} for row in csv.DictReader(f)]
