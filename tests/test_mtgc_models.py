"""MTGC neural models, tiny profile (random weights): SPW coding, MGDD generation, profiles, loading."""

from __future__ import annotations

import copy
import shutil
import time

import numpy as np
import pytest
import torch
from PIL import Image

from mtgc_link.codecs.mtgc.config import MTGCConfig
from mtgc_link.codecs.mtgc.entropy import SPWDecodeError
from mtgc_link.codecs.mtgc.mgdd import working_size
from mtgc_link.codecs.mtgc.profiles import MTGCModels, ProfileUnavailable, load_profile, save_profile


@pytest.fixture(scope="module")
def tiny() -> MTGCModels:
    return load_profile("tiny", device="cpu")


@pytest.fixture(scope="module")
def image(astronaut) -> np.ndarray:
    return np.asarray(Image.fromarray(astronaut).resize((256, 256), Image.Resampling.BICUBIC))


@pytest.fixture(scope="module")
def images(astronaut) -> list[np.ndarray]:
    """Four different 128x128 crops (distinct content)."""
    return [
        np.ascontiguousarray(astronaut[y : y + 128, x : x + 128])
        for y, x in [(0, 0), (0, 300), (300, 0), (300, 300)]
    ]


def _hci(image: np.ndarray, factor: int = 16) -> np.ndarray:
    h, w = image.shape[0] // factor, image.shape[1] // factor
    return np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BOX))


# ---------------------------------------------------------------------- profile basics
def test_tiny_profile_is_untrained_and_sized_from_config(tiny):
    assert tiny.trained is False
    cfg = tiny.config
    assert cfg.profile == "tiny" and cfg.captioner_id is None  # offline: captions come from the caller
    assert MTGCConfig.reference().captioner_id
    assert tiny.unet.config.cross_attention_dim == cfg.text_embed_dim
    assert tiny.text_encoder.config.hidden_size == cfg.text_embed_dim
    assert tiny.tascm.config.max_spws == cfg.max_spws
    # ControlNet initialised from the UNet: its copied input conv equals the UNet's.
    assert torch.equal(tiny.controlnet.conv_in.weight, tiny.unet.conv_in.weight)


def test_tiny_tokenizer_round_trips_any_caption(tiny):
    text = "a café at dusk, 3 people"
    ids = tiny.tokenizer(text).input_ids
    assert len(ids) == len(text.encode()) + 2  # one token per UTF-8 byte + <bos> + <eos>
    assert tiny.tokenizer.decode(ids, skip_special_tokens=True) == text


def test_working_size_keeps_multiples_and_limits():
    cfg = MTGCConfig.tiny()
    assert working_size((256, 256), cfg) == (256, 256)
    assert working_size((512, 768), cfg) == (176, 256)  # 768 -> 256 (max_side), 512/3 = 170.7 -> 176
    assert working_size((10, 10), cfg) == (16, 16)
    with pytest.raises(ValueError, match="size"):
        working_size((0, 5), cfg)


def test_config_rejects_inconsistent_sizes():
    with pytest.raises(ValueError, match="default_spws"):
        MTGCConfig.tiny(default_spws=9)
    with pytest.raises(ValueError, match="tascm_heads"):
        MTGCConfig.tiny(tascm_dim=30)


# ---------------------------------------------------------------------- SPWs
def test_spw_round_trip_equals_quantized_vectors(tiny, images):
    for img in images[:2]:
        for k in (1, 3, tiny.config.max_spws):
            symbols = tiny.spw_symbols(img, k)
            data = tiny.encode_spws(img, k)
            assert torch.equal(tiny.entropy.decode(data, k), symbols)
            assert torch.equal(tiny.decode_spws(data, k), tiny.lift(symbols))
            assert tiny.decode_spws(data, k).shape == (k, tiny.config.text_embed_dim)
    assert tiny.encode_spws(images[0], 0) == b""
    assert tiny.decode_spws(b"", 0).shape == (0, tiny.config.text_embed_dim)


def test_spw_bytes_match_the_prior_and_grow_with_k(tiny, images):
    """Real bytes track the model's -log2 P (what training minimises), and more pseudo-words cost more."""
    sizes = []
    for k in (1, 2, 4, 8):
        total_bytes = total_est = 0.0
        for img in images:
            symbols = tiny.spw_symbols(img, k)
            _, bits = tiny.entropy.quantize(symbols[None].float(), training=False)
            total_est += float(bits.sum())
            total_bytes += len(tiny.encode_spws(img, k))
        assert abs(8 * total_bytes - total_est) <= 0.05 * total_est + 32 * len(images), (
            k,
            total_bytes,
            total_est,
        )
        sizes.append(total_bytes)
    assert all(a < b for a, b in zip(sizes, sizes[1:], strict=False)), sizes


