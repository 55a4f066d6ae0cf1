"""Tiny random Stable Diffusion + ControlNet models for tests (no downloads).

Everything is saved with ``save_pretrained`` into ordinary folders laid out like the Hub repos, so tests
load them through the same code path a user takes (``synth.load("controlnet-seg", base_model=dir, ...)``):

* :func:`save_tiny_base` — a ``StableDiffusionPipeline`` folder (UNet, VAE with the real 8x down-sampling,
  CLIP text encoder + tokenizer, PNDM scheduler, no safety checker), like ``stable-diffusion-v1-5``;
* :func:`save_tiny_controlnet` — a ``ControlNetModel`` folder matching that UNet, like ``control_v11p_sd15_seg``;
* :func:`save_tiny_lcm_lora` — a random peft LoRA on the tiny UNet saved with the diffusers LoRA format,
  like ``latent-consistency/lcm-lora-sdv1-5``;
* :func:`save_tiny_upernet` — a ``UperNetForSemanticSegmentation`` (tiny ConvNext backbone, 150 labels) + its
  image processor, like ``openmmlab/upernet-convnext-small``.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch

#: Sizes shared by the tiny models; the UNet and ControlNet must agree.
UNET_CHANNELS = (8, 16)
CROSS_DIM = 16
LATENT_CHANNELS = 4


def tiny_tokenizer():
    """A CLIPTokenizer built in memory: single letters and ``letter</w>`` pieces, no merges."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in string.ascii_lowercase + string.digits + ",.":
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def tiny_unet():
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        block_out_channels=UNET_CHANNELS,
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=CROSS_DIM,
        attention_head_dim=2,
        norm_num_groups=4,
    )


def tiny_controlnet(seed: int = 1, global_pool: bool = False):
    """A ControlNet for :func:`tiny_unet`; its conditioning embedder down-samples 8x like the real one."""
    from diffusers import ControlNetModel

    torch.manual_seed(seed)
    net = ControlNetModel(
        in_channels=LATENT_CHANNELS,
        block_out_channels=UNET_CHANNELS,
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        cross_attention_dim=CROSS_DIM,
        attention_head_dim=2,
        norm_num_groups=4,
        conditioning_embedding_out_channels=(4, 4, 8, 8),
        global_pool_conditions=global_pool,
    )
    # Real ControlNets are trained; random zero-convs would make the control signal vanish. Give the
    # zero convolutions small random weights so the control image visibly matters in tests.
    with torch.no_grad():
        for conv in [*net.controlnet_down_blocks, net.controlnet_mid_block, net.controlnet_cond_embedding.conv_out]:
            conv.weight.normal_(0, 0.2)
    return net


def tiny_vae():
    from diffusers import AutoencoderKL

    torch.manual_seed(2)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=LATENT_CHANNELS,
        block_out_channels=(4, 4, 4, 4),  # four blocks: 8x down-sampling, like SD's VAE
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        norm_num_groups=2,
        sample_size=64,
    )


def tiny_text_encoder():
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(3)
    config = CLIPTextConfig(
        vocab_size=len(tiny_tokenizer()),
        hidden_size=CROSS_DIM,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=CROSS_DIM,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return CLIPTextModel(config).eval()


def tiny_scheduler():
    from diffusers import PNDMScheduler

    return PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def save_tiny_base(path) -> Path:
    """Save a tiny ``StableDiffusionPipeline`` (no safety checker) to ``path``; returns the folder."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=tiny_vae(),
        text_encoder=tiny_text_encoder(),
        tokenizer=tiny_tokenizer(),
        unet=tiny_unet(),
        scheduler=tiny_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(path)
    return Path(path)


def save_tiny_controlnet(path, seed: int = 1, global_pool: bool = False) -> Path:
    tiny_controlnet(seed, global_pool).save_pretrained(path)
    return Path(path)


def save_tiny_lcm_lora(path, rank: int = 2) -> Path:
    """A random rank-``rank`` LoRA on the tiny UNet's attention projections, saved in the diffusers format."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = tiny_unet()
    torch.manual_seed(4)
    unet.add_adapter(
        LoraConfig(
            r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=["to_q", "to_k", "to_v", "to_out.0"]
        )
    )
    with torch.no_grad():  # peft's "gaussian" init leaves lora_B at zero (a no-op); make the LoRA matter
        for name, param in unet.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(
        save_directory=str(path), unet_lora_layers=layers, safe_serialization=True
    )
    return Path(path)


def save_tiny_upernet(path, num_labels: int = 150, size: int = 64) -> Path:
    """Save a tiny random UperNet (ConvNext backbone) + SegformerImageProcessor to ``path``."""
    from transformers import ConvNextConfig, SegformerImageProcessor, UperNetConfig, UperNetForSemanticSegmentation

    torch.manual_seed(5)
    backbone = ConvNextConfig(
        num_channels=3,
        hidden_sizes=[8, 16, 24, 32],
        depths=[1, 1, 1, 1],
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    config = UperNetConfig(
        backbone_config=backbone,
        hidden_size=16,
        auxiliary_in_channels=24,
        auxiliary_channels=8,
        num_labels=num_labels,
        pool_scales=[1, 2],
    )
    model = UperNetForSemanticSegmentation(config).eval()
    model.save_pretrained(path)
    SegformerImageProcessor(size={"height": size, "width": size}, do_reduce_labels=False).save_pretrained(path)
    return Path(path)
