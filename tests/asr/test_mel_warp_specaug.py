"""mel_warp specaug (docs/lid_routing.md, "Unseen voices"): the warp against numpy's interpolation, factors drawn
per utterance inside warp_range, identity at 1, ESPnet's SpecAug after it, bad options, the YAML name."""

import numpy as np
import pytest
import torch
import yaml

import espnet_ext  # noqa: F401  (registers mel_warp)
from espnet_ext.asr.specaug.mel_warp_specaug import MelWarpSpecAug, warp_mel_axis
from tests.conftest import REPO


def test_warp_equals_linear_interpolation_of_the_mel_axis():
    x = torch.randn(3, 7, 40, dtype=torch.float64)
    factors = torch.tensor([0.88, 1.0, 1.12], dtype=torch.float64)
    out = warp_mel_axis(x, factors)
    bins = np.arange(40)
    for b, a in enumerate(factors.tolist()):
        source = np.minimum(bins / a, 39)  # out[i] = x[i / a], past the last bin: the last bin
        for t in range(7):
            np.testing.assert_allclose(out[b, t].numpy(), np.interp(source, bins, x[b, t].numpy()), atol=1e-12)
    assert torch.equal(out[1], x[1])  # a = 1: unchanged


def test_each_utterance_gets_its_own_factor_inside_the_range():
    torch.manual_seed(0)
    ramp = torch.arange(80, dtype=torch.float32).expand(16, 5, 80).clone()  # x[..., i] = i
    aug = MelWarpSpecAug(warp_range=[0.9, 1.1])
    out, lengths = aug(ramp, torch.full((16,), 5))
    assert out.shape == ramp.shape and lengths.tolist() == [5] * 16
    # below the clamp, out[b, t, i] = i / a_b: bin 40 reads the factor back, the same for every frame
    factors = 40.0 / out[:, :, 40]
    assert torch.allclose(factors, factors[:, :1].expand(-1, 5))
    factors = factors[:, 0]
    assert bool(((factors >= 0.9 - 1e-5) & (factors <= 1.1 + 1e-5)).all())
    assert factors.std() > 0.02  # drawn per utterance, not once per batch


def test_warp_range_one_is_the_identity_and_specaug_conf_adds_espnet_masks():
    x = torch.randn(2, 30, 80)
    out, _ = MelWarpSpecAug(warp_range=[1.0, 1.0])(x.clone(), torch.tensor([30, 20]))
    assert torch.equal(out, x)
    torch.manual_seed(0)
    masks = dict(apply_time_warp=False, apply_time_mask=False, apply_freq_mask=True,
                 freq_mask_width_range=[10, 11], num_freq_mask=1)
    out, _ = MelWarpSpecAug(warp_range=[1.0, 1.0], specaug_conf=masks)(x.clone(), torch.tensor([30, 20]))
    zero_bins = (out == 0).all(dim=1).sum(-1)  # ESPnet's frequency mask: 10 bins set to 0 in every frame
    assert zero_bins.tolist() == [10, 10]


@pytest.mark.parametrize("bad", [[1.2, 0.9], [0.0, 1.1], [1.0], "0.9,1.1", [0.9, "x"]])
def test_bad_warp_range_is_a_config_error(bad):
    with pytest.raises(ValueError, match=r"specaug_conf.warp_range must be \[low, high\] with 0 < low <= high"):
        MelWarpSpecAug(warp_range=bad)


def test_the_lid_melwarp_confs_select_mel_warp_through_espnet():
    from espnet2.tasks.asr import specaug_choices

    for name in ("train_a2_bs_dual_adapters_lid_melwarp_cpu.yaml",
                 "train_a2_bs_dual_adapters_lid_melwarp_soft_cpu.yaml"):
        conf = yaml.safe_load((REPO / "conf" / "tuning" / name).read_text())
        aug = specaug_choices.get_class(conf["specaug"])(**conf["specaug_conf"])
        assert isinstance(aug, MelWarpSpecAug) and aug.warp_range == (0.88, 1.12)
    conf = yaml.safe_load((REPO / "conf" / "tuning" /
                           "train_a2_bs_dual_adapters_lid_melwarp_noise_soft_common2_cpu.yaml").read_text())
    aug = specaug_choices.get_class(conf["specaug"])(**conf["specaug_conf"])
    assert (aug.noise_prob, aug.noise_snr_range, aug.noise_tilt_range) == (0.5, (30.0, 60.0), (-5.0, 10.0))
    assert "noise_prob=0.5" in repr(aug)