def test_corrupt_spw_bytes_give_typed_error_or_valid_tensor(tiny, images):
    rng = np.random.default_rng(0)
    k = 4
    good = tiny.encode_spws(images[1], k)
    outcomes = {"error": 0, "tensor": 0}
    start = time.perf_counter()
    for i in range(400):
        data = bytearray(good)
        kind = i % 4
        if kind == 0:  # bit flips
            for _ in range(rng.integers(1, 4)):
                pos = rng.integers(0, len(data))
                data[pos] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:  # truncation
            data = data[: rng.integers(0, len(data))]
        elif kind == 2:  # random bytes of random length
            data = bytearray(
                rng.integers(0, 256, size=int(rng.integers(0, 3 * len(good) + 1)), dtype=np.uint8)
            )
        else:  # extra bytes
            data += bytes(rng.integers(0, 256, size=int(rng.integers(1, 8)), dtype=np.uint8))
        try:
            out = tiny.decode_spws(bytes(data), k)
        except SPWDecodeError:
            outcomes["error"] += 1
            continue
        assert out.shape == (k, tiny.config.text_embed_dim) and torch.isfinite(out).all()
        outcomes["tensor"] += 1
    assert time.perf_counter() - start < 30  # bounded work per decode, no hang
    assert outcomes["error"] > 0, outcomes


def test_spw_k_out_of_range_is_named(tiny, image):
    with pytest.raises(ValueError, match="k="):
        tiny.encode_spws(image, tiny.config.max_spws + 1)
    with pytest.raises(SPWDecodeError, match="k="):
        tiny.decode_spws(b"\x01\x02", tiny.config.max_spws + 1)


# ---------------------------------------------------------------------- MGDD
def test_generate_is_deterministic_and_shape_correct(tiny, image):
    spws = tiny.decode_spws(tiny.encode_spws(image, 4), 4)
    kw = dict(caption="an astronaut", spws=spws, hci=_hci(image), steps=2)
    a = tiny.generate(size=(256, 256), seed=7, **kw)
    b = tiny.generate(size=(256, 256), seed=7, **kw)
    c = tiny.generate(size=(256, 256), seed=8, **kw)
    assert a.dtype == np.uint8 and a.shape == (256, 256, 3)
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 0.5  # the seed matters
    odd = tiny.generate(size=(50, 75), seed=7, **kw)
    assert odd.shape == (50, 75, 3) and odd.dtype == np.uint8


def test_each_guidance_can_be_missing_and_each_one_matters(tiny, images):
    img = images[0]
    full = dict(
        caption="a white helmet", spws=tiny.decode_spws(tiny.encode_spws(img, 4), 4), hci=_hci(img, 8)
    )
    ref = tiny.generate(size=(64, 64), seed=3, steps=2, **full)
    for missing in ("caption", "spws", "hci"):
        out = tiny.generate(size=(64, 64), seed=3, steps=2, **{**full, missing: None})
        assert out.shape == (64, 64, 3)
        assert np.abs(out.astype(int) - ref).mean() > 0.05, missing  # dropping it changes the image
    none = tiny.generate(size=(64, 64), seed=3, steps=2, caption=None, spws=None, hci=None)
    assert none.shape == (64, 64, 3)


def test_controlnet_residuals_follow_the_hci(tiny, images):
    """Path 1 is live: a different HCI gives a different image, no HCI differs from any HCI."""
    outs = [
        tiny.generate(size=(64, 64), seed=1, steps=2, caption="x", spws=None, hci=h)
        for h in (_hci(images[0], 8), _hci(images[3], 8), None)
    ]
    assert np.abs(outs[0].astype(int) - outs[1]).mean() > 0.05
    assert np.abs(outs[0].astype(int) - outs[2]).mean() > 0.05


def test_ddim_scheduler_is_selectable_and_deterministic(tiny, images):
    ddim = copy.copy(tiny)  # same weights, another sampler
    ddim.config = tiny.config.model_copy(update={"scheduler": "ddim"})
    kw = dict(size=(64, 64), seed=5, steps=3, caption="a helmet", spws=None, hci=_hci(images[0], 8))
    a, b = ddim.generate(**kw), ddim.generate(**kw)
    assert np.array_equal(a, b)
    # same weights and noise, another sampler: a different image
    assert np.abs(a.astype(int) - tiny.generate(**kw)).mean() > 0.05


def test_generate_rejects_malformed_guidance(tiny):
    with pytest.raises(ValueError, match="spws"):
        tiny.generate(size=(32, 32), seed=0, caption=None, spws=torch.zeros(2, 7), hci=None)
    with pytest.raises(ValueError, match="caption"):
        tiny.generate(size=(32, 32), seed=0, caption=b"bytes", spws=None, hci=None)
    with pytest.raises(ValueError, match="uint8"):
        tiny.generate(size=(32, 32), seed=0, caption=None, spws=None, hci=np.zeros((4, 4), np.float32))


