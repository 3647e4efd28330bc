"""How fast the Connect Four ladder's players search and the solver proves, in a rendered rl repo.

    python bench/ladder_speed.py --repo RENDERED_RL_REPO [--games 20] [--rounds 3]

For each depth of the ladder (2, 4, 6): minimax plays `--games` games against the lookahead player
(each side first in half), and the search's own time and positions visited are summed over its moves;
then the solver proves the 200 positions of evaluate.py's exact measure. Each figure is the median
of `--rounds` rounds. Prints one JSON object.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def measure(depth: int, games: int, seed: int) -> dict[str, float]:
    from rl_agent.connect_four import lookahead_player
    from rl_agent.ladder import MinimaxPlayer, match

    player, spent = MinimaxPlayer(depth), {"seconds": 0.0, "moves": 0}

    def timed(env, rng, turn):
        started = time.perf_counter()
        moves = player(env, rng, turn)
        spent["seconds"] += time.perf_counter() - started
        spent["moves"] += int(turn.sum())
        return moves

    match(timed, lookahead_player, games, seed, opening_moves=0)  # from the empty board
    seconds, moves = spent["seconds"], spent["moves"]
    return {"positions_per_s": player.search.nodes / seconds, "ms_per_move": 1000 * seconds / moves}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--games", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo / "src"))
    from rl_agent.ladder import proved_positions

    figures = {}
    for depth in (2, 4, 6):
        rounds = [measure(depth, args.games, seed) for seed in range(args.rounds)]
        figures[f"minimax{depth}"] = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    proving = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        proved_positions(200, seed=12345)  # evaluate.py's positions (configs/eval.yaml: seed)
        proving.append(time.perf_counter() - started)
    figures["proved_positions_s"] = statistics.median(proving)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
