"""Where a run's metrics go: metrics.csv always, and Weights & Biases too with logger=wandb.

    tracker = Tracker(cfg, run_dir)                    # where the training code writes metrics.csv
    tracker.log({"step": 10, "train/loss": 0.31, "lr": 1e-3})
    tracker.finish(run_dir / "checkpoints/best.pt")    # W&B: best.pt as a model artifact

logger=wandb (configs/logger/wandb.yaml) sends W&B the resolved config and the same rows as
metrics.csv, at their step, and best.pt at the end; evaluate.py then adds its metrics and plots
to the same W&B run (`log_evaluation`). wandb is imported only then: with logger=csv nothing here
loads it.

W&B never stops a run. Without a login (`wandb login`, or WANDB_API_KEY in the environment) it
logs offline into the run folder (<run>/wandb/offline-run-...), and one log line says how to upload
it later with `wandb sync`. The API key stays where wandb keeps it: nothing here writes it down.
"""

import configparser
import importlib.util
import json
import logging
import netrc
import os
from pathlib import Path
from urllib.parse import urlsplit

from omegaconf import DictConfig, OmegaConf

from .errors import UserError
from .metrics_csv import MetricsCSV

log = logging.getLogger(__name__)

RUN_ID_FILE = Path("wandb") / "run_id.txt"  # in the run folder: the W&B run that resume and evaluate.py continue
MODES = ("online", "offline", "disabled")
MISSING = 'logger=wandb needs the wandb package: pip install -e ".[wandb]" (or train with logger=csv).'


class Tracker:
    """metrics.csv, and with logger=wandb the same rows on W&B. Under DDP, rank 0 alone makes one."""

    def __init__(self, cfg: DictConfig, run_dir: str | Path, resume_step: int | None = None):
        check_logger(cfg)  # before metrics.csv is touched
        run_dir = Path(run_dir)
        self.csv = MetricsCSV(run_dir / "metrics.csv", resume_step=resume_step)
        wandb_cfg = cfg.logger.get("wandb")
        self.wandb = None
        if wandb_cfg:  # a resumed run continues its W&B run; a new one starts a new W&B run
            config = OmegaConf.to_container(cfg, resolve=True)
            self.wandb = WandbRun(wandb_cfg, run_dir, job_type="train", config=config, resume=resume_step is not None)
        self.log_checkpoint = bool(wandb_cfg and wandb_cfg.log_checkpoint)

    def log(self, row: dict) -> None:
        """One row with a "step": into metrics.csv, and to W&B at that step."""
        self.csv.log(row)
        if self.wandb is not None:
            self.wandb.log({key: value for key, value in row.items() if key != "step"}, step=int(row["step"]))

    def finish(self, best_checkpoint: Path | None = None) -> None:
        """The end of training: W&B keeps best.pt as a "model" artifact (logger.wandb.log_checkpoint) and closes."""
        if self.wandb is None:
            return
        if self.log_checkpoint and best_checkpoint is not None and Path(best_checkpoint).is_file():
            self.wandb.log_model(Path(best_checkpoint))
        self.wandb.finish()
        self.wandb = None


def log_evaluation(trained: DictConfig, run_dir: Path, animations: list[Path] | None = None) -> None:
    """evaluate.py: when the run logged to W&B, its metrics.json, plots (PNG) and `animations` go to that W&B run."""
    wandb_cfg = trained.logger.get("wandb")
    if not wandb_cfg:  # the run used logger=csv
        return
    try:
        run = WandbRun(wandb_cfg, run_dir, job_type="eval")
    except UserError as error:  # wandb is missing here: the results are in the run folder all the same
        log.warning(f"Not logged to W&B: {error}")
        return
    if run.run is None:  # mode disabled
        return
    import wandb

    metrics = json.loads((run_dir / "metrics.json").read_text())
    run.run.summary.update({key: value for key, value in metrics.items() if isinstance(value, int | float)})
    media = {f"plots/{path.stem}": wandb.Image(str(path)) for path in sorted(run_dir.glob("*.png"))}
    media |= {f"plots/{path.stem}": wandb.Video(str(path), format=path.suffix[1:]) for path in animations or []}
    if media:
        run.log(media)
    run.finish()


