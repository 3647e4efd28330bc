"""The CamVid classes of the SegNet split, in id order, and the colours SegNet draws them in."""

import torch

CLASSES = (
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
)
NUM_CLASSES = len(CLASSES)
VOID = 11  # the id of unlabelled pixels: no loss or metric counts them
PALETTE = (  # RGB per id, void (black) last
    (128, 128, 128),
    (128, 0, 0),
    (192, 192, 128),
    (128, 64, 128),
    (60, 40, 222),
    (128, 128, 0),
    (192, 128, 128),
    (64, 64, 128),
    (64, 0, 128),
    (64, 64, 0),
    (0, 128, 192),
    (0, 0, 0),
)


def colorize(mask: torch.Tensor) -> torch.Tensor:
    """Class ids [H, W] -> their palette colours, uint8 [H, W, 3]."""
    return torch.tensor(PALETTE, dtype=torch.uint8, device=mask.device)[mask.long().clamp(0, VOID)]


def overlay(image: torch.Tensor, mask: torch.Tensor, alpha: float = 0.55) -> torch.Tensor:
    """A photo uint8 [3, H, W] with the class colours of `mask` [H, W] blended over it, uint8 [H, W, 3].

    Void pixels keep the photo's own colours.
    """
    photo = image.permute(1, 2, 0).float()
    blended = (1 - alpha) * photo + alpha * colorize(mask).float()
    blended = torch.where((mask == VOID).unsqueeze(-1), photo, blended)
    return blended.round().clamp(0, 255).to(torch.uint8)
