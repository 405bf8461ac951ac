import pytest
import torch
import torch.nn.functional as F

from sslre.methods.supervised import ResLHClassifier, supervised_loss


def test_cross_entropy_and_accuracy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    labels = torch.tensor([0, 1, 1])
    out = supervised_loss(logits, labels)
    assert float(out["total"]) == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-6)
    assert float(out["accuracy"]) == pytest.approx(2 / 3)


def test_bad_labels():
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        supervised_loss(torch.zeros(2, 2), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="labels"):
        supervised_loss(torch.zeros(2, 2), torch.tensor([0]))


def test_reslh_classifier_learns_a_separable_batch():
    torch.manual_seed(0)
    net = ResLHClassifier("RES-1-8", 2)
    x = torch.randn(16, 3, 32, 32)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    x = x + (2 * y - 1).view(-1, 1, 1, 1).float()  # make the classes separable by brightness
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    first = float(supervised_loss(net(x), y)["total"])
    for _ in range(20):
        loss = supervised_loss(net(x), y)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * first


def test_without_augmentation_the_net_sees_the_images_themselves():
    """supervised_augment='none' (Fig. 3 right, literal): no crop, no flip, no random draw; the loss is that of
    the normalized images, and the generator is left untouched."""
    from sslre.config import profile_config
    from sslre.data.augment import normalize
    from sslre.methods import build_method

    config = profile_config("quick", method="supervised", supervised_augment="none")
    torch.manual_seed(0)
    method = build_method(config, num_classes=3)
    method.eval()  # batch-norm statistics of the batch are not what is compared
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    gen = torch.Generator().manual_seed(5)
    before = gen.get_state().clone()
    out = method.step(images, labels, gen)
    expected = supervised_loss(method._embed(normalize(images)), labels)["total"]
    assert float(out["loss_total"]) == pytest.approx(float(expected), rel=1e-6)
    assert torch.equal(gen.get_state(), before)


def test_autoaugment_needs_the_crop_flip_arm():
    from sslre.config import ConfigError, profile_config

    with pytest.raises(ConfigError, match="autoaugment=true needs supervised_augment='crop-flip'"):
        profile_config("quick", method="supervised", supervised_augment="none", autoaugment=True)
    with pytest.raises(ConfigError, match="supervised_augment 'blur' is not allowed"):
        profile_config("quick", method="supervised", supervised_augment="blur")
