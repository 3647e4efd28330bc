"""Data augmentation of image and mask together, in torch: one random affine warp per image.

Every training image gets a random zoom, a random crop window, a coin-flip mirror and a light
colour change. Geometry is one affine sampling grid applied to both the image (bilinear) and
its mask (nearest neighbour, so class ids are never blended): they cannot fall out of step.
"""

import torch
import torch.nn.functional as F


def joint_augmentation(crop: tuple[int, int], scale: tuple[float, float], flip: bool, jitter: float, void: int):
    """A transform (images, masks), generator -> augmented (images float 0..255, masks int64) at size `crop`.

    `scale` bounds the zoom factor (1 = the stored size, 2 = twice as large); `jitter` the relative
    change of brightness, contrast and saturation. Pixels the crop window takes from outside the
    image are filled with black (which the colour jitter may turn grey) and marked void in the
    mask, so no loss is computed on them.
    """
    crop_h, crop_w = crop

    def augment(batch, generator):
        images, masks = batch
        n, _, height, width = images.shape
        device = images.device

        def uniform(low, high):
            return torch.rand(n, generator=generator, device=device) * (high - low) + low

        zoom = uniform(*scale)
        # The crop window's size as a share of the image: affine_grid works in [-1, 1] coordinates.
        span_x, span_y = crop_w / (width * zoom), crop_h / (height * zoom)
        # Place the window anywhere inside the image, or, when it is larger than the image (zoomed
        # out), anywhere that still holds the whole image.
        shift_x = uniform(-1, 1) * (1 - span_x).abs()
        shift_y = uniform(-1, 1) * (1 - span_y).abs()
        mirror = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0) if flip else torch.ones(n, device=device)
        zero = torch.zeros(n, device=device)
        # theta maps output to input coordinates, in [-1, 1] units:
        #   x_in = span_x * mirror * x_out + shift_x,  y_in = span_y * y_out + shift_y
        theta = torch.stack(
            [torch.stack([span_x * mirror, zero, shift_x], dim=1), torch.stack([zero, span_y, shift_y], dim=1)], dim=1
        )
        grid = F.affine_grid(theta, [n, 1, crop_h, crop_w], align_corners=False)
        images = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        # Shift ids by one so that the zeros grid_sample pads with mark pixels outside the image.
        shifted = F.grid_sample((masks.float() + 1).unsqueeze(1), grid, mode="nearest", align_corners=False)
        masks = shifted.squeeze(1).long() - 1
        masks[masks < 0] = void
        if jitter:
            images = color_jitter(images, jitter, uniform)
        return images, masks

    return augment


def color_jitter(images: torch.Tensor, strength: float, uniform) -> torch.Tensor:
    """Scale brightness, contrast and saturation of each image by factors in [1 - strength, 1 + strength]."""

    def factor():
        return uniform(1 - strength, 1 + strength).view(-1, 1, 1, 1)

    gray = (0.299 * images[:, 0:1] + 0.587 * images[:, 1:2] + 0.114 * images[:, 2:3]).expand_as(images)
    images = gray + (images - gray) * factor()  # saturation
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = mean + (images - mean) * factor()  # contrast
    return (images * factor()).clamp(0, 255)  # brightness
