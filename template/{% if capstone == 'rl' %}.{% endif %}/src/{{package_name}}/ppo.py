"""Proximal Policy Optimization (Schulman et al., 2017), the whole algorithm in one function.

    repeat:  play `rollout_steps` steps in each of `num_envs` environments with the current policy
             -> advantages by GAE (how much better each action did than the critic expected)
             -> `update_epochs` passes of minibatch gradient steps on the clipped objective

The settings are in configs/algo/ppo.yaml, with why each has its value.
"""

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from .envs import action_mask, make_envs
from .networks import build_network
from .plumbing.training_run import TrainingRun


def train(cfg: DictConfig, run: TrainingRun) -> None:
    algo = cfg.algo
    device = run.device
    envs = make_envs(cfg.env, algo.num_envs)
    obs_shape, n_actions = envs.single_observation_space.shape, envs.single_action_space.n
    agent = build_network(algo, cfg.env, obs_shape, n_actions).to(device)
    optimizer = torch.optim.Adam(agent.parameters(), lr=algo.lr, eps=1e-5)
    run.restore(model=agent, optimizer=optimizer)

    batch_size = algo.num_envs * algo.rollout_steps
    minibatch_size = batch_size // algo.minibatches
    iterations = -(-cfg.trainer.total_steps // batch_size)  # rounded up: at least total_steps steps
    # Zero-sum games in turns (Connect Four self-play): the next state is the opponent's, whose
    # gain is our loss, so the future value enters with a minus sign.
    discount = -algo.gamma if cfg.env.turn_based else algo.gamma

    # The rollout: one row per step, one column per environment.
    obs = torch.zeros((algo.rollout_steps, algo.num_envs, *obs_shape), dtype=torch_dtype(envs), device=device)
    masks = torch.ones((algo.rollout_steps, algo.num_envs, n_actions), dtype=torch.bool, device=device)
    actions = torch.zeros((algo.rollout_steps, algo.num_envs), dtype=torch.long, device=device)
    logprobs = torch.zeros((algo.rollout_steps, algo.num_envs), device=device)
    rewards = torch.zeros((algo.rollout_steps, algo.num_envs), device=device)
    dones = torch.zeros((algo.rollout_steps, algo.num_envs), device=device)
    values = torch.zeros((algo.rollout_steps, algo.num_envs), device=device)

    next_obs, info = envs.reset(seed=run.env_seed)
    next_obs = torch.as_tensor(next_obs, device=device)
    next_mask = mask_tensor(info, algo.num_envs, n_actions, device)
    next_done = torch.zeros(algo.num_envs, device=device)

    for iteration in range(run.step // batch_size + 1, iterations + 1):
        if algo.anneal_lr:  # the learning rate falls linearly to zero over the run
            optimizer.param_groups[0]["lr"] = algo.lr * (1.0 - (iteration - 1) / iterations)

        # 1. Play: the policy acts, the environments answer.
        for t in range(algo.rollout_steps):
            obs[t], masks[t], dones[t] = next_obs, next_mask, next_done
            with torch.no_grad():
                action, logprob, _, value = agent.action_and_value(next_obs, next_mask)
            actions[t], logprobs[t], values[t] = action, logprob, value

            next_obs, reward, terminated, truncated, info = envs.step(action.cpu().numpy())
            run.record(info, reward)  # finished episodes, and the scale of the rewards
            reward = torch.as_tensor(reward, dtype=torch.float32, device=device)
            cut = truncated & ~terminated
            if cut.any():  # cut by a time limit, not ended: the return goes on, so add its estimate
                final_obs = torch.as_tensor(np.stack(info["final_obs"][cut]), device=device)
                with torch.no_grad():
                    reward[torch.as_tensor(cut, device=device)] += discount * agent.value(final_obs)
            rewards[t] = reward
            next_obs = torch.as_tensor(next_obs, device=device)
            next_mask = mask_tensor(info, algo.num_envs, n_actions, device)
            next_done = torch.as_tensor(terminated | truncated, dtype=torch.float32, device=device)
        run.step += batch_size

        # 2. Advantages by GAE (Schulman et al., 2016): the TD errors, discounted by gamma * lambda.
        with torch.no_grad():
            next_value = agent.value(next_obs)
            advantages = torch.zeros_like(rewards)
            last = torch.zeros(algo.num_envs, device=device)
            for t in reversed(range(algo.rollout_steps)):
                not_done = 1.0 - (next_done if t == algo.rollout_steps - 1 else dones[t + 1])
                following = next_value if t == algo.rollout_steps - 1 else values[t + 1]
                delta = rewards[t] + discount * following * not_done - values[t]
                last = delta + discount * algo.gae_lambda * not_done * last
                advantages[t] = last
            returns = advantages + values

        # 3. Learn: several epochs over the rollout in shuffled minibatches.
        b_obs, b_masks = obs.flatten(0, 1), masks.flatten(0, 1)
        b_actions, b_logprobs = actions.flatten(), logprobs.flatten()
        b_advantages, b_returns, b_values = advantages.flatten(), returns.flatten(), values.flatten()
        for _epoch in range(algo.update_epochs):
            order = torch.randperm(batch_size, device=device)
            for start in range(0, batch_size - minibatch_size + 1, minibatch_size):
                mb = order[start : start + minibatch_size]
                _, new_logprob, entropy, new_value = agent.action_and_value(b_obs[mb], b_masks[mb], b_actions[mb])
                log_ratio = new_logprob - b_logprobs[mb]
                ratio = log_ratio.exp()  # new policy / policy that played, for the actions played
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - log_ratio).mean()  # how far the policy moved (Schulman's k3)
                    clip_fraction = ((ratio - 1.0).abs() > algo.clip_coef).float().mean()

                mb_advantages = b_advantages[mb]
                if algo.norm_adv:
                    mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
                # The clipped objective: no gain from moving the ratio beyond 1 +- clip_coef.
                pg_loss = torch.max(
                    -mb_advantages * ratio, -mb_advantages * ratio.clamp(1 - algo.clip_coef, 1 + algo.clip_coef)
                ).mean()
                if algo.clip_vloss:  # the value estimate may move at most clip_coef from the one that played
                    v_clipped = b_values[mb] + (new_value - b_values[mb]).clamp(-algo.clip_coef, algo.clip_coef)
                    v_loss = 0.5 * torch.max((new_value - b_returns[mb]) ** 2, (v_clipped - b_returns[mb]) ** 2).mean()
                else:
                    v_loss = 0.5 * ((new_value - b_returns[mb]) ** 2).mean()
                entropy_loss = entropy.mean()
                loss = pg_loss - algo.ent_coef * entropy_loss + algo.vf_coef * v_loss
                run.check_update(loss, new_value)  # nan, or the critic's estimates beyond any possible return

                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if algo.max_grad_norm:  # null: no clipping
                    nn.utils.clip_grad_norm_(agent.parameters(), algo.max_grad_norm)
                optimizer.step()
            if algo.target_kl is not None and approx_kl > algo.target_kl:
                break  # the policy moved far enough for this rollout

        explained = 1 - (b_returns - b_values).var() / b_returns.var().clamp_min(1e-8)
        run.log(
            {
                "policy_loss": pg_loss.item(),
                "value_loss": v_loss.item(),
                "entropy": entropy_loss.item(),
                "approx_kl": approx_kl.item(),
                "clip_fraction": clip_fraction.item(),
                "explained_variance": explained.item(),
                "lr": optimizer.param_groups[0]["lr"],
            }
        )
        if run.end_of_iteration(agent, lambda: {"model": agent.state_dict(), "optimizer": optimizer.state_dict()}):
            break
    envs.close()


def torch_dtype(envs) -> torch.dtype:
    """Pixels stay bytes in the rollout (four times smaller); everything else is float32."""
    return torch.uint8 if envs.single_observation_space.dtype == np.uint8 else torch.float32


def mask_tensor(info: dict, num_envs: int, n_actions: int, device) -> torch.Tensor:
    """The legal actions (all of them where the game has no illegal ones)."""
    mask = action_mask(info)
    if mask is None:
        return torch.ones((num_envs, n_actions), dtype=torch.bool, device=device)
    return torch.as_tensor(mask, device=device)
