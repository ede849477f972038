import pytest
import torch

from emolens.errors import ModelError
from emolens.models import create_model, list_models, model_config


@pytest.mark.parametrize("name", list_models())
def test_every_architecture_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    cfg = model_config(name)
    model = create_model(name, num_classes=7)
    x = torch.randn(4, cfg.channels, cfg.input_size, cfg.input_size, requires_grad=True)
    out = model(x)
    assert out.shape == (4, 7)
    assert torch.isfinite(out).all()
    out.logsumexp(dim=1).mean().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        assert model(x[:1]).shape == (1, 7)


def test_registry_lists_required_families() -> None:
    assert {"seed_classic", "seed_regularized", "vgg", "resnet", "compact"} <= set(list_models())


def test_unknown_architecture_lists_valid_names() -> None:
    with pytest.raises(ModelError, match="available: .*vgg"):
        create_model("alexnet")


def test_seed_networks_have_the_papers_layer_counts() -> None:
    for name, convs, linears in (("seed_classic", 2, 4), ("seed_regularized", 8, 4)):
        m = create_model(name)
        assert sum(isinstance(x, torch.nn.Conv2d) for x in m.modules()) == convs
        assert sum(isinstance(x, torch.nn.Linear) for x in m.modules()) == linears
    pools = sum(isinstance(x, torch.nn.MaxPool2d) for x in create_model("seed_regularized").modules())
    assert pools == 4