# ---- additive noise (espnet_ext/asr/specaug/feature_noise.py)

def test_noise_adds_the_drawn_power_per_bin_at_the_snr_and_tilt():
    from espnet_ext.asr.specaug.feature_noise import NOISE_GAMMA_SHAPE, add_noise_to_log_mel

    torch.manual_seed(0)
    x = torch.full((2, 4000, 8), 2.0, dtype=torch.float64)  # power e^2 in every bin: mean signal power e^2
    out = add_noise_to_log_mel(x, None, torch.tensor([10.0, 20.0]), torch.tensor([0.0, 6.0]))
    noise = out.exp() - x.exp()  # (B, T, F) added power
    per_bin = noise.mean(dim=1)  # the Gamma fluctuation has mean 1
    level = np.exp(2.0) * 10.0 ** (-np.array([10.0, 20.0]) / 10)
    np.testing.assert_allclose(per_bin[0].numpy(), level[0], rtol=0.03)  # tilt 0: the same power in every bin
    shape = 10 ** (6.0 * np.linspace(-0.5, 0.5, 8) / 10)
    np.testing.assert_allclose(per_bin[1].numpy(), level[1] * shape / shape.mean(), rtol=0.03)  # 6 dB last vs first
    var = (noise[0] / level[0]).var().item()
    assert abs(var - 1 / NOISE_GAMMA_SHAPE) < 0.02  # Gamma(k, 1/k) fluctuation per frame and bin


def test_noise_level_ignores_padding_and_infinite_snr_means_no_noise():
    from espnet_ext.asr.specaug.feature_noise import add_noise_to_log_mel

    torch.manual_seed(0)
    x = torch.zeros(2, 2000, 4, dtype=torch.float64)
    x[1, 1000:] = 30.0  # padding with huge values beyond length 1000
    out = add_noise_to_log_mel(x, torch.tensor([2000, 1000]), torch.tensor([0.0, 0.0]), torch.tensor([0.0, 0.0]))
    added = (out.exp() - x.exp())[:, :1000].mean()
    assert abs(added.item() - 1.0) < 0.05  # SNR 0 dB against power 1: noise power 1 in both utterances
    unchanged = add_noise_to_log_mel(x, None, torch.tensor([float("inf"), 0.0]), torch.tensor([0.0, 0.0]))
    assert torch.equal(unchanged[0], x[0]) and not torch.equal(unchanged[1], x[1])


def test_mel_warp_noise_prob_picks_utterances_and_zero_is_off():
    torch.manual_seed(0)
    x = torch.randn(400, 20, 10)
    same, _ = MelWarpSpecAug(warp_range=[1.0, 1.0], noise_prob=0.0)(x.clone(), torch.full((400,), 20))
    assert torch.equal(same, x)
    out, _ = MelWarpSpecAug(warp_range=[1.0, 1.0], noise_prob=0.25, noise_snr_range=[10, 20])(
        x.clone(), torch.full((400,), 20))
    changed = (out != x).flatten(1).any(dim=1).float().mean().item()
    assert 0.18 < changed < 0.32  # about a quarter of the utterances got noise
    assert bool((out >= x - 1e-6).all())  # noise only adds power


@pytest.mark.parametrize("options, message", [
    (dict(noise_prob=1.5), r"noise_prob must be a number in \[0, 1\]"),
    (dict(noise_prob=0.5, noise_snr_range=[40, 20]), r"noise_snr_range must be \[low, high\] with low <= high"),
    (dict(noise_tilt_range=[3]), r"noise_tilt_range must be \[low, high\]"),
])
def test_bad_noise_options_are_config_errors(options, message):
    with pytest.raises(ValueError, match=message):
        MelWarpSpecAug(**options)