# ---------------------------------------------------------------------- saving and loading
def test_save_and_load_folder_is_identical(tiny, image, tmp_path):
    folder = save_profile(tiny, tmp_path / "tiny")
    assert (folder / "controlnet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (folder / "tascm" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = load_profile(folder, device="cpu", local_files_only=True)
    assert loaded.trained is False
    assert loaded.config.model_dump(mode="json") == tiny.config.model_dump(mode="json")
    data = tiny.encode_spws(image, 5)
    assert loaded.encode_spws(image, 5) == data
    kw = dict(size=(64, 64), seed=11, caption="an astronaut", hci=_hci(image), steps=2)
    a = tiny.generate(spws=tiny.decode_spws(data, 5), **kw)
    b = loaded.generate(spws=loaded.decode_spws(data, 5), **kw)
    assert np.array_equal(a, b)


def test_folder_without_mtgc_parts_is_unavailable_unless_untrained_allowed(tiny, tmp_path):
    folder = save_profile(tiny, tmp_path / "partial")
    shutil.rmtree(folder / "controlnet")
    with pytest.raises(ProfileUnavailable, match="controlnet") as err:
        load_profile(folder, device="cpu", local_files_only=True)
    assert "mtgc-link train" in str(err.value) and "\n" not in str(err.value)
    fresh = load_profile(folder, device="cpu", local_files_only=True, allow_untrained=True)
    assert fresh.trained is False
    assert torch.equal(fresh.controlnet.conv_in.weight, fresh.unet.conv_in.weight)


def test_reference_profile_unavailable_names_what_and_how(monkeypatch):
    for var in ("MTGC_BASE_MODEL", "MTGC_VISION_ENCODER", "MTGC_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ProfileUnavailable) as err:
        load_profile("reference", device="cpu", local_files_only=True)
    msg = str(err.value)
    assert "\n" not in msg
    assert "stabilityai/stable-diffusion-2-1-base" in msg and "unet" in msg
    assert "openai/clip-vit-large-patch14" in msg and "hf download" in msg


def test_unknown_profile_is_named(tmp_path):
    with pytest.raises(ProfileUnavailable, match="nope"):
        load_profile(tmp_path / "nope")


# ---------------------------------------------------------------------- GPU (skipped without CUDA)
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_generate_is_deterministic_and_gpu_bytes_decode_on_cpu(tiny, image):
    gpu = load_profile("tiny", device="cuda")
    data = gpu.encode_spws(image, 4)
    # bytes made on the GPU decode on the CPU to the GPU's symbols (the coder's prior is device-independent)
    assert torch.equal(tiny.entropy.decode(data, 4), gpu.spw_symbols(image, 4))
    kw = dict(size=(256, 256), seed=3, caption="an astronaut", spws=gpu.decode_spws(data, 4), hci=_hci(image))
    a, b = gpu.generate(**kw), gpu.generate(**kw)
    assert np.array_equal(a, b)
    cpu = tiny.generate(**{**kw, "spws": tiny.decode_spws(data, 4)})
    assert np.abs(a.astype(int) - cpu).mean() < 2.0  # same model, float differences only


@pytest.mark.parametrize("scheduler", ["dpmsolver++", "ddim"])
def test_training_noises_each_sample_at_the_level_of_its_timestep(monkeypatch, scheduler):
    """x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps with a_t = alphas_cumprod[t], whatever the sampler: the DPM
    scheduler's add_noise, used before, noised at the level of 999 - t before set_timesteps."""
    from mtgc_link.codecs.mtgc import mgdd
    from mtgc_link.codecs.mtgc.config import MTGCConfig

    cfg = MTGCConfig.tiny(scheduler=scheduler, prediction_type="v_prediction")
    sch = mgdd.make_scheduler(cfg)
    seen = {}

    def fake_predict(models, noisy, t, context, cond):
        seen["noisy"] = noisy
        return torch.zeros_like(noisy)

    monkeypatch.setattr(mgdd, "predict_noise", fake_predict)
    x0, eps = torch.ones(2, 4, 2, 2), torch.zeros(2, 4, 2, 2)
    t = torch.tensor([100, 900])

    class M:
        config = cfg

    loss = mgdd.denoising_loss(M(), x0, None, None, eps, t, sch)
    a = sch.alphas_cumprod[t]
    assert torch.allclose(seen["noisy"][:, 0, 0, 0], a.sqrt(), atol=1e-6)  # 0.946 at t=100, 0.119 at t=900
    # v target with eps = 0 is -sqrt(1 - a) x0; the zero prediction's error is (1 - a) per element
    assert torch.allclose(loss, 1 - a, atol=1e-6)
