"""The public names of DESIGN.md import from the package's top level."""
import nanoinfer_lib


def test_public_api_names():
    for name in ("load_checkpoint", "Tokenizer", "generate", "generate_batch", "load_model", "KVCache"):
        assert hasattr(nanoinfer_lib, name)
