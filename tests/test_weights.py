"""Weight files: save/load round trip, registry, shards, manifest sha256, wrong architecture, converter."""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from frameweave.vfi_core import weights as W
from frameweave.vfi_core.sepconv import SepConvNet


def tiny(k=5, seed=0, **kw):
    torch.manual_seed(seed)
    return SepConvNet(kernel_size=k, width=0.125, **kw)


def test_roundtrip_and_registry(tmp_path):
    net = tiny()
    paths = W.save_weights(net, tmp_path / "mine.safetensors")
    assert paths == [tmp_path / "mine.safetensors"] and not list(tmp_path.glob("*.part"))
    reg = W.list_weights([tmp_path])
    assert "mine" in reg and reg["mine"].files == paths and reg["mine"].method == "sepconv"
    loaded = W.load_weights("mine", [tmp_path])
    assert not loaded.training and loaded.architecture() == net.architecture()
    for k, v in net.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v, rtol=0, atol=0)
    by_path = W.load_weights(str(paths[0]))
    assert by_path.weights_name == "mine"


def test_fp16_storage_and_shards(tmp_path):
    net = tiny()
    paths = W.save_weights(net, tmp_path / "big.safetensors", fp16=True, max_file_bytes=300_000)
    assert len(paths) > 1
    assert [p.name for p in paths][0] == f"big-00001-of-{len(paths):05d}.safetensors"
    assert all(p.stat().st_size <= 300_000 for p in paths)
    assert load_file(str(paths[0]))[next(iter(load_file(str(paths[0]))))].dtype == torch.float16
    assert W.list_weights([tmp_path])["big"].files == paths
    assert W.resolve(str(tmp_path / "big.safetensors")).files == paths     # the path save_weights was given
    loaded = W.load_weights("big", [tmp_path])
    for k, v in net.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v.half().float(), rtol=0, atol=0)
    paths[-1].unlink()                                      # incomplete shard set is not listed
    assert "big" not in W.list_weights([tmp_path])


@pytest.fixture
def sharded(tmp_path):
    """A 3-shard fp16 set with its manifest entry (the layout of sepconv_w100_k51_gpu)."""
    net = tiny()
    paths = W.save_weights(net, tmp_path / "split.safetensors", fp16=True, max_file_bytes=380_000)
    assert len(paths) == 3
    W.update_manifest({"name": "split", "method": "sepconv", "files": W.manifest_files(paths),
                       "architecture": net.architecture()}, folder=tmp_path)
    return net, paths


def test_sharded_set_loads_when_complete(sharded, tmp_path):
    net, paths = sharded
    assert W.resolve("split", [tmp_path]).files == paths
    loaded = W.load_weights("split", [tmp_path])
    for k, v in net.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v.half().float(), rtol=0, atol=0)


@pytest.mark.parametrize("manifest", [True, False])
def test_sharded_set_with_a_missing_shard_names_it(sharded, tmp_path, manifest):
    _, paths = sharded
    if not manifest:
        (tmp_path / "manifest.json").unlink()
    paths[1].unlink()
    with pytest.raises(ValueError, match="incomplete: missing .*split-00002-of-00003.safetensors") as err:
        W.load_weights("split", [tmp_path])
    assert "split-00001-of" not in str(err.value) and "split-00003-of" not in str(err.value)


def test_sharded_set_with_a_corrupted_shard_names_it(sharded, tmp_path):
    _, paths = sharded
    data = bytearray(paths[2].read_bytes())
    data[-100:] = bytes(100)                                  # same size, other tensor bytes
    paths[2].write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256 mismatch for .*split-00003-of-00003.safetensors"):
        W.load_weights("split", [tmp_path])
    (tmp_path / "manifest.json").unlink()                     # unverified: a truncated file is named too
    paths[2].write_bytes(bytes(data[:1000]))
    with pytest.raises(ValueError, match="split-00003-of-00003.safetensors is not a readable safetensors"):
        W.load_weights("split", [tmp_path])