class WandbRun:
    """The W&B run of one run folder: its files in <run>/wandb/, online when logged in, else offline."""

    def __init__(
        self, wandb_cfg: DictConfig, run_dir: Path, *, job_type: str, config: dict | None = None, resume: bool = True
    ):
        try:
            import wandb
        except ImportError:
            raise UserError(MISSING) from None
        mode = wandb_mode(wandb_cfg)
        self.run, self.offline, self.offline_because = None, False, None
        if mode == "disabled":
            return
        if mode == "online" and not logged_in():
            mode, self.offline_because = "offline", "no `wandb login` or WANDB_API_KEY found"
        id_file = run_dir / RUN_ID_FILE
        run_id = id_file.read_text().strip() if resume and id_file.is_file() else None
        if wandb.run is not None:
            wandb.run.finish()  # a run left open by an earlier training in this process that failed
        options = dict(
            project=wandb_cfg.project,
            entity=wandb_cfg.entity,
            name=run_name(run_dir),
            tags=list(wandb_cfg.tags or []),
            job_type=None if run_id else job_type,  # a continued run keeps its own
            config=config,
            dir=str(run_dir),  # everything W&B writes for this run goes into <run>/wandb/
            id=run_id,
            resume="allow" if run_id else None,
            settings=wandb.Settings(silent=True),  # this module's own lines say what matters
        )
        try:
            self.run = wandb.init(mode=mode, **options)
        except wandb.errors.Error as error:  # wandb.ai unreachable, a revoked key: keep training, offline
            if mode == "offline":
                raise
            self.offline_because = f"W&B could not start online: {str(error).splitlines()[0]}"
            mode = "offline"
            self.run = wandb.init(mode=mode, **options)
        self.offline = mode == "offline"
        id_file.parent.mkdir(parents=True, exist_ok=True)
        id_file.write_text(self.run.id + "\n")
        if not self.offline:
            log.info(f"W&B run: {self.run.url}")

    def log(self, values: dict, step: int | None = None) -> None:
        if self.run is not None:
            self.run.log(values, step=step)

    def log_model(self, checkpoint: Path) -> None:
        import wandb

        if self.run is None:
            return
        artifact = wandb.Artifact(f"model-{self.run.id}", type="model")
        artifact.add_file(str(checkpoint), name=checkpoint.name)
        self.run.log_artifact(artifact, aliases=["best", "latest"])

    def finish(self) -> None:
        """Close the run; offline, say in one line how to upload it."""
        if self.run is None:
            return
        folder, run_id = Path(self.run.dir).parent, self.run.id  # folder: <run>/wandb/offline-run-<date>_<time>-<id>
        self.run.finish()
        self.run = None
        if self.offline:
            parts = [part for part in folder.parent.glob("offline-run-*") if part.name.split("-")[3] == run_id]
            # A resumed or evaluated run has several parts; wandb sync uploads them in order.
            target = folder if len(parts) < 2 else folder.parent / "offline-run-*"
            because = f" ({self.offline_because})" if self.offline_because else ""
            log.info(f"W&B logged offline{because}; to upload this run: wandb sync {target}")


def check_logger(cfg: DictConfig) -> None:
    """Before training: logger=wandb without the wandb package, or with a bad mode, fails now, not at the first row."""
    if cfg.logger.get("wandb"):
        if importlib.util.find_spec("wandb") is None:
            raise UserError(MISSING)
        wandb_mode(cfg.logger.wandb)


def wandb_mode(wandb_cfg: DictConfig) -> str:
    """logger.wandb.mode, else WANDB_MODE, else online (which WandbRun turns offline without a login)."""
    mode = wandb_cfg.mode or os.environ.get("WANDB_MODE") or "online"
    mode = {"dryrun": "offline", "run": "online"}.get(mode, mode)  # wandb's older names
    if mode not in MODES:
        raise UserError(f"logger.wandb.mode (or WANDB_MODE) is {mode}; use online, offline or disabled.")
    return mode


def run_name(run_dir: Path) -> str:
    """The run folder's name; in a sweep (runs/multirun/<date>/<n>) the date too."""
    return f"{run_dir.parent.name}/{run_dir.name}" if run_dir.name.isdigit() else run_dir.name


def logged_in() -> bool:
    """Whether wandb has credentials: WANDB_API_KEY (or an identity token), or `wandb login`'s netrc entry."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    path = os.environ.get("NETRC") or next(
        (p for p in (Path.home() / ".netrc", Path.home() / "_netrc") if p.is_file()), None
    )
    if path is None:
        return False
    try:
        host = os.environ.get("WANDB_BASE_URL")
        if not host:  # `wandb login --host URL` keeps its server in wandb's settings file
            settings = configparser.ConfigParser()
            settings.read(Path(os.environ.get("WANDB_CONFIG_DIR", Path.home() / ".config" / "wandb")) / "settings")
            host = settings.get("default", "base_url", fallback="https://api.wandb.ai")
        return netrc.netrc(path).authenticators(urlsplit(host).netloc) is not None
    except (OSError, netrc.NetrcParseError, configparser.Error):
        return False
