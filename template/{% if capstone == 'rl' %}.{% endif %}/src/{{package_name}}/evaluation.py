"""evaluate.py's work: a checkpoint's network plays evaluation episodes; metrics.json, agent.gif and
returns.png go into its run folder."""

import json
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from .alphazero import SearchingPlayer
from .envs import make_envs
from .gif import save_gif
from .ladder import ladder_table, not_losing_share, opponent, proved_positions
from .networks import build_network
from .play import evaluate_policy, random_policy_returns, record_episode, record_game
from .plots import plot_returns
from .plumbing import runtime
from .plumbing.checkpoint import load_checkpoint
from .plumbing.errors import UserError, check_number
from .plumbing.files import write_text
from .plumbing.report import check_report, report_evaluation
from .plumbing.run_paths import checkpoint_named
from .plumbing.tracking import log_evaluation


def evaluate_checkpoint(cfg: DictConfig) -> dict[str, float]:
    """evaluate.py: evaluation episodes (env.eval_policy) with a checkpoint's network; metrics.json, agent.gif and
    returns.png go into the checkpoint's run folder."""
    path = checkpoint_named(cfg)  # a .pt file, or a run folder or its checkpoints/ folder: best.pt
    check_number(cfg, "episodes", whole=True, least=1)
    check_number(cfg, "proved_positions", whole=True, least=0)
    check_number(cfg, "simulations", whole=True, least=0, null="the run's algo.play_simulations")
    check_report(cfg.report)
    opponent(cfg.gif.opponent)  # an unknown name: its sentence now, not after the games
    state = load_checkpoint(path, "rl")
    trained = OmegaConf.create(state["config"])
    if cfg.simulations is not None and trained.algo.name != "alphazero":
        raise UserError(
            f"simulations={cfg.simulations} sets AlphaZero's search, but {path} holds a "
            f"{algorithm_name(trained.algo.name)} agent, which plays without one; leave simulations out."
        )
    runtime.set_cpu_threads(cfg.threads)
    network = load_network(state, trained, runtime.pick_device(cfg.device), path, cfg.simulations)

    metrics = evaluate_policy(network, trained.env, cfg.episodes, seed=cfg.seed, prefix="eval/", opponents=cfg.ladder)
    if trained.env.name != "connect_four":  # the floor the learning curve is read against
        random_returns = random_policy_returns(trained.env, cfg.episodes, cfg.seed)
        metrics["eval/random_return_mean"] = float(random_returns.mean())
        metrics["eval/random_return_std"] = float(random_returns.std())
    if trained.env.name == "connect_four" and cfg.proved_positions:
        metrics["eval/not_losing_moves"] = not_losing_share(network, *proved_positions(cfg.proved_positions, cfg.seed))
        metrics["eval/proved_positions"] = cfg.proved_positions
    metrics["eval/episodes"] = cfg.episodes
    metrics["train/step"] = state["step"]
    run_dir = path.parent.parent
    if cfg.gif.enabled and trained.env.name == "connect_four":
        frames, metrics["eval/gif_outcome"] = record_game(network, opponent(cfg.gif.opponent), seed=cfg.seed)
        save_gif(frames, run_dir / "agent.gif", fps=cfg.gif.fps, width=cfg.gif.width)
    elif cfg.gif.enabled:
        frames, _ = record_episode(network, trained.env, seed=cfg.seed, max_frames=cfg.gif.max_frames)
        save_gif(frames, run_dir / "agent.gif", fps=cfg.gif.fps, width=cfg.gif.width)
    write_text(
        run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n", "metrics", elsewhere="a copy of the run folder"
    )
    if cfg.plots and (run_dir / "metrics.csv").is_file():
        title = f"{algorithm_name(trained.algo.name)} on {trained.env.id}"
        random_return = metrics.get("eval/random_return_mean")
        plot_returns(run_dir / "metrics.csv", run_dir / "returns.png", trained.env.solved_return, title, random_return)
    gif = [run_dir / "agent.gif"] if cfg.gif.enabled else []
    log_evaluation(trained, run_dir, animations=gif)  # a logger=wandb run: metrics.json, the GIF and plots to W&B
    # README.md's results section and its pictures in results/; for a smoke run, only if asked (report=true).
    smoke = f"These figures come from a smoke run (debug=smoke, {state['step']:,} steps), not a full training run."
    smoke = smoke if trained.trainer.get("smoke") else None
    table = ladder_table(metrics, gif_opponent=cfg.gif.opponent) if trained.env.name == "connect_four" else None
    report_evaluation(run_dir, path, cfg.report, smoke=smoke, pictures=("agent.gif", "*.png"), table=table)
    return metrics


def load_network(
    state: dict, trained: DictConfig, device: torch.device, path: Path, simulations: int | None = None
) -> torch.nn.Module:
    """The checkpoint's network, rebuilt from the config it was trained with. AlphaZero's comes with
    its search: `simulations` per move (None: the algo.play_simulations it was trained with)."""
    probe = make_envs(trained.env, 1, training=False)  # the observation and action shapes
    obs_shape, n_actions = probe.single_observation_space.shape, probe.single_action_space.n
    probe.close()
    network = build_network(trained.algo, trained.env, obs_shape, n_actions)
    try:
        network.load_state_dict(state["model"])
    except RuntimeError as error:
        raise UserError(f"{path} does not fit its own config ({str(error).splitlines()[0]}).") from None
    network = network.to(device).eval()
    if trained.algo.name == "alphazero":
        simulations = trained.algo.play_simulations if simulations is None else simulations
        return SearchingPlayer(network, simulations, trained.algo.c_puct).eval()
    return network


def algorithm_name(name: str) -> str:
    """How an algorithm is written in titles: DQN, PPO, AlphaZero."""
    return "AlphaZero" if name == "alphazero" else name.upper()