def test_manifest_sha256_verification(tmp_path):
    net = tiny()
    paths = W.save_weights(net, tmp_path / "shipped.safetensors")
    W.update_manifest({"name": "shipped", "method": "sepconv", "files": W.manifest_files(paths),
                       "architecture": net.architecture()}, folder=tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["weights"][0]["files"][0]["sha256"] == W.sha256_file(paths[0])
    W.load_weights("shipped", [tmp_path])                   # verifies fine
    other = tiny(seed=1)                                    # same architecture, other values
    W.save_weights(other, paths[0])
    with pytest.raises(ValueError, match="sha256 mismatch"):
        W.load_weights("shipped", [tmp_path])


def test_wrong_architecture_names_the_tensors(tmp_path):
    net = tiny(k=5)
    sd = net.state_dict()
    sd["vertical1.7.weight"] = torch.zeros(7, *sd["vertical1.7.weight"].shape[1:])
    del sd["horizontal2.7.bias"]
    meta = {"frameweave_architecture": json.dumps(net.architecture())}
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(ValueError, match=r"vertical1\.7\.weight: file \[7.*model \[5") as err:
        W.load_weights("bad", [tmp_path])
    assert "horizontal2.7.bias" in str(err.value)
    # a file of one architecture loaded as another names the mismatch too
    W.save_weights(tiny(k=7), tmp_path / "k7.safetensors")
    with pytest.raises(ValueError, match="shape mismatch"):
        W.load_weights("k7", [tmp_path], architecture=net.architecture())


def test_unknown_and_foreign_files(tmp_path):
    with pytest.raises(ValueError, match="unknown SepConv weights 'nope'"):
        W.load_weights("nope", [tmp_path])
    save_file({"x": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(ValueError, match="no FrameWeave architecture metadata"):
        W.load_weights("plain", [tmp_path])
    with pytest.raises(ValueError, match=".safetensors"):
        W.save_weights(tiny(), tmp_path / "x.pt")


def _original_layout(net: SepConvNet) -> dict:
    """``net``'s weights in the authors' key layout (moduleConv1.0.weight ...), BGR first conv."""
    rename = {v: k for k, v in W._ORIGINAL_PREFIXES.items()}
    out = {}
    for key, value in net.state_dict().items():
        block, rest = key.split(".", 1)
        out[f"module{rename[block]}.{rest}"] = value.clone()
    out["moduleConv1.0.weight"] = out["moduleConv1.0.weight"][:, [2, 1, 0, 5, 4, 3]]   # RGB -> BGR
    return out


def test_converter_original_layout(tmp_path, make_clip):
    net = tiny(k=5)
    original = _original_layout(net)
    assert "moduleVertical1.7.weight" in original and "moduleUpsample5.1.bias" in original
    converted, arch = W.convert_original_sepconv(original)
    assert arch["kernel_size"] == 5 and arch["channels"] == list(net.channels)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(converted[k], v, rtol=0, atol=0)
    # the converted network on RGB frames == the original-layout network on BGR frames
    clip = make_clip(2, size=(32, 32)).permute(0, 3, 1, 2)
    bgr_net = tiny(k=5)
    # the same tensors renamed without reordering channels: a network that expects BGR input
    bgr_net.load_state_dict({W._ORIGINAL_KEY.sub(lambda m: f"{W._ORIGINAL_PREFIXES[m['block']]}.{m['rest']}", k): v
                             for k, v in original.items()})
    conv = SepConvNet.from_architecture(arch)
    conv.load_state_dict(converted)
    with torch.no_grad():
        rgb = conv(clip[:1], clip[1:])
        bgr = bgr_net(clip[:1].flip(1), clip[1:].flip(1)).flip(1)
    torch.testing.assert_close(rgb, bgr, atol=1e-5, rtol=1e-4)
    # "net" prefix of the newer releases, and the file round trip through torch.load(weights_only)
    newer = {k.replace("module", "net", 1): v for k, v in original.items()}
    torch.testing.assert_close(W.convert_original_sepconv(newer)[0]["conv3.2.weight"], net.conv3[2].weight.detach())
    torch.save(original, tmp_path / "network-lf.pytorch")
    paths = W.convert_original_file(tmp_path / "network-lf.pytorch", tmp_path / "converted.safetensors")
    loaded = W.load_weights(str(paths[0]))
    torch.testing.assert_close(loaded.state_dict()["conv1.0.weight"], net.conv1[0].weight.detach())


def test_converter_exceptions():
    net = tiny(k=5)
    original = _original_layout(net)
    with pytest.raises(ValueError, match="unknown key"):
        W.convert_original_sepconv({**original, "moduleFoo1.0.weight": torch.zeros(1)})
    partial = {k: v for k, v in original.items() if not k.startswith("moduleHorizontal2")}
    with pytest.raises(ValueError, match="horizontal2"):
        W.convert_original_sepconv(partial)


def test_shipped_weights_verify():
    """Every file in the package's weights/manifest.json exists, matches its sha256 and loads."""
    reg = W.list_weights()
    manifest = W.read_manifest()
    for entry in manifest["weights"]:
        assert entry["name"] in reg, entry["name"]
        info = reg[entry["name"]]
        W.verify(info)
        assert all(p.stat().st_size <= W.MAX_FILE_BYTES for p in info.files)
        if entry["architecture"].get("architecture", "sepconv") != "sepconv":
            continue          # another network, loaded by its own loader (tests/test_flowguided.py)
        net = W.load_weights(entry["name"])
        assert net.architecture() == entry["architecture"]


def test_one_default_per_method(tmp_path):
    """Registering new default weights takes the mark from the old ones of the same method only."""
    for name, method in (("old", "sepconv"), ("gan", "sepconv-gan")):
        W.update_manifest({"name": name, "method": method, "default": True, "files": []}, tmp_path)
    W.update_manifest({"name": "new", "method": "sepconv", "default": True, "files": []}, tmp_path)
    defaults = {e["name"]: e["default"] for e in W.read_manifest(tmp_path)["weights"]}
    assert defaults == {"gan": True, "new": True, "old": False}


def test_default_first_orders_the_weights_lists(tmp_path, monkeypatch):
    """The loader widgets preselect their first entry, so the method's manifest default leads,
    then that method's other weights, then the rest; the shipped lists start with the defaults."""
    reg = {name: W.WeightsInfo(name, [], {"method": method, "default": default})
           for name, method, default in (("a_gan", "sepconv-gan", True), ("b_old", "sepconv", False),
                                         ("c_new", "sepconv", True), ("d_gan_old", "sepconv-gan", False))}
    assert W.default_first(reg, "sepconv") == ["c_new", "b_old", "a_gan", "d_gan_old"]
    assert W.default_first(reg, "sepconv-gan") == ["a_gan", "d_gan_old", "c_new", "b_old"]

    from frameweave.nodes import _comfy
    from frameweave.nodes.gan_nodes import FrameWeaveGANInterpolate
    from frameweave.nodes.sepconv_nodes import FrameWeaveLoadSepConv
    from frameweave.vfi_core.sepconv_infer import default_weights_name
    monkeypatch.setattr(_comfy, "model_directories", lambda: [])
    for node, method in ((FrameWeaveLoadSepConv, "sepconv"), (FrameWeaveGANInterpolate, "sepconv-gan")):
        names, extra = node.INPUT_TYPES()["required"]["weights"]
        assert names[0] == extra["default"] == default_weights_name(method)
