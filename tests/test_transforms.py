import torch

from emolens.data.transforms import augment, random_affine, random_erase
from emolens.train.config import AugmentConfig


def _batch() -> torch.Tensor:
    return torch.rand(16, 1, 48, 48, generator=torch.Generator().manual_seed(1))


def test_augment_keeps_shape_range_and_is_seeded() -> None:
    x = _batch()
    a = augment(x, AugmentConfig(), torch.Generator().manual_seed(0))
    b = augment(x, AugmentConfig(), torch.Generator().manual_seed(0))
    assert a.shape == x.shape
    assert torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert not torch.allclose(a, x)


def test_identity_settings_change_nothing() -> None:
    x = _batch()
    cfg = AugmentConfig(rotate_deg=0, scale=0, shift=0, hflip=False, erase_p=0)
    y = random_affine(x, cfg, torch.Generator().manual_seed(0))
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)
    assert torch.equal(random_erase(x, cfg, torch.Generator()), x)


def test_erasing_touches_a_rectangle_only() -> None:
    x = torch.zeros(8, 1, 48, 48)
    y = random_erase(x, AugmentConfig(erase_p=1.0), torch.Generator().manual_seed(0))
    changed = (y != 0).float().mean(dim=(1, 2, 3))
    assert bool(((changed > 0.005) & (changed < 0.25)).all())


def test_photometric_changes_stay_in_range_and_are_off_by_default() -> None:
    from emolens.data.transforms import random_photometric

    x = _batch()
    assert torch.equal(random_photometric(x, AugmentConfig(), torch.Generator()), x)  # photometric_p = 0
    y = random_photometric(x, AugmentConfig(photometric_p=1.0), torch.Generator().manual_seed(0))
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    assert not torch.allclose(y, x)


def test_blur_smooths_each_image_by_its_own_sigma() -> None:
    from emolens.data.transforms import gaussian_blur

    x = torch.zeros(3, 1, 21, 21)
    x[:, :, 10, 10] = 1.0  # a point of light
    y = gaussian_blur(x, torch.tensor([0.0, 1.0, 2.0]))
    assert torch.equal(y[0], x[0])  # sigma 0: unchanged
    torch.testing.assert_close(y.sum(dim=(1, 2, 3)), torch.ones(3))  # light is kept
    assert float(y[1, 0, 10, 10]) > float(y[2, 0, 10, 10]) > 0  # wider blur, lower peak
    assert float(y[2, 0, 10, 13]) > float(y[1, 0, 10, 13])
