import pytest
import torch

from equigen_core.data import load_mnist
from equigen_core.data.zoo import build_zoo, load_zoo, save_zoo
from equigen_core.weightspace.fit import FitConfig, fit_images, shared_init
from equigen_core.weightspace.inr import siren_init
from equigen_core.weightspace.metainit import MetaInitConfig, meta_learn_init


@pytest.fixture(scope="module")
def digits():
    data = load_mnist(split="all")
    idx = torch.arange(len(data))
    return data, idx


def test_meta_learned_init_fits_unseen_digits_faster_than_the_siren_init(mnist_spec, digits):
    """The property Reptile is for: a few Adam steps from w0 fit images of a class it never saw better than the same
    steps from the random SIREN init it started from."""
    data, idx = digits
    base = (idx % 5 != 0) & (data.labels != 9)
    res = meta_learn_init(mnist_spec, data.images[base][:400], MetaInitConfig(outer_steps=60, batch=16), progress=False)
    assert res.init.shape == (mnist_spec.num_params,) and torch.isfinite(res.init).all()
    assert res.psnr_curve[-1] > res.psnr_curve[0] + 1.0  # the inner loop gets better as w0 is learned
    nines = data.images[(data.labels == 9) & (idx % 5 == 0)][:16]
    few = FitConfig(max_steps=10, lr=3e-3, target_psnr=None)
    random_w0 = siren_init(mnist_spec, 1, generator=torch.Generator().manual_seed(0))
    meta = fit_images(mnist_spec, nines, few, init_weights=res.init[None], progress=False).mean_psnr
    rand = fit_images(mnist_spec, nines, few, init_weights=random_w0, progress=False).mean_psnr
    assert meta > rand + 1.0, (meta, rand)


def test_meta_zoo_stores_its_init_and_never_sees_the_excluded_class(tmp_path, mnist_spec, digits):
    data, idx = digits
    sel = idx[(idx % 500) < 6]  # 6 per digit
    zoo = build_zoo(data.select(sel), spec=mnist_spec, index=sel, progress=False, meta_exclude=(9,),
                    fit_cfg=FitConfig(init="meta", lr=1e-3, max_steps=40, target_psnr=None),
                    meta_cfg=MetaInitConfig(outer_steps=40, batch=8))
    info = zoo.meta["meta_init"]
    n_train_base = int(((sel % 5 != 0) & (data.labels[sel] != 9)).sum())
    assert info["excluded_classes"] == [9] and info["images"] == n_train_base
    back = load_zoo(save_zoo(tmp_path / "zoo", zoo))
    assert torch.equal(back.init, zoo.init) and back.meta["init"] == "meta"
    assert torch.equal(back.test().init, zoo.init)  # subsets keep the init (galleries, shots)
    # every INR was fitted from that w0: each ends nearer to it than to the random SIREN draw a build that ignored w0
    # would have started from (seed 0, also where Reptile starts), or to any other draw
    from_w0 = (zoo.weights - zoo.init).norm(dim=1)
    for other in (shared_init(mnist_spec, 0), siren_init(mnist_spec, 1, generator=torch.Generator().manual_seed(123))):
        assert from_w0.max() < (zoo.weights - other).norm(dim=1).min()


def test_meta_init_without_weights_is_a_clear_error(mnist_spec, digits):
    data, _ = digits
    with pytest.raises(ValueError, match="init_weights"):
        fit_images(mnist_spec, data.images[:2], FitConfig(init="meta"), progress=False)


def test_shared_zoo_records_the_init_it_used(mnist_spec, digits):
    data, idx = digits
    sel = idx[:4]
    zoo = build_zoo(data.select(sel), spec=mnist_spec, index=sel, progress=False,
                    fit_cfg=FitConfig(max_steps=0, target_psnr=None, seed=3))
    assert torch.equal(zoo.weights, zoo.init.expand(4, -1))
